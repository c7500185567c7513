// Q4_K, Q5_K, Q6_K (and Q2_K, Q3_K) matmul kernels for AVX-512 (F/BW/VL/DQ + VNNI; compiled
// with this level's flags only, see dispatch.h).
//
// Arithmetic (docs/DESIGN.md "Numerics"; kernels/ref/dot_ref.cpp states it): for each
// super-block and (row, token) pair the integer products scale * q * x are summed into the
// reference's 8 int32 lanes (element e -> lane (e % 32) / 4), converted to float and added
// with one FMA per lane by d = x.d * w.d; the mins (Q4_K, Q5_K) come from the activations'
// bsums. Integer sums are exact in any order, so the lanes may be formed in any register
// layout, and every float operation is the reference's, in its order: Q4_K, Q5_K and Q6_K
// results are bit-identical to dot_row. (Q2_K and Q3_K have no exact reference order: the
// reference dequantizes them; these kernels use the same integer scheme.)
//
// Products: vpmaddubsw (u8 x s8 -> s16 pairs), then vpdpwssd multiplies by the sub-block
// scales and accumulates in int32. Signed quants (Q3_K, Q6_K: q - 32) take the activations
// + 128 as the unsigned operand, and 128 * sum(scale * w) per lane (per row, shared by all
// tokens) is subtracted; for 1-2 tokens Q6_K instead keeps q unsigned and subtracts
// maddubs(32, x) from each pair sum.
//
// Two paths:
// - direct (decode and few tokens): tiles of 4 rows x up to 4 tokens read the blocks as
//   stored; a register holds 64 elements of one row (16 lanes, folded to the reference's 8
//   before the float step, two rows per float register). The next tile's rows are prefetched.
// - packed (Q4_K / Q5_K / Q6_K from kPackedMinTokens tokens): each 16-row block is unpacked
//   once into PackedSB records (quants as bytes, scales as int16 per product) and tiles of
//   4 rows x 8 tokens run over them; a register holds 32 elements of two rows, already the
//   two rows' reference lanes.
// Models repack Q4_K and Q6_K at load into 16-row groups (kernels/repack.h); their kernels are
// in gemm_kquants_x16_avx512.cpp, whose prompts unpack the groups and run the paths above.
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

// ---- activations: Q8_K rows ------------------------------------------------------------

// One row of n floats (n a multiple of 256) -> n / 256 BlockQ8_K, bit-identical to
// quantize_row(Q8_K) (core/quant_k.cpp): scale -127 / (the first element of largest
// magnitude), round half to even, clamp to [-128, 127], bsums of 16.
void quantize_q8_K(const float* x, int64_t n, uint8_t* out) {
    auto* y = reinterpret_cast<BlockQ8_K*>(out);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
        BlockQ8_K& b = y[i];
        __m512 vmax = _mm512_setzero_ps();
        // max(|x|, vmax) keeps vmax where x is NaN, as the reference's `>` ignores NaNs.
        for (int j = 0; j < 16; ++j)
            vmax = _mm512_max_ps(_mm512_andnot_ps(sign, _mm512_loadu_ps(x + 16 * j)), vmax);
        const float amax = _mm512_reduce_max_ps(vmax);
        if (amax == 0.0f) {
            std::memset(&b, 0, sizeof b);
            continue;
        }
        float max = amax;
        const __m512 va = _mm512_set1_ps(amax);
        for (int j = 0; j < 16; ++j) {
            const __m512 a = _mm512_andnot_ps(sign, _mm512_loadu_ps(x + 16 * j));
            const __mmask16 m = _mm512_cmp_ps_mask(a, va, _CMP_EQ_OQ);
            if (m) {
                max = x[16 * j + __builtin_ctz(m)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m512 vs = _mm512_set1_ps(iscale);
        const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
        for (int j = 0; j < 16; ++j) {
            const __m512 v = _mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * j));
            // NaN (0 * an infinite scale, for subnormal-only blocks) rounds to 0 as in the
            // reference; +-inf and finite values saturate like its clamp.
            __m512i q = _mm512_maskz_cvtps_epi32(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);
            q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(b.qs + 16 * j), _mm512_cvtepi32_epi8(q));
            b.bsums[j] = int16_t(_mm512_reduce_add_epi32(q));
        }
        b.d = 1 / iscale;
    }
}

// ---- weights -----------------------------------------------------------------------------

#include "kernels/x86/kquants_common.h"

// Per-row state of one super-block: d and the scales as int16 (in the low 256 bits).
struct RowState {
    __m512i sc;
    float d, dmin;
    uint64_t mins;  // Q4 / Q5: 8 bytes
    __m256i mins2;  // Q2: the 16 mins as int16
};

template <KQ K>
inline RowState row_state(const typename Block<K>::type& b) {
    RowState s;
    s.mins2 = _mm256_setzero_si256();
    if constexpr (K == KQ::Q2) {
        const __m256i raw =
            _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
        s.sc = _mm512_castsi256_si512(_mm256_and_si256(raw, _mm256_set1_epi16(0xF)));
        s.mins2 = _mm256_srli_epi16(raw, 4);
        s.d = half(b.d);
        s.dmin = half(b.dmin);
        s.mins = 0;
    } else if constexpr (K == KQ::Q3) {
        // 16 six-bit scales: low nibbles in bytes 0..7 (scales 0..7, then the high nibbles
        // for 8..15), top 2 bits in bytes 8..11 (scale j at bit 2 * (j / 4) of byte 8 + j % 4).
        uint32_t a0, a1, a2;
        std::memcpy(&a0, b.scales, 4);
        std::memcpy(&a1, b.scales + 4, 4);
        std::memcpy(&a2, b.scales + 8, 4);
        const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
        const uint32_t u0 = (a0 & m4) | ((a2 & m2) << 4);
        const uint32_t u1 = (a1 & m4) | (((a2 >> 2) & m2) << 4);
        const uint32_t u2 = ((a0 >> 4) & m4) | (((a2 >> 4) & m2) << 4);
        const uint32_t u3 = ((a1 >> 4) & m4) | (((a2 >> 6) & m2) << 4);
        const __m128i u = _mm_setr_epi32(int(u0), int(u1), int(u2), int(u3));
        s.sc = _mm512_castsi256_si512(
            _mm256_sub_epi16(_mm256_cvtepu8_epi16(u), _mm256_set1_epi16(32)));
        s.d = half(b.d);
        s.dmin = 0;
        s.mins = 0;
    } else if constexpr (K == KQ::Q6) {
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
        s.sc = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(raw));
        s.d = half(b.d);
        s.dmin = 0;
        s.mins = 0;
    } else {
        uint64_t sc;
        scales_mins(b.scales, sc, s.mins);
        s.sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(sc))));
        s.d = half(b.d);
        s.dmin = half(b.dmin);
    }
    return s;
}

// Q4_K / Q5_K, 4 rows at once (decode): the same state as row_state, computed in vector
// registers. rs[i].sc gets row i's scales; wd[p]: rows 2p, 2p + 1's d in lanes 0-7, 8-15;
// mins: row i's 8 mins as int16 in lanes 8i .. 8i + 7; dmin: row i's dmin in lanes 4i .. 4i + 3.
template <KQ K>
inline void row_states4(const typename Block<K>::type* const* wb, RowState* rs, __m512* wd,
                        __m512i& mins, __m512& dmin) {
    // 128-bit lane i: row i's first 16 bytes (d, dmin, the 12 packed bytes) as u32 d|dmin, u0,
    // u1, u2; then scales_mins' formulas on all four rows.
    __m512i h = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb[0])));
    h = _mm512_inserti32x4(h, _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb[1])), 1);
    h = _mm512_inserti32x4(h, _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb[2])), 2);
    h = _mm512_inserti32x4(h, _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb[3])), 3);
    const __m512i u = _mm512_shuffle_epi32(h, _MM_PERM_DDCB);               // u0 u1 u2 u2
    const __m512i lo = _mm512_and_si512(u, _mm512_set1_epi32(0x3f3f3f3f));  // s_lo m_lo
    const __m512i u2 =
        _mm512_srlv_epi32(_mm512_shuffle_epi32(h, _MM_PERM_DDDD), _mm512_set4_epi32(0, 0, 4, 0));
    const __m512i hi = _mm512_or_si512(
        _mm512_and_si512(u2, _mm512_set1_epi32(0x0f0f0f0f)),
        _mm512_and_si512(_mm512_srli_epi32(u, 2), _mm512_set1_epi32(0x30303030)));  // s_hi m_hi
    const __m512i sm = _mm512_unpacklo_epi32(lo, hi);  // per lane: 8 scales, 8 mins
    const __m512i w01 = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(sm));
    const __m512i w23 = _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(sm, 1));
    rs[0].sc = w01;
    rs[1].sc = _mm512_alignr_epi32(w01, w01, 8);
    rs[2].sc = w23;
    rs[3].sc = _mm512_alignr_epi32(w23, w23, 8);
    mins = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(_mm512_maskz_compress_epi64(0xAA, sm)));
    const __m128i halves = _mm512_castsi512_si128(_mm512_maskz_compress_epi32(0x1111, h));
    const __m512 f = _mm512_castps256_ps512(_mm256_cvtph_ps(halves));  // d0 dmin0 d1 dmin1 ..
    wd[0] =
        _mm512_permutexvar_ps(_mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0), f);
    wd[1] =
        _mm512_permutexvar_ps(_mm512_set_epi32(6, 6, 6, 6, 6, 6, 6, 6, 4, 4, 4, 4, 4, 4, 4, 4), f);
    dmin =
        _mm512_permutexvar_ps(_mm512_set_epi32(7, 7, 7, 7, 5, 5, 5, 5, 3, 3, 3, 3, 1, 1, 1, 1), f);
}

// Index tables for vpermw (built once).
struct Indices {
    // Direct path: chunk c's scale for each int16 pair product of that chunk (scales of one
    // row in the low lanes): [K == Q6][c].
    __m512i chunk[2][4];
    // Packed path: sub-block k's scale for each int16 product of a row pair (row a's scales
    // in int16 lanes 0.., row b's from lane 8 (Q4/Q5) or 16 (Q6)): [K == Q6][k].
    __m512i pair[2][8];
    Indices() {
        alignas(64) int16_t idx[32];
        for (int q6 = 0; q6 < 2; ++q6) {
            for (int c = 0; c < 4; ++c) {
                for (int i = 0; i < 32; ++i) idx[i] = int16_t(q6 ? 4 * c + i / 8 : 2 * c + i / 16);
                chunk[q6][c] = _mm512_load_si512(idx);
            }
            for (int k = 0; k < 8; ++k) {
                for (int e = 0; e < 32; ++e)
                    idx[e] = int16_t(q6 ? 16 * (e / 16) + 2 * k + (e % 16) / 8 : 8 * (e / 16) + k);
                pair[q6][k] = _mm512_load_si512(idx);
            }
        }
    }
};
const Indices& indices() {
    static const Indices t;
    return t;
}

// The 64 quants of chunk c (elements 64c .. 64c + 63) of a super-block, in element order:
// unsigned for Q2_K, Q4_K, Q5_K; signed for Q3_K and Q6_K (q - 32).
template <KQ K, bool kQ6Unsigned = false>
inline __m512i unpack_chunk(const typename Block<K>::type& b, int c) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    if constexpr (K == KQ::Q2 || K == KQ::Q3) {
        // Elements 128n + 32j + l hold bits 2j, 2j + 1 of qs[32n + l]; chunk c has n = c / 2
        // and j = 2 (c % 2) (first 32) and 2 (c % 2) + 1.
        const int n = c / 2, j0 = 2 * (c % 2);
        const __m512i q = _mm512_broadcast_i64x4(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * n)));
        const __m512i sh = _mm512_inserti64x4(_mm512_set1_epi16(short(2 * j0)),
                                              _mm256_set1_epi16(short(2 * j0 + 2)), 1);
        __m512i w = _mm512_and_si512(_mm512_srlv_epi16(q, sh), _mm512_set1_epi8(3));
        if constexpr (K == KQ::Q3) {
            // Value = low bits - 4 unless the hmask bit (4n + j of hmask[l]) is set.
            const __m512i hm = _mm512_broadcast_i64x4(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.hmask)));
            const __m512i bit =
                _mm512_inserti64x4(_mm512_set1_epi8(char(1 << (4 * n + j0))),
                                   _mm256_set1_epi8(char(1 << (4 * n + j0 + 1))), 1);
            const __mmask64 k = _mm512_test_epi8_mask(hm, bit);
            w = _mm512_mask_sub_epi8(w, __mmask64(~k), w, _mm512_set1_epi8(4));
        }
        return w;
    } else if constexpr (K == KQ::Q6) {
        const int h = c / 2;
        const __m512i m2 = _mm512_set1_epi8(0x30);
        const __m512i v = _mm512_loadu_si512(b.ql + 64 * h);
        const __m512i qh = _mm512_broadcast_i64x4(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h)));
        __m512i lo, hb;
        if (c % 2 == 0) {
            lo = _mm512_and_si512(v, m4);
            const __m512i sh = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
            hb = _mm512_and_si512(_mm512_sllv_epi16(qh, sh), m2);
        } else {
            lo = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            const __m512i sh = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
            hb = _mm512_and_si512(_mm512_srlv_epi16(qh, sh), m2);
        }
        const __m512i u = _mm512_or_si512(lo, hb);
        return kQ6Unsigned ? u : _mm512_sub_epi8(u, _mm512_set1_epi8(32));
    } else {
        const __m512i q = _mm512_broadcast_i64x4(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * c)));
        const __m512i sh = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(4), 1);
        __m512i w = _mm512_and_si512(_mm512_srlv_epi16(q, sh), m4);
        if constexpr (K == KQ::Q5) {
            const __m512i qh =
                _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh)));
            const __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8(char(1 << (2 * c))),
                                                   _mm256_set1_epi8(char(1 << (2 * c + 1))), 1);
            const __mmask64 k = _mm512_test_epi8_mask(qh, bit);
            w = _mm512_mask_add_epi8(w, k, w, _mm512_set1_epi8(16));
        }
        return w;
    }
}

// Lane 8h = the reference's 8-lane sum ((a0+a4)+(a2+a6))+((a1+a5)+(a3+a7)) (hsum8) of lanes
// 8h .. 8h + 7 of a: both rows of a row pair at once, the same additions in the same order.
inline __m512 hsum8_pairs(__m512 a) {
    // lanes 0-3 of each 8: a0+a4, a1+a5, a2+a6, a3+a7
    const __m512 b = _mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, _MM_SHUFFLE(2, 3, 0, 1)));
    // lanes 0, 1 of each 8: (a0+a4)+(a2+a6), (a1+a5)+(a3+a7)
    const __m512 c = _mm512_add_ps(b, _mm512_permute_ps(b, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm512_add_ps(c, _mm512_permute_ps(c, _MM_SHUFFLE(2, 3, 0, 1)));
}
// Lane 4i = (m0+m2)+(m1+m3) of lanes 4i .. 4i + 3 (the Q4_K mins' order), for 4 rows.
inline __m512 hsum4_quads(__m512 m) {
    const __m512 s = _mm512_add_ps(m, _mm512_permute_ps(m, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(2, 3, 0, 1)));
}
// Lanes 0-3: lanes 0, 8 of lo and 0, 8 of hi (the sums hsum8_pairs leaves, rows 0-3).
inline __m512 pick_pair_sums(__m512 lo, __m512 hi) {
    return _mm512_permutex2var_ps(
        lo, _mm512_setr_epi32(0, 8, 16, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), hi);
}
// Lanes 0-3: lanes 0, 4, 8, 12 of m (hsum4_quads' sums, rows 0-3).
inline __m512 pick_quad_sums(__m512 m) {
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                                 m);
}

// One tile: rows w0 + i * wrb (i < R), tokens a0 + j * arb (j < T), nb super-blocks;
// writes y[j * ldy + i].
template <KQ K, int R, int T>
void tile(const uint8_t* w0, size_t wrb, const uint8_t* a0, size_t arb, int64_t nb, float* y,
          int64_t ldy) {
    using B = typename Block<K>::type;
    constexpr int RP = (R + 1) / 2;
    __m512 facc[RP][T];                     // rows 2p (lanes 0-7) and 2p + 1 (lanes 8-15)
    __m512 macc[T];                         // mins: row i in lanes 4i .. 4i + 3
    __m512 macc2[K == KQ::Q2 ? RP : 1][T];  // Q2 mins: 8 lanes per row, as facc
    for (int j = 0; j < T; ++j) {
        macc[j] = _mm512_setzero_ps();
        for (int p = 0; p < RP; ++p) facc[p][j] = _mm512_setzero_ps();
        for (auto& m2 : macc2) m2[j] = _mm512_setzero_ps();
    }
    const __m512i ones8 = _mm512_set1_epi8(1);
    const __m512i x_off = _mm512_set1_epi8(char(0x80));
    const __m512i* sidx = indices().chunk[k16Scales<K>];
    // The tile's R rows are contiguous, and the next tile's follow them: prefetch those
    // (R * sizeof(B) bytes per super-block step), a distance of one tile ahead of the reads,
    // into L2 (T1: decode of row-major Q4_K / Q6_K from memory 1.4x / 1.5x as fast as with T0
    // on the AMD EPYC kind, 2 threads).
    const uint8_t* pf = w0 + size_t(R) * wrb;
    for (int64_t b = 0; b < nb; ++b) {
        for (size_t k = 0; k < R * sizeof(B); k += 64)
            _mm_prefetch(reinterpret_cast<const char*>(pf + size_t(b) * R * sizeof(B) + k),
                         _MM_HINT_T1);
        const B* wb[R];
        RowState rs[R];
        __m512 wdv[RP];  // rows 2p, 2p + 1's d in lanes 0-7, 8-15
        __m512i minsv;   // Q4/Q5: row i's mins in int16 lanes 8i .. 8i + 7
        __m512 dminv;    // Q4/Q5: row i's dmin in lanes 4i .. 4i + 3
        constexpr bool kVecState = R == 4 && (K == KQ::Q4 || K == KQ::Q5);
        for (int i = 0; i < R; ++i) wb[i] = reinterpret_cast<const B*>(w0 + size_t(i) * wrb) + b;
        if constexpr (kVecState) {
            row_states4<K>(wb, rs, wdv, minsv, dminv);
        } else {
            for (int i = 0; i < R; ++i) rs[i] = row_state<K>(*wb[i]);
            for (int p = 0; p < RP; ++p) {
                const int i0 = 2 * p, i1 = 2 * p + 1 < R ? 2 * p + 1 : 2 * p;
                wdv[p] = _mm512_insertf32x8(_mm512_set1_ps(rs[i0].d), _mm256_set1_ps(rs[i1].d), 1);
            }
            if constexpr (K == KQ::Q4 || K == KQ::Q5) {
                alignas(32) uint64_t mb[4] = {0, 0, 0, 0};  // row i's mins in bytes 8i ..
                alignas(16) float dm4[4] = {0, 0, 0, 0};
                for (int i = 0; i < R; ++i) {
                    mb[i] = rs[i].mins;
                    dm4[i] = rs[i].dmin;
                }
                minsv =
                    _mm512_cvtepu8_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(mb)));
                dminv = _mm512_permutexvar_ps(
                    _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
                    _mm512_castps128_ps512(_mm_load_ps(dm4)));
            }
        }
        const BlockQ8_K* xb[T];
        for (int j = 0; j < T; ++j) xb[j] = reinterpret_cast<const BlockQ8_K*>(a0 + j * arb) + b;

        // Few tokens: two accumulator sets (even / odd chunks) halve the vpdpwssd chains.
        constexpr int NA = T <= 2 ? 2 : 1;
        // Q6_K with few tokens: unsigned quants q and pair sums maddubs(q, x) - maddubs(32, x)
        // (the second once per token), cheaper than the offset activations when the
        // per-row correction is not shared by many tokens. Exact: |pair sums| < 2^15.
        constexpr bool kSub32 = K == KQ::Q6 && T <= 2;
        constexpr bool kOffsetX = kSigned<K> && !kSub32;
        __m512i accs[NA][R][T];
        __m512i corr[R];
        for (int i = 0; i < R; ++i) {
            corr[i] = _mm512_setzero_si512();
            for (int j = 0; j < T; ++j)
                for (int a = 0; a < NA; ++a) accs[a][i][j] = _mm512_setzero_si512();
        }
        for (int c = 0; c < 4; ++c) {
            __m512i wv[R], sv[R];
            for (int i = 0; i < R; ++i) {
                wv[i] = unpack_chunk<K, kSub32>(*wb[i], c);
                sv[i] = _mm512_permutexvar_epi16(sidx[c], rs[i].sc);
                if constexpr (kOffsetX)
                    corr[i] =
                        _mm512_dpwssd_epi32(corr[i], _mm512_maddubs_epi16(ones8, wv[i]), sv[i]);
            }
            for (int j = 0; j < T; ++j) {
                __m512i xv = _mm512_loadu_si512(xb[j]->qs + 64 * c);
                if constexpr (kOffsetX) xv = _mm512_xor_si512(xv, x_off);
                __m512i x32 = _mm512_setzero_si512();
                if constexpr (kSub32) x32 = _mm512_maddubs_epi16(_mm512_set1_epi8(32), xv);
                for (int i = 0; i < R; ++i) {
                    __m512i p = kOffsetX ? _mm512_maddubs_epi16(xv, wv[i])
                                         : _mm512_maddubs_epi16(wv[i], xv);
                    if constexpr (kSub32) p = _mm512_sub_epi16(p, x32);
                    accs[c % NA][i][j] = _mm512_dpwssd_epi32(accs[c % NA][i][j], p, sv[i]);
                }
            }
        }
        auto& acc = accs[0];
        if constexpr (NA == 2)
            for (int i = 0; i < R; ++i)
                for (int j = 0; j < T; ++j) acc[i][j] = _mm512_add_epi32(acc[i][j], accs[1][i][j]);
        if constexpr (kOffsetX)
            for (int i = 0; i < R; ++i) {
                const __m512i c7 = _mm512_slli_epi32(corr[i], 7);
                for (int j = 0; j < T; ++j) acc[i][j] = _mm512_sub_epi32(acc[i][j], c7);
            }
        // Fold 16 -> 8 lanes (two rows per register), then acc += (x.d * w.d) * float(sum).
        for (int p = 0; p < RP; ++p) {
            const int i0 = 2 * p, i1 = 2 * p + 1 < R ? 2 * p + 1 : 2 * p;
            const __m512 wd = wdv[p];
            for (int j = 0; j < T; ++j) {
                const __m512i a = acc[i0][j], c = acc[i1][j];
                const __m512i lo = _mm512_shuffle_i64x2(a, c, _MM_SHUFFLE(1, 0, 1, 0));
                const __m512i hi = _mm512_shuffle_i64x2(a, c, _MM_SHUFFLE(3, 2, 3, 2));
                const __m512 s = _mm512_cvtepi32_ps(_mm512_add_epi32(lo, hi));
                const __m512 d = _mm512_mul_ps(_mm512_set1_ps(xb[j]->d), wd);
                facc[p][j] = _mm512_fmadd_ps(d, s, facc[p][j]);
            }
        }
        if constexpr (K == KQ::Q2) {
            // Mins: per row, sum over the 16 sub-blocks of min * bsum, accumulated (float,
            // 8 lanes per row) with -x.d * dmin. (Q2_K has no exact reference order.)
            for (int p = 0; p < RP; ++p) {
                const int i0 = 2 * p, i1 = 2 * p + 1 < R ? 2 * p + 1 : 2 * p;
                const __m512i mins =
                    _mm512_inserti64x4(_mm512_castsi256_si512(rs[i0].mins2), rs[i1].mins2, 1);
                const __m512 dmin =
                    _mm512_insertf32x8(_mm512_set1_ps(rs[i0].dmin), _mm256_set1_ps(rs[i1].dmin), 1);
                for (int j = 0; j < T; ++j) {
                    const __m512i bs = _mm512_broadcast_i64x4(
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[j]->bsums)));
                    const __m512 dm = _mm512_mul_ps(_mm512_set1_ps(-xb[j]->d), dmin);
                    macc2[p][j] = _mm512_fmadd_ps(
                        dm, _mm512_cvtepi32_ps(_mm512_madd_epi16(mins, bs)), macc2[p][j]);
                }
            }
        }
        if constexpr (K == KQ::Q4 || K == KQ::Q5) {
            // Mins: per row, prod[k] = m[2k] * s[2k] + m[2k+1] * s[2k+1] with s the 32-element
            // sums of the activations; Q4_K: 4-lane FMA by -x.d * dmin, Q5_K: a float sum of
            // -x.d * dmin * (prod[0] + .. + prod[3]).
            const __m512i mins = minsv;
            const __m512 dmin = dminv;
            const __m256i ones16 = _mm256_set1_epi16(1);
            for (int j = 0; j < T; ++j) {
                const __m256i bs =
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[j]->bsums));
                const __m128i s16 = _mm256_cvtepi32_epi16(_mm256_madd_epi16(bs, ones16));
                const __m512i prod = _mm512_madd_epi16(mins, _mm512_broadcast_i32x4(s16));
                const __m512 dm = _mm512_mul_ps(_mm512_set1_ps(-xb[j]->d), dmin);
                if constexpr (K == KQ::Q4) {
                    macc[j] = _mm512_fmadd_ps(dm, _mm512_cvtepi32_ps(prod), macc[j]);
                } else {
                    __m512i h = _mm512_add_epi32(prod, _mm512_shuffle_epi32(prod, _MM_PERM_BADC));
                    h = _mm512_add_epi32(h, _mm512_shuffle_epi32(h, _MM_PERM_CDAB));
                    __m512 t = _mm512_mul_ps(dm, _mm512_cvtepi32_ps(h));
                    // The reference rounds the product before adding it: keep GCC from
                    // contracting the two into an FMA (it does so even in ISO C++ mode).
                    asm("" : "+v"(t));
                    macc[j] = _mm512_add_ps(macc[j], t);
                }
            }
        }
    }
    // Each row's sums in registers (hsum8_pairs, hsum4_quads: the reference's additions in its
    // order), the tile's R rows of a token stored together (contiguous in y).
    const __mmask16 rows_mask = __mmask16((1u << R) - 1u);
    for (int j = 0; j < T; ++j) {
        const __m512 s0 = hsum8_pairs(facc[0][j]);
        const __m512 s1 = RP > 1 ? hsum8_pairs(facc[RP - 1][j]) : s0;
        __m512 out = pick_pair_sums(s0, s1);
        if constexpr (K == KQ::Q4) {
            out = _mm512_add_ps(out, pick_quad_sums(hsum4_quads(macc[j])));
        } else if constexpr (K == KQ::Q5) {
            out = _mm512_add_ps(out, pick_quad_sums(macc[j]));
        } else if constexpr (K == KQ::Q2) {
            const __m512 m0 = hsum8_pairs(macc2[0][j]);
            const __m512 m1 = RP > 1 ? hsum8_pairs(macc2[RP - 1][j]) : m0;
            out = _mm512_add_ps(out, pick_pair_sums(m0, m1));
        }
        _mm512_mask_storeu_ps(y + j * ldy, rows_mask, out);
    }
}

template <KQ K, int T>
void rows(const uint8_t* w, size_t wrb, const uint8_t* a0, size_t arb, int64_t nb, int64_t r0,
          int64_t r1, float* y, int64_t ldy) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) tile<K, 4, T>(w + size_t(r) * wrb, wrb, a0, arb, nb, y + r, ldy);
    switch (r1 - r) {
        case 3:
            tile<K, 3, T>(w + size_t(r) * wrb, wrb, a0, arb, nb, y + r, ldy);
            break;
        case 2:
            tile<K, 2, T>(w + size_t(r) * wrb, wrb, a0, arb, nb, y + r, ldy);
            break;
        case 1:
            tile<K, 1, T>(w + size_t(r) * wrb, wrb, a0, arb, nb, y + r, ldy);
            break;
        default:
            break;
    }
}

// From this many tokens on, unpacking the weights once per row block pays (measured with
// bench_kquants: break-even near 8 tokens for Q6_K and 12 for Q4_K).
template <KQ K>
constexpr int64_t kPackedMinTokens = K == KQ::Q6 ? 8 : 12;

// ---- prompts: weights unpacked once per row block -----------------------------------------
//
// For many tokens, each group of 4 rows ("quad", padded with zero rows) is unpacked once into
// PackedSB records (one per super-block), then every 8-token tile runs over them. A register
// holds 32 elements of two rows (row pair), so its 16 int32 lanes are already the two rows'
// 8 reference lanes: no folding, and the pair's float step is one FMA.
struct PackedSB {
    uint8_t q[2][8][64];  // [pair][sub-block k]: row 2p's elements 32k.. | row 2p+1's (Q6: q - 32)
    int16_t s[2][8][32];  // the matching scale of each int16 pair product
    float d[2][16];       // [pair]: row 2p's d in lanes 0-7, row 2p+1's in lanes 8-15
    int32_t corr[2][16];  // Q6: 128 * sum(scale * (q - 32)) per reference lane, as d
    int16_t mins[32];     // Q4/Q5: row i's 8 mins in lanes 8i .. 8i + 7
    float dmin[16];       // Q4/Q5: row i's dmin in lanes 4i .. 4i + 3
};

// Rows w0 + i * wrb for i < n_rows (<= 4; the rest are zero) -> out[0 .. nb).
template <KQ K>
void pack_quad(const uint8_t* w0, size_t wrb, int n_rows, int64_t nb, PackedSB* out) {
    using B = typename Block<K>::type;
    const Indices& ix = indices();
    const __m512i ones8 = _mm512_set1_epi8(1);
    for (int64_t b = 0; b < nb; ++b) {
        PackedSB& P = out[b];
        RowState rs[4];
        const B* wb[4];
        for (int i = 0; i < 4; ++i) {
            wb[i] = i < n_rows ? reinterpret_cast<const B*>(w0 + size_t(i) * wrb) + b : nullptr;
            if (wb[i])
                rs[i] = row_state<K>(*wb[i]);
            else
                rs[i] = RowState{_mm512_setzero_si512(), 0.f, 0.f, 0};
        }
        for (int p = 0; p < 2; ++p) {
            const int a = 2 * p, c2 = 2 * p + 1;
            for (int c = 0; c < 4; ++c) {
                const __m512i wa = wb[a] ? unpack_chunk<K>(*wb[a], c) : _mm512_setzero_si512();
                const __m512i wc = wb[c2] ? unpack_chunk<K>(*wb[c2], c) : _mm512_setzero_si512();
                _mm512_storeu_si512(P.q[p][2 * c], _mm512_shuffle_i64x2(wa, wc, 0x44));
                _mm512_storeu_si512(P.q[p][2 * c + 1], _mm512_shuffle_i64x2(wa, wc, 0xEE));
            }
            const __m512i zs =
                K == KQ::Q6 ? _mm512_inserti64x4(rs[a].sc, _mm512_castsi512_si256(rs[c2].sc), 1)
                            : _mm512_inserti32x4(rs[a].sc, _mm512_castsi512_si128(rs[c2].sc), 1);
            __m512i corr = _mm512_setzero_si512();
            for (int k = 0; k < 8; ++k) {
                const __m512i sv = _mm512_permutexvar_epi16(ix.pair[K == KQ::Q6][k], zs);
                _mm512_storeu_si512(P.s[p][k], sv);
                if constexpr (K == KQ::Q6) {
                    const __m512i q = _mm512_loadu_si512(P.q[p][k]);
                    corr = _mm512_dpwssd_epi32(corr, _mm512_maddubs_epi16(ones8, q), sv);
                }
            }
            _mm512_storeu_si512(P.corr[p], _mm512_slli_epi32(corr, 7));
            _mm512_storeu_ps(
                P.d[p], _mm512_insertf32x8(_mm512_set1_ps(rs[a].d), _mm256_set1_ps(rs[c2].d), 1));
        }
        if constexpr (K != KQ::Q6) {
            alignas(32) uint64_t mb[4];
            for (int i = 0; i < 4; ++i) {
                mb[i] = rs[i].mins;
                for (int l = 0; l < 4; ++l) P.dmin[4 * i + l] = rs[i].dmin;
            }
            _mm512_storeu_si512(
                P.mins,
                _mm512_cvtepu8_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(mb))));
        }
    }
}

// Per token and super-block: the quants, d, and for Q4/Q5 the 32-element sums of the quants
// (int16 x 8) for the mins.
struct TokenSB {
    const int8_t* q;
    float d;
    __m128i s16;
};

// One quad x T tokens over nb super-blocks: y[j * ldy + i] for i < n_rows, j < T.
template <KQ K, int T>
void tile_packed(const PackedSB* pk, int n_rows, const TokenSB* const* tok, int64_t nb, float* y,
                 int64_t ldy) {
    // Float accumulators live in memory (L1): they are touched once per super-block, and the
    // registers are left to the 2T integer accumulators of the inner loop.
    alignas(64) float facc[2][T][16] = {}, macc[T][16] = {};
    for (int64_t b = 0; b < nb; ++b) {
        const PackedSB& P = pk[b];
        const TokenSB* tb[T];
        for (int j = 0; j < T; ++j) tb[j] = tok[j] + b;
        __m512i acc[2][T];
        for (int j = 0; j < T; ++j) acc[0][j] = acc[1][j] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) {
            const __m512i w0 = _mm512_loadu_si512(P.q[0][k]), w1 = _mm512_loadu_si512(P.q[1][k]);
            const __m512i s0 = _mm512_loadu_si512(P.s[0][k]), s1 = _mm512_loadu_si512(P.s[1][k]);
            for (int j = 0; j < T; ++j) {
                __m512i x = _mm512_broadcast_i64x4(
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tb[j]->q + 32 * k)));
                if constexpr (K == KQ::Q6) x = _mm512_xor_si512(x, _mm512_set1_epi8(char(0x80)));
                if constexpr (K == KQ::Q6) {
                    acc[0][j] = _mm512_dpwssd_epi32(acc[0][j], _mm512_maddubs_epi16(x, w0), s0);
                    acc[1][j] = _mm512_dpwssd_epi32(acc[1][j], _mm512_maddubs_epi16(x, w1), s1);
                } else {
                    acc[0][j] = _mm512_dpwssd_epi32(acc[0][j], _mm512_maddubs_epi16(w0, x), s0);
                    acc[1][j] = _mm512_dpwssd_epi32(acc[1][j], _mm512_maddubs_epi16(w1, x), s1);
                }
            }
        }
        for (int p = 0; p < 2; ++p) {
            const __m512 wd = _mm512_loadu_ps(P.d[p]);
            const __m512i corr = _mm512_loadu_si512(P.corr[p]);
            for (int j = 0; j < T; ++j) {
                __m512i a = acc[p][j];
                if constexpr (K == KQ::Q6) a = _mm512_sub_epi32(a, corr);
                const __m512 d = _mm512_mul_ps(_mm512_set1_ps(tb[j]->d), wd);
                _mm512_store_ps(facc[p][j], _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(a),
                                                            _mm512_load_ps(facc[p][j])));
            }
        }
        if constexpr (K != KQ::Q6) {
            const __m512i mins = _mm512_loadu_si512(P.mins);
            const __m512 dmin = _mm512_loadu_ps(P.dmin);
            for (int j = 0; j < T; ++j) {
                const __m512i prod = _mm512_madd_epi16(mins, _mm512_broadcast_i32x4(tb[j]->s16));
                const __m512 dm = _mm512_mul_ps(_mm512_set1_ps(-tb[j]->d), dmin);
                if constexpr (K == KQ::Q4) {
                    _mm512_store_ps(macc[j], _mm512_fmadd_ps(dm, _mm512_cvtepi32_ps(prod),
                                                             _mm512_load_ps(macc[j])));
                } else {
                    __m512i h = _mm512_add_epi32(prod, _mm512_shuffle_epi32(prod, _MM_PERM_BADC));
                    h = _mm512_add_epi32(h, _mm512_shuffle_epi32(h, _MM_PERM_CDAB));
                    __m512 t = _mm512_mul_ps(dm, _mm512_cvtepi32_ps(h));
                    asm("" : "+v"(t));  // no FMA contraction: the reference rounds the product
                    _mm512_store_ps(macc[j], _mm512_add_ps(_mm512_load_ps(macc[j]), t));
                }
            }
        }
    }
    // Each row's sums in registers (hsum8_pairs, hsum4_quads: the reference's additions in its
    // order), the quad's rows of a token stored together (contiguous in y).
    const __mmask16 rows_mask = __mmask16((1u << n_rows) - 1u);
    for (int j = 0; j < T; ++j) {
        __m512 out = pick_pair_sums(hsum8_pairs(_mm512_load_ps(facc[0][j])),
                                    hsum8_pairs(_mm512_load_ps(facc[1][j])));
        if constexpr (K == KQ::Q4)
            out = _mm512_add_ps(out, pick_quad_sums(hsum4_quads(_mm512_load_ps(macc[j]))));
        else if constexpr (K == KQ::Q5)
            out = _mm512_add_ps(out, pick_quad_sums(_mm512_load_ps(macc[j])));
        _mm512_mask_storeu_ps(y + j * ldy, rows_mask, out);
    }
}

// Tokens per packed tile: 2 x kTokTile independent int32 accumulators hide vpdpwssd latency.
constexpr int kTokTile = 8;
using PackedTileFn = void (*)(const PackedSB*, int, const TokenSB* const*, int64_t, float*,
                              int64_t);
template <KQ K>
constexpr PackedTileFn packed_tiles[kTokTile] = {
    tile_packed<K, 1>, tile_packed<K, 2>, tile_packed<K, 3>, tile_packed<K, 4>,
    tile_packed<K, 5>, tile_packed<K, 6>, tile_packed<K, 7>, tile_packed<K, 8>};

// The packed path (GemmFn contract). Thread-local scratch, grown as needed and kept: 32 bytes
// per token and super-block, and 4 quads x n_cols / 256 PackedSB records (2.4 KB each).
template <KQ K>
void gemm_packed(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n_cols,
                 int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const int64_t nb = n_cols / kQK_K;
    // Token side, once per call: per token and super-block (thread-local scratch).
    thread_local std::vector<TokenSB> toks;
    toks.resize(size_t(n_tokens * nb));
    const int8_t* quants = aligned_token_quants(acts, arb, n_tokens, nb);
    const __m256i ones16 = _mm256_set1_epi16(1);
    for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t b = 0; b < nb; ++b) {
            const auto& xb = reinterpret_cast<const BlockQ8_K*>(acts + size_t(t) * arb)[b];
            TokenSB& ts = toks[size_t(t * nb + b)];
            ts.d = xb.d;
            ts.q = quants + size_t(t * nb + b) * kQK_K;
            if constexpr (K == KQ::Q6) {
                ts.s16 = _mm_setzero_si128();
            } else {
                const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.bsums));
                ts.s16 = _mm256_cvtepi32_epi16(_mm256_madd_epi16(bs, ones16));
            }
        }
    // Row blocks of kQuads quads: their packed records (kQuads * nb * 2.4 KB) stay in L2
    // while all token tiles pass over them.
    constexpr int64_t kQuads = 4;
    thread_local std::vector<PackedSB> pack;
    pack.resize(size_t(kQuads * nb));
    for (int64_t rb = r0; rb < r1; rb += 4 * kQuads) {
        const int64_t re = std::min(r1, rb + 4 * kQuads);
        const int64_t nq = (re - rb + 3) / 4;
        for (int64_t q = 0; q < nq; ++q)
            pack_quad<K>(w + size_t(rb + 4 * q) * wrb, wrb,
                         int(std::min<int64_t>(4, re - rb - 4 * q)), nb, pack.data() + q * nb);
        for (int64_t t = 0; t < n_tokens; t += kTokTile) {
            const int tn = int(std::min<int64_t>(kTokTile, n_tokens - t));
            const TokenSB* tp[kTokTile];
            for (int j = 0; j < tn; ++j) tp[j] = toks.data() + (t + j) * nb;
            for (int64_t q = 0; q < nq; ++q) {
                const PackedSB* pq = pack.data() + q * nb;
                const int nr = int(std::min<int64_t>(4, re - rb - 4 * q));
                float* yq = y + t * ldy + rb + 4 * q;
                packed_tiles<K>[tn - 1](pq, nr, tp, nb, yq, ldy);
            }
        }
    }
}

// GemmFn (dispatch.h). Direct path: rows in blocks of kRowBlock so that a block's weights stay
// in L2 while every 4-token tile passes over them.
template <KQ K>
void gemm(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n_cols,
          int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    if constexpr (K != KQ::Q2 && K != KQ::Q3) {  // Q2_K, Q3_K: no packed form yet
        if (n_tokens >= kPackedMinTokens<K>) {
            gemm_packed<K>(w, wrb, acts, arb, n_cols, n_tokens, r0, r1, y, ldy);
            return;
        }
    }
    constexpr int64_t kRowBlock = 64;
    const int64_t nb = n_cols / kQK_K;
    for (int64_t rb = r0; rb < r1; rb += kRowBlock) {
        const int64_t re = std::min(r1, rb + kRowBlock);
        for (int64_t t = 0; t < n_tokens; t += 4) {
            const uint8_t* a = acts + size_t(t) * arb;
            float* yt = y + t * ldy;
            switch (std::min<int64_t>(4, n_tokens - t)) {
                case 4:
                    rows<K, 4>(w, wrb, a, arb, nb, rb, re, yt, ldy);
                    break;
                case 3:
                    rows<K, 3>(w, wrb, a, arb, nb, rb, re, yt, ldy);
                    break;
                case 2:
                    rows<K, 2>(w, wrb, a, arb, nb, rb, re, yt, ldy);
                    break;
                default:
                    rows<K, 1>(w, wrb, a, arb, nb, rb, re, yt, ldy);
                    break;
            }
        }
    }
}

}  // namespace

void register_gemm_kquants_avx512(KernelTable& t) {
    t.gemm_for(DType::Q4_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q4>};
    t.gemm_for(DType::Q5_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q5>};
    t.gemm_for(DType::Q6_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q6>};
    t.gemm_for(DType::Q2_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q2>};
    t.gemm_for(DType::Q3_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q3>};
}

}  // namespace ponder::kernels
#endif
