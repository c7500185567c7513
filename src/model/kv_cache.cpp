#include "model/kv_cache.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace ponder {

KvCache::KvCache(int32_t n_layer, int32_t n_cells, int32_t n_head_kv, int32_t head_dim, DType type)
    : n_layer_(n_layer),
      n_cells_(n_cells),
      n_head_kv_(n_head_kv),
      head_(0),
      type_(type),
      seqs_(kMaxSeqs) {
    kernels::check_kv_head_dim(type, head_dim);
    if (n_head_kv <= 0) fail("KV cache: n_head_kv must be positive, got ", n_head_kv);
    head_ = row_size(type, head_dim);
    if (n_cells <= 0) fail("KV cache size must be positive, got ", n_cells);
    size_t n = 0;
    if (__builtin_mul_overflow(size_t(n_layer) * size_t(n_head_kv), size_t(n_cells), &n) ||
        __builtin_mul_overflow(n, head_, &n))
        fail("KV cache of ", n_cells, " cells x ", n_layer, " layers x ", n_head_kv,
             " heads does not fit in memory");
    // Small pages: each (layer, head) array is touched from its start as cells fill, and with
    // 2 MiB pages a short context would take 2 MiB per array and per K / V from its first token.
    const std::string what = "the KV cache of " + std::to_string(n_cells) +
                             " cells (lower the context size, -c / n_ctx)";
    k_ = PageBuffer(n, PageBuffer::Pages::Small, what + ", keys");
    v_ = PageBuffer(n, PageBuffer::Pages::Small, what + ", values");
    seq_mask_.assign(size_t(n_cells), 0);
    free_.reserve(size_t(n_cells));
    for (int32_t c = n_cells - 1; c >= 0; --c) free_.push_back(c);
}

int32_t KvCache::check(int32_t seq) const {
    if (seq < 0 || seq >= kMaxSeqs) fail("sequence id ", seq, " out of range [0, ", kMaxSeqs, ")");
    return seq;
}

int32_t KvCache::alloc(int32_t seq, int32_t pos) {
    Seq& s = seqs_[check(seq)];
    if (free_.empty())
        fail("the context is full: all ", n_cells_, " KV cells are in use (raise -c / n_ctx)");
    auto it = std::lower_bound(s.pos.begin(), s.pos.end(), pos);
    if (it != s.pos.end() && *it == pos)
        fail("sequence ", seq, " already has a token at position ", pos);
    const int32_t c = free_.back();
    free_.pop_back();
    ++n_used_;
    seq_mask_[size_t(c)] = uint64_t(1) << seq;
    const auto i = it - s.pos.begin();
    s.pos.insert(it, pos);
    s.cells.insert(s.cells.begin() + i, c);
    return c;
}

int32_t KvCache::n_visible(int32_t seq, int32_t pos) const {
    const auto& p = seqs_[check(seq)].pos;
    return int32_t(std::upper_bound(p.begin(), p.end(), pos) - p.begin());
}

int32_t KvCache::pos_max(int32_t seq) const {
    const auto& p = seqs_[check(seq)].pos;
    return p.empty() ? -1 : p.back();
}

void KvCache::unref(int32_t cell, int32_t seq) {
    uint64_t& m = seq_mask_[size_t(cell)];
    m &= ~(uint64_t(1) << seq);
    if (m == 0) {
        free_.push_back(cell);
        --n_used_;
    }
}

void KvCache::seq_rm(int32_t seq, int32_t p0, int32_t p1) {
    Seq& s = seqs_[check(seq)];
    size_t out = 0;
    for (size_t i = 0; i < s.pos.size(); ++i) {
        const bool drop = s.pos[i] >= p0 && (p1 < 0 || s.pos[i] < p1);
        if (drop) {
            unref(s.cells[i], seq);
        } else {
            s.pos[out] = s.pos[i];
            s.cells[out] = s.cells[i];
            ++out;
        }
    }
    s.pos.resize(out);
    s.cells.resize(out);
}

void KvCache::seq_cp(int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    if (check(src) == check(dst)) return;
    const Seq& a = seqs_[src];
    Seq& b = seqs_[dst];
    for (size_t i = 0; i < a.pos.size(); ++i) {
        const int32_t pos = a.pos[i];
        if (pos < p0 || (p1 >= 0 && pos >= p1)) continue;
        auto it = std::lower_bound(b.pos.begin(), b.pos.end(), pos);
        if (it != b.pos.end() && *it == pos)
            fail("seq_cp: sequence ", dst, " already has position ", pos);
        const auto j = it - b.pos.begin();
        b.pos.insert(it, pos);
        b.cells.insert(b.cells.begin() + j, a.cells[i]);
        seq_mask_[size_t(a.cells[i])] |= uint64_t(1) << dst;
    }
}

void KvCache::clear() {
    for (int32_t s = 0; s < kMaxSeqs; ++s) seq_rm(s, 0, -1);
}

}  // namespace ponder
