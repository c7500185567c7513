// Thinking control over scripted token streams (a fake model that always prefers the next
// token of a script), and end to end through generate() on tiny-qwen3.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/paths.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "runtime/generate.h"
#include "runtime/thinking.h"

namespace ponder {
namespace {

const Tokenizer& qwen3_tok() {
    static const auto tok =
        Tokenizer::from_gguf(*GgufFile::open(test::model_path("tiny-qwen3-F16.gguf")));
    return *tok;
}

// Ids of text pieces, each piece tokenized on its own (so a delimiter may be split).
std::vector<int32_t> ids_of(const std::vector<std::string>& pieces, bool special = false) {
    std::vector<int32_t> out;
    for (const auto& p : pieces) {
        const auto ids = qwen3_tok().encode(p, false, special);
        out.insert(out.end(), ids.begin(), ids.end());
    }
    return out;
}

std::vector<int32_t> enc(const std::string& s) {
    return qwen3_tok().encode(s, false, true);
}

struct Scripted {
    std::vector<int32_t> ids;
    std::vector<bool> forced, thinking;  // per emitted id: forced; inside thinking before it
    int32_t n_thinking = 0, n_content = 0, n_waits = 0;
    bool eog = false;
};

// The fake model: its logits peak at script[i]; i advances when the sampled (not forced)
// token is emitted, so a suppressed token is wanted again at the next step. Driven like
// generate(): forced first, else sample with the control's bias, then steer.
Scripted drive(const ThinkingParams& p, const std::vector<int32_t>& script,
               size_t max_steps = 200) {
    const Tokenizer& tok = qwen3_tok();
    const int32_t n_vocab = tok.n_vocab();
    ThinkingControl tc(tok, p);
    SamplerParams sp;
    sp.temperature = 0;
    Sampler sampler(sp);
    std::vector<float> logits(size_t(n_vocab), 0.0f);
    Scripted r;
    size_t i = 0;
    while (r.ids.size() < max_steps && i < script.size()) {
        const bool was_thinking = tc.in_thinking();
        int32_t id;
        const int32_t before = tc.n_forced();
        if (auto f = tc.next_forced()) {
            id = *f;
        } else {
            std::fill(logits.begin(), logits.end(), 0.0f);
            logits[size_t(script[i])] = 10.0f;
            id = sampler.sample(logits.data(), n_vocab, tc.bias());
            id = tc.steer(id, logits.data(), n_vocab);
        }
        const bool forced = tc.n_forced() != before;
        if (!forced) {
            EXPECT_EQ(id, script[i]) << "the fake model's token was not the one sampled";
            ++i;
        }
        if (!forced && tok.is_eog(id)) {
            r.eog = true;
            break;
        }
        r.ids.push_back(id);
        r.forced.push_back(forced);
        r.thinking.push_back(was_thinking);
        tc.accept(id);
    }
    r.n_thinking = tc.n_thinking();
    r.n_content = tc.n_content();
    r.n_waits = tc.n_waits();
    return r;
}

ThinkingParams tracked(bool starts_inside) {
    ThinkingParams p;
    p.track = true;
    p.starts_inside = starts_inside;
    return p;
}

TEST(Thinking, OpenAndCloseSplitAcrossTokensAreSeen) {
    const std::vector<std::string> think = {"<", "think", ">", "\n", "Hello", " world", "\n"};
    const std::vector<std::string> close = {"</", "think", ">"};
    const std::vector<std::string> answer = {"\n\n", "The", " answer"};
    auto script = ids_of(think);
    const auto close_ids = ids_of(close);
    script.insert(script.end(), close_ids.begin(), close_ids.end());
    const size_t n_think = script.size();
    const auto answer_ids = ids_of(answer);
    script.insert(script.end(), answer_ids.begin(), answer_ids.end());
    ASSERT_GT(close_ids.size(), 1u) << "the close must really be split";

    const Scripted r = drive(tracked(false), script);
    EXPECT_EQ(r.ids, script);
    EXPECT_EQ(r.n_thinking, int32_t(n_think));
    EXPECT_EQ(r.n_content, int32_t(answer_ids.size()));
    EXPECT_EQ(std::count(r.forced.begin(), r.forced.end(), true), 0);
}

TEST(Thinking, MissingOpeningTagWhenThePromptOpenedTheBlock) {
    auto script = ids_of({"Let", " me", " see", ".\n"});
    const size_t n_before = script.size();
    const auto close = enc("</think>");
    script.insert(script.end(), close.begin(), close.end());
    const auto answer = ids_of({"\n\n", "Hi"});
    script.insert(script.end(), answer.begin(), answer.end());
    // The prompt opened the block: everything up to the close is thinking.
    Scripted r = drive(tracked(true), script);
    EXPECT_EQ(r.n_thinking, int32_t(n_before + close.size()));
    EXPECT_EQ(r.n_content, int32_t(answer.size()));
    // Not told: the stray close still moves the counts (the text cannot move).
    r = drive(tracked(false), script);
    EXPECT_EQ(r.n_thinking, int32_t(n_before + close.size()));
    EXPECT_EQ(r.n_content, int32_t(answer.size()));
    // Content that only mentions the open tag later is not thinking.
    const auto plain = ids_of({"Use", " the", " <", "think", ">", " tag"});
    r = drive(tracked(false), plain);
    EXPECT_EQ(r.n_thinking, 0);
    EXPECT_EQ(r.n_content, int32_t(plain.size()));
}

TEST(Thinking, MaxBudgetReachedMidWordForcesTheCloseAtIndexN) {
    // A long word in several tokens; the budget ends inside it.
    const auto script = ids_of({"Consider", " the", " zyqvorphlexitude", " uncharacteristically",
                                " long", " words", " here"});
    const auto word = enc(" zyqvorphlexitude");
    ASSERT_GT(word.size(), 1u);
    const int32_t n = int32_t(enc("Consider the").size()) + 1;  // inside the long word
    ThinkingParams p = tracked(true);
    p.max_tokens = n;
    const Scripted r = drive(p, script, 40);
    const auto forced = enc("</think>\n\n");
    ASSERT_GE(r.ids.size(), size_t(n) + forced.size());
    EXPECT_TRUE(std::equal(script.begin(), script.begin() + n, r.ids.begin()));
    EXPECT_TRUE(std::equal(forced.begin(), forced.end(), r.ids.begin() + n));
    for (size_t i = 0; i < r.ids.size(); ++i)
        EXPECT_EQ(r.forced[i], i >= size_t(n) && i < size_t(n) + forced.size()) << i;
    // The close delimiter ends thinking; the blank line and the rest are the answer.
    EXPECT_EQ(r.n_thinking, n + int32_t(enc("</think>").size()));
    EXPECT_EQ(r.n_thinking + r.n_content, int32_t(r.ids.size()));
    // The model then continues where its script was (mid-word): no second close.
    EXPECT_EQ(std::count(r.ids.begin(), r.ids.end(), enc("</think>")[0]), 1);

    // With a conclusion, it comes first, still at index N.
    p.conclusion = "\nTime is up, answering now.\n";
    const Scripted c = drive(p, script, 40);
    const auto with_conclusion = enc(p.conclusion + "</think>\n\n");
    ASSERT_GE(c.ids.size(), size_t(n) + with_conclusion.size());
    EXPECT_TRUE(std::equal(with_conclusion.begin(), with_conclusion.end(), c.ids.begin() + n));
}

TEST(Thinking, ZeroBudgetClosesAtOnce) {
    ThinkingParams p = tracked(true);
    p.max_tokens = 0;
    const auto script = ids_of({"Hmm", " let", " me"});
    const Scripted r = drive(p, script);
    const auto forced = enc("</think>\n\n");
    ASSERT_GE(r.ids.size(), forced.size());
    EXPECT_TRUE(std::equal(forced.begin(), forced.end(), r.ids.begin()));
    EXPECT_EQ(r.n_thinking, int32_t(enc("</think>").size()));
}

TEST(Thinking, MinBudgetForcesWaitRepeatedlyUntilReached) {
    auto script = ids_of({"Short", "."});
    const auto close = enc("</think>");
    script.insert(script.end(), close.begin(), close.end());
    const auto answer = ids_of({"\n\n", "Yes"});
    script.insert(script.end(), answer.begin(), answer.end());
    const int32_t min = 9;
    ThinkingParams p = tracked(true);
    p.min_tokens = min;
    const Scripted r = drive(p, script);
    const auto wait = enc(p.wait_text);
    // The close comes, once, at or after the minimum; before it only "Short." and waits.
    const auto at = std::find(r.ids.begin(), r.ids.end(), close[0]);
    ASSERT_NE(at, r.ids.end());
    const size_t close_at = size_t(at - r.ids.begin());
    EXPECT_GE(close_at, size_t(min));
    EXPECT_GE(r.n_waits, 2) << "forcing must repeat";
    size_t i = 2;  // after "Short", "."
    for (int k = 0; k < r.n_waits; ++k, i += wait.size()) {
        ASSERT_LE(i + wait.size(), r.ids.size());
        EXPECT_TRUE(std::equal(wait.begin(), wait.end(), r.ids.begin() + ptrdiff_t(i))) << k;
        for (size_t j = i; j < i + wait.size(); ++j) EXPECT_TRUE(r.forced[j]);
    }
    EXPECT_EQ(i, close_at);
    EXPECT_EQ(r.n_thinking, int32_t(close_at + close.size()));
    EXPECT_EQ(r.n_content, int32_t(answer.size()));
}

TEST(Thinking, EndOfGenerationInsideThinkingBecomesWait) {
    const Tokenizer& tok = qwen3_tok();
    const int32_t eog = *tok.find_token("<|im_end|>");
    ASSERT_TRUE(tok.is_eog(eog));
    std::vector<int32_t> script = ids_of({"Done"});
    script.push_back(eog);
    ThinkingParams p = tracked(true);
    p.min_tokens = 4;
    Scripted r = drive(p, script, 30);
    EXPECT_GE(r.n_waits, 1);
    EXPECT_TRUE(r.eog);  // once the minimum is met, the end of generation is let through
    EXPECT_GE(r.n_thinking, 4);
    // Without a minimum the end of generation ends the run at once.
    r = drive(tracked(true), script);
    EXPECT_EQ(r.n_waits, 0);
    EXPECT_EQ(r.ids.size(), 1u);
}

TEST(Thinking, BiasForbidsTheCloseAndEndOfGenerationOnlyBelowTheMinimum) {
    const Tokenizer& tok = qwen3_tok();
    ThinkingParams p = tracked(true);
    p.min_tokens = 2;
    ThinkingControl tc(tok, p);
    const int32_t close = enc("</think>")[0];
    auto has = [&](int32_t id) {
        for (const auto& b : tc.bias())
            if (b.id == id) return std::isinf(b.bias) && b.bias < 0;
        return false;
    };
    EXPECT_TRUE(has(close));
    for (int32_t e : tok.eog_ids()) EXPECT_TRUE(has(e));
    tc.accept(enc("a")[0]);
    tc.accept(enc("b")[0]);
    EXPECT_TRUE(tc.bias().empty());
    // Not tracking: nothing.
    ThinkingControl off(tok, ThinkingParams{});
    EXPECT_TRUE(off.bias().empty());
    EXPECT_FALSE(off.next_forced().has_value());
}

TEST(Thinking, InconsistentParametersAreRejected) {
    ThinkingParams p = tracked(true);
    p.min_tokens = 10;
    p.max_tokens = 5;
    EXPECT_THROW(ThinkingControl(qwen3_tok(), p), Error);
    p = tracked(true);
    p.close.clear();
    EXPECT_THROW(ThinkingControl(qwen3_tok(), p), Error);
    p = tracked(true);
    p.min_tokens = -1;
    EXPECT_THROW(ThinkingControl(qwen3_tok(), p), Error);
}

// ---- end to end: generate() on tiny-qwen3 (random weights, real vocabulary) ----------------

struct Qwen3 {
    std::unique_ptr<Model> model = Model::load(test::model_path("tiny-qwen3-F16.gguf"));
    std::unique_ptr<Tokenizer> tok = Tokenizer::from_gguf(model->file());
    std::vector<int32_t> prompt = tok->encode(
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n", false, true);
};

TEST(ThinkingGenerate, MaxThinkingPutsTheCloseAtIndexN) {
    Qwen3 m;
    const int32_t close = *m.tok->find_token("</think>");
    for (int32_t n : {0, 3, 7}) {
        Context ctx(*m.model, {.n_ctx = 256, .n_threads = 2});
        SamplerParams sp;
        sp.temperature = 0;
        Sampler s(sp);
        GenerateParams gp;
        gp.max_tokens = 20;
        gp.ignore_eog = true;
        gp.thinking.track = true;
        gp.thinking.starts_inside = true;
        gp.thinking.max_tokens = n;
        const auto r = generate(ctx, *m.tok, s, m.prompt, gp);
        const auto forced = m.tok->encode("</think>\n\n", false, true);
        ASSERT_GE(r.ids.size(), size_t(n) + forced.size());
        EXPECT_EQ(std::find(r.ids.begin(), r.ids.begin() + n, close), r.ids.begin() + n)
            << "the random model closed by itself; pick another budget";
        EXPECT_TRUE(std::equal(forced.begin(), forced.end(), r.ids.begin() + n)) << n;
        EXPECT_EQ(r.n_reasoning_tokens, n + 1);
        EXPECT_EQ(r.n_reasoning_tokens + r.n_content_tokens, int32_t(r.ids.size()));
        EXPECT_EQ(r.n_forced_tokens, int32_t(forced.size()));
        EXPECT_NE(r.text.find("</think>"), std::string::npos);
    }
}

TEST(ThinkingGenerate, MinThinkingInjectsWaitUntilTheBudget) {
    Qwen3 m;
    const int32_t close = *m.tok->find_token("</think>");
    Context ctx(*m.model, {.n_ctx = 256, .n_threads = 2});
    SamplerParams sp;
    sp.temperature = 0;
    sp.logit_bias = {{close, 1000.0f}};  // the model now always wants to stop thinking
    Sampler s(sp);
    GenerateParams gp;
    gp.max_tokens = 24;
    gp.thinking.track = true;
    gp.thinking.starts_inside = true;
    gp.thinking.min_tokens = 8;
    const auto r = generate(ctx, *m.tok, s, m.prompt, gp);
    const auto wait = m.tok->encode(gp.thinking.wait_text, false, true);
    const auto at = std::find(r.ids.begin(), r.ids.end(), close);
    ASSERT_NE(at, r.ids.end());
    const size_t close_at = size_t(at - r.ids.begin());
    EXPECT_GE(close_at, 8u);
    ASSERT_EQ(close_at % wait.size(), 0u);
    for (size_t i = 0; i < close_at; i += wait.size())
        EXPECT_TRUE(std::equal(wait.begin(), wait.end(), r.ids.begin() + ptrdiff_t(i))) << i;
    EXPECT_EQ(r.n_reasoning_tokens, int32_t(close_at) + 1);
    EXPECT_EQ(r.n_forced_tokens, int32_t(close_at));
    EXPECT_NE(r.text.find("Wait"), std::string::npos);
}

}  // namespace
}  // namespace ponder
