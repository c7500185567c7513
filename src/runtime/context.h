// An inference context: the KV cache, the thread pool and the work buffers for one model.
// Not thread-safe: one thread drives a context (the server's scheduler thread owns it).
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/thread_pool.h"
#include "model/decoder.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace ponder {

struct ContextParams {
    int32_t n_ctx = 0;  // KV cells (tokens) in total; 0: the model's training context, at most 4096
    int32_t n_threads = 0;       // 0: all hardware threads
    int32_t n_batch = 512;       // tokens per forward pass (larger batches are split)
    DType kv_type = DType::F16;  // KV cache storage: F16 or Q8_0 (half the bytes of F16 + 6%)
};

// "f16" / "q8_0" (case-insensitive) -> the KV cache type; throws Error naming the choices.
DType parse_kv_type(std::string_view name);

// Tokens to decode. Each has a position and a sequence; `logits` marks the ones whose
// next-token distribution the caller wants.
struct Batch {
    std::vector<int32_t> tokens, pos, seq;
    std::vector<uint8_t> logits;
    void add(int32_t token, int32_t p, int32_t s, bool want_logits) {
        tokens.push_back(token);
        pos.push_back(p);
        seq.push_back(s);
        logits.push_back(want_logits ? 1 : 0);
    }
    void clear() { *this = Batch{}; }
    size_t size() const { return tokens.size(); }
};

class Context {
  public:
    Context(const Model& model, const ContextParams& params);

    // Runs the batch. On success, logits(i) is the i-th requested output row (in batch order).
    // If the cache cannot hold the batch, throws Error and leaves the cache as it was.
    void decode(const Batch& batch);
    // [n_vocab] logits of the i-th output of the last decode.
    const float* logits(int32_t i) const;
    int32_t n_outputs() const { return n_outputs_; }

    const Model& model() const { return model_; }
    KvCache& kv() { return kv_; }
    const KvCache& kv() const { return kv_; }
    int32_t n_ctx() const { return kv_.n_cells(); }
    ThreadPool& pool() { return pool_; }

  private:
    const Model& model_;
    ContextParams params_;
    KvCache kv_;
    ThreadPool pool_;
    ForwardScratch scratch_;
    std::vector<float> logits_;
    int32_t n_outputs_ = 0;
};

}  // namespace ponder
