#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/error.h"

namespace ponder {
namespace {
using Candidate = Sampler::Candidate;

// Sorts the best `k` candidates (by logit, then id) to the front and drops the rest.
void keep_top(std::vector<Candidate>& c, size_t k) {
    auto better = [](const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    k = std::min(k, c.size());
    std::partial_sort(c.begin(), c.begin() + ptrdiff_t(k), c.end(), better);
    c.resize(k);
}

// Probabilities of sorted candidates at temperature 1.
std::vector<double> softmax(const std::vector<Candidate>& c) {
    std::vector<double> p(c.size());
    const double mx = c.empty() ? 0.0 : c.front().logit;
    double sum = 0;
    for (size_t i = 0; i < c.size(); ++i) sum += p[i] = std::exp(double(c[i].logit) - mx);
    for (auto& x : p) x /= sum;
    return p;
}
}  // namespace

Sampler::Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {
    if (!(p.temperature >= 0) || !std::isfinite(p.temperature))
        fail("temperature must be >= 0, got ", p.temperature);
    if (!(p.top_p > 0)) fail("top_p must be > 0, got ", p.top_p);
    if (!(p.min_p >= 0 && p.min_p <= 1)) fail("min_p must be in [0, 1], got ", p.min_p);
    if (!(p.repeat_penalty > 0)) fail("repeat_penalty must be > 0, got ", p.repeat_penalty);
    for (const auto& b : p.logit_bias) {
        if (b.id < 0) fail("logit_bias: token id ", b.id, " is negative");
        if (std::isnan(b.bias) || b.bias == INFINITY)
            fail("logit_bias for token ", b.id, " must be a number or -infinity, got ", b.bias);
    }
}

void Sampler::reset() {
    recent_.clear();
    rng_.seed(p_.seed);
}

void Sampler::accept(int32_t token) {
    if (p_.penalty_last_n <= 0) return;
    recent_.push_back(token);
    while (recent_.size() > size_t(p_.penalty_last_n)) recent_.pop_front();
}

int32_t Sampler::sample(const float* logits, int32_t n_vocab, std::span<const LogitBias> extra) {
    if (n_vocab <= 0) fail("sample: empty vocabulary");
    cand_.resize(size_t(n_vocab));
    for (int32_t i = 0; i < n_vocab; ++i) cand_[size_t(i)] = {i, logits[i]};

    const bool penalize =
        p_.repeat_penalty != 1.0f || p_.presence_penalty != 0.0f || p_.frequency_penalty != 0.0f;
    if (penalize && !recent_.empty()) {
        std::unordered_map<int32_t, int> counts;
        for (int32_t t : recent_) ++counts[t];
        for (const auto& [id, n] : counts) {
            if (id < 0 || id >= n_vocab) continue;
            float& l = cand_[size_t(id)].logit;
            if (p_.repeat_penalty != 1.0f)
                l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
            l -= float(n) * p_.frequency_penalty + p_.presence_penalty;
        }
    }

    bool biased = false;
    for (auto list : {std::span<const LogitBias>(p_.logit_bias), extra})
        for (const auto& b : list) {
            if (b.id < 0 || b.id >= n_vocab)
                fail("logit_bias: token id ", b.id, " is outside the vocabulary of ", n_vocab,
                     " tokens");
            cand_[size_t(b.id)].logit += b.bias;
            biased = true;
        }
    if (biased) {
        // Forbidden tokens leave the candidate list, so that no step divides by zero mass.
        std::erase_if(cand_, [](const Candidate& c) { return c.logit == -INFINITY; });
        if (cand_.empty()) fail("sample: the logit biases forbid every token");
    }

    if (p_.temperature <= 0.0f) {
        size_t best = 0;
        for (size_t i = 1; i < cand_.size(); ++i)
            if (cand_[i].logit > cand_[best].logit) best = i;
        return cand_[best].id;
    }

    // top-k (off: keep a generous head first; widen if top-p needs more).
    if (p_.top_k > 0) {
        keep_top(cand_, size_t(p_.top_k));
    } else if (p_.top_p < 1.0f && cand_.size() > 1024) {
        std::vector<Candidate> all = cand_;
        keep_top(cand_, 1024);
        // Is the head enough for top-p? Compare its mass to the whole distribution.
        const double mx = cand_.front().logit;
        double total = 0, head = 0;
        for (const auto& c : all) total += std::exp(double(c.logit) - mx);
        for (const auto& c : cand_) head += std::exp(double(c.logit) - mx);
        if (head / total < p_.top_p) {
            cand_ = std::move(all);
            keep_top(cand_, cand_.size());
        }
    } else {
        keep_top(cand_, cand_.size());
    }
    // top-p: the smallest prefix whose probability reaches top_p.
    if (p_.top_p < 1.0f) {
        const auto p = softmax(cand_);
        double cum = 0;
        size_t keep = cand_.size();
        for (size_t i = 0; i < p.size(); ++i) {
            cum += p[i];
            if (cum >= p_.top_p) {
                keep = i + 1;
                break;
            }
        }
        cand_.resize(std::max<size_t>(1, keep));
    }
    // min-p: drop tokens whose probability is below min_p times the best one's.
    if (p_.min_p > 0.0f && cand_.size() > 1) {
        const float floor = cand_.front().logit + std::log(p_.min_p);
        size_t keep = 1;
        while (keep < cand_.size() && cand_[keep].logit >= floor) ++keep;
        cand_.resize(keep);
    }
    for (auto& c : cand_) c.logit /= p_.temperature;
    const auto p = softmax(cand_);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const double r = u(rng_);
    double cum = 0;
    for (size_t i = 0; i < p.size(); ++i) {
        cum += p[i];
        if (r < cum) return cand_[i].id;
    }
    return cand_.back().id;
}

}  // namespace ponder
