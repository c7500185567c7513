// The engine: many generation requests over one context, decoded together.
//
// Each request runs in one or more slots (a slot is a KV sequence). Every step() builds one
// batch with the next token of every generating slot plus a chunk of pending prompt tokens
// (so running streams keep flowing while a long prompt is prefilled), runs it, samples, and
// delivers events. A new prompt reuses the longest prefix already in the cache (from an idle
// slot's previous conversation or a running slot's prompt) instead of recomputing it; the
// n choices of a request share their prompt's cells.
//
// Thinking control: each choice has a ThinkingControl (runtime/thinking.h, shared with
// generate()): at max_tokens it forces the close delimiter (after an optional conclusion
// text), and below min_tokens it forbids the close and replaces the model's attempt to end
// with "Wait"-style text so the model keeps reasoning (s1 budget forcing).
//
// Not thread-safe: one thread submits, cancels and steps (the server wraps it in a scheduler
// thread). Events are delivered from step() on that thread.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/context.h"
#include "runtime/generate.h"
#include "runtime/thinking.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace ponder {

struct Request {
    std::vector<int32_t> prompt;
    SamplerParams sampling;
    int32_t max_tokens = -1;  // per choice, thinking included; < 0: until the slot's context
    std::vector<std::string> stop;
    int32_t n_choices = 1;
    int32_t top_logprobs = -1;  // < 0: no logprobs; else the chosen token's and the top N
    bool ignore_eog = false;
    ThinkingParams thinking;
};

struct TokenLogprob {
    int32_t id;
    float logprob;
    std::vector<std::pair<int32_t, float>> top;  // most likely ids with their logprobs
};

struct Event {
    enum class Kind { Token, ChoiceDone, RequestDone, Error };
    Kind kind = Kind::Token;
    int32_t choice = 0;
    int32_t token = -1;     // Token: the id (forced tokens included)
    std::string text;       // Token: text released now (stop strings held back and cut)
    bool thinking = false;  // Token: generated inside the thinking block
    bool forced = false;    // Token: inserted by thinking control, not sampled
    std::optional<TokenLogprob> logprob;
    FinishReason finish = FinishReason::Stop;  // ChoiceDone
    std::string error;                         // Error
};

// Counts for a finished request (RequestDone) and the whole engine.
struct Usage {
    int32_t prompt_tokens = 0;
    int32_t cached_prompt_tokens = 0;  // reused from the cache, not recomputed
    int32_t completion_tokens = 0;     // all choices
    int32_t reasoning_tokens = 0;      // of which inside thinking
    double ttft_ms = 0;                // submit -> first token
};

using EventSink = std::function<void(const Event&, const Usage&)>;

struct EngineParams {
    int32_t n_slots = 1;  // sequences decoded together; each gets n_ctx / n_slots tokens
};

struct EngineStats {
    int32_t active_slots = 0, queued = 0;
    int32_t kv_used = 0, kv_size = 0;
    uint64_t prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0;
    uint64_t steps = 0;
};

class Engine {
  public:
    Engine(Context& ctx, const Tokenizer& tok, const EngineParams& params);
    ~Engine();

    // Queues a request; the sink receives its events from step(). Throws Error for a request
    // that can never run (prompt longer than a slot's context, n_choices > slots, bad params).
    int64_t submit(Request req, EventSink sink);
    // Stops a request; its slots are released at the next step (ChoiceDone: Cancelled).
    void cancel(int64_t id);
    // One batched forward pass. Returns false when there was nothing to do.
    bool step();
    bool idle() const;
    EngineStats stats() const;
    int32_t slot_ctx() const { return slot_ctx_; }

  private:
    struct Job;
    struct Slot;
    void start_jobs();
    void finish_choice(Job& job, Slot& slot, FinishReason why);
    void finish_job(Job& job);
    void after_prefill(Job& job, const float* logits);
    void advance(Job& job, Slot& slot, const float* logits);
    void emit_token(Job& job, Slot& slot, int32_t id, bool forced, const float* logits);

    Context& ctx_;
    const Tokenizer& tok_;
    int32_t slot_ctx_;
    std::vector<std::unique_ptr<Slot>> slots_;
    std::deque<std::unique_ptr<Job>> queue_;
    std::vector<std::unique_ptr<Job>> running_;
    int64_t next_id_ = 1;
    EngineStats stats_;
};

}  // namespace ponder
