// The OpenAI wire format: request JSON -> typed requests, typed results -> response JSON.
//
// Parsing promises: unknown fields are ignored; a field with the wrong type, a value out of
// range, invalid JSON or a missing required field throws ApiError (HTTP 400) naming the field.
// Nothing here touches the model or the engine (DESIGN rule 7).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/engine.h"

namespace ponder::server {

// An error with its HTTP status, reported as {"error": {"message", "type", "param", "code"}}.
class ApiError : public std::runtime_error {
  public:
    ApiError(int status, const std::string& message, std::string param = "")
        : std::runtime_error(message), status_(status), param_(std::move(param)) {}
    int status() const { return status_; }
    const std::string& param() const { return param_; }

  private:
    int status_;
    std::string param_;
};

// The OpenAI error type for a status: invalid_request_error, authentication_error, ...
const char* error_type(int status);
nlohmann::json error_json(int status, const std::string& message, const std::string& param = "");

enum class Endpoint { Chat, Completion };

// A completion request as the client sent it, validated, before templating and tokenizing.
struct CompletionRequest {
    Endpoint endpoint = Endpoint::Chat;
    std::string model;
    nlohmann::ordered_json messages;  // Chat: [{"role", "content": string}], parts joined
    std::string prompt;               // Completion: the prompt text, or
    std::vector<int32_t> prompt_ids;  // Completion: the prompt as token ids
    int32_t max_tokens = -1;          // < 0: until the end of generation or the context
    SamplerParams sampling;           // fields the client omits keep ponder's defaults
    bool seed_given = false;
    int32_t n = 1;
    std::vector<std::string> stop;
    bool stream = false;
    bool include_usage = false;
    int32_t top_logprobs = -1;  // < 0: no logprobs
    std::string user;
    // Thinking controls (ponder extensions; reasoning_effort is OpenAI's).
    bool thinking_enabled = true;
    int32_t max_thinking_tokens = -1;
    int32_t min_thinking_tokens = 0;
};

// Parses a request body. Throws ApiError(400) for invalid JSON, missing or mistyped fields.
CompletionRequest parse_completion_request(const std::string& body, Endpoint endpoint);

// Maps reasoning_effort to thinking budgets: "none" disables thinking, "minimal" 128 tokens,
// "low" 512, "medium" 2048, "high" unlimited. Throws ApiError(400) for other values.
void apply_reasoning_effort(const std::string& effort, CompletionRequest& r);

// What one choice produced, collected for a non-streamed response.
struct ChoiceResult {
    std::string content, reasoning;  // reasoning: the thinking block's text (chat only)
    std::string finish_reason = "stop";
    std::vector<TokenLogprob> logprobs;
};

// Shared fields of every response object of one request.
struct ResponseHeader {
    std::string id;  // chatcmpl-... or cmpl-...
    int64_t created = 0;
    std::string model;
};

// The OpenAI finish_reason of an engine finish reason ("stop" or "length").
const char* openai_finish_reason(FinishReason r);

nlohmann::json usage_json(const Usage& u);

// Logprobs of tokens in the chat format ({"content": [{token, logprob, bytes, top_logprobs}]})
// and the legacy completions format ({tokens, token_logprobs, top_logprobs, text_offset}).
using PieceFn = std::function<std::string(int32_t)>;
nlohmann::json chat_logprobs_json(const std::vector<TokenLogprob>& lps, const PieceFn& piece);
nlohmann::json completion_logprobs_json(const std::vector<TokenLogprob>& lps, const PieceFn& piece);

// Non-streamed responses: "chat.completion" and "text_completion".
nlohmann::json chat_completion_json(const ResponseHeader& h,
                                    const std::vector<ChoiceResult>& choices, const Usage& u,
                                    bool with_logprobs, const PieceFn& piece);
nlohmann::json text_completion_json(const ResponseHeader& h,
                                    const std::vector<ChoiceResult>& choices, const Usage& u,
                                    bool with_logprobs, const PieceFn& piece);

// One streamed "chat.completion.chunk" (or "text_completion" for completions) with one choice.
// `delta` is the chat delta object; for completions its "content" becomes the choice's text.
nlohmann::json stream_chunk_json(const ResponseHeader& h, Endpoint ep, int32_t index,
                                 const nlohmann::json& delta, const char* finish_reason,
                                 const nlohmann::json& logprobs);
// The final usage chunk of stream_options.include_usage (empty choices).
nlohmann::json stream_usage_json(const ResponseHeader& h, Endpoint ep, const Usage& u);

// "data: <json>\n\n"
std::string sse_event(const nlohmann::json& j);

}  // namespace ponder::server
