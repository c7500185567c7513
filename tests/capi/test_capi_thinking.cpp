// Thinking control through the C API on tiny-qwen3 (random weights, real vocabulary and
// template): the budget and thinking-off fields reach the generation loop.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/paths.h"
#include "ponder/ponder.h"

namespace {

struct Api {
    ponder_model* model = nullptr;
    ponder_context* ctx = nullptr;
    ponder_sampler* sampler = nullptr;
    Api() {
        EXPECT_EQ(ponder_model_load(ponder::test::model_path("tiny-qwen3-F16.gguf").c_str(),
                                    nullptr, &model),
                  PONDER_OK);
        ponder_context_params cp = ponder_context_default_params();
        cp.n_ctx = 256;
        cp.n_threads = 2;
        EXPECT_EQ(ponder_context_init(model, &cp, &ctx), PONDER_OK);
        ponder_sampler_params sp = ponder_sampler_default_params();
        sp.temperature = 0;
        EXPECT_EQ(ponder_sampler_init(&sp, &sampler), PONDER_OK);
    }
    ~Api() {
        ponder_sampler_free(sampler);
        ponder_context_free(ctx);
        ponder_model_free(model);
    }
    std::vector<ponder_token> tokenize(const std::string& s, bool add_special) const {
        std::vector<ponder_token> ids(1024);
        size_t n = 0;
        EXPECT_EQ(ponder_tokenize(model, s.data(), s.size(), add_special, true, ids.data(),
                                  ids.size(), &n),
                  PONDER_OK);
        ids.resize(n);
        return ids;
    }
};

const std::string kAsk = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";

bool collect(const char* text, size_t len, void* user) {
    static_cast<std::string*>(user)->append(text, len);
    return true;
}

TEST(CApiThinking, MaxThinkingTokensClosesTheBlockAtTheBudget) {
    Api a;
    std::string text;
    ponder_generate_params gp = ponder_generate_default_params();
    gp.max_tokens = 12;
    gp.max_thinking_tokens = 3;
    gp.on_text = collect;
    gp.user_data = &text;
    ponder_generate_result r;
    ASSERT_EQ(ponder_generate(a.ctx, a.sampler, (kAsk + "<think>\n").c_str(), &gp, &r), PONDER_OK)
        << ponder_last_error();
    EXPECT_EQ(r.n_reasoning_tokens, 3 + int32_t(a.tokenize("</think>", false).size()));
    EXPECT_EQ(r.n_reasoning_tokens + r.n_content_tokens, r.n_generated_tokens);
    EXPECT_NE(text.find("</think>"), std::string::npos);
}

TEST(CApiThinking, ThinkingOffPrefillsAnEmptyBlock) {
    Api a;
    ponder_generate_params gp = ponder_generate_default_params();
    gp.max_tokens = 4;
    gp.thinking = false;
    ponder_generate_result r;
    ASSERT_EQ(ponder_generate(a.ctx, a.sampler, kAsk.c_str(), &gp, &r), PONDER_OK);
    EXPECT_EQ(r.n_prompt_tokens,
              int32_t(a.tokenize(kAsk + "<think>\n\n</think>\n\n", true).size()));
    EXPECT_EQ(r.n_reasoning_tokens, 0);
}

TEST(CApiThinking, MinAboveMaxIsAnInvalidArgument) {
    Api a;
    ponder_generate_params gp = ponder_generate_default_params();
    gp.max_thinking_tokens = 2;
    gp.min_thinking_tokens = 5;
    EXPECT_EQ(ponder_generate(a.ctx, a.sampler, kAsk.c_str(), &gp, nullptr),
              PONDER_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(ponder_last_error()).find("exceeds"), std::string::npos);
}

}  // namespace
