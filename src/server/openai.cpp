#include "server/openai.h"

#include <cmath>
#include <limits>

namespace ponder::server {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

[[noreturn]] void bad(const std::string& param, const std::string& what) {
    throw ApiError(400, "'" + param + "' " + what, param);
}

// Typed getters: absent or null -> nullopt; present with the wrong type -> 400.
std::optional<double> get_number(const ojson& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number()) bad(key, "must be a number");
    return it->get<double>();
}

std::optional<int64_t> get_int(const ojson& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (it->is_number_integer()) return it->get<int64_t>();
    if (it->is_number_float()) {
        const double d = it->get<double>();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) return int64_t(d);
    }
    bad(key, "must be an integer");
}

std::optional<bool> get_bool(const ojson& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_boolean()) bad(key, "must be a boolean");
    return it->get<bool>();
}

std::optional<std::string> get_string(const ojson& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) bad(key, "must be a string");
    return it->get<std::string>();
}

void check_range(const std::string& key, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi))
        bad(key, "must be between " + json(lo).dump() + " and " + json(hi).dump() + ", got " +
                     json(v).dump());
}

// Message content: a string, or an array of {"type": "text", "text": ...} parts (joined).
std::string content_text(const ojson& c, const std::string& where) {
    if (c.is_null()) return "";
    if (c.is_string()) return c.get<std::string>();
    if (!c.is_array()) bad(where, "must be a string or an array of content parts");
    std::string out;
    for (const auto& part : c) {
        if (!part.is_object()) bad(where, "parts must be objects");
        auto type = part.find("type");
        if (type == part.end() || !type->is_string()) bad(where, "parts need a string 'type'");
        if (*type != "text")
            bad(where, "part type '" + type->get<std::string>() + "' is not supported (text only)");
        auto text = part.find("text");
        if (text == part.end() || !text->is_string()) bad(where, "text parts need a string 'text'");
        out += text->get<std::string>();
    }
    return out;
}

ojson parse_messages(const ojson& j) {
    auto it = j.find("messages");
    if (it == j.end() || it->is_null()) bad("messages", "is required");
    if (!it->is_array()) bad("messages", "must be an array");
    if (it->empty()) bad("messages", "must not be empty");
    ojson out = ojson::array();
    for (size_t i = 0; i < it->size(); ++i) {
        const ojson& m = (*it)[i];
        const std::string where = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) bad(where, "must be an object");
        auto role = m.find("role");
        if (role == m.end() || !role->is_string()) bad(where + ".role", "must be a string");
        ojson msg = ojson::object();
        // "developer" is OpenAI's newer name for the system role; templates know "system".
        msg["role"] = *role == "developer" ? std::string("system") : role->get<std::string>();
        auto content = m.find("content");
        msg["content"] = content_text(content == m.end() ? ojson() : *content, where + ".content");
        for (const char* k : {"name", "tool_call_id"})
            if (m.contains(k) && m[k].is_string()) msg[k] = m[k];
        if (m.contains("tool_calls") && m["tool_calls"].is_array())
            msg["tool_calls"] = m["tool_calls"];
        out.push_back(std::move(msg));
    }
    return out;
}

}  // namespace

const char* error_type(int status) {
    switch (status) {
        case 401:
            return "authentication_error";
        case 404:
            return "not_found_error";
        case 413:
            return "request_too_large";
        case 429:
            return "rate_limit_error";
        case 503:
            return "service_unavailable";
        default:
            return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

json error_json(int status, const std::string& message, const std::string& param) {
    json e = {{"message", message},
              {"type", error_type(status)},
              {"param", param.empty() ? json() : json(param)},
              {"code", json()}};
    return {{"error", e}};
}

void apply_reasoning_effort(const std::string& effort, CompletionRequest& r) {
    if (effort == "none") {
        r.thinking_enabled = false;
    } else if (effort == "minimal") {
        r.max_thinking_tokens = 128;
    } else if (effort == "low") {
        r.max_thinking_tokens = 512;
    } else if (effort == "medium") {
        r.max_thinking_tokens = 2048;
    } else if (effort == "high") {
        r.max_thinking_tokens = -1;
    } else {
        bad("reasoning_effort", "must be one of none, minimal, low, medium, high");
    }
}

CompletionRequest parse_completion_request(const std::string& body, Endpoint endpoint) {
    ojson j;
    try {
        j = ojson::parse(body);
    } catch (const ojson::exception& e) {
        throw ApiError(400, std::string("invalid JSON in the request body: ") + e.what());
    }
    if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
    CompletionRequest r;
    r.endpoint = endpoint;
    r.model = get_string(j, "model").value_or("");
    if (endpoint == Endpoint::Chat) {
        r.messages = parse_messages(j);
    } else {
        auto it = j.find("prompt");
        if (it == j.end() || it->is_null()) bad("prompt", "is required");
        if (it->is_string()) {
            r.prompt = it->get<std::string>();
        } else if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
            r.prompt = (*it)[0].get<std::string>();
        } else if (it->is_array() && !it->empty() && (*it)[0].is_number_integer()) {
            for (const auto& t : *it) {
                if (!t.is_number_integer()) bad("prompt", "token arrays must hold integers");
                const int64_t v = t.get<int64_t>();
                if (v < 0 || v > std::numeric_limits<int32_t>::max())
                    bad("prompt", "holds a token id out of range");
                r.prompt_ids.push_back(int32_t(v));
            }
        } else {
            bad("prompt", "must be a string, an array of one string, or an array of token ids");
        }
    }
    // max_completion_tokens is the newer name; it wins when both are present.
    auto mt = get_int(j, "max_completion_tokens");
    if (!mt) mt = get_int(j, "max_tokens");
    if (mt) {
        if (*mt < 0 || *mt > (1 << 30)) bad("max_tokens", "must be a non-negative integer");
        r.max_tokens = int32_t(*mt);
    }
    if (auto v = get_number(j, "temperature")) {
        check_range("temperature", *v, 0, 2);
        r.sampling.temperature = float(*v);
    }
    if (auto v = get_number(j, "top_p")) {
        check_range("top_p", *v, 0, 1);
        r.sampling.top_p = float(*v);
    }
    if (auto v = get_int(j, "top_k")) {
        if (*v < 0 || *v > (1 << 30)) bad("top_k", "must be a non-negative integer");
        r.sampling.top_k = int32_t(*v);
    }
    if (auto v = get_number(j, "min_p")) {
        check_range("min_p", *v, 0, 1);
        r.sampling.min_p = float(*v);
    }
    if (auto v = get_number(j, "presence_penalty")) {
        check_range("presence_penalty", *v, -2, 2);
        r.sampling.presence_penalty = float(*v);
    }
    if (auto v = get_number(j, "frequency_penalty")) {
        check_range("frequency_penalty", *v, -2, 2);
        r.sampling.frequency_penalty = float(*v);
    }
    if (auto v = get_int(j, "seed")) {
        r.sampling.seed = uint64_t(*v);
        r.seed_given = true;
    }
    if (auto v = get_int(j, "n")) {
        if (*v < 1 || *v > 128) bad("n", "must be between 1 and 128");
        r.n = int32_t(*v);
    }
    if (auto it = j.find("stop"); it != j.end() && !it->is_null()) {
        if (it->is_string()) {
            r.stop.push_back(it->get<std::string>());
        } else if (it->is_array()) {
            if (it->size() > 16) bad("stop", "holds at most 16 strings");
            for (const auto& s : *it) {
                if (!s.is_string()) bad("stop", "must be a string or an array of strings");
                r.stop.push_back(s.get<std::string>());
            }
        } else {
            bad("stop", "must be a string or an array of strings");
        }
        for (const auto& s : r.stop)
            if (s.empty()) bad("stop", "must not contain empty strings");
    }
    r.stream = get_bool(j, "stream").value_or(false);
    if (auto it = j.find("stream_options"); it != j.end() && !it->is_null()) {
        if (!it->is_object()) bad("stream_options", "must be an object");
        r.include_usage = get_bool(*it, "include_usage").value_or(false);
    }
    // logprobs: a boolean (chat, with top_logprobs) or an integer (legacy completions).
    if (auto it = j.find("logprobs"); it != j.end() && !it->is_null()) {
        if (it->is_boolean()) {
            if (it->get<bool>()) r.top_logprobs = 0;
        } else if (it->is_number_integer() && endpoint == Endpoint::Completion) {
            const int64_t v = it->get<int64_t>();
            if (v < 0 || v > 20) bad("logprobs", "must be between 0 and 20");
            r.top_logprobs = int32_t(v);
        } else {
            bad("logprobs", endpoint == Endpoint::Chat ? "must be a boolean"
                                                       : "must be a boolean or an integer");
        }
    }
    if (auto v = get_int(j, "top_logprobs")) {
        if (*v < 0 || *v > 20) bad("top_logprobs", "must be between 0 and 20");
        if (r.top_logprobs < 0 && endpoint == Endpoint::Chat)
            bad("top_logprobs", "needs 'logprobs': true");
        r.top_logprobs = int32_t(*v);
    }
    r.user = get_string(j, "user").value_or("");
    if (auto e = get_string(j, "reasoning_effort")) apply_reasoning_effort(*e, r);
    if (auto it = j.find("thinking"); it != j.end() && !it->is_null()) {
        // `thinking: false`, or Anthropic-style {"type": "enabled"|"disabled", "budget_tokens"}.
        if (it->is_boolean()) {
            r.thinking_enabled = it->get<bool>();
        } else if (it->is_object()) {
            const auto type = get_string(*it, "type").value_or("enabled");
            if (type != "enabled" && type != "disabled")
                bad("thinking.type", "must be 'enabled' or 'disabled'");
            r.thinking_enabled = type == "enabled";
            if (auto b = get_int(*it, "budget_tokens")) {
                if (*b < 0) bad("thinking.budget_tokens", "must be non-negative");
                r.max_thinking_tokens = int32_t(*b);
            }
        } else {
            bad("thinking", "must be a boolean or an object");
        }
    }
    if (auto v = get_int(j, "max_thinking_tokens")) {
        if (*v < -1 || *v > (1 << 30)) bad("max_thinking_tokens", "must be -1 or more");
        r.max_thinking_tokens = int32_t(*v);
    }
    if (auto v = get_int(j, "min_thinking_tokens")) {
        if (*v < 0 || *v > (1 << 30)) bad("min_thinking_tokens", "must be non-negative");
        r.min_thinking_tokens = int32_t(*v);
    }
    return r;
}

const char* openai_finish_reason(FinishReason r) {
    switch (r) {
        case FinishReason::Stop:
        case FinishReason::Cancelled:
            return "stop";
        case FinishReason::Length:
        case FinishReason::ContextFull:
            return "length";
    }
    return "stop";
}

json usage_json(const Usage& u) {
    return {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", u.cached_prompt_tokens}}},
            {"completion_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}}};
}

namespace {

json bytes_of(const std::string& s) {
    json b = json::array();
    for (unsigned char c : s) b.push_back(int(c));
    return b;
}

// Token text for JSON: a piece that is not valid UTF-8 on its own (a partial character) is
// replaced by U+FFFD by the serializer; `bytes` keeps the exact bytes.
json token_entry(const std::string& piece, float lp) {
    return {{"token", piece}, {"logprob", lp}, {"bytes", bytes_of(piece)}};
}

}  // namespace

json chat_logprobs_json(const std::vector<TokenLogprob>& lps, const PieceFn& piece) {
    json content = json::array();
    for (const auto& lp : lps) {
        json e = token_entry(piece(lp.id), lp.logprob);
        json top = json::array();
        for (const auto& [id, l] : lp.top) top.push_back(token_entry(piece(id), l));
        e["top_logprobs"] = std::move(top);
        content.push_back(std::move(e));
    }
    return {{"content", std::move(content)}};
}

json completion_logprobs_json(const std::vector<TokenLogprob>& lps, const PieceFn& piece) {
    json tokens = json::array(), token_lps = json::array(), tops = json::array(),
         offsets = json::array();
    size_t offset = 0;
    for (const auto& lp : lps) {
        const std::string p = piece(lp.id);
        tokens.push_back(p);
        token_lps.push_back(lp.logprob);
        json top = json::object();
        for (const auto& [id, l] : lp.top) top[piece(id)] = l;
        tops.push_back(std::move(top));
        offsets.push_back(offset);
        offset += p.size();
    }
    return {{"tokens", tokens},
            {"token_logprobs", token_lps},
            {"top_logprobs", tops},
            {"text_offset", offsets}};
}

json chat_completion_json(const ResponseHeader& h, const std::vector<ChoiceResult>& choices,
                          const Usage& u, bool with_logprobs, const PieceFn& piece) {
    json cs = json::array();
    for (size_t i = 0; i < choices.size(); ++i) {
        const auto& c = choices[i];
        json msg = {{"role", "assistant"}, {"content", c.content}};
        if (!c.reasoning.empty()) {
            msg["reasoning_content"] = c.reasoning;
            msg["reasoning"] = c.reasoning;
        }
        cs.push_back({{"index", i},
                      {"message", std::move(msg)},
                      {"logprobs", with_logprobs ? chat_logprobs_json(c.logprobs, piece) : json()},
                      {"finish_reason", c.finish_reason}});
    }
    return {{"id", h.id},
            {"object", "chat.completion"},
            {"created", h.created},
            {"model", h.model},
            {"system_fingerprint", "ponder"},
            {"choices", std::move(cs)},
            {"usage", usage_json(u)}};
}

json text_completion_json(const ResponseHeader& h, const std::vector<ChoiceResult>& choices,
                          const Usage& u, bool with_logprobs, const PieceFn& piece) {
    json cs = json::array();
    for (size_t i = 0; i < choices.size(); ++i) {
        const auto& c = choices[i];
        cs.push_back(
            {{"index", i},
             {"text", c.content},
             {"logprobs", with_logprobs ? completion_logprobs_json(c.logprobs, piece) : json()},
             {"finish_reason", c.finish_reason}});
    }
    return {{"id", h.id},
            {"object", "text_completion"},
            {"created", h.created},
            {"model", h.model},
            {"system_fingerprint", "ponder"},
            {"choices", std::move(cs)},
            {"usage", usage_json(u)}};
}

json stream_chunk_json(const ResponseHeader& h, Endpoint ep, int32_t index, const json& delta,
                       const char* finish_reason, const json& logprobs) {
    json choice = {{"index", index}};
    if (ep == Endpoint::Chat) {
        choice["delta"] = delta;
    } else {
        choice["text"] = delta.contains("content") ? delta["content"] : json("");
    }
    choice["logprobs"] = logprobs;
    choice["finish_reason"] = finish_reason ? json(finish_reason) : json();
    return {{"id", h.id},
            {"object", ep == Endpoint::Chat ? "chat.completion.chunk" : "text_completion"},
            {"created", h.created},
            {"model", h.model},
            {"system_fingerprint", "ponder"},
            {"choices", json::array({std::move(choice)})}};
}

json stream_usage_json(const ResponseHeader& h, Endpoint ep, const Usage& u) {
    return {{"id", h.id},
            {"object", ep == Endpoint::Chat ? "chat.completion.chunk" : "text_completion"},
            {"created", h.created},
            {"model", h.model},
            {"system_fingerprint", "ponder"},
            {"choices", json::array()},
            {"usage", usage_json(u)}};
}

std::string sse_event(const json& j) {
    return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace ponder::server
