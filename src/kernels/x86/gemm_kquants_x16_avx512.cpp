// Decode kernels of the Q4_Kx16 and Q6_Kx16 layouts (16-row groups repacked at load,
// kernels/repack.h) for AVX-512 + VNNI: one 32-bit lane per row, so one vpdpbusd takes 4
// elements of 16 rows. NOT bit-identical to dot_row (the bound is stated below and tested in
// tests/kernels/test_repack.cpp). Prompts unpack the groups and run the row-major kernels of
// gemm_kquants_avx512.cpp, which keep the reference's bits.
#if defined(__x86_64__)
// GCC 12's AVX-512 headers build some results from deliberately undefined registers
// (_mm512_undefined_*), which -W(maybe-)uninitialized reports (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/quant_blocks.h"
#include "kernels/dispatch.h"
#include "kernels/repack.h"

namespace ponder::kernels {
namespace {

// The row-major Q4_K / Q6_K kernels of this level (gemm_kquants_avx512.cpp), which prompts run
// on unpacked groups: taken from the table at registration (after those are registered).
GemmFn g_row_major_q4_k = nullptr;
GemmFn g_row_major_q6_k = nullptr;

// ---- Q4_K repacked at load into 16-row groups (kernels/repack.h) -------------------------

// How far ahead of the current super-block a group's stream is prefetched (decode), into L2:
// T1 instead of T0 (L1) made decode from memory of Q6_Kx16 1.8x and of Q4_Kx16 1.1x as fast
// on the AMD EPYC kind (2 threads, calls alternating between the variants, cold matrices,
// 2026-12-02); at 4 KiB, T1 gained less (1.3x, 1.0x).
constexpr int kKx16PrefetchBytes = 8192;
inline void prefetch_l2(const uint8_t* p) {
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T1);
}
//
// One 32-bit lane per row: vpdpbusd multiplies a row's 4 unsigned nibbles by a token's 4
// broadcast quants. Per super-block, row and token: isum = sum_k sc_k * (sum of q x over
// sub-block k) (8 vpdpbusd per sub-block, then vpmulld by the scale) and msum = sum_k m_k *
// bsum_k (vpdpwssd on (m, m) pairs), both exact in int32, then
//   acc += x.d * (d * float(isum) - dmin * float(msum))
// in super-block order. Not the reference's 8-lane order: the test states the bound.

// Per token and super-block: the 32-element activation sums as int16 pairs (s0, s2), (s1, s3),
// (s4, s6), (s5, s7), matching the min pairs of q4_kx16_tile.
inline void kx16_sum_pairs(const BlockQ8_K& xb, int32_t* out) {
    int32_t s[8];
    for (int k = 0; k < 8; ++k) s[k] = xb.bsums[2 * k] + xb.bsums[2 * k + 1];
    for (int h = 0; h < 2; ++h) {
        out[2 * h] = int32_t((uint32_t(s[4 * h]) & 0xFFFFu) | (uint32_t(s[4 * h + 2]) << 16));
        out[2 * h + 1] =
            int32_t((uint32_t(s[4 * h + 1]) & 0xFFFFu) | (uint32_t(s[4 * h + 3]) << 16));
    }
}

// One group (16 rows at g) x NT tokens (xr[t]: token t's super-blocks; pairs: its sum pairs,
// 4 per super-block), nb super-blocks: y[t * ldy + k] for the 16 rows k.
template <int NT>
inline void q4_kx16_tile(const uint8_t* g, const BlockQ8_K* const* xr, const int32_t* const* pairs,
                         int64_t nb, float* y, int64_t ldy) {
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F), lo8 = _mm512_set1_epi32(0xFF);
    for (int64_t b = 0; b < nb; ++b, g += kQ4_Kx16Bytes) {
        const __m512i u0 = _mm512_loadu_si512(g + 2048), u1 = _mm512_loadu_si512(g + 2112),
                      u2 = _mm512_loadu_si512(g + 2176);
        const __m512i c3f = _mm512_set1_epi32(0x3f3f3f3f), c0f = _mm512_set1_epi32(0x0f0f0f0f),
                      c30 = _mm512_set1_epi32(0x30303030), pair = _mm512_set1_epi32(0x00FF00FF);
        // scales_mins' formulas on the 16 rows: bytes of s_lo / s_hi are scales 0-3 / 4-7.
        const __m512i s_lo = _mm512_and_si512(u0, c3f);
        const __m512i s_hi = _mm512_or_si512(_mm512_and_si512(u2, c0f),
                                             _mm512_and_si512(_mm512_srli_epi32(u0, 2), c30));
        const __m512i m_lo = _mm512_and_si512(u1, c3f);
        const __m512i m_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), c0f),
                                             _mm512_and_si512(_mm512_srli_epi32(u1, 2), c30));
        const __m512 dw =
            _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 2240)));
        const __m512 dmw =
            _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 2272)));
        __m512i isb[NT];
        for (int t = 0; t < NT; ++t) isb[t] = _mm512_setzero_si512();
        for (int k = 0; k < 8; ++k) {
            const int p = k / 2;
            const uint8_t* qv = g + 512 * p;
            if (k % 2 == 0)
                for (int o = 0; o < 512; o += 64) prefetch_l2(qv + kKx16PrefetchBytes + o);
            const __m512i sc =
                _mm512_and_si512(_mm512_srli_epi32(k < 4 ? s_lo : s_hi, 8 * (k % 4)), lo8);
            __m512i wv[8];
            for (int jj = 0; jj < 8; ++jj) {
                const __m512i v = _mm512_loadu_si512(qv + 64 * jj);
                wv[jj] =
                    k % 2 ? _mm512_and_si512(_mm512_srli_epi16(v, 4), m4) : _mm512_and_si512(v, m4);
            }
            for (int t = 0; t < NT; ++t) {
                const int8_t* q = xr[t][b].qs + 32 * k;
                __m512i s = _mm512_setzero_si512();
                for (int jj = 0; jj < 8; ++jj) {
                    int32_t x4;
                    std::memcpy(&x4, q + 4 * jj, 4);
                    s = _mm512_dpbusd_epi32(s, wv[jj], _mm512_set1_epi32(x4));
                }
                isb[t] = _mm512_add_epi32(isb[t], _mm512_mullo_epi32(s, sc));
            }
        }
        for (int o = 2048; o < 2304; o += 64) prefetch_l2(g + kKx16PrefetchBytes + o);
        const __m512i mp0 = _mm512_and_si512(m_lo, pair);
        const __m512i mp1 = _mm512_and_si512(_mm512_srli_epi32(m_lo, 8), pair);
        const __m512i mp2 = _mm512_and_si512(m_hi, pair);
        const __m512i mp3 = _mm512_and_si512(_mm512_srli_epi32(m_hi, 8), pair);
        for (int t = 0; t < NT; ++t) {
            const int32_t* sp = pairs[t] + 4 * b;
            __m512i ms = _mm512_dpwssd_epi32(_mm512_setzero_si512(), mp0, _mm512_set1_epi32(sp[0]));
            ms = _mm512_dpwssd_epi32(ms, mp1, _mm512_set1_epi32(sp[1]));
            ms = _mm512_dpwssd_epi32(ms, mp2, _mm512_set1_epi32(sp[2]));
            ms = _mm512_dpwssd_epi32(ms, mp3, _mm512_set1_epi32(sp[3]));
            const __m512 f = _mm512_fmsub_ps(dw, _mm512_cvtepi32_ps(isb[t]),
                                             _mm512_mul_ps(dmw, _mm512_cvtepi32_ps(ms)));
            acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(xr[t][b].d), f, acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

// ---- Q6_K repacked at load into 16-row groups (kernels/repack.h) -------------------------
//
// As Q4_Kx16 with one lane per row: per super-block, row and token isum = sum_k sc_k * (sum of
// q x over the 16 elements of sub-block k) - 32 * sum_k sc_k * bsum_k (q unsigned, 0..63; the
// second sum by vpdpwssd on (sc, sc) pairs), exact in int32, then acc += x.d * (d *
// float(isum)) in super-block order. Not the reference's 8-lane order: the test states the
// bound.

// Per token and super-block: the 16-element activation sums as int16 pairs (s_4m, s_4m+2),
// (s_4m+1, s_4m+3) for m < 4, matching the scale pairs of q6_kx16_tile.
inline void q6x16_sum_pairs(const BlockQ8_K& xb, int32_t* out) {
    for (int m = 0; m < 4; ++m)
        for (int o = 0; o < 2; ++o)
            out[2 * m + o] = int32_t((uint32_t(uint16_t(xb.bsums[4 * m + o]))) |
                                     (uint32_t(uint16_t(xb.bsums[4 * m + 2 + o])) << 16));
}

template <int NT>
inline void q6_kx16_tile(const uint8_t* g, const BlockQ8_K* const* xr, const int32_t* const* pairs,
                         int64_t nb, float* y, int64_t ldy) {
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    for (int64_t b = 0; b < nb; ++b, g += kQ6_Kx16Bytes) {
        __m512i sv[4];
        for (int m = 0; m < 4; ++m) sv[m] = _mm512_loadu_si512(g + 3072 + 64 * m);
        const __m512 dw =
            _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 3328)));
        __m512i isb[NT];
        for (int t = 0; t < NT; ++t) isb[t] = _mm512_setzero_si512();
        for (int k32 = 0; k32 < 8; ++k32) {
            const int p = k32 / 2, h = k32 % 2;
            const uint8_t* qv = g + 512 * p;
            const uint8_t* hv = g + 2048 + 256 * p;
            if (h == 0) {
                for (int o = 0; o < 512; o += 64) prefetch_l2(qv + kKx16PrefetchBytes + o);
                for (int o = 0; o < 256; o += 64) prefetch_l2(hv + kKx16PrefetchBytes + o);
            }
            __m512i wv[8];
            for (int jj = 0; jj < 8; ++jj) {
                const __m512i v = _mm512_loadu_si512(qv + 64 * jj);
                const __m512i lo =
                    h ? _mm512_and_si512(_mm512_srli_epi16(v, 4), m4) : _mm512_and_si512(v, m4);
                const __m512i hb = _mm512_loadu_si512(hv + 64 * (jj / 2));
                const int f = 2 * (jj % 2) + h;
                const __m512i hs = f == 0   ? _mm512_slli_epi16(hb, 4)
                                   : f == 1 ? _mm512_slli_epi16(hb, 2)
                                   : f == 2 ? hb
                                            : _mm512_srli_epi16(hb, 2);
                wv[jj] = _mm512_ternarylogic_epi32(lo, hs, m30, 0xF8);  // lo | (hs & m30)
            }
            // Sub-blocks 2 k32 (jj < 4) and 2 k32 + 1: scales n = 4m + i sign-extended.
            __m512i sc[2];
            for (int u = 0; u < 2; ++u) {
                const int n = 2 * k32 + u, m = n / 4, i = n % 4;
                sc[u] = _mm512_srai_epi32(_mm512_slli_epi32(sv[m], 24 - 8 * i), 24);
            }
            for (int t = 0; t < NT; ++t) {
                const int8_t* q = xr[t][b].qs + 32 * k32;
                __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
                for (int jj = 0; jj < 4; ++jj) {
                    int32_t x0, x1;
                    std::memcpy(&x0, q + 4 * jj, 4);
                    std::memcpy(&x1, q + 16 + 4 * jj, 4);
                    s0 = _mm512_dpbusd_epi32(s0, wv[jj], _mm512_set1_epi32(x0));
                    s1 = _mm512_dpbusd_epi32(s1, wv[4 + jj], _mm512_set1_epi32(x1));
                }
                isb[t] = _mm512_add_epi32(isb[t], _mm512_add_epi32(_mm512_mullo_epi32(s0, sc[0]),
                                                                   _mm512_mullo_epi32(s1, sc[1])));
            }
        }
        for (int o = 3072; o < 3360; o += 64) prefetch_l2(g + kKx16PrefetchBytes + o);
        __m512i sp[8];
        for (int m = 0; m < 4; ++m) {
            sp[2 * m] = _mm512_srai_epi16(_mm512_slli_epi16(sv[m], 8), 8);
            sp[2 * m + 1] = _mm512_srai_epi16(sv[m], 8);
        }
        for (int t = 0; t < NT; ++t) {
            const int32_t* xp = pairs[t] + 8 * b;
            __m512i c = _mm512_setzero_si512();
            for (int j = 0; j < 8; ++j) c = _mm512_dpwssd_epi32(c, sp[j], _mm512_set1_epi32(xp[j]));
            const __m512i is = _mm512_sub_epi32(isb[t], _mm512_slli_epi32(c, 5));
            acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(xr[t][b].d),
                                     _mm512_mul_ps(dw, _mm512_cvtepi32_ps(is)), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

// The Q4_Kx16 / Q6_Kx16 GemmFn (r0, r1 multiples of 16). Decode (one token) runs the x16
// tiles; prompts unpack each 16-row group into row-major blocks and run the row-major kernels,
// which keep the reference's bits: the x16 tiles with NT = 8 tokens measured 1.5-1.9x faster
// there (bench_kquants, ffn_down 4864 -> 896, 512 tokens), but their rounding moved the
// tiny-llama Q4_K_M / Q6_K golden prompt logits to 0.050 / 0.060, past the 0.05 tolerance.
template <bool kQ6>
void gemm_kx16(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
               int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    if (n_tokens > 1) {
        // Prompts: the row-major kernels (the reference's bits) on the groups unpacked, up to
        // kRows rows per call (their per-call token preparation is then shared).
        constexpr int64_t kRows = 256;
        thread_local std::vector<uint8_t> rows;
        rows.resize(size_t(kRows) * wrb);
        for (int64_t r = r0; r < r1; r += kRows) {
            const int64_t re = std::min(r1, r + kRows);
            for (int64_t g = r; g < re; g += 16)
                (kQ6 ? unpack_q6_kx16_group : unpack_q4_kx16_group)(
                    w, wrb, g, n, rows.data() + size_t(g - r) * wrb);
            (kQ6 ? g_row_major_q6_k : g_row_major_q4_k)(rows.data(), wrb, acts, arb, n, n_tokens, 0,
                                                        re - r, y + r, ldy);
        }
        return;
    }
    // Decode: one token.
    const int64_t nb = n / kQK_K;
    constexpr int kPairs = kQ6 ? 8 : 4;
    thread_local std::vector<int32_t> sums;
    sums.resize(size_t(nb * kPairs));
    const auto* xb = reinterpret_cast<const BlockQ8_K*>(acts);
    for (int64_t b = 0; b < nb; ++b) {
        if constexpr (kQ6)
            q6x16_sum_pairs(xb[b], sums.data() + b * kPairs);
        else
            kx16_sum_pairs(xb[b], sums.data() + b * kPairs);
    }
    const int32_t* sp = sums.data();
    for (int64_t r = r0; r < r1; r += 16) {
        if constexpr (kQ6)
            q6_kx16_tile<1>(w + size_t(r) * wrb, &xb, &sp, nb, y + r, ldy);
        else
            q4_kx16_tile<1>(w + size_t(r) * wrb, &xb, &sp, nb, y + r, ldy);
    }
}

}  // namespace

void register_gemm_kquants_x16_avx512(KernelTable& t) {
    g_row_major_q4_k = t.gemm_for(DType::Q4_K).gemm;
    g_row_major_q6_k = t.gemm_for(DType::Q6_K).gemm;
    if (!g_row_major_q4_k || !g_row_major_q6_k) return;  // the row-major kernels come first
    t.gemm_q4_kx16 = {DType::Q8_K, t.gemm_for(DType::Q4_K).quantize, gemm_kx16<false>};
    t.gemm_q6_kx16 = {DType::Q8_K, t.gemm_for(DType::Q6_K).quantize, gemm_kx16<true>};
}

}  // namespace ponder::kernels
#endif
