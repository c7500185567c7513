// The kernel entry points: each calls the active level's table (kernels/dispatch.h).
#include "kernels/kernels.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/ref/kernels_ref.h"
#include "kernels/repack.h"

namespace ponder::kernels {

void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
    const GemmKernel& k = active_kernels().gemm_for(w.type, w.layout);
    if (!k.gemm) {
        if (w.layout != Layout::RowMajor) {
            // A level without the repacked kernel (the level was lowered after loading): the
            // reference on a row-major copy. Slow, but only tests switch levels that way.
            std::vector<uint8_t> rows(w.row_bytes * size_t(w.n_rows));
            const int64_t g = w.layout == Layout::Q4_0x8 ? 8 : 16;
            const auto unpack = w.layout == Layout::Q4_0x8    ? unpack_q4_0x8_group
                                : w.layout == Layout::Q5_0x16 ? unpack_q5_0x16_group
                                : w.layout == Layout::Q4_Kx16 ? unpack_q4_kx16_group
                                                              : unpack_q6_kx16_group;
            for (int64_t r = 0; r < w.n_rows; r += g)
                unpack(w.data, w.row_bytes, r, w.n_cols, rows.data() + size_t(r) * w.row_bytes);
            Matrix rm = w;
            rm.data = rows.data();
            rm.layout = Layout::RowMajor;
            ref::matmul(rm, x, n_tokens, y, pool);
            return;
        }
        ref::matmul(w, x, n_tokens, y, pool);
        return;
    }
    const int64_t nc = w.n_cols;
    const size_t act_row = row_size(k.act_type, nc);
    // One buffer per calling thread, grown as needed: no allocation per call in steady state.
    thread_local std::vector<uint8_t> acts;
    if (acts.size() < act_row * size_t(n_tokens)) acts.resize(act_row * size_t(n_tokens));
    uint8_t* a = acts.data();
    pool.run(
        [&](int ith, int nth) {
            int64_t t0, t1;
            ThreadPool::split(n_tokens, ith, nth, t0, t1);
            for (int64_t t = t0; t < t1; ++t) k.quantize(x + t * nc, nc, a + size_t(t) * act_row);
        },
        n_tokens * nc * 8);
    // Rows are split across threads in multiples of 16 so that each thread's kernel runs
    // whole register tiles and no two threads write the same cache line of y when T = 1.
    const int64_t n_rows = w.n_rows;
    const int64_t n_groups = (n_rows + 15) / 16;
    pool.run(
        [&](int ith, int nth) {
            int64_t g0, g1;
            ThreadPool::split(n_groups, ith, nth, g0, g1);
            const int64_t r0 = g0 * 16, r1 = std::min(n_rows, g1 * 16);
            if (r0 < r1) k.gemm(w.data, w.row_bytes, a, act_row, nc, n_tokens, r0, r1, y, n_rows);
        },
        n_rows * nc * n_tokens);
}

void rms_norm(const float* x, const float* weight, float* y, int64_t n, int64_t n_rows, float eps) {
    active_kernels().rms_norm(x, weight, y, n, n_rows, eps);
}

void rope(float* x, int n_heads, int head_dim, int n_rot, float pos, float base, bool neox,
          const float* freq_factors) {
    active_kernels().rope(x, n_heads, head_dim, n_rot, pos, base, neox, freq_factors);
}

void swiglu(const float* g, const float* u, float* a, int64_t n) {
    active_kernels().swiglu(g, u, a, n);
}

void check_kv_head_dim(DType type, int head_dim) {
    if (type != DType::F16 && type != DType::Q8_0)
        fail("KV cache type ", dtype_name(type), " is not supported (use f16 or q8_0)");
    if (head_dim <= 0) fail("KV cache: head_dim must be positive, got ", head_dim);
    if (type == DType::Q8_0 && head_dim % kQK != 0)
        fail(
            "a Q8_0 KV cache needs a head size that is a multiple of 32, but this model has "
            "head_dim ",
            head_dim, " (use the f16 KV cache)");
}

void attention(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells, int head_dim,
               float scale, float* scratch) {
    active_kernels().attention(rows, kv, cells, head_dim, scale, scratch);
}

}  // namespace ponder::kernels
