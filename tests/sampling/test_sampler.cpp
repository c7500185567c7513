// Sampler chain semantics on synthetic logits.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "core/error.h"
#include "sampling/sampler.h"

namespace ponder {
namespace {

std::vector<float> random_logits(int n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 2.0f);
    std::vector<float> l(static_cast<size_t>(n));
    for (auto& x : l) x = d(rng);
    return l;
}

int32_t argmax(const std::vector<float>& l) {
    return int32_t(std::max_element(l.begin(), l.end()) - l.begin());
}

TEST(Sampler, GreedyIsArgmax) {
    SamplerParams p;
    p.temperature = 0;
    Sampler s(p);
    for (uint32_t seed = 0; seed < 20; ++seed) {
        const auto l = random_logits(1000, seed);
        EXPECT_EQ(s.sample(l.data(), 1000), argmax(l));
    }
}

TEST(Sampler, TopKOneAndTinyTopPAndFullMinPAreGreedy) {
    const auto l = random_logits(5000, 7);
    for (int mode = 0; mode < 3; ++mode) {
        SamplerParams p;
        p.temperature = 1.5f;
        p.top_k = mode == 0 ? 1 : 0;
        p.top_p = mode == 1 ? 1e-6f : 1.0f;
        p.min_p = mode == 2 ? 1.0f : 0.0f;
        Sampler s(p);
        for (int i = 0; i < 20; ++i) EXPECT_EQ(s.sample(l.data(), 5000), argmax(l)) << mode;
    }
}

TEST(Sampler, SameSeedSameDrawsDifferentSeedDifferentDraws) {
    const auto l = random_logits(200, 3);
    SamplerParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    auto draws = [&](uint64_t seed) {
        p.seed = seed;
        Sampler s(p);
        std::vector<int32_t> out;
        for (int i = 0; i < 50; ++i) out.push_back(s.sample(l.data(), 200));
        return out;
    };
    EXPECT_EQ(draws(1), draws(1));
    EXPECT_NE(draws(1), draws(2));
}

TEST(Sampler, DrawsFollowTheSoftmax) {
    // Three tokens with logits log(0.5), log(0.3), log(0.2): frequencies approach them.
    const std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
    SamplerParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    Sampler s(p);
    std::map<int32_t, int> n;
    const int N = 20000;
    for (int i = 0; i < N; ++i) ++n[s.sample(l.data(), 3)];
    EXPECT_NEAR(n[0] / double(N), 0.5, 0.02);
    EXPECT_NEAR(n[1] / double(N), 0.3, 0.02);
    EXPECT_NEAR(n[2] / double(N), 0.2, 0.02);
}

TEST(Sampler, TopPKeepsTheSmallestSufficientPrefix) {
    const std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
    SamplerParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 0.75f;  // 0.5 + 0.3 reaches it: tokens 2 and 3 never drawn
    p.min_p = 0.0f;
    Sampler s(p);
    for (int i = 0; i < 2000; ++i) EXPECT_LT(s.sample(l.data(), 4), 2);
}

TEST(Sampler, PenaltiesPushRepeatedTokensDown) {
    std::vector<float> l = {2.0f, 1.9f, -1.0f};
    SamplerParams p;
    p.temperature = 0;
    p.repeat_penalty = 1.5f;  // 2.0 / 1.5 < 1.9
    Sampler s(p);
    s.accept(0);
    EXPECT_EQ(s.sample(l.data(), 3), 1);
    SamplerParams q;
    q.temperature = 0;
    q.frequency_penalty = 0.05f;  // token 0 seen 3 times: 2.0 - 0.15 < 1.9
    Sampler f(q);
    for (int i = 0; i < 3; ++i) f.accept(0);
    EXPECT_EQ(f.sample(l.data(), 3), 1);
    SamplerParams r;
    r.temperature = 0;
    r.presence_penalty = 0.2f;
    r.penalty_last_n = 2;  // the window forgets token 0 after two newer tokens
    Sampler w(r);
    w.accept(0);
    EXPECT_EQ(w.sample(l.data(), 3), 1);
    w.accept(2);
    w.accept(2);
    EXPECT_EQ(w.sample(l.data(), 3), 0);
}

TEST(Sampler, RejectsInvalidParameters) {
    SamplerParams p;
    p.temperature = -1;
    EXPECT_THROW(Sampler{p}, Error);
    p = {};
    p.min_p = 2;
    EXPECT_THROW(Sampler{p}, Error);
    p = {};
    p.top_p = 0;
    EXPECT_THROW(Sampler{p}, Error);
}

}  // namespace
}  // namespace ponder

namespace ponder {
namespace {

TEST(SamplerBias, ForbiddenTokensAreNeverDrawnAndBiasesShiftTheChoice) {
    const auto l = random_logits(2000, 11);
    const int32_t top = argmax(l);
    SamplerParams p;
    p.temperature = 0;
    p.logit_bias = {{top, -INFINITY}};
    Sampler greedy(p);
    auto without = l;
    without[size_t(top)] = -INFINITY;
    EXPECT_EQ(greedy.sample(l.data(), 2000), argmax(without));
    // A large positive bias makes any token the greedy choice; `extra` adds to the static one.
    const int32_t low = int32_t(std::min_element(l.begin(), l.end()) - l.begin());
    const LogitBias boost[] = {{low, 1000.0f}};
    EXPECT_EQ(greedy.sample(l.data(), 2000, boost), low);
    // Sampled at temperature: a forbidden token never appears.
    p.temperature = 2.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0;
    Sampler hot(p);
    for (int i = 0; i < 500; ++i) EXPECT_NE(hot.sample(l.data(), 2000), top);
}

TEST(SamplerBias, BadBiasesAreRejected) {
    const auto l = random_logits(10, 3);
    SamplerParams p;
    p.logit_bias = {{10, 1.0f}};
    Sampler s(p);
    EXPECT_THROW(s.sample(l.data(), 10), Error);
    p.logit_bias = {{-1, 1.0f}};
    EXPECT_THROW(Sampler{p}, Error);
    p.logit_bias = {{1, NAN}};
    EXPECT_THROW(Sampler{p}, Error);
    p.logit_bias.clear();
    for (int32_t i = 0; i < 10; ++i) p.logit_bias.push_back({i, -INFINITY});
    Sampler none(p);
    EXPECT_THROW(none.sample(l.data(), 10), Error);
}

}  // namespace
}  // namespace ponder
