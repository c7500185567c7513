// The sampler chain: penalties -> top-k -> top-p -> min-p -> temperature -> draw.
// Greedy (argmax, lowest id on ties) when temperature <= 0. Seeded: same seed, same draws.
#pragma once
#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

namespace ponder {

// Added to one token's logit before sampling (after the penalties); -infinity forbids it.
struct LogitBias {
    int32_t id;
    float bias;
};

struct SamplerParams {
    float temperature = 0.8f;
    int32_t top_k = 40;           // <= 0: off
    float top_p = 0.95f;          // >= 1: off
    float min_p = 0.05f;          // <= 0: off
    float repeat_penalty = 1.0f;  // 1: off. Divides positive logits, multiplies negative ones
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    int32_t penalty_last_n = 64;  // window of recent tokens the penalties look at
    uint64_t seed = 0xC0FFEE;
    std::vector<LogitBias> logit_bias;  // ids must lie in the vocabulary (checked by sample)
};

class Sampler {
  public:
    explicit Sampler(const SamplerParams& p);
    // Picks the next token from logits[0..n_vocab) with params().logit_bias and then `extra`
    // added. Does not record it (call accept). Throws Error for a bias id outside the
    // vocabulary, or when every token is forbidden.
    int32_t sample(const float* logits, int32_t n_vocab, std::span<const LogitBias> extra = {});
    // Records a token in the penalty window (prompt tokens too, if they should count).
    void accept(int32_t token);
    void reset();
    const SamplerParams& params() const { return p_; }

    struct Candidate {
        int32_t id;
        float logit;
    };

  private:
    SamplerParams p_;
    std::mt19937_64 rng_;
    std::deque<int32_t> recent_;
    std::vector<Candidate> cand_;
};

}  // namespace ponder
