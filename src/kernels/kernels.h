// The compute kernels the model layers call. Each has a scalar reference (src/kernels/ref/)
// that defines correct; optimized variants slot in behind these entry points via the
// dispatch table chosen at run time (DESIGN rule 4).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/thread_pool.h"

namespace ponder::kernels {

// How a matrix's bytes are arranged: as GGUF stores them (row-major), or a Q4_0 matrix
// repacked at load into 8-row groups (kernels/repack.h; same total size, row_bytes per row).
enum class Layout { RowMajor, Q4_0x8 };

// A weight matrix: n_rows rows of n_cols elements of `type`. Row-major `data` points into the
// mapped file (never copied); a Q4_0x8 one into a buffer its Model owns.
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

// y[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], for each of n_rows rows of n.
// x and y may alias.
void rms_norm(const float* x, const float* weight, float* y, int64_t n, int64_t n_rows, float eps);

// Rotary position embedding in place on x: [n_heads, head_dim] for one token at `pos`.
// Rotates the first n_rot dimensions; neox pairs (i, i + n_rot/2), otherwise (2i, 2i+1).
// theta_i = pos * base^(-2i/n_rot) / freq_factors[i] (freq_factors may be null).
void rope(float* x, int n_heads, int head_dim, int n_rot, float pos, float base, bool neox,
          const float* freq_factors);

// a[i] = silu(g[i]) * u[i] for i < n (a may alias g).
void swiglu(const float* g, const float* u, float* a, int64_t n);

// Causal attention of one query head over cached keys/values (KV of type F16).
//   q: [head_dim] f32; keys/values: cell c's row at k + c * kv_stride (head_dim halves);
//   cells[0..n): the cache cells this query sees, in position order; out: [head_dim];
//   scratch: at least n floats. Scores are scale * q.k, softmaxed, then sum p_c v_c.
void attention_head(const float* q, const uint16_t* k, const uint16_t* v, size_t kv_stride,
                    const int32_t* cells, int32_t n, int head_dim, float scale, float* out,
                    float* scratch);

}  // namespace ponder::kernels
