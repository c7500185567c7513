// The scalar reference kernels: written for clarity; the definition of correct. The
// optimized variants behind the dispatch table (kernels/dispatch.h) are tested against these.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "core/quant_blocks.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"

namespace ponder::kernels::ref {

// Same contracts as the entry points of the same name in kernels/kernels.h.
void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
void rms_norm(const float* x, const float* weight, float* y, int64_t n, int64_t n_rows, float eps);
// RMSNorm's scale for a row of n elements whose squares (each rounded to float) sum to sum_sq:
// the mean is rounded to float before eps is added, as the reference engine does. Every level
// computes its scale here.
inline float rms_norm_scale(double sum_sq, int64_t n, float eps) {
    const float mean = float(sum_sq / double(n));
    return 1.0f / std::sqrt(mean + eps);
}
void rope_cos_sin(float pos, int n_rot, float base, const float* freq_factors, float* cs);
void rope(float* x, int n_heads, int head_dim, int n_rot, bool neox, const float* cs);
void swiglu(const float* g, const float* u, float* a, int64_t n);
void attention(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells, int head_dim,
               float scale, float* scratch);
void attention_scores(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells,
                      int32_t j0, int32_t j1, int head_dim, float scale, float* sc, size_t ld,
                      float* row_max);
double attention_exp(float* e, int32_t n, float mx);
void attention_values(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells,
                      int32_t j0, int32_t j1, int head_dim, float* sc, size_t ld, const float* inv,
                      float* part);

// n floats (a multiple of 32) -> n / 32 Q8_0 blocks with the run-time rounding of the reference
// engine (d = max|x| / 127 stored as half, q = round-half-even(x * 127 / max)), as quantize_acts.
void quantize_q8_0(const float* x, int64_t n, BlockQ8_0* out);
// One head's keys or values (n floats) as the cache stores them: F16 (round to nearest even)
// or Q8_0 (quantize_q8_0); row_size(type, n) bytes at dst.
void store_kv_row(DType type, const float* x, int64_t n, uint8_t* dst);

}  // namespace ponder::kernels::ref
