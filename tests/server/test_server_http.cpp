// The server in-process on a loopback port, spoken to over HTTP: errors, streaming, n > 1,
// stop strings, seeded determinism, batched == alone, disconnect cancels, reasoning fields.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <thread>

#include "common/paths.h"
#include "server/server.h"

namespace ponder::server {
namespace {

using json = nlohmann::json;

struct Running {
    std::unique_ptr<Server> srv;
    int port = 0;
    explicit Running(ServerOptions o) {
        o.port = 0;
        o.log_requests = false;
        if (o.n_threads == 0) o.n_threads = 1;
        srv = std::make_unique<Server>(std::move(o));
        port = srv->start();
        srv->load();
    }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(60, 0);
        return c;
    }
    // POST JSON; returns status and parsed body (null when the body is not JSON).
    std::pair<int, json> post(const std::string& path, const json& body,
                              const httplib::Headers& h = {}) const {
        auto c = client();
        auto r = c.Post(path.c_str(), h, body.dump(), "application/json");
        if (!r) return {-1, json()};
        return {r->status, json::parse(r->body, nullptr, false)};
    }
    std::string post_raw(const std::string& path, const json& body) const {
        auto c = client();
        auto r = c.Post(path.c_str(), body.dump(), "application/json");
        return r ? r->body : "";
    }
    std::string metrics() const {
        auto c = client();
        auto r = c.Get("/metrics");
        return r ? r->body : "";
    }
};

// A gauge or counter's value in the Prometheus text.
double metric(const std::string& text, const std::string& name) {
    const auto p = text.find("\n" + name + " ");
    if (p == std::string::npos) return -1;
    return std::stod(text.substr(p + name.size() + 2));
}

// The data lines of an SSE body, as JSON (the final [DONE] as the string "[DONE]").
std::vector<json> sse(const std::string& body) {
    std::vector<json> out;
    size_t pos = 0;
    while ((pos = body.find("data: ", pos)) != std::string::npos) {
        const size_t end = body.find("\n\n", pos);
        const std::string data = body.substr(pos + 6, end - pos - 6);
        out.push_back(data == "[DONE]" ? json("[DONE]") : json::parse(data));
        pos = end;
    }
    return out;
}

ServerOptions stories_options() {
    ServerOptions o;
    o.model_path = test::model_path("stories260K.gguf");
    o.parallel = 4;
    o.n_ctx = 2048;  // 512 per sequence
    o.max_body_bytes = 64 * 1024;
    return o;
}

class ServerHttp : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { s_ = new Running(stories_options()); }
    static void TearDownTestSuite() {
        delete s_;
        s_ = nullptr;
    }
    static Running* s_;
};
Running* ServerHttp::s_ = nullptr;

json completion(const std::string& prompt, int max_tokens, json extra = json::object()) {
    json b = {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}};
    b.update(extra);
    return b;
}

TEST_F(ServerHttp, HealthModelsAndMetrics) {
    auto c = s_->client();
    auto h = c.Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
    auto m = c.Get("/v1/models");
    ASSERT_TRUE(m);
    const json j = json::parse(m->body);
    EXPECT_EQ(j["object"], "list");
    EXPECT_EQ(j["data"][0]["id"], "stories260K.gguf");
    const std::string t = s_->metrics();
    for (const char* name :
         {"ponder_requests_total", "ponder_prompt_tokens_total", "ponder_generated_tokens_total",
          "ponder_generation_tokens_per_second", "ponder_queue_depth", "ponder_active_sequences",
          "ponder_kv_cache_usage_ratio", "ponder_time_to_first_token_seconds_bucket",
          "ponder_inter_token_latency_seconds_bucket"})
        EXPECT_NE(t.find(name), std::string::npos) << name;
}

TEST_F(ServerHttp, ErrorsAreOpenAiErrorObjects) {
    auto c = s_->client();
    auto bad = c.Post("/v1/chat/completions", "{oops", "application/json");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    EXPECT_EQ(json::parse(bad->body)["error"]["type"], "invalid_request_error");
    auto [st, j] = s_->post("/v1/chat/completions", {{"messages", "hi"}});
    EXPECT_EQ(st, 400);
    EXPECT_EQ(j["error"]["param"], "messages");
    std::tie(st, j) = s_->post("/v1/completions", completion("x", 4, {{"temperature", "hot"}}));
    EXPECT_EQ(st, 400);
    EXPECT_EQ(j["error"]["param"], "temperature");
    std::tie(st, j) = s_->post("/v1/completions", completion("x", 4, {{"n", 5}}));
    EXPECT_EQ(st, 400);  // more choices than slots
    // Too long: 400 naming the prompt's length and the context's.
    std::string longp;
    for (int i = 0; i < 400; ++i) longp += "Once upon a time ";
    auto [tst, tj] = s_->post("/tokenize", {{"content", longp}, {"add_special", true}});
    ASSERT_EQ(tst, 200);
    const size_t n = tj["tokens"].size();
    ASSERT_GT(n, 512u);
    std::tie(st, j) = s_->post("/v1/completions", completion(longp, 4));
    EXPECT_EQ(st, 400);
    const std::string msg = j["error"]["message"];
    EXPECT_NE(msg.find(std::to_string(n)), std::string::npos) << msg;
    EXPECT_NE(msg.find("512"), std::string::npos) << msg;
    // Body over the limit: 413.
    auto big = c.Post("/v1/completions", std::string(100 * 1024, ' '), "application/json");
    ASSERT_TRUE(big);
    EXPECT_EQ(big->status, 413);
    EXPECT_EQ(json::parse(big->body)["error"]["type"], "request_too_large");
    auto nf = c.Get("/v1/nothing");
    ASSERT_TRUE(nf);
    EXPECT_EQ(nf->status, 404);
    const std::string t = s_->metrics();
    EXPECT_NE(t.find("endpoint=\"/v1/completions\",status=\"400\""), std::string::npos);
}

TEST_F(ServerHttp, CompletionUsageMatchesTokenizer) {
    auto [st, j] = s_->post("/v1/completions", completion("Once upon a time", 12));
    ASSERT_EQ(st, 200) << j.dump();
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
    auto [tst, tj] =
        s_->post("/tokenize", {{"content", "Once upon a time"}, {"add_special", true}});
    EXPECT_EQ(j["usage"]["prompt_tokens"], tj["tokens"].size());
    EXPECT_EQ(j["usage"]["completion_tokens"], 12);
    EXPECT_EQ(j["usage"]["total_tokens"], 12 + tj["tokens"].size());
    // The text is what the generated tokens decode to.
    auto [dst, dj] = s_->post("/tokenize", {{"content", j["choices"][0]["text"]}});
    auto [rst, rj] = s_->post("/detokenize", {{"tokens", dj["tokens"]}});
    EXPECT_EQ(rj["content"], j["choices"][0]["text"]);
}

TEST_F(ServerHttp, StreamingEqualsNotStreaming) {
    for (const char* path : {"/v1/completions", "/v1/chat/completions"}) {
        json body = completion("Once upon a time", 16);
        if (std::string(path) == "/v1/chat/completions") {
            body.erase("prompt");
            body["messages"] = {{{"role", "user"}, {"content", "Tell me a story"}}};
        }
        auto [st, whole] = s_->post(path, body);
        ASSERT_EQ(st, 200);
        body["stream"] = true;
        body["stream_options"] = {{"include_usage", true}};
        const auto events = sse(s_->post_raw(path, body));
        ASSERT_GE(events.size(), 4u);
        EXPECT_EQ(events.back(), "[DONE]");
        const json& usage = events[events.size() - 2];
        EXPECT_TRUE(usage["choices"].empty());
        // Equal counts (the cached share differs: the second request reuses the first's).
        for (const char* k : {"prompt_tokens", "completion_tokens", "total_tokens"})
            EXPECT_EQ(usage["usage"][k], whole["usage"][k]) << path << " " << k;
        std::string text;
        std::string finish;
        for (size_t i = 0; i + 2 < events.size(); ++i) {
            const json& ch = events[i]["choices"][0];
            if (std::string(path) == "/v1/chat/completions") {
                EXPECT_EQ(events[i]["object"], "chat.completion.chunk");
                if (i == 0) {
                    EXPECT_EQ(ch["delta"]["role"], "assistant");
                }
                if (ch["delta"].contains("content")) text += ch["delta"]["content"];
            } else {
                text += ch["text"];
            }
            if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
        }
        const json& w = whole["choices"][0];
        EXPECT_EQ(text, w.contains("text") ? w["text"] : w["message"]["content"]) << path;
        EXPECT_EQ(finish, w["finish_reason"]);
    }
}

TEST_F(ServerHttp, StopStringsCutTheText) {
    auto [st, j] = s_->post("/v1/completions", completion("Once upon a time", 24));
    ASSERT_EQ(st, 200);
    const std::string text = j["choices"][0]["text"];
    // A stop string taken from the unstopped text (its second word and the next space).
    const size_t a = text.find(' ', 2);
    ASSERT_NE(a, std::string::npos);
    const size_t b = text.find(' ', a + 1);
    ASSERT_NE(b, std::string::npos);
    const std::string stop = text.substr(a + 1, b - a);
    auto [st2, j2] =
        s_->post("/v1/completions", completion("Once upon a time", 24, {{"stop", {stop}}}));
    ASSERT_EQ(st2, 200);
    EXPECT_EQ(j2["choices"][0]["text"], text.substr(0, text.find(stop)));
    EXPECT_EQ(j2["choices"][0]["finish_reason"], "stop");
}

TEST_F(ServerHttp, SeededSamplingIsDeterministicAndChoicesDiffer) {
    const json body = {{"prompt", "Once upon a time"},
                       {"max_tokens", 24},
                       {"temperature", 1.0},
                       {"top_k", 0},
                       {"top_p", 1.0},
                       {"min_p", 0},
                       {"seed", 1234},
                       {"n", 3}};
    auto [s1, j1] = s_->post("/v1/completions", body);
    auto [s2, j2] = s_->post("/v1/completions", body);
    ASSERT_EQ(s1, 200);
    ASSERT_EQ(j1["choices"].size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(j1["choices"][i]["index"], i);
        EXPECT_EQ(j1["choices"][i]["text"], j2["choices"][i]["text"]);
    }
    // Each choice draws with its own seed: at temperature 1 three 24-token texts agree only
    // if the model is near-deterministic, which stories260K is not after "Once upon a time".
    EXPECT_FALSE(j1["choices"][0]["text"] == j1["choices"][1]["text"] &&
                 j1["choices"][1]["text"] == j1["choices"][2]["text"]);
}

TEST_F(ServerHttp, BatchedDecodingEqualsDecodingAlone) {
    const std::vector<std::string> prompts = {"Once upon a time", "The little dog",
                                              "Lily and Tom went", "One day, a bird"};
    std::vector<std::string> alone, together(prompts.size());
    for (const auto& p : prompts) {
        auto [st, j] = s_->post("/v1/completions", completion(p, 32));
        ASSERT_EQ(st, 200);
        alone.push_back(j["choices"][0]["text"]);
    }
    const double generated_before = metric(s_->metrics(), "ponder_generated_tokens_total");
    std::vector<std::thread> threads;
    for (size_t i = 0; i < prompts.size(); ++i)
        threads.emplace_back([&, i] {
            auto [st, j] = s_->post("/v1/completions", completion(prompts[i], 32));
            if (st == 200) together[i] = j["choices"][0]["text"];
        });
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i], alone[i]) << prompts[i];
    EXPECT_GT(metric(s_->metrics(), "ponder_generated_tokens_total"), generated_before);
}

TEST_F(ServerHttp, PrefixCacheIsReused) {
    const std::string sys =
        "Once upon a time, there was a little girl named Lily. She loved to "
        "play outside in the park.";
    auto [s1, j1] = s_->post("/v1/completions", completion(sys + " One day", 4));
    auto [s2, j2] = s_->post("/v1/completions", completion(sys + " Then", 4));
    ASSERT_EQ(s2, 200);
    EXPECT_GT(j2["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(), 10);
}

// A server of its own with room for a long answer: the same request runs to its full length
// when the client stays, and stops far short of it when the client hangs up. The margin is
// wide because the tiny model makes thousands of tokens a second and the server notices the
// hang-up only at its next writes, whenever the test machine next runs its HTTP thread.
TEST(ServerCancel, ClientDisconnectCancelsTheSequence) {
    ServerOptions o = stories_options();
    o.parallel = 1;
    o.n_ctx = 2048;
    Running s(o);
    constexpr int kMax = 1600;
    auto [st, full] = s.post("/v1/completions", completion("Once upon a time", kMax));
    ASSERT_EQ(st, 200);
    ASSERT_EQ(full["choices"][0]["finish_reason"], "length") << "the request ends by itself";
    ASSERT_EQ(full["usage"]["completion_tokens"].get<int>(), kMax);

    auto c = s.client();
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.set_header("Content-Type", "application/json");
    req.body = completion("Once upon a time", kMax, {{"stream", true}}).dump();
    const double before = metric(s.metrics(), "ponder_generated_tokens_total");
    std::atomic<int> chunks{0};
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
        return ++chunks < 3;  // read a little, then hang up
    };
    httplib::Response res;
    httplib::Error err;
    c.send(req, res, err);
    EXPECT_GE(chunks.load(), 3);
    // The slot is released and far fewer tokens were generated than the full answer's.
    bool freed = false;
    for (int i = 0; i < 500 && !freed; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        freed = metric(s.metrics(), "ponder_active_sequences") == 0;
    }
    EXPECT_TRUE(freed);
    const double generated = metric(s.metrics(), "ponder_generated_tokens_total") - before;
    EXPECT_LT(generated, kMax / 2) << "the cancelled request kept generating";
}

TEST(ServerLimits, ApiKeyAndQueueLimit) {
    ServerOptions o;
    o.model_path = test::model_path("tiny-llama-F32.gguf");
    o.parallel = 1;
    o.n_ctx = 1024;
    o.max_queue = 0;
    o.api_keys = {"sesame"};
    Running s(o);
    auto [st, j] = s.post("/v1/completions", completion("hi", 2));
    EXPECT_EQ(st, 401);
    EXPECT_EQ(j["error"]["type"], "authentication_error");
    std::tie(st, j) =
        s.post("/v1/completions", completion("hi", 2), {{"Authorization", "Bearer wrong"}});
    EXPECT_EQ(st, 401);
    const httplib::Headers auth = {{"Authorization", "Bearer sesame"}};
    std::tie(st, j) = s.post("/v1/completions", completion("hi", 2), auth);
    EXPECT_EQ(st, 200);
    auto h = s.client().Get("/health");  // health needs no key
    EXPECT_EQ(h->status, 200);
    // One slot, no queue: while a long stream runs, another request gets 429.
    std::atomic<bool> started{false}, stop{false};
    std::thread first([&] {
        auto c = s.client();
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/completions";
        req.headers = auth;
        req.set_header("Content-Type", "application/json");
        req.body = completion("hi", 1000, {{"stream", true}}).dump();
        req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
            started = true;
            return !stop.load();
        };
        httplib::Response res;
        httplib::Error err;
        c.send(req, res, err);
    });
    while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::tie(st, j) = s.post("/v1/completions", completion("hi", 2), auth);
    EXPECT_EQ(st, 429);
    EXPECT_EQ(j["error"]["type"], "rate_limit_error");
    stop = true;
    first.join();
}

TEST(ServerReasoning, ThinkingTemplateFillsReasoningFields) {
    ServerOptions o;
    o.model_path = test::model_path("tiny-qwen3-F16.gguf");
    // A template whose generation prompt opens a <think> block.
    o.chat_template_file =
        test::golden_path("chat-templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja");
    o.parallel = 2;
    o.n_ctx = 512;
    Running s(o);
    const json msgs = {{{"role", "user"}, {"content", "Why is the sky blue?"}}};
    json body = {
        {"messages", msgs}, {"max_tokens", 16}, {"temperature", 0}, {"max_thinking_tokens", 4}};
    auto [st, j] = s.post("/v1/chat/completions", body);
    ASSERT_EQ(st, 200) << j.dump();
    const json& m = j["choices"][0]["message"];
    ASSERT_TRUE(m.contains("reasoning_content")) << j.dump();
    EXPECT_FALSE(m["reasoning_content"].get<std::string>().empty());
    EXPECT_EQ(m["reasoning"], m["reasoning_content"]);
    EXPECT_EQ(m["reasoning_content"].get<std::string>().find("</think>"), std::string::npos);
    const int reasoning = j["usage"]["completion_tokens_details"]["reasoning_tokens"];
    EXPECT_GE(reasoning, 4);
    EXPECT_LE(reasoning, j["usage"]["completion_tokens"].get<int>());
    // Streamed: reasoning_content deltas first, the same text in total.
    body["stream"] = true;
    std::string reasoning_text, content_text;
    for (const json& e : sse(s.post_raw("/v1/chat/completions", body))) {
        if (e == "[DONE]") continue;
        const json& d = e["choices"][0]["delta"];
        if (d.contains("reasoning_content")) reasoning_text += d["reasoning_content"];
        if (d.contains("content")) content_text += d["content"];
    }
    EXPECT_EQ(reasoning_text, m["reasoning_content"]);
    EXPECT_EQ(content_text, m["content"]);
    // Thinking off: no reasoning at all.
    body.erase("stream");
    body["thinking"] = false;
    std::tie(st, j) = s.post("/v1/chat/completions", body);
    ASSERT_EQ(st, 200);
    EXPECT_FALSE(j["choices"][0]["message"].contains("reasoning_content"));
    EXPECT_EQ(j["usage"]["completion_tokens_details"]["reasoning_tokens"], 0);
}

}  // namespace
}  // namespace ponder::server
