// What the SIMD attention_values kernels share (x86/attention_impl.h, x86/attention_avx512.h,
// arm/attention_neon.cpp): the split of a job's rows into groups whose outputs stay in
// registers over a span, and compile-time counts chosen at run time. Each kernel file compiles
// this with its own ISA flags, so everything here has internal linkage (anonymous namespace).
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/kernels.h"

namespace ponder::kernels {
namespace {

// The most rows whose outputs one pass over a span holds in registers.
constexpr int kValueRowGroup = 8;

// f.template operator()<N>() for N = n, n in [1, kMax] (n above kMax: kMax).
template <int kMax, class F>
inline void with_count(int n, F&& f) {
    if constexpr (kMax > 1) {
        if (n < kMax) return with_count<kMax - 1>(n, f);
    }
    f.template operator()<kMax>();
}

// The body of attention_values (kernels.h) over span [j0, j1): part zeroed, every row's
// probabilities normalized and rounded to half in place (normalize(p, n, inv)), then rows in
// balanced groups of up to kValueRowGroup: the cells all of a group sees in one pass
// (accumulate(rb, out, p, c0, c1, first): out_r += sum over c in [c0, c1) of p_r[c] * v_c, in
// cell order, for rb rows; first: the span's first pass, the one to prefetch in), then each row
// of the group its own rest alone.
template <class Normalize, class Accumulate>
inline void values_in_row_groups(const AttentionRows& job, int32_t j0, int32_t j1, int hd,
                                 float* sc, size_t ld, const float* inv, float* part,
                                 Normalize&& normalize, Accumulate&& accumulate) {
    const int R = job.n_rows;
    std::fill(part, part + size_t(R) * size_t(hd), 0.0f);
    float* out[kMaxAttentionRows];
    const float* p[kMaxAttentionRows];
    int32_t end[kMaxAttentionRows];  // the end of the cells of [j0, j1) row r sees
    for (int r = 0; r < R; ++r) {
        out[r] = part + size_t(r) * size_t(hd);
        float* pr = sc + size_t(r) * ld;
        p[r] = pr;
        end[r] = std::clamp(job.n_vis[r], j0, j1);
        if (end[r] > j0) normalize(pr + j0, end[r] - j0, inv[r]);
    }
    const int n_groups = (R + kValueRowGroup - 1) / kValueRowGroup;
    bool first = true;
    for (int gr = 0, r0 = 0; gr < n_groups; ++gr) {
        const int rb = (R - r0) / (n_groups - gr);
        int32_t common = j1;
        for (int i = 0; i < rb; ++i) common = std::min(common, end[r0 + i]);
        if (common > j0) {
            accumulate(rb, out + r0, p + r0, j0, common, first);
            first = false;
        }
        for (int i = 0; i < rb; ++i)
            if (end[r0 + i] > common)
                accumulate(1, out + r0 + i, p + r0 + i, common, end[r0 + i], false);
        r0 += rb;
    }
}

}  // namespace
}  // namespace ponder::kernels
