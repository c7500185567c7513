// The generation loop: prompt prefill, sampling, streaming detokenization, stop conditions.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/context.h"
#include "runtime/thinking.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace ponder {

struct GenerateParams {
    int32_t max_tokens = 128;       // < 0: until end of generation or the context is full
    std::vector<std::string> stop;  // stop strings (not included in the output)
    bool ignore_eog = false;        // keep going past end-of-generation tokens
    int32_t seq = 0;                // KV sequence to use
    int32_t n_past = 0;             // prompt tokens already in the cache for seq (prefix reuse)
    int32_t top_logits = 0;         // record the first step's top-k logits
    ThinkingParams thinking;        // thinking budgets (off unless thinking.track)
};

enum class FinishReason { Stop, Length, Cancelled, ContextFull };
const char* finish_reason_name(FinishReason r);

struct GenerateResult {
    std::vector<int32_t> ids;  // generated ids (an end-of-generation id is not included)
    std::string text;          // their text, cut at a stop string
    FinishReason finish = FinishReason::Length;
    int32_t n_prompt = 0;  // prompt tokens processed (excluding reused ones)
    // Generated tokens inside the thinking block (delimiters included) and after it; they sum
    // to ids.size(). n_forced: how many of the ids thinking control inserted.
    int32_t n_reasoning_tokens = 0, n_content_tokens = 0, n_forced_tokens = 0;
    double prompt_ms = 0, generate_ms = 0;
    std::vector<std::pair<int32_t, float>> first_step_top;
};

// Streams text as it becomes final: on_text receives pieces that can no longer be part of a
// stop string. Return false from on_text to cancel.
using TextCallback = std::function<bool(std::string_view)>;

// Decodes prompt[n_past..] into seq (the caller has removed anything after n_past), then
// samples until a stop condition. Positions continue from the prompt length. With
// params.thinking.track, a ThinkingControl steers the thinking (see runtime/thinking.h);
// max_tokens counts forced tokens too.
GenerateResult generate(Context& ctx, const Tokenizer& tok, Sampler& sampler,
                        std::span<const int32_t> prompt, const GenerateParams& params,
                        const TextCallback& on_text = {});

// Holds back the tail of a text stream that might start a stop string.
class StopMatcher {
  public:
    explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
    // Appends text; returns the part that is now safe to emit. Sets stopped() when a stop
    // string appeared (the returned text then ends right before it).
    std::string push(std::string_view text);
    // Whatever is held back, at the end of generation.
    std::string flush();
    bool stopped() const { return stopped_; }

  private:
    std::vector<std::string> stops_;
    std::string held_;
    bool stopped_ = false;
};

}  // namespace ponder
