// Logits do not depend on the thread count, also past the context length where a decode step's
// attention shares each job's spans out among the threads (kernels::attention_split, chosen
// when the jobs are too few for the threads: one sequence of these 2-KV-head models at 3 or 4
// threads, from 2 spans = 512 cells on). A 600-token prompt, then greedy steps one token at a
// time, at 1, 2, 3 and 4 threads: every logit of every step must have the same bits as at one
// thread (F16 KV on tiny-qwen2, Q8_0 KV on tiny-llama).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "common/paths.h"
#include "runtime/context.h"

namespace ponder {
namespace {

std::vector<std::vector<float>> run(const Model& model, DType kv_type, int n_threads,
                                    const std::vector<int32_t>& prompt, int steps) {
    Context ctx(model, {.n_ctx = 1024, .n_threads = n_threads, .kv_type = kv_type});
    const int32_t n_vocab = model.hparams().n_vocab;
    Batch b;
    for (size_t i = 0; i < prompt.size(); ++i)
        b.add(prompt[i], int32_t(i), 0, i + 1 == prompt.size());
    ctx.decode(b);
    std::vector<std::vector<float>> out;
    out.emplace_back(ctx.logits(0), ctx.logits(0) + n_vocab);
    int32_t pos = int32_t(prompt.size());
    for (int s = 0; s < steps; ++s) {
        const float* l = out.back().data();
        int32_t tok = 0;
        for (int32_t i = 1; i < n_vocab; ++i)
            if (l[i] > l[tok]) tok = i;
        Batch nb;
        nb.add(tok, pos++, 0, true);
        ctx.decode(nb);
        out.emplace_back(ctx.logits(0), ctx.logits(0) + n_vocab);
    }
    return out;
}

void check(const std::string& file, DType kv_type) {
    SCOPED_TRACE(file);
    auto model = Model::load(test::model_path(file));
    std::mt19937 rng(5);
    std::uniform_int_distribution<int32_t> id(0, model->hparams().n_vocab - 1);
    std::vector<int32_t> prompt(600);
    for (auto& t : prompt) t = id(rng);
    const auto one = run(*model, kv_type, 1, prompt, 6);
    for (int threads = 2; threads <= 4; ++threads) {
        const auto many = run(*model, kv_type, threads, prompt, 6);
        ASSERT_EQ(many.size(), one.size());
        for (size_t s = 0; s < one.size(); ++s)
            EXPECT_EQ(std::memcmp(many[s].data(), one[s].data(), one[s].size() * sizeof(float)), 0)
                << threads << " threads, step " << s;
    }
}

TEST(DecodeThreads, Qwen2F16CacheSameBitsAtOneToFourThreads) {
    check("tiny-qwen2-F16.gguf", DType::F16);
}

TEST(DecodeThreads, LlamaQ8_0CacheSameBitsAtOneToFourThreads) {
    check("tiny-llama-F16.gguf", DType::Q8_0);
}

}  // namespace
}  // namespace ponder
