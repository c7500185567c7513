// The compute kernels the model layers call. Each has a scalar reference (src/kernels/ref/)
// that defines correct; optimized variants slot in behind these entry points via the
// dispatch table chosen at run time (DESIGN rule 4).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"

namespace ponder::kernels {

// How a matrix's bytes are arranged: as GGUF stores them (row-major), or repacked at load into
// row groups (kernels/repack.h; same total size, row_bytes per row): a Q4_0 matrix into 8-row
// groups (Q4_0x8), a Q8_0, Q5_0, Q4_K or Q6_K one into 16-row groups.
enum class Layout { RowMajor, Q4_0x8, Q8_0x16, Q5_0x16, Q4_Kx16, Q6_Kx16 };

// A weight matrix: n_rows rows of n_cols elements of `type`. Row-major `data` points into the
// mapped file (never copied); a repacked one into a buffer its Model owns.
struct Matrix {
    DType type = DType::F32;
    int64_t n_cols = 0;  // ne[0]: the input dimension
    int64_t n_rows = 0;  // ne[1]: the output dimension
    const uint8_t* data = nullptr;
    size_t row_bytes = 0;
    Layout layout = Layout::RowMajor;
};

// The format activations are converted to before the dot product with a weight of type t
// (as the reference engine does): F32 for F32, F16/BF16 for F16/BF16, Q8_0 for the 32-element
// formats and Q8_K for the K formats.
DType activation_type(DType weight_type);

// y[t, r] = sum_c W[r, c] * x[t, c] for t < n_tokens.   x: [n_tokens, n_cols], y: [n_tokens,
// n_rows] Activations are rounded to activation_type(w.type) first.
void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// matmul of n matrices that share the input x (the q/k/v projections; gate and up):
// ys[i] = ws[i] x, each [n_tokens, ws[i]->n_rows]; all ws[i] have x's n_cols. The activations
// are rounded once per activation format and one parallel run covers the rows of all the
// matrices, so a decode step pays one hand-off between threads instead of one per matrix.
// Results are those of n separate matmul calls, bit for bit.
void matmul_shared_input(int n, const Matrix* const* ws, const float* x, int64_t n_tokens,
                         float* const* ys, ThreadPool& pool);

// Row r of w as floats (n_cols of them), in any layout: an embedding lookup that may read a
// repacked copy (a tied output matrix) instead of the mapped file.
void matrix_row(const Matrix& w, int64_t r, float* out);

// y[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], for each of n_rows rows of n.
// x and y may alias.
void rms_norm(const float* x, const float* weight, float* y, int64_t n, int64_t n_rows, float eps);

// The angles of rotary position embedding for one token at `pos`, shared by every layer and
// head: theta_i = pos * base^(-2i/n_rot) / freq_factors[i] for i < n_rot / 2 (freq_factors may
// be null), the power built by repeated multiplication in float. Writes n_rot floats to cs:
// cs[i] = cos(theta_i), cs[n_rot / 2 + i] = sin(theta_i). One scalar implementation (std::cos,
// std::sin): the values are those the reference engine rotates with.
void rope_cos_sin(float pos, int n_rot, float base, const float* freq_factors, float* cs);

// Rotary position embedding in place on x: [n_heads, head_dim] for one token whose angles
// rope_cos_sin wrote to cs. Rotates the first n_rot dimensions; neox pairs (i, i + n_rot/2),
// otherwise (2i, 2i+1): (a, b) -> (a c - b s, a s + b c), each product rounded (no FMA), so
// every level gives the reference's bits.
void rope(float* x, int n_heads, int head_dim, int n_rot, bool neox, const float* cs);

// One head's keys or values (n floats) as the KV cache stores them: F16 (round to nearest
// even, as f32_to_fp16) or Q8_0 (as ref::quantize_q8_0); row_size(type, n) bytes at dst.
// Bit-identical to ref::store_kv_row for finite x (F16: for every x).
void store_kv_row(DType type, const float* x, int64_t n, uint8_t* dst);

// a[i] = silu(g[i]) * u[i] for i < n (a may alias g). A prompt's worth of elements is split
// over the pool's threads; a decode step's few thousand stay on the calling thread.
void swiglu(const float* g, const float* u, float* a, int64_t n, ThreadPool& pool);

// ---- attention over the KV cache ----------------------------------------------------------

// One KV head of one layer of the cache. The head's keys of cell c start at k + c * row_bytes
// (values likewise at v); a head holds head_dim elements of `type`: F16 (halves) or Q8_0
// (head_dim / 32 BlockQ8_0).
struct KvHeadView {
    DType type = DType::F16;
    const uint8_t* k = nullptr;
    const uint8_t* v = nullptr;
    size_t row_bytes = 0;
};

// The query rows of one attention job: rows that share one KV head and one list of cells
// (heads of one GQA group, tokens of one sequence). Row r attends to cells[0 .. n_vis[r]).
constexpr int kMaxAttentionRows = 16;
struct AttentionRows {
    int n_rows = 0;
    const float* q[kMaxAttentionRows] = {};  // [head_dim] each
    float* out[kMaxAttentionRows] = {};      // [head_dim] each
    int32_t n_vis[kMaxAttentionRows] = {};   // >= 1 each
};

// Floats of scratch `attention` needs for n_rows rows seeing at most n cells.
inline size_t attention_scratch_floats(int n_rows, int32_t n, int head_dim) {
    return size_t(n_rows) * (size_t(n) + size_t(head_dim)) + size_t(head_dim) + 64;
}

// Causal attention of a job's rows over the cache: for each row, scores scale * q.k_j over its
// visible cells (cells[j] in position order), softmax, out = sum_j p_j v_j. With F16 keys the
// query is rounded to half, with Q8_0 keys quantized to Q8_0 (as ref::quantize_q8_0), as the
// reference engine does; probabilities are rounded to half. scratch: attention_scratch_floats.
// It is the three steps below over spans of kAttentionSpan cells (attention_in_steps).
void attention(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells, int head_dim,
               float scale, float* scratch);

// ---- attention in steps, over spans of cells ------------------------------------------------
//
// A job's cells are cut into spans of kAttentionSpan; the sum of exps and the output are formed
// span by span and the span results added in span order. A caller with fewer jobs than threads
// (a decode step of one sequence with few KV heads) runs the spans of one job on several
// threads with these steps and gets the bits `attention` gives.
constexpr int32_t kAttentionSpan = 256;

// Step 1: sc[r * ld + j] = scale * q_r . k_j for the cells j in [j0, j1) that row r sees
// (j < n_vis[r]); row_max[r] = the largest of them (-inf when the range shows row r none).
// j0 a multiple of kAttentionSpan.
void attention_scores(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells,
                      int32_t j0, int32_t j1, int head_dim, float scale, float* sc, size_t ld,
                      float* row_max);
// Step 2: e[j] = exp(e[j] - mx) in place for j in [0, n) (one row's cells of one span, mx the
// row's largest score); returns their sum in double.
double attention_exp(float* e, int32_t n, float mx);
// Step 3, one span [j0, j1): part[r * head_dim + d] = sum over the span's cells j that row r
// sees of half(sc[r * ld + j] * inv[r]) * v_j[d], in cell order (zeros for a row that sees none
// of it); sc's entries of the span become those half-rounded probabilities.
void attention_values(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells,
                      int32_t j0, int32_t j1, int head_dim, float* sc, size_t ld, const float* inv,
                      float* part);
// 1 / (the sums of step 2 of one row, added in span order), as every path rounds it.
inline float attention_inv(const double* span_sums, int n_spans) {
    double sum = 0;
    for (int s = 0; s < n_spans; ++s) sum += span_sums[s];
    return float(1.0 / sum);
}
// out_r += part_r for the rows that see span [j0, ...): the merge of one span's step 3, called
// in span order on outputs that start at zero.
inline void attention_add_span(const AttentionRows& rows, int32_t j0, const float* part,
                               int head_dim) {
    for (int r = 0; r < rows.n_rows; ++r) {
        if (j0 >= rows.n_vis[r]) continue;
        float* o = rows.out[r];
        const float* p = part + size_t(r) * size_t(head_dim);
        for (int d = 0; d < head_dim; ++d) o[d] += p[d];
    }
}

// One attention job: its rows, the KV head they read, the cells of their sequence.
struct AttentionJob {
    AttentionRows rows;
    KvHeadView kv;
    const int32_t* cells = nullptr;
};
// What attention_split keeps between calls (it grows it as needed, so a decode step allocates
// nothing once the context stops growing).
struct AttentionSplitBuffers {
    // Per job: its cell count n (the most any row sees), its spans, where its scores [R, n],
    // span maxima [spans, R], span outputs [spans, R, hd] lie in f and its exp sums [R, spans]
    // in sums; each row's maximum over all spans.
    struct Layout {
        int32_t n = 0, n_spans = 0;
        size_t sc = 0, mx = 0, part = 0, sums = 0;
        float row_max[kMaxAttentionRows] = {};
    };
    struct Item {  // one span of one job
        uint32_t job;
        int32_t span;
    };
    std::vector<float> f;
    std::vector<double> sums;
    std::vector<Layout> layouts;
    std::vector<Item> items;
    std::unique_ptr<std::atomic<int32_t>[]> done;  // spans of each job whose values are in
    size_t done_size = 0;
};
// `attention` of each job, with the spans of all jobs shared out among the pool's threads (three
// rounds: scores, exps, values; each job's outputs added up by the thread that finishes its
// last span). For steps with too few jobs to keep every thread busy: a decode step of one
// sequence sees one job per KV head, and Qwen2.5-0.5B / 1.5B have 2. Same bits as `attention`.
void attention_split(const AttentionJob* jobs, size_t n_jobs, int head_dim, float scale,
                     ThreadPool& pool, AttentionSplitBuffers& buf);

// The KV cache types `attention` reads: F16, Q8_0. Throws Error naming head_dim and the type
// when a head of head_dim elements cannot be stored in `type` (Q8_0: a multiple of 32).
void check_kv_head_dim(DType type, int head_dim);

}  // namespace ponder::kernels
