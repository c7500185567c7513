// Matmul kernels for F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 with 256-bit vectors, written
// once and compiled three times: by gemm_q8_avx2.cpp (AVX2 + FMA + F16C), gemm_q8_avxvnni.cpp
// (adds AVX-VNNI: `vpdpbusd` on 256-bit registers, VEX-encoded) and gemm_q8_avx512.cpp (adds
// AVX-512 VL + VNNI: the same instruction, EVEX-encoded). Include this header from those files
// only, after defining PONDER_GEMM_VNNI to 0 (none), 1 (AVX-512 VNNI) or 2 (AVX-VNNI).
// Everything here has internal linkage (anonymous namespace), so each ISA file keeps its own
// copy.
//
// Numerics (docs/DESIGN.md, "Numerics"; kernels/ref/dot_ref.cpp is the statement):
// - quantize_*: bit-identical to quantize_acts (scale 127/max, round half to even through
//   the default MXCSR rounding of cvtps2dq, fp16 scales through core/fp16.h).
// - Q8_0, Q4_1, Q5_0, Q5_1 (gemm_lanes): per block and per 8 lanes of 4 consecutive elements,
//   the integer sum (vpdpbusd, or maddubs + madd) then one FMA with dw * dx, an 8-lane
//   horizontal sum at the end, plus a sequential float sum of m * s for Q4_1 / Q5_1: the
//   reference's order exactly, so results are bit-identical to dot_row.
// - Q4_0 (gemm_rows): 8 weight rows in the 8 lanes (transposed on the fly), one integer sum
//   per block and a sequential FMA per block: also bit-identical to dot_row. Models repack
//   Q4_0 at load into the Q4_0x8 layout (gemm_q4_0x8: the same lanes without the transpose).
// - The other formats at n_tokens > 1 on AVX-512 (gemm_rows_or_lanes): the same rows-in-lanes
//   order, about twice as fast as the lane order; NOT bit-identical to dot_row (one float FMA
//   per block instead of 8 lanes; the tests state the bound).
// - F32 / F16 / BF16 (gemm_float): activations rounded to the weight's precision first (kept
//   as floats), float FMAs over 8 lanes; not the reference's double sum (see the tests' bound).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/fp16.h"
#include "core/quant_blocks.h"
#include "kernels/dispatch.h"
#include "kernels/repack.h"

#ifndef PONDER_GEMM_VNNI
#error "define PONDER_GEMM_VNNI before including gemm_q8_impl.h"
#endif

namespace ponder::kernels {
namespace {

inline float half_to_float(uint16_t h) {
    return _cvtsh_ss(h);
}

// How far ahead of the current block each weight row is prefetched. Decode streams weights
// from DRAM and this machine's hardware prefetcher alone reaches about 7 GB/s on that access
// pattern; prefetching 4 KiB ahead doubles it (measured on the 151,936 x 896 Q8_0 output).
constexpr int kPrefetchBytes = 4096;

// The repacked decode tiles (one stream per group of rows) prefetch into L2 (T1) instead, 8 KiB
// ahead: on the AMD EPYC kind (Zen 4), decode of Q4_0x8, Q8_0x16 and the K-quants from memory
// ran 5-50% faster than with T0 (L1) prefetches at any distance; Q5_0x16 ran 5% slower and
// keeps T0. Measured with calls alternating between the variants on cold matrices (bench_matmul
// --cold reads the same way), 2 threads, 2026-12-02.
constexpr int kPrefetchL2Bytes = 8192;
inline void prefetch_l2(const uint8_t* p) {
    _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T1);
}

// ---- activation rounding ----------------------------------------------------------------------

// One block of 32 floats -> 32 int8 with d = max|x| / 127 (stored as fp16 in *d_out, returned
// unrounded in *d_f32); returns the sum of the quants.
inline int quantize_block32(const float* x, uint16_t* d_out, float* d_f32, int8_t* qs) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    *d_out = f32_to_fp16(d);
    *d_f32 = d;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], vid));
    const __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), p);
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    return _mm_cvtsi128_si32(s4);
}

// Q8_0 activations: n / 32 BlockQ8_0.
void quantize_q8_0(const float* x, int64_t n, uint8_t* out) {
    auto* y = reinterpret_cast<BlockQ8_0*>(out);
    float d;
    for (int64_t b = 0; b < n / kQK; ++b) quantize_block32(x + b * kQK, &y[b].d, &d, y[b].qs);
}

// Q8_1 activations: BlockQ8_1 with s = fp16(d * sum q), d unrounded as in quantize_acts.
void quantize_q8_1(const float* x, int64_t n, uint8_t* out) {
    auto* y = reinterpret_cast<BlockQ8_1*>(out);
    for (int64_t b = 0; b < n / kQK; ++b) {
        float d;
        const int sum = quantize_block32(x + b * kQK, &y[b].d, &d, y[b].qs);
        y[b].s = f32_to_fp16(d * float(sum));
    }
}

// F16 weights: activations rounded to half precision, kept as floats (act_type F32).
void round_f16(const float* x, int64_t n, uint8_t* out) {
    float* y = reinterpret_cast<float*>(out);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; ++i) y[i] = fp16_to_f32(f32_to_fp16(x[i]));
}

// The bfloat16 bit patterns (in the high halves of 32-bit lanes) of 8 floats, as f32_to_bf16.
inline __m256i bf16_bits(__m256 v) {
    const __m256i x = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), lsb);
    const __m256i ax = _mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff));
    const __m256i nan = _mm256_cmpgt_epi32(ax, _mm256_set1_epi32(0x7f800000));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(x, _mm256_set1_epi32(0x400000)), nan);
    return _mm256_and_si256(r, _mm256_set1_epi32(int(0xffff0000u)));
}

// BF16 weights without BF16 instructions: activations rounded to bfloat16, kept as floats.
void round_bf16(const float* x, int64_t n, uint8_t* out) {
    float* y = reinterpret_cast<float*>(out);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(bf16_bits(_mm256_loadu_ps(x + i))));
    for (; i < n; ++i) y[i] = bf16_to_f32(f32_to_bf16(x[i]));
}

void copy_f32(const float* x, int64_t n, uint8_t* out) {
    std::memcpy(out, x, size_t(n) * sizeof(float));
}

// ---- float weights ----------------------------------------------------------------------------

struct LoadF32 {
    using T = float;
    static __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
    static float load1(const float* p) { return *p; }
};
struct LoadF16 {
    using T = uint16_t;
    static __m256 load8(const uint16_t* p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
    static float load1(const uint16_t* p) { return half_to_float(*p); }
};
struct LoadBF16 {
    using T = uint16_t;
    static __m256 load8(const uint16_t* p) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    static float load1(const uint16_t* p) { return bf16_to_f32(*p); }
};

inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// R weight rows x NT tokens of float dot products over n columns.
template <class L, int R, int NT>
inline void float_tile(const uint8_t* w, size_t wrb, const float* x, size_t xstride, int64_t n,
                       float* y, int64_t ldy) {
    using W = typename L::T;
    const W* wr[R];
    for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const W*>(w + size_t(r) * wrb);
    __m256 acc[R][NT];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
        __m256 xv[NT];
        for (int t = 0; t < NT; ++t) xv[t] = _mm256_loadu_ps(x + size_t(t) * xstride + c);
        for (int r = 0; r < R; ++r) {
            const __m256 wv = L::load8(wr[r] + c);
            for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NT; ++t) {
            float s = hsum8(acc[r][t]);
            const float* xt = x + size_t(t) * xstride;
            for (int64_t k = c; k < n; ++k) s += L::load1(wr[r] + k) * xt[k];
            y[t * ldy + r] = s;
        }
}

// Tiles of R rows x NT tokens, with smaller tiles for the row and token tails.
template <class L, int R, int NT>
void gemm_float(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
                int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const float* x = reinterpret_cast<const float*>(acts);
    const size_t xs = arb / sizeof(float);
    int64_t t = 0;
    for (; t + NT <= n_tokens; t += NT) {
        int64_t r = r0;
        for (; r + R <= r1; r += R)
            float_tile<L, R, NT>(w + size_t(r) * wrb, wrb, x + size_t(t) * xs, xs, n,
                                 y + t * ldy + r, ldy);
        for (; r < r1; ++r)
            float_tile<L, 1, NT>(w + size_t(r) * wrb, wrb, x + size_t(t) * xs, xs, n,
                                 y + t * ldy + r, ldy);
    }
    for (; t < n_tokens; ++t) {
        int64_t r = r0;
        for (; r + R <= r1; r += R)
            float_tile<L, R, 1>(w + size_t(r) * wrb, wrb, x + size_t(t) * xs, xs, n,
                                y + t * ldy + r, ldy);
        for (; r < r1; ++r)
            float_tile<L, 1, 1>(w + size_t(r) * wrb, wrb, x + size_t(t) * xs, xs, n,
                                y + t * ldy + r, ldy);
    }
}

// ---- 32-element quantized weights --------------------------------------------------------------

// Integer dot products of 32 unsigned weight bytes u with 32 signed activation bytes x, summed
// into 8 int32 lanes of 4 consecutive elements, added to `acc`. u must be < 128 without VNNI.
inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i x) {
#if PONDER_GEMM_VNNI == 2
    return _mm256_dpbusd_avx_epi32(acc, u, x);
#elif PONDER_GEMM_VNNI
    return _mm256_dpbusd_epi32(acc, u, x);
#else
    const __m256i p16 = _mm256_maddubs_epi16(u, x);
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
#endif
}

// Elements 0..15 from the low nibbles, 16..31 from the high ones: one broadcast load, one
// shift (0 in the low half, 4 in the high half), one mask.
inline __m256i q4_nibbles(const uint8_t* qs) {
    const __m256i q =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
    const __m256i sh = _mm256_srlv_epi64(q, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(sh, _mm256_set1_epi8(0x0F));
}

// 16 in byte j where bit j of the little-endian 32-bit qh is set, else 0.
inline __m256i q5_high_bits(const uint8_t* qh) {
    uint32_t h;
    std::memcpy(&h, qh, 4);
    const __m256i shuf =
        _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL, 0x0303030303030303LL);
    const __m256i bits = _mm256_set1_epi64x(int64_t(0x8040201008040201ULL));
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(int(h)), shuf);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bits), bits);
    return _mm256_and_si256(v, _mm256_set1_epi8(16));
}

// Weight formats: unpack(block) gives u with weight = u - kOff (times d), plus m for kHasMin.
// Q8_0 without VNNI instead keeps the signed weights and uses the sign trick (kSignTrick).
struct FmtQ8_0 {
    using Block = BlockQ8_0;
    static constexpr int kOff = PONDER_GEMM_VNNI ? 128 : 0;
    static constexpr bool kHasMin = false, kSignTrick = !PONDER_GEMM_VNNI;
    static __m256i unpack(const Block& b) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
        return PONDER_GEMM_VNNI ? _mm256_xor_si256(w, _mm256_set1_epi8(char(0x80))) : w;
    }
    static float min(const Block&) { return 0; }
};
struct FmtQ4_0 {
    using Block = BlockQ4_0;
    static constexpr int kOff = 8;
    static constexpr bool kHasMin = false, kSignTrick = false;
    static __m256i unpack(const Block& b) { return q4_nibbles(b.qs); }
    static float min(const Block&) { return 0; }
};
struct FmtQ4_1 {
    using Block = BlockQ4_1;
    static constexpr int kOff = 0;
    static constexpr bool kHasMin = true, kSignTrick = false;
    static __m256i unpack(const Block& b) { return q4_nibbles(b.qs); }
    static float min(const Block& b) { return half_to_float(b.m); }
};
struct FmtQ5_0 {
    using Block = BlockQ5_0;
    static constexpr int kOff = 16;
    static constexpr bool kHasMin = false, kSignTrick = false;
    static __m256i unpack(const Block& b) {
        return _mm256_or_si256(q4_nibbles(b.qs), q5_high_bits(b.qh));
    }
    static float min(const Block&) { return 0; }
};
struct FmtQ5_1 {
    using Block = BlockQ5_1;
    static constexpr int kOff = 0;
    static constexpr bool kHasMin = true, kSignTrick = false;
    static __m256i unpack(const Block& b) {
        return _mm256_or_si256(q4_nibbles(b.qs), q5_high_bits(b.qh));
    }
    static float min(const Block& b) { return half_to_float(b.m); }
};

// Activation blocks: Q8_1 for the formats with a min (its s is used), Q8_0 otherwise.
template <class F>
using ActBlock = std::conditional_t<F::kHasMin, BlockQ8_1, BlockQ8_0>;

// R rows x NT tokens in the reference's lane order (see the header comment).
template <class F, int R, int NT>
inline void lanes_tile(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t nb,
                       float* y, int64_t ldy) {
    using B = typename F::Block;
    using A = ActBlock<F>;
    const B* wr[R];
    const A* xr[NT];
    for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const B*>(w + size_t(r) * wrb);
    for (int t = 0; t < NT; ++t) xr[t] = reinterpret_cast<const A*>(acts + size_t(t) * arb);
    __m256 acc[R][NT];
    float summs[R][NT];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NT; ++t) {
            acc[r][t] = _mm256_setzero_ps();
            summs[r][t] = 0;
        }
    for (int64_t b = 0; b < nb; ++b) {
        __m256i xv[NT], corr[NT];
        __m256 dx[NT];
        for (int t = 0; t < NT; ++t) {
            xv[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[t][b].qs));
            dx[t] = _mm256_set1_ps(half_to_float(xr[t][b].d));
            corr[t] = _mm256_setzero_si256();
            if constexpr (F::kOff != 0)  // -kOff * (sum of each lane's 4 activations)
                corr[t] = _mm256_sub_epi32(
                    corr[t], dot_u8s8(corr[t], _mm256_set1_epi8(char(F::kOff)), xv[t]));
        }
        for (int r = 0; r < R; ++r) {
            _mm_prefetch(reinterpret_cast<const char*>(wr[r] + b) + kPrefetchBytes, _MM_HINT_T0);
            const __m256i u = F::unpack(wr[r][b]);
            const __m256 dw = _mm256_set1_ps(half_to_float(wr[r][b].d));
            for (int t = 0; t < NT; ++t) {
                __m256i s;
                if constexpr (F::kSignTrick)
                    s = dot_u8s8(corr[t], _mm256_sign_epi8(u, u), _mm256_sign_epi8(xv[t], u));
                else
                    s = dot_u8s8(corr[t], u, xv[t]);
                acc[r][t] =
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, dx[t]), acc[r][t]);
            }
            if constexpr (F::kHasMin) {
                const float m = F::min(wr[r][b]);
                for (int t = 0; t < NT; ++t) summs[r][t] += m * half_to_float(xr[t][b].s);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NT; ++t) y[t * ldy + r] = hsum8(acc[r][t]) + summs[r][t];
}

// R x NT tiles for prompts, R1 x 1 for single tokens (decode) and the token tail.
template <class F, int R, int NT, int R1>
void gemm_lanes(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
                int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const int64_t nb = n / kQK;
    int64_t t = 0;
    for (; t + NT <= n_tokens; t += NT) {
        int64_t r = r0;
        for (; r + R <= r1; r += R)
            lanes_tile<F, R, NT>(w + size_t(r) * wrb, wrb, acts + size_t(t) * arb, arb, nb,
                                 y + t * ldy + r, ldy);
        for (; r < r1; ++r)
            lanes_tile<F, 1, NT>(w + size_t(r) * wrb, wrb, acts + size_t(t) * arb, arb, nb,
                                 y + t * ldy + r, ldy);
    }
    for (; t < n_tokens; ++t) {
        int64_t r = r0;
        for (; r + R1 <= r1; r += R1)
            lanes_tile<F, R1, 1>(w + size_t(r) * wrb, wrb, acts + size_t(t) * arb, arb, nb,
                                 y + t * ldy + r, ldy);
        for (; r < r1; ++r)
            lanes_tile<F, 1, 1>(w + size_t(r) * wrb, wrb, acts + size_t(t) * arb, arb, nb,
                                y + t * ldy + r, ldy);
    }
}

// ---- weight rows in lanes -----------------------------------------------------------------

// Transposes 8 rows of 8 int32 in place: out[j] lane k = in[k] lane j.
inline void transpose8x8(__m256i v[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 4; ++i) {
        v[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
        v[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
    }
}

// Eight fp16 fields (one per row) as 8 floats, packed with scalar shifts (integer ports).
template <class B>
inline __m256 gather8_half(const B* const* wr, int64_t b, uint16_t B::*field) {
    uint64_t lo = 0, hi = 0;
    for (int k = 0; k < 4; ++k) {
        lo |= uint64_t(wr[k][b].*field) << (16 * k);
        hi |= uint64_t(wr[k + 4][b].*field) << (16 * k);
    }
    return _mm256_cvtph_ps(_mm_set_epi64x(int64_t(hi), int64_t(lo)));
}

// Per lane (row) k: negsum + the integer dot product of the row's 32 block bytes (register j:
// bytes 4j..4j+3 of each row) with the token's block quants q. Unsigned weight bytes meet the
// broadcast 4-byte groups in dot_u8s8; signed ones (Q8_0 without VNNI) go through the sign
// trick, |w| times x with w's sign (pair sums at most 2 * 128 * 127: no saturation).
template <class F>
inline __m256i block_sums8(const __m256i* wv, const int8_t* q, int32_t negsum) {
    __m256i s = _mm256_set1_epi32(negsum);
    for (int j = 0; j < 8; ++j) {
        int32_t x4;
        std::memcpy(&x4, q + 4 * j, 4);
        const __m256i xb = _mm256_set1_epi32(x4);
        if constexpr (F::kSignTrick) {
            const __m256i p =
                _mm256_maddubs_epi16(_mm256_sign_epi8(wv[j], wv[j]), _mm256_sign_epi8(xb, wv[j]));
            s = _mm256_add_epi32(s, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
        } else {
            s = dot_u8s8(s, wv[j], xb);
        }
    }
    return s;
}

// 8 rows (n_valid of them real; the rest repeat the last real row and are not stored) x NT
// tokens, one row per lane: the 8 rows' unpacked blocks are transposed so that register j
// holds bytes 4j..4j+3 of every row, then each token's 4-byte groups are broadcast.
// negsum[t * nb + b] = -kOff * (sum of token t's block b quants). Per row and token: one
// integer sum per block, acc = fma(float(sum), dw * dx, acc) in block order, plus (formats
// with a min) a sequential float sum of m * s.
template <class F, int NT>
inline void rows_tile(const uint8_t* w, size_t wrb, int n_valid, const uint8_t* acts, size_t arb,
                      const int32_t* negsum, int64_t nb, float* y, int64_t ldy) {
    using B = typename F::Block;
    using A = ActBlock<F>;
    const B* wr[8];
    for (int k = 0; k < 8; ++k)
        wr[k] = reinterpret_cast<const B*>(w + size_t(std::min(k, n_valid - 1)) * wrb);
    const A* xr[NT];
    for (int t = 0; t < NT; ++t) xr[t] = reinterpret_cast<const A*>(acts + size_t(t) * arb);
    __m256 acc[NT], summs[NT];
    for (int t = 0; t < NT; ++t) acc[t] = summs[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        __m256i wv[8];
        for (int k = 0; k < 8; ++k) {
            _mm_prefetch(reinterpret_cast<const char*>(wr[k] + b) + kPrefetchBytes, _MM_HINT_T0);
            wv[k] = F::unpack(wr[k][b]);
        }
        transpose8x8(wv);
        const __m256 dw = gather8_half(wr, b, &B::d);
        __m256 mw = _mm256_setzero_ps();
        if constexpr (F::kHasMin) mw = gather8_half(wr, b, &B::m);
        for (int t = 0; t < NT; ++t) {
            const __m256i s = block_sums8<F>(wv, xr[t][b].qs, negsum[t * nb + b]);
            const __m256 dx = _mm256_set1_ps(half_to_float(xr[t][b].d));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, dx), acc[t]);
            if constexpr (F::kHasMin)
                summs[t] = _mm256_add_ps(
                    summs[t], _mm256_mul_ps(mw, _mm256_set1_ps(half_to_float(xr[t][b].s))));
        }
    }
    for (int t = 0; t < NT; ++t) {
        const __m256 v = F::kHasMin ? _mm256_add_ps(acc[t], summs[t]) : acc[t];
        if (n_valid == 8) {
            _mm256_storeu_ps(y + t * ldy, v);
        } else {
            alignas(32) float tmp[8];
            _mm256_store_ps(tmp, v);
            for (int k = 0; k < n_valid; ++k) y[t * ldy + k] = tmp[k];
        }
    }
}

// negsum[t * nb + b] = -off * (sum of token t's block b quants), for n_tokens activation rows.
template <class A>
inline void block_negsums(const uint8_t* acts, size_t arb, int64_t nb, int64_t n_tokens, int off,
                          int32_t* negsum) {
    for (int64_t t = 0; t < n_tokens; ++t) {
        const auto* xb = reinterpret_cast<const A*>(acts + size_t(t) * arb);
        for (int64_t b = 0; b < nb; ++b) {
            const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs));
            // sum(x) = sum(x + 128) - 32 * 128, the former from vpsadbw.
            const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(x, _mm256_set1_epi8(char(0x80))),
                                                _mm256_setzero_si256());
            __m128i s =
                _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
            s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
            negsum[size_t(t * nb + b)] = -off * (_mm_cvtsi128_si32(s) - 32 * 128);
        }
    }
}

// All rows in groups of 8 (rows_tile), tokens in groups of NT.
template <class F, int NT>
void gemm_rows(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
               int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    using A = ActBlock<F>;
    const int64_t nb = n / kQK;
    // The activations' block sums, once per call (the caller's thread owns the buffer).
    thread_local std::vector<int32_t> negsum;
    negsum.assign(size_t(n_tokens * nb), 0);
    if constexpr (F::kOff != 0) block_negsums<A>(acts, arb, nb, n_tokens, F::kOff, negsum.data());
    for (int64_t r = r0; r < r1; r += 8) {
        const int nv = int(std::min<int64_t>(8, r1 - r));
        const uint8_t* wr = w + size_t(r) * wrb;
        int64_t t = 0;
        for (; t + NT <= n_tokens; t += NT)
            rows_tile<F, NT>(wr, wrb, nv, acts + size_t(t) * arb, arb, negsum.data() + t * nb, nb,
                             y + t * ldy + r, ldy);
        for (; t < n_tokens; ++t)
            rows_tile<F, 1>(wr, wrb, nv, acts + size_t(t) * arb, arb, negsum.data() + t * nb, nb,
                            y + t * ldy + r, ldy);
    }
}

// Prompts (n_tokens > 1) with gemm_rows, single tokens with gemm_lanes (the reference's exact
// order, and cheaper at one token: no transpose).
template <class F, int NT, int R1>
void gemm_rows_or_lanes(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
                        int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    if (n_tokens == 1)
        gemm_lanes<F, R1, 1, R1>(w, wrb, acts, arb, n, n_tokens, r0, r1, y, ldy);
    else
        gemm_rows<F, NT>(w, wrb, acts, arb, n, n_tokens, r0, r1, y, ldy);
}

// ---- Q4_0 repacked into 8-row groups (kernels/repack.h) ----------------------------------

// 8 rows x NT tokens of a Q4_0x8 matrix: g points at the group's first block (kQ4_0x8Bytes per
// block: 8 fp16 d's, then 4 x 32 bytes where vector jj, lane k holds qs[4jj..4jj+3] of row k).
// Low nibbles give elements 4jj..4jj+3 of the 8 rows, high nibbles 16+4jj..16+4jj+3: the
// registers rows_tile<FmtQ4_0> builds with its transpose, here straight from memory. The
// integer block sums are exact and the FMA per block is the same, so the bits are too.
template <int NT>
inline void q4_0x8_tile(const uint8_t* g, const uint8_t* acts, size_t arb, const int32_t* negsum,
                        int64_t nb, float* y, int64_t ldy) {
    const BlockQ8_0* xr[NT];
    for (int t = 0; t < NT; ++t) xr[t] = reinterpret_cast<const BlockQ8_0*>(acts + size_t(t) * arb);
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    const __m256i mask = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; ++b, g += kQ4_0x8Bytes) {
        for (int o = 0; o < 192; o += 64) prefetch_l2(g + kPrefetchL2Bytes + o);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
        __m256i wv[8];
        for (int jj = 0; jj < 4; ++jj) {
            const __m256i v =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 16 + 32 * jj));
            wv[jj] = _mm256_and_si256(v, mask);
            wv[4 + jj] = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
        }
        for (int t = 0; t < NT; ++t) {
            const __m256i s = block_sums8<FmtQ4_0>(wv, xr[t][b].qs, negsum[t * nb + b]);
            const __m256 dx = _mm256_set1_ps(half_to_float(xr[t][b].d));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, dx), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// A Q4_0x8 matrix (w: groups of 8 rows, 8 * wrb bytes each; r0 and r1 multiples of 8), tokens
// in groups of NT. Same GemmFn contract as the row-major kernels.
template <int NT>
void gemm_q4_0x8(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
                 int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const int64_t nb = n / kQK;
    thread_local std::vector<int32_t> negsum;
    negsum.resize(size_t(n_tokens * nb));
    block_negsums<BlockQ8_0>(acts, arb, nb, n_tokens, 8, negsum.data());
    for (int64_t r = r0; r < r1; r += 8) {
        const uint8_t* g = w + size_t(r) * wrb;
        int64_t t = 0;
        for (; t + NT <= n_tokens; t += NT)
            q4_0x8_tile<NT>(g, acts + size_t(t) * arb, arb, negsum.data() + t * nb, nb,
                            y + t * ldy + r, ldy);
        for (; t < n_tokens; ++t)
            q4_0x8_tile<1>(g, acts + size_t(t) * arb, arb, negsum.data() + t * nb, nb,
                           y + t * ldy + r, ldy);
    }
}

// ---- the 16-register levels only (the AVX-512 file has its own) -----------------------------
#if PONDER_GEMM_VNNI != 1

// Q5_0 on the 16-register levels: prompts in the rows-in-lanes order (gemm_rows, 2-4x the
// lane order's speed there; not the reference's bits, see gemm_rows_or_lanes), single tokens in
// the lane order.
void gemm_q5_0_256(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
                   int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    if (n_tokens == 1)
        gemm_lanes<FmtQ5_0, 2, 2, 4>(w, wrb, acts, arb, n, n_tokens, r0, r1, y, ldy);
    else
        gemm_rows<FmtQ5_0, 4>(w, wrb, acts, arb, n, n_tokens, r0, r1, y, ldy);
}

// ---- Q8_0 repacked into 16-row groups (kernels/repack.h), 8 rows per register ------------

// 8 rows (half h of a 16-row Q8_0x16 group: the low or high 256 bits of each 64-byte chunk)
// x 1 token in the reference's lane order: per lane j the exact integer sum of elements
// 4j..4j+3 (maddubs on |w| and x * sign(w) after removing the 128 bias: no saturation, as
// FmtQ8_0's sign trick), acc_j = fma(float(s_j), dw * dx, acc_j), and the reference's 8-lane
// sum ((a0+a4)+(a2+a6))+((a1+a5)+(a3+a7)) at the end: bit-identical to dot_row.
inline void q8_0x16_lanes8(const uint8_t* g, int h, const BlockQ8_0* x, int64_t nb, float* y) {
    __m256 acc[8];
    for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
    const __m256i bias = _mm256_set1_epi8(char(0x80)), ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; ++b, g += kQ8_0x16Bytes) {
        const __m256 dw =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + 16 * h)));
        const __m256 dwdx = _mm256_mul_ps(dw, _mm256_set1_ps(half_to_float(x[b].d)));
        for (int j = 0; j < 8; ++j) {
            const __m256i w = _mm256_xor_si256(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 32 + 64 * j + 32 * h)),
                bias);
            int32_t x4;
            std::memcpy(&x4, x[b].qs + 4 * j, 4);
            const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w),
                                                   _mm256_sign_epi8(_mm256_set1_epi32(x4), w));
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)), dwdx, acc[j]);
        }
    }
    const __m256 s02 = _mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6]));
    const __m256 s13 = _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7]));
    _mm256_storeu_ps(y, _mm256_add_ps(s02, s13));
}

// 8 rows (half h of a group) x NT tokens in the rows-in-lanes order: the group's vector j
// already holds elements 4j..4j+3 of the rows (biased by 128), so this is rows_tile<FmtQ8_0>
// without its transpose, the same integer block sums and FMAs: the same bits as the row-major
// prompt kernel of this level (and as the AVX-512 kernels). negsum / dx: [t * nb + b].
template <int NT>
inline void q8_0x16_rows8(const uint8_t* g, int h, const uint8_t* acts, size_t arb,
                          const int32_t* negsum, const float* dx, int64_t nb, float* y,
                          int64_t ldy) {
    const BlockQ8_0* xr[NT];
    for (int t = 0; t < NT; ++t) xr[t] = reinterpret_cast<const BlockQ8_0*>(acts + size_t(t) * arb);
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, g += kQ8_0x16Bytes) {
        const __m256 dw =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + 16 * h)));
        __m256i wv[8];
        for (int j = 0; j < 8; ++j) {
            wv[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 32 + 64 * j + 32 * h));
            // Without VNNI FmtQ8_0 takes the signed weights (kOff = 0).
            if constexpr (FmtQ8_0::kOff == 0)
                wv[j] = _mm256_xor_si256(wv[j], _mm256_set1_epi8(char(0x80)));
        }
        for (int t = 0; t < NT; ++t) {
            const __m256i s = block_sums8<FmtQ8_0>(wv, xr[t][b].qs, negsum[t * nb + b]);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
                                     _mm256_mul_ps(dw, _mm256_set1_ps(dx[t * nb + b])), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// A Q8_0x16 matrix (r0 and r1 multiples of 16): one token in the lane order (dot_row's bits),
// more in the rows-in-lanes order, NT tokens per tile.
template <int NT>
void gemm_q8_0x16_256(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
                      int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const int64_t nb = n / kQK;
    if (n_tokens == 1) {
        const auto* x = reinterpret_cast<const BlockQ8_0*>(acts);
        for (int64_t r = r0; r < r1; r += 16)
            for (int h = 0; h < 2; ++h)
                q8_0x16_lanes8(w + size_t(r) * wrb, h, x, nb, y + r + 8 * h);
        return;
    }
    thread_local std::vector<int32_t> negsum;
    thread_local std::vector<float> dx;
    negsum.assign(size_t(n_tokens * nb), 0);
    dx.resize(negsum.size());
    if constexpr (FmtQ8_0::kOff != 0)
        block_negsums<BlockQ8_0>(acts, arb, nb, n_tokens, FmtQ8_0::kOff, negsum.data());
    for (int64_t t = 0; t < n_tokens; ++t) {
        const auto* xb = reinterpret_cast<const BlockQ8_0*>(acts + size_t(t) * arb);
        for (int64_t b = 0; b < nb; ++b) dx[size_t(t * nb + b)] = half_to_float(xb[b].d);
    }
    for (int64_t r = r0; r < r1; r += 16)
        for (int h = 0; h < 2; ++h) {
            const uint8_t* g = w + size_t(r) * wrb;
            float* yr = y + r + 8 * h;
            int64_t t = 0;
            for (; t + NT <= n_tokens; t += NT)
                q8_0x16_rows8<NT>(g, h, acts + size_t(t) * arb, arb, negsum.data() + t * nb,
                                  dx.data() + t * nb, nb, yr + t * ldy, ldy);
            for (; t < n_tokens; ++t)
                q8_0x16_rows8<1>(g, h, acts + size_t(t) * arb, arb, negsum.data() + t * nb,
                                 dx.data() + t * nb, nb, yr + t * ldy, ldy);
        }
}

// The kernels of the 16-register levels (AVX2, and AVX2 + AVX-VNNI) with their tile sizes.
inline void register_gemm_256(KernelTable& t) {
    t.gemm_for(DType::F32) = {DType::F32, copy_f32, gemm_float<LoadF32, 4, 3>};
    t.gemm_for(DType::F16) = {DType::F32, round_f16, gemm_float<LoadF16, 4, 3>};
    t.gemm_for(DType::BF16) = {DType::F32, round_bf16, gemm_float<LoadBF16, 4, 3>};
    t.gemm_for(DType::Q8_0) = {DType::Q8_0, quantize_q8_0, gemm_rows_or_lanes<FmtQ8_0, 4, 4>};
    t.gemm_q8_0x16 = {DType::Q8_0, quantize_q8_0, gemm_q8_0x16_256<4>};
    t.gemm_for(DType::Q4_0) = {DType::Q8_0, quantize_q8_0, gemm_rows<FmtQ4_0, 4>};
    t.gemm_q4_0x8 = {DType::Q8_0, quantize_q8_0, gemm_q4_0x8<4>};
    t.gemm_for(DType::Q4_1) = {DType::Q8_1, quantize_q8_1, gemm_lanes<FmtQ4_1, 2, 2, 4>};
    t.gemm_for(DType::Q5_0) = {DType::Q8_0, quantize_q8_0, gemm_q5_0_256};
    t.gemm_for(DType::Q5_1) = {DType::Q8_1, quantize_q8_1, gemm_lanes<FmtQ5_1, 2, 2, 4>};
}
#endif

}  // namespace
}  // namespace ponder::kernels
