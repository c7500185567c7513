// The key/value cache: a pool of cells shared by up to 64 sequences.
//
// A cell holds, for every layer, the keys and values of one token at one position, and the
// set of sequences that see it. Forking a sequence's prefix (seq_cp) shares cells instead of
// copying data, so n choices of one prompt or a cached system prompt cost nothing extra.
// The storage lives here because the forward pass writes it; when to keep or drop what is a
// policy of src/runtime.
#pragma once
#include <cstdint>
#include <vector>

#include "core/page_buffer.h"

#include "core/dtype.h"
#include "kernels/kernels.h"

namespace ponder {

class KvCache {
  public:
    static constexpr int kMaxSeqs = 64;

    // type: F16 (default) or Q8_0 for keys and values (Q8_0: head_dim a multiple of 32; any
    // other combination throws Error naming it).
    KvCache(int32_t n_layer, int32_t n_cells, int32_t n_head_kv, int32_t head_dim,
            DType type = DType::F16);

    int32_t n_layer() const { return n_layer_; }
    int32_t n_cells() const { return n_cells_; }
    int32_t n_used() const { return n_used_; }
    DType type() const { return type_; }
    // Bytes of K and V storage together.
    size_t bytes() const { return k_.size() + v_.size(); }

    // Takes a free cell for (seq, pos) and returns it; throws Error when the cache is full or
    // the position is already present in the sequence.
    int32_t alloc(int32_t seq, int32_t pos);
    // Cells visible to seq, sorted by position, and their positions.
    const std::vector<int32_t>& cells(int32_t seq) const { return seqs_[check(seq)].cells; }
    const std::vector<int32_t>& positions(int32_t seq) const { return seqs_[check(seq)].pos; }
    // Number of cells of seq whose position is <= pos (the prefix a query at pos attends to).
    int32_t n_visible(int32_t seq, int32_t pos) const;
    // Largest position in seq, or -1 if empty.
    int32_t pos_max(int32_t seq) const;

    // Drops seq's positions in [p0, p1) (p1 < 0: to the end); cells no sequence sees are freed.
    void seq_rm(int32_t seq, int32_t p0, int32_t p1);
    // Makes dst see src's cells with positions in [p0, p1) (p1 < 0: to the end).
    void seq_cp(int32_t src, int32_t dst, int32_t p0, int32_t p1);
    void clear();

    // Key / value of layer l, KV head h, cell c: head_dim elements of type(). Each (layer, head)
    // is one contiguous array over the cells, so attention reads a plain stream per head (with
    // the heads interleaved per cell, a decode step at 4096 cells spent twice as long reading
    // them: each thread read every other half row, which the hardware prefetchers follow badly).
    uint8_t* k(int32_t l, int32_t h, int32_t c) { return k_.data() + offset(l, h, c); }
    uint8_t* v(int32_t l, int32_t h, int32_t c) { return v_.data() + offset(l, h, c); }
    size_t head_bytes() const { return head_; }
    // KV head h of layer l, for kernels::attention.
    kernels::KvHeadView head(int32_t l, int32_t h) const {
        const size_t o = offset(l, h, 0);
        return {type_, k_.data() + o, v_.data() + o, head_};
    }

  private:
    struct Seq {
        std::vector<int32_t> cells;  // sorted by position
        std::vector<int32_t> pos;
    };
    int32_t check(int32_t seq) const;
    size_t offset(int32_t l, int32_t h, int32_t c) const {
        return ((size_t(l) * size_t(n_head_kv_) + size_t(h)) * size_t(n_cells_) + size_t(c)) *
               head_;
    }
    void unref(int32_t cell, int32_t seq);

    int32_t n_layer_, n_cells_, n_head_kv_;
    size_t head_;  // bytes of one head's key (or value) in one cell
    DType type_;
    PageBuffer k_, v_;                // zero-filled; pages are touched as cells are written
    std::vector<uint64_t> seq_mask_;  // per cell: which sequences see it
    std::vector<int32_t> free_;       // free cell ids (a stack)
    int32_t n_used_ = 0;
    std::vector<Seq> seqs_;
};

}  // namespace ponder
