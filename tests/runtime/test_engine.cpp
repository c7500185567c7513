// The engine: batched decoding equals decoding alone, prefix reuse, choices, stops, cancel,
// thinking budgets.
#include <gtest/gtest.h>

#include <map>

#include "common/paths.h"
#include "core/error.h"
#include "runtime/engine.h"

namespace ponder {
namespace {

struct Loaded {
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tok;
    explicit Loaded(const std::string& file) {
        model = Model::load(test::model_path(file));
        tok = Tokenizer::from_gguf(model->file());
    }
};

struct Collected {
    std::map<int, std::vector<int32_t>> ids;
    std::map<int, std::string> text;
    std::map<int, FinishReason> finish;
    std::map<int, int> forced;
    Usage usage;
    bool done = false;
    std::string error;
};

EventSink collect(Collected& c) {
    return [&c](const Event& e, const Usage& u) {
        switch (e.kind) {
            case Event::Kind::Token:
                if (e.token >= 0) c.ids[e.choice].push_back(e.token);
                c.text[e.choice] += e.text;
                c.forced[e.choice] += e.forced ? 1 : 0;
                break;
            case Event::Kind::ChoiceDone:
                c.finish[e.choice] = e.finish;
                break;
            case Event::Kind::RequestDone:
                c.done = true;
                c.usage = u;
                break;
            case Event::Kind::Error:
                c.error = e.error;
                break;
        }
    };
}

Request greedy(const Tokenizer& tok, const std::string& prompt, int max_tokens) {
    Request r;
    r.prompt = tok.encode(prompt, true, true);
    r.sampling.temperature = 0;
    r.max_tokens = max_tokens;
    return r;
}

void run_all(Engine& e) {
    for (int i = 0; i < 10000 && !e.idle(); ++i) e.step();
    ASSERT_TRUE(e.idle());
}

TEST(Engine, BatchedDecodingEqualsDecodingAlone) {
    Loaded m("stories260K.gguf");
    const std::vector<std::string> prompts = {"Once upon a time", "Tim had a red ball.",
                                              "The little dog was sad because", "Lily and Tom"};
    std::vector<std::vector<int32_t>> alone;
    for (const auto& p : prompts) {
        Context ctx(*m.model, {.n_ctx = 256, .n_threads = 2});
        Engine e(ctx, *m.tok, {.n_slots = 1});
        Collected c;
        e.submit(greedy(*m.tok, p, 24), collect(c));
        run_all(e);
        alone.push_back(c.ids[0]);
        EXPECT_EQ(c.finish[0], FinishReason::Length);
    }
    Context ctx(*m.model, {.n_ctx = 1024, .n_threads = 2});
    Engine e(ctx, *m.tok, {.n_slots = 4});
    std::vector<Collected> cs(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i)
        e.submit(greedy(*m.tok, prompts[i], 24), collect(cs[i]));
    run_all(e);
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(cs[i].ids[0], alone[i]) << prompts[i];
    EXPECT_GT(e.stats().steps, 0u);
    EXPECT_LT(e.stats().steps, 4u * 25u);  // batched: fewer steps than one by one
}

TEST(Engine, ReusesACachedPrefixAndGetsTheSameResult) {
    Loaded m("stories260K.gguf");
    Context ctx(*m.model, {.n_ctx = 512, .n_threads = 2});
    Engine e(ctx, *m.tok, {.n_slots = 2});
    Collected first, second, fresh;
    e.submit(greedy(*m.tok, "Once upon a time, there was a little girl", 8), collect(first));
    run_all(e);
    EXPECT_EQ(first.usage.cached_prompt_tokens, 0);
    e.submit(greedy(*m.tok, "Once upon a time, there was a little boy", 8), collect(second));
    run_all(e);
    EXPECT_GT(second.usage.cached_prompt_tokens, 5);
    Context ctx2(*m.model, {.n_ctx = 512, .n_threads = 2});
    Engine e2(ctx2, *m.tok, {.n_slots = 1});
    e2.submit(greedy(*m.tok, "Once upon a time, there was a little boy", 8), collect(fresh));
    run_all(e2);
    EXPECT_EQ(second.ids[0], fresh.ids[0]);
}

TEST(Engine, ChoicesShareThePromptAndDifferBySeed) {
    Loaded m("stories260K.gguf");
    Context ctx(*m.model, {.n_ctx = 512, .n_threads = 2});
    Engine e(ctx, *m.tok, {.n_slots = 4});
    Request r = greedy(*m.tok, "Once upon a time", 16);
    r.n_choices = 3;
    r.sampling.temperature = 1.0f;
    r.sampling.top_k = 0;
    r.sampling.top_p = 1.0f;
    r.sampling.min_p = 0.0f;
    Collected c;
    e.submit(r, collect(c));
    run_all(e);
    ASSERT_EQ(c.ids.size(), 3u);
    EXPECT_TRUE(c.ids[0] != c.ids[1] || c.ids[1] != c.ids[2]);
    EXPECT_EQ(c.usage.completion_tokens, 48);
    // The same request again gives the same three texts (seeded).
    Collected again;
    e.submit(r, collect(again));
    run_all(e);
    EXPECT_EQ(again.ids, c.ids);
}

TEST(Engine, StopStringsCutTheTextAndFinishWithStop) {
    Loaded m("stories260K.gguf");
    Context ctx(*m.model, {.n_ctx = 256, .n_threads = 1});
    Engine e(ctx, *m.tok, {.n_slots = 1});
    Request r = greedy(*m.tok, "Once upon a time", 64);
    r.stop = {"Lily"};
    Collected c;
    e.submit(r, collect(c));
    run_all(e);
    EXPECT_EQ(c.finish[0], FinishReason::Stop);
    EXPECT_EQ(c.text[0].find("Lily"), std::string::npos);
    EXPECT_FALSE(c.text[0].empty());
}

TEST(Engine, CancelFreesTheCacheAndRejectsBadRequests) {
    Loaded m("stories260K.gguf");
    Context ctx(*m.model, {.n_ctx = 256, .n_threads = 1});
    Engine e(ctx, *m.tok, {.n_slots = 2});
    Collected c;
    const int64_t id = e.submit(greedy(*m.tok, "Once upon a time", 200), collect(c));
    for (int i = 0; i < 5; ++i) e.step();
    e.cancel(id);
    run_all(e);
    EXPECT_EQ(c.finish[0], FinishReason::Cancelled);
    EXPECT_TRUE(c.done);
    Request big;
    big.prompt.assign(200, 1);
    EXPECT_THROW(e.submit(big, collect(c)), Error);  // longer than a slot's 128 tokens
    Request many = greedy(*m.tok, "hi", 4);
    many.n_choices = 3;
    EXPECT_THROW(e.submit(many, collect(c)), Error);
}

TEST(Engine, MaxThinkingTokensForcesTheCloseAtTheBudget) {
    Loaded m("tiny-qwen3-F16.gguf");
    Context ctx(*m.model, {.n_ctx = 512, .n_threads = 2});
    Engine e(ctx, *m.tok, {.n_slots = 1});
    Request r =
        greedy(*m.tok, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n", 24);
    r.thinking.track = true;
    r.thinking.starts_inside = true;
    r.thinking.max_tokens = 6;
    Collected c;
    std::vector<std::pair<bool, bool>> flags;  // (thinking, forced) per token
    e.submit(r, [&](const Event& ev, const Usage& u) {
        if (ev.kind == Event::Kind::Token && ev.token >= 0)
            flags.emplace_back(ev.thinking, ev.forced);
        collect(c)(ev, u);
    });
    run_all(e);
    ASSERT_GE(flags.size(), 7u);
    for (int i = 0; i < 6; ++i)
        EXPECT_TRUE(flags[size_t(i)].first && !flags[size_t(i)].second) << i;
    EXPECT_TRUE(flags[6].second);  // the 7th token is forced: the budget was spent
    EXPECT_NE(c.text[0].find("</think>"), std::string::npos);
    EXPECT_GE(c.usage.reasoning_tokens, 6);
    // After the close, tokens are no longer thinking.
    EXPECT_FALSE(flags.back().first);
}

}  // namespace
}  // namespace ponder
