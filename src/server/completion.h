// One completion request on its HTTP thread: template and tokenize, check the limits, hand it
// to the scheduler, and write the response (SSE chunks or one JSON object) as events arrive.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "chat/chat_template.h"
#include "chat/reasoning.h"
#include "model/model.h"
#include "runtime/context.h"
#include "server/metrics.h"
#include "server/openai.h"
#include "server/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace httplib {
struct Response;
}

namespace ponder::server {

// What the HTTP threads share once the model is loaded (read-only but for the counters).
// Members are destroyed in reverse order: the scheduler (which steps the context) first.
struct ServerContext {
    Metrics metrics;
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tok;
    std::unique_ptr<Context> ctx;
    std::unique_ptr<ChatTemplate> tmpl;
    ReasoningDelimiters delims;
    bool template_thinks = false;  // the template mentions the open delimiter
    std::string bos_text, eos_text;
    std::string model_id;
    int64_t created = 0;
    std::atomic<int32_t> in_flight{0};  // completion requests accepted and not yet answered
    int32_t max_in_flight = 1;          // slots + queue; more get 429
    std::unique_ptr<Scheduler> scheduler;
};

struct CompletionJob;

// Validates the request against the model (template, prompt length, n, vocabulary) and builds
// the engine request. Throws ApiError: 400 for a bad request, 429 when the queue is full.
std::shared_ptr<CompletionJob> prepare_completion(ServerContext& sc, CompletionRequest cr);

// Submits the job and sets up `res`: a 400 when the engine rejects it, else a streamed body
// (SSE for stream=true, JSON otherwise) produced as tokens arrive. A client that goes away
// has its request cancelled.
void start_completion(ServerContext& sc, std::shared_ptr<CompletionJob> job,
                      httplib::Response& res);

// Text that the log line of the current HTTP thread's request should carry (set by the
// completion when it finishes).
std::string& request_log_extra();

}  // namespace ponder::server
