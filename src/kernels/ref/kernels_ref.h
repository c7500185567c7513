// The scalar reference kernels: written for clarity; the definition of correct. The
// optimized variants behind the dispatch table (kernels/dispatch.h) are tested against these.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/kernels.h"

namespace ponder::kernels::ref {

// Same contracts as the entry points of the same name in kernels/kernels.h.
void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
void rms_norm(const float* x, const float* weight, float* y, int64_t n, int64_t n_rows, float eps);
void rope(float* x, int n_heads, int head_dim, int n_rot, float pos, float base, bool neox,
          const float* freq_factors);
void swiglu(const float* g, const float* u, float* a, int64_t n);
void attention_head(const float* q, const uint16_t* k, const uint16_t* v, size_t kv_stride,
                    const int32_t* cells, int32_t n, int head_dim, float scale, float* out,
                    float* scratch);

}  // namespace ponder::kernels::ref
