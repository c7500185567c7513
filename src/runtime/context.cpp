#include "runtime/context.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "core/error.h"

namespace ponder {
namespace {
int32_t default_ctx(const HParams& hp, int32_t requested) {
    if (requested > 0) return requested;
    return std::min(hp.n_ctx_train, 4096);
}
}  // namespace

DType parse_kv_type(std::string_view name) {
    std::string s(name);
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (s == "f16") return DType::F16;
    if (s == "q8_0") return DType::Q8_0;
    fail("unknown KV cache type '", name, "' (use f16 or q8_0)");
}

Context::Context(const Model& model, const ContextParams& params)
    : model_(model),
      params_(params),
      kv_(model.hparams().n_layer, default_ctx(model.hparams(), params.n_ctx),
          model.hparams().n_head_kv, model.hparams().head_dim, params.kv_type),
      pool_(params.n_threads) {
    if (params_.n_batch <= 0) params_.n_batch = 512;
}

void Context::decode(const Batch& batch) {
    const HParams& hp = model_.hparams();
    const size_t n = batch.tokens.size();
    if (batch.pos.size() != n || batch.seq.size() != n || batch.logits.size() != n)
        fail("decode: batch arrays have different lengths");
    for (size_t i = 0; i < n; ++i) {
        if (batch.tokens[i] < 0 || batch.tokens[i] >= hp.n_vocab)
            fail("decode: token id ", batch.tokens[i], " at batch index ", i,
                 " is outside the vocabulary [0, ", hp.n_vocab, ")");
        if (batch.pos[i] < 0) fail("decode: negative position ", batch.pos[i]);
        if (batch.seq[i] < 0 || batch.seq[i] >= KvCache::kMaxSeqs)
            fail("decode: sequence id ", batch.seq[i], " out of range [0, ", KvCache::kMaxSeqs,
                 ")");
    }
    if (int64_t(kv_.n_used()) + int64_t(n) > int64_t(kv_.n_cells()))
        fail("the context is full: ", kv_.n_used(), " of ", kv_.n_cells(),
             " tokens are in use and the batch adds ", n, " (raise the context size)");
    // Allocate every cell first so a failure leaves the cache unchanged.
    std::vector<int32_t> cells(n);
    size_t done = 0;
    try {
        for (; done < n; ++done) cells[done] = kv_.alloc(batch.seq[done], batch.pos[done]);
    } catch (...) {
        for (size_t i = 0; i < done; ++i) kv_.seq_rm(batch.seq[i], batch.pos[i], batch.pos[i] + 1);
        throw;
    }
    n_outputs_ = int32_t(std::count(batch.logits.begin(), batch.logits.end(), 1));
    logits_.resize(size_t(n_outputs_) * size_t(hp.n_vocab));
    size_t out_base = 0;
    std::vector<int32_t> out_rows;
    for (size_t b0 = 0; b0 < n; b0 += size_t(params_.n_batch)) {
        const size_t b1 = std::min(n, b0 + size_t(params_.n_batch));
        out_rows.clear();
        for (size_t i = b0; i < b1; ++i)
            if (batch.logits[i]) out_rows.push_back(int32_t(i - b0));
        ForwardBatch fb;
        fb.tokens = std::span(batch.tokens).subspan(b0, b1 - b0);
        fb.pos = std::span(batch.pos).subspan(b0, b1 - b0);
        fb.seq = std::span(batch.seq).subspan(b0, b1 - b0);
        fb.cells = std::span<const int32_t>(cells).subspan(b0, b1 - b0);
        fb.out_rows = out_rows;
        model_.arch().forward(hp, model_.weights(), fb, kv_, scratch_, pool_,
                              logits_.data() + out_base * size_t(hp.n_vocab));
        out_base += out_rows.size();
    }
}

const float* Context::logits(int32_t i) const {
    if (i < 0 || i >= n_outputs_) fail("logits: output ", i, " of ", n_outputs_);
    return logits_.data() + size_t(i) * size_t(model_.hparams().n_vocab);
}

}  // namespace ponder
