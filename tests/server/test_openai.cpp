// The OpenAI wire format without a model: request parsing and validation, response shapes,
// the Prometheus text of the metrics.
#include <gtest/gtest.h>

#include "server/metrics.h"
#include "server/openai.h"

namespace ponder::server {
namespace {

using json = nlohmann::json;

int status_of(const std::string& body, Endpoint ep = Endpoint::Chat) {
    try {
        parse_completion_request(body, ep);
    } catch (const ApiError& e) {
        return e.status();
    }
    return 200;
}

std::string param_of(const std::string& body, Endpoint ep = Endpoint::Chat) {
    try {
        parse_completion_request(body, ep);
    } catch (const ApiError& e) {
        return e.param();
    }
    return "";
}

TEST(OpenAiRequest, ParsesEveryChatField) {
    const auto r = parse_completion_request(R"({
        "model": "m", "messages": [{"role": "system", "content": "be brief"},
                                    {"role": "user", "content": [{"type": "text", "text": "a"},
                                                                 {"type": "text", "text": "b"}]}],
        "max_completion_tokens": 7, "max_tokens": 99, "temperature": 0.5, "top_p": 0.9,
        "top_k": 5, "min_p": 0.1, "n": 2, "stop": ["x", "y"], "seed": 42, "stream": true,
        "stream_options": {"include_usage": true}, "presence_penalty": 0.5,
        "frequency_penalty": -0.5, "logprobs": true, "top_logprobs": 3, "user": "u",
        "max_thinking_tokens": 100, "min_thinking_tokens": 10, "some_unknown_field": [1, 2]})",
                                            Endpoint::Chat);
    EXPECT_EQ(r.model, "m");
    ASSERT_EQ(r.messages.size(), 2u);
    EXPECT_EQ(r.messages[1]["content"], "ab");  // text parts are joined
    EXPECT_EQ(r.max_tokens, 7);                 // max_completion_tokens wins
    EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
    EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
    EXPECT_EQ(r.sampling.top_k, 5);
    EXPECT_FLOAT_EQ(r.sampling.min_p, 0.1f);
    EXPECT_EQ(r.n, 2);
    EXPECT_EQ(r.stop, (std::vector<std::string>{"x", "y"}));
    EXPECT_EQ(r.sampling.seed, 42u);
    EXPECT_TRUE(r.seed_given);
    EXPECT_TRUE(r.stream);
    EXPECT_TRUE(r.include_usage);
    EXPECT_FLOAT_EQ(r.sampling.presence_penalty, 0.5f);
    EXPECT_FLOAT_EQ(r.sampling.frequency_penalty, -0.5f);
    EXPECT_EQ(r.top_logprobs, 3);
    EXPECT_EQ(r.user, "u");
    EXPECT_EQ(r.max_thinking_tokens, 100);
    EXPECT_EQ(r.min_thinking_tokens, 10);
}

TEST(OpenAiRequest, CompletionPromptForms) {
    EXPECT_EQ(parse_completion_request(R"({"prompt": "hi"})", Endpoint::Completion).prompt, "hi");
    EXPECT_EQ(parse_completion_request(R"({"prompt": ["hi"]})", Endpoint::Completion).prompt, "hi");
    EXPECT_EQ(parse_completion_request(R"({"prompt": [1, 2, 3]})", Endpoint::Completion).prompt_ids,
              (std::vector<int32_t>{1, 2, 3}));
    const auto r = parse_completion_request(R"({"prompt": "a", "logprobs": 2, "stop": "z"})",
                                            Endpoint::Completion);
    EXPECT_EQ(r.top_logprobs, 2);
    EXPECT_EQ(r.stop, std::vector<std::string>{"z"});
    EXPECT_EQ(status_of(R"({"prompt": ["a", "b"]})", Endpoint::Completion), 400);
    EXPECT_EQ(status_of(R"({"prompt": [1, "b"]})", Endpoint::Completion), 400);
    EXPECT_EQ(status_of(R"({"prompt": 5})", Endpoint::Completion), 400);
    EXPECT_EQ(status_of(R"({})", Endpoint::Completion), 400);
}

TEST(OpenAiRequest, BadBodiesAre400NamingTheField) {
    EXPECT_EQ(status_of("{not json"), 400);
    EXPECT_EQ(status_of("[1, 2]"), 400);
    EXPECT_EQ(status_of("{}"), 400);
    EXPECT_EQ(param_of("{}"), "messages");
    const std::string msgs = R"("messages": [{"role": "user", "content": "hi"}])";
    EXPECT_EQ(status_of("{" + msgs + "}"), 200);
    const std::pair<const char*, const char*> cases[] = {
        {R"("temperature": "hot")", "temperature"},
        {R"("temperature": 3)", "temperature"},
        {R"("top_p": 1.5)", "top_p"},
        {R"("max_tokens": "10")", "max_tokens"},
        {R"("max_tokens": -1)", "max_tokens"},
        {R"("max_tokens": 1.5)", "max_tokens"},
        {R"("n": 0)", "n"},
        {R"("stop": 5)", "stop"},
        {R"("stop": ["a", 1])", "stop"},
        {R"("stop": [""])", "stop"},
        {R"("seed": "x")", "seed"},
        {R"("stream": "yes")", "stream"},
        {R"("stream_options": 1)", "stream_options"},
        {R"("logprobs": 3)", "logprobs"},
        {R"("top_logprobs": 2)", "top_logprobs"},
        {R"("logprobs": true, "top_logprobs": 21)", "top_logprobs"},
        {R"("presence_penalty": 9)", "presence_penalty"},
        {R"("reasoning_effort": "extreme")", "reasoning_effort"},
        {R"("thinking": "no")", "thinking"},
        {R"("user": 5)", "user"},
        {R"("model": 5)", "model"},
    };
    for (const auto& [field, param] : cases) {
        const std::string body = "{" + msgs + ", " + field + "}";
        EXPECT_EQ(status_of(body), 400) << body;
        EXPECT_EQ(param_of(body), param) << body;
    }
    EXPECT_EQ(status_of(R"({"messages": [{"content": "hi"}]})"), 400);
    EXPECT_EQ(status_of(R"({"messages": [{"role": "user", "content": 5}]})"), 400);
    EXPECT_EQ(status_of(R"({"messages": [{"role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})"),
              400);
    EXPECT_EQ(status_of(R"({"messages": []})"), 400);
}

TEST(OpenAiRequest, ThinkingControls) {
    const std::string m = R"("messages": [{"role": "user", "content": "hi"}])";
    auto parse = [&](const std::string& extra) {
        return parse_completion_request("{" + m + ", " + extra + "}", Endpoint::Chat);
    };
    EXPECT_FALSE(parse(R"("thinking": false)").thinking_enabled);
    EXPECT_TRUE(parse(R"("thinking": true)").thinking_enabled);
    EXPECT_FALSE(parse(R"("reasoning_effort": "none")").thinking_enabled);
    EXPECT_EQ(parse(R"("reasoning_effort": "low")").max_thinking_tokens, 512);
    EXPECT_EQ(parse(R"("reasoning_effort": "medium")").max_thinking_tokens, 2048);
    EXPECT_EQ(parse(R"("reasoning_effort": "high")").max_thinking_tokens, -1);
    const auto a = parse(R"("thinking": {"type": "enabled", "budget_tokens": 64})");
    EXPECT_TRUE(a.thinking_enabled);
    EXPECT_EQ(a.max_thinking_tokens, 64);
    // An explicit budget overrides the effort's.
    EXPECT_EQ(parse(R"("reasoning_effort": "low", "max_thinking_tokens": 9)").max_thinking_tokens,
              9);
}

TEST(OpenAiResponse, ChatCompletionShape) {
    ResponseHeader h{"chatcmpl-1", 123, "m"};
    ChoiceResult c;
    c.content = "answer";
    c.reasoning = "thought";
    c.finish_reason = "length";
    c.logprobs.push_back({7, -0.5f, {{7, -0.5f}, {8, -1.5f}}});
    Usage u;
    u.prompt_tokens = 10;
    u.cached_prompt_tokens = 4;
    u.completion_tokens = 6;
    u.reasoning_tokens = 3;
    const PieceFn piece = [](int32_t id) { return "t" + std::to_string(id); };
    const json j = chat_completion_json(h, {c}, u, true, piece);
    EXPECT_EQ(j["id"], "chatcmpl-1");
    EXPECT_EQ(j["object"], "chat.completion");
    EXPECT_EQ(j["created"], 123);
    EXPECT_EQ(j["model"], "m");
    const json& ch = j["choices"][0];
    EXPECT_EQ(ch["index"], 0);
    EXPECT_EQ(ch["message"]["role"], "assistant");
    EXPECT_EQ(ch["message"]["content"], "answer");
    EXPECT_EQ(ch["message"]["reasoning_content"], "thought");
    EXPECT_EQ(ch["message"]["reasoning"], "thought");
    EXPECT_EQ(ch["finish_reason"], "length");
    EXPECT_EQ(ch["logprobs"]["content"][0]["token"], "t7");
    EXPECT_FLOAT_EQ(ch["logprobs"]["content"][0]["logprob"].get<float>(), -0.5f);
    EXPECT_EQ(ch["logprobs"]["content"][0]["top_logprobs"].size(), 2u);
    EXPECT_EQ(ch["logprobs"]["content"][0]["bytes"], json::array({'t', '7'}));
    EXPECT_EQ(j["usage"]["prompt_tokens"], 10);
    EXPECT_EQ(j["usage"]["completion_tokens"], 6);
    EXPECT_EQ(j["usage"]["total_tokens"], 16);
    EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    EXPECT_EQ(j["usage"]["completion_tokens_details"]["reasoning_tokens"], 3);
    // Without reasoning the fields are absent, and logprobs is null when not asked for.
    c.reasoning.clear();
    const json k = chat_completion_json(h, {c}, u, false, piece);
    EXPECT_FALSE(k["choices"][0]["message"].contains("reasoning_content"));
    EXPECT_TRUE(k["choices"][0]["logprobs"].is_null());
}

TEST(OpenAiResponse, TextCompletionAndChunks) {
    ResponseHeader h{"cmpl-1", 5, "m"};
    ChoiceResult c;
    c.content = "abc";
    c.logprobs.push_back({1, -0.25f, {{1, -0.25f}}});
    c.logprobs.push_back({2, -1.0f, {{2, -1.0f}}});
    const PieceFn piece = [](int32_t id) { return std::string(size_t(id), 'x'); };
    const json j = text_completion_json(h, {c, c}, Usage{}, true, piece);
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["choices"].size(), 2u);
    EXPECT_EQ(j["choices"][1]["index"], 1);
    EXPECT_EQ(j["choices"][0]["text"], "abc");
    EXPECT_EQ(j["choices"][0]["logprobs"]["tokens"], json::array({"x", "xx"}));
    EXPECT_EQ(j["choices"][0]["logprobs"]["text_offset"], json::array({0, 1}));

    const json d = stream_chunk_json(h, Endpoint::Chat, 2, {{"content", "hi"}}, nullptr, nullptr);
    EXPECT_EQ(d["object"], "chat.completion.chunk");
    EXPECT_EQ(d["choices"][0]["index"], 2);
    EXPECT_EQ(d["choices"][0]["delta"]["content"], "hi");
    EXPECT_TRUE(d["choices"][0]["finish_reason"].is_null());
    const json f =
        stream_chunk_json(h, Endpoint::Completion, 0, {{"content", "hi"}}, "stop", nullptr);
    EXPECT_EQ(f["object"], "text_completion");
    EXPECT_EQ(f["choices"][0]["text"], "hi");
    EXPECT_EQ(f["choices"][0]["finish_reason"], "stop");
    const json u = stream_usage_json(h, Endpoint::Chat, Usage{});
    EXPECT_TRUE(u["choices"].empty());
    EXPECT_EQ(u["usage"]["total_tokens"], 0);
    EXPECT_EQ(sse_event(json{{"a", 1}}), "data: {\"a\":1}\n\n");
}

TEST(OpenAiResponse, ErrorsAndFinishReasons) {
    const json e = error_json(429, "busy");
    EXPECT_EQ(e["error"]["message"], "busy");
    EXPECT_EQ(e["error"]["type"], "rate_limit_error");
    EXPECT_TRUE(e["error"]["param"].is_null());
    EXPECT_STREQ(error_type(401), "authentication_error");
    EXPECT_STREQ(error_type(400), "invalid_request_error");
    EXPECT_STREQ(openai_finish_reason(FinishReason::Stop), "stop");
    EXPECT_STREQ(openai_finish_reason(FinishReason::Length), "length");
    EXPECT_STREQ(openai_finish_reason(FinishReason::ContextFull), "length");
}

TEST(Metrics, PrometheusTextWithCumulativeHistograms) {
    Metrics m;
    m.count_request("/v1/completions", 200);
    m.count_request("/v1/completions", 200);
    m.count_request("/v1/completions", 400);
    m.add_tokens(10, 4, 20);
    m.observe_ttft(0.02);
    m.observe_ttft(100);
    m.observe_inter_token(0.003);
    m.set_gauges({.queued = 1, .active = 2, .kv_used = 30, .kv_size = 60});
    const std::string t = m.render();
    auto has = [&](const std::string& s) { return t.find(s) != std::string::npos; };
    EXPECT_TRUE(has("ponder_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 2\n"));
    EXPECT_TRUE(has("ponder_requests_total{endpoint=\"/v1/completions\",status=\"400\"} 1\n"));
    EXPECT_TRUE(has("ponder_prompt_tokens_total 10\n"));
    EXPECT_TRUE(has("ponder_generated_tokens_total 20\n"));
    EXPECT_TRUE(has("ponder_queue_depth 1\n"));
    EXPECT_TRUE(has("ponder_active_sequences 2\n"));
    EXPECT_TRUE(has("ponder_kv_cache_usage_ratio 0.5\n"));
    EXPECT_TRUE(has("# TYPE ponder_time_to_first_token_seconds histogram\n"));
    // 0.02 falls in le=0.025 and above; 100 only in +Inf.
    EXPECT_TRUE(has("ponder_time_to_first_token_seconds_bucket{le=\"0.01\"} 0\n"));
    EXPECT_TRUE(has("ponder_time_to_first_token_seconds_bucket{le=\"0.025\"} 1\n"));
    EXPECT_TRUE(has("ponder_time_to_first_token_seconds_bucket{le=\"60\"} 1\n"));
    EXPECT_TRUE(has("ponder_time_to_first_token_seconds_bucket{le=\"+Inf\"} 2\n"));
    EXPECT_TRUE(has("ponder_time_to_first_token_seconds_count 2\n"));
    EXPECT_TRUE(has("ponder_inter_token_latency_seconds_bucket{le=\"0.005\"} 1\n"));
}

}  // namespace
}  // namespace ponder::server
