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

#include "core/dtype.h"

namespace ponder {

class KvCache {
  public:
    static constexpr int kMaxSeqs = 64;

    // type: F16 (default) for keys and values.
    KvCache(int32_t n_layer, int32_t n_cells, int32_t n_head_kv, int32_t head_dim,
            DType type = DType::F16);

    int32_t n_layer() const { return n_layer_; }
    int32_t n_cells() const { return n_cells_; }
    int32_t n_used() const { return n_used_; }
    DType type() const { return type_; }
    size_t bytes() const { return k_.size() * 2 * sizeof(uint16_t); }

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

    // Row of n_head_kv * head_dim halves for layer l, cell c.
    uint16_t* k(int32_t l, int32_t c) { return k_.data() + offset(l, c); }
    uint16_t* v(int32_t l, int32_t c) { return v_.data() + offset(l, c); }
    const uint16_t* k_layer(int32_t l) const { return k_.data() + offset(l, 0); }
    const uint16_t* v_layer(int32_t l) const { return v_.data() + offset(l, 0); }
    size_t row_stride() const { return row_; }

  private:
    struct Seq {
        std::vector<int32_t> cells;  // sorted by position
        std::vector<int32_t> pos;
    };
    int32_t check(int32_t seq) const;
    size_t offset(int32_t l, int32_t c) const { return (size_t(l) * n_cells_ + c) * row_; }
    void unref(int32_t cell, int32_t seq);

    int32_t n_layer_, n_cells_;
    size_t row_;
    DType type_;
    std::vector<uint16_t> k_, v_;
    std::vector<uint64_t> seq_mask_;  // per cell: which sequences see it
    std::vector<int32_t> free_;       // free cell ids (a stack)
    int32_t n_used_ = 0;
    std::vector<Seq> seqs_;
};

}  // namespace ponder
