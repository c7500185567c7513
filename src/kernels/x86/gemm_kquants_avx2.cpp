// Q4_K, Q5_K, Q6_K (and Q2_K, Q3_K) matmul kernels for AVX2 + FMA (compiled with this level's flags
// only; see dispatch.h).
//
// Arithmetic (docs/DESIGN.md "Numerics", kernels/ref/dot_ref.cpp): a 256-bit register holds
// one 32-element sub-block; vpmaddubsw (u8 x s8 -> s16 pairs) then vpmaddwd by the sub-block
// scale gives exactly the reference's 8 int32 lanes (element e -> lane (e % 32) / 4). Per
// super-block and (row, token) pair the lanes are converted to float and added with one FMA
// by d = x.d * w.d; the mins (Q4_K, Q5_K) come from the activations' bsums. Every float
// operation is the reference's, in its order: results are bit-identical to dot_row.
//
// Tiles of R rows x T tokens (2 x 2 for prompts, 4 x 1 for decode): each row's sub-block is
// unpacked once per tile and reused by its T tokens. Q6_K quants are signed (q - 32): the
// activations are offset by 128 to be the unsigned operand and 128 * sum(scale * w) (per
// row, shared by the tokens) is subtracted per lane, which keeps the lanes exact.
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/quant_blocks.h"
#include "kernels/dispatch.h"

namespace ponder::kernels {
namespace {

// ---- activations: Q8_K rows ------------------------------------------------------------

inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

inline int hsum8_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

// One row of n floats (n a multiple of 256) -> n / 256 BlockQ8_K, bit-identical to
// quantize_row(Q8_K) (core/quant_k.cpp): scale -127 / (the first element of largest
// magnitude), round half to even, clamp to [-128, 127], bsums of 16.
void quantize_q8_K(const float* x, int64_t n, uint8_t* out) {
    auto* y = reinterpret_cast<BlockQ8_K*>(out);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
        BlockQ8_K& b = y[i];
        __m256 vmax = _mm256_setzero_ps();
        // max(|x|, vmax) keeps vmax where x is NaN, as the reference's `>` ignores NaNs.
        for (int j = 0; j < 32; ++j)
            vmax = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * j)), vmax);
        const float amax = hmax8(vmax);
        if (amax == 0.0f) {
            std::memset(&b, 0, sizeof b);
            continue;
        }
        float max = amax;
        const __m256 va = _mm256_set1_ps(amax);
        for (int j = 0; j < 32; ++j) {
            const __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * j));
            const int m = _mm256_movemask_ps(_mm256_cmp_ps(a, va, _CMP_EQ_OQ));
            if (m) {
                max = x[8 * j + __builtin_ctz(unsigned(m))];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i lo = _mm256_set1_epi32(-128), hi = _mm256_set1_epi32(127);
        for (int j = 0; j < 16; ++j) {
            __m256i q[2];
            for (int h = 0; h < 2; ++h) {
                const __m256 v = _mm256_mul_ps(vs, _mm256_loadu_ps(x + 16 * j + 8 * h));
                // NaN (0 * an infinite scale, for subnormal-only blocks) rounds to 0 as in the
                // reference; +-inf and finite values saturate like its clamp.
                const __m256 ord = _mm256_cmp_ps(v, v, _CMP_ORD_Q);
                q[h] = _mm256_and_si256(_mm256_cvtps_epi32(v), _mm256_castps_si256(ord));
                q[h] = _mm256_min_epi32(_mm256_max_epi32(q[h], lo), hi);
            }
            b.bsums[j] = int16_t(hsum8_epi32(_mm256_add_epi32(q[0], q[1])));
            // packs work per 128-bit lane: [q0 lo, q1 lo | q0 hi, q1 hi] -> reorder quads.
            const __m256i p16 =
                _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), _MM_SHUFFLE(3, 1, 2, 0));
            const __m128i p8 =
                _mm_packs_epi16(_mm256_castsi256_si128(p16), _mm256_extracti128_si256(p16, 1));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(b.qs + 16 * j), p8);
        }
        b.d = 1 / iscale;
    }
}

// ---- weights -----------------------------------------------------------------------------

enum class KQ { Q2, Q3, Q4, Q5, Q6 };
// Signed quants (Q3_K, Q6_K) take the activations + 128 as the unsigned operand.
template <KQ K>
constexpr bool kSigned = K == KQ::Q3 || K == KQ::Q6;
// 16 scales of 16 elements (Q2_K, Q3_K, Q6_K) rather than 8 of 32 (Q4_K, Q5_K).
template <KQ K>
constexpr bool k16Scales = K == KQ::Q2 || K == KQ::Q3 || K == KQ::Q6;

// fp16 -> f32 by the F16C instruction: exact, as core/fp16.h's fp16_to_f32, without branches.
inline float half(uint16_t h) {
    return _cvtsh_ss(h);
}

template <KQ K>
struct Block;
template <>
struct Block<KQ::Q2> {
    using type = BlockQ2_K;
};
template <>
struct Block<KQ::Q3> {
    using type = BlockQ3_K;
};
template <>
struct Block<KQ::Q4> {
    using type = BlockQ4_K;
};
template <>
struct Block<KQ::Q5> {
    using type = BlockQ5_K;
};
template <>
struct Block<KQ::Q6> {
    using type = BlockQ6_K;
};

// Per-row state of one super-block.
struct RowState {
    alignas(16) int16_t sc[8];  // Q4/Q5: the 8 six-bit scales
    __m128i mins;               // Q4/Q5: the 8 mins as int16
    __m256i sc6;                // Q2/Q3/Q6: the 16 scales as int16
    __m256i mins2;              // Q2: the 16 mins as int16
    float d, dmin;
};

template <KQ K>
inline void row_state(const typename Block<K>::type& b, RowState& s) {
    s.d = half(b.d);
    if constexpr (K == KQ::Q2) {
        const __m256i raw =
            _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
        s.sc6 = _mm256_and_si256(raw, _mm256_set1_epi16(0xF));
        s.mins2 = _mm256_srli_epi16(raw, 4);
        s.dmin = half(b.dmin);
    } else if constexpr (K == KQ::Q3) {
        // 16 six-bit scales: low nibbles in bytes 0..7 (scales 0..7, then the high nibbles
        // for 8..15), top 2 bits in bytes 8..11 (scale j at bit 2 * (j / 4) of byte 8 + j % 4).
        uint32_t a0, a1, a2;
        std::memcpy(&a0, b.scales, 4);
        std::memcpy(&a1, b.scales + 4, 4);
        std::memcpy(&a2, b.scales + 8, 4);
        const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
        const __m128i u = _mm_setr_epi32(int((a0 & m4) | ((a2 & m2) << 4)),
                                         int((a1 & m4) | (((a2 >> 2) & m2) << 4)),
                                         int(((a0 >> 4) & m4) | (((a2 >> 4) & m2) << 4)),
                                         int(((a1 >> 4) & m4) | (((a2 >> 6) & m2) << 4)));
        s.sc6 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(u), _mm256_set1_epi16(32));
    } else if constexpr (K == KQ::Q6) {
        s.sc6 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
    } else {
        s.dmin = half(b.dmin);
        uint32_t u0, u1, u2;
        std::memcpy(&u0, b.scales, 4);
        std::memcpy(&u1, b.scales + 4, 4);
        std::memcpy(&u2, b.scales + 8, 4);
        const uint32_t s_lo = u0 & 0x3f3f3f3fu;
        const uint32_t s_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u);
        const uint32_t m_lo = u1 & 0x3f3f3f3fu;
        const uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u);
        const uint64_t sc = uint64_t(s_lo) | (uint64_t(s_hi) << 32);
        const uint64_t mn = uint64_t(m_lo) | (uint64_t(m_hi) << 32);
        _mm_store_si128(reinterpret_cast<__m128i*>(s.sc),
                        _mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(sc))));
        s.mins = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(mn)));
    }
}

// The scale of sub-block k for each int16 pair product (Q6: two 16-element scales).
template <KQ K>
inline __m256i scale_vec(const RowState& s, int k) {
    if constexpr (k16Scales<K>) {
        // 32-bit element k holds int16 scales 2k and 2k + 1: spread it, then pick the first
        // for the low 128 bits and the second for the high ones.
        const __m256i pair = _mm256_permutevar8x32_epi32(s.sc6, _mm256_set1_epi32(k));
        const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3,
                                              2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
        return _mm256_shuffle_epi8(pair, pick);
    } else {
        return _mm256_set1_epi16(s.sc[k]);
    }
}

// The 32 quants of sub-block k (elements 32k .. 32k + 31): unsigned for Q2/Q4/Q5, signed for
// Q3 and Q6 (q - 32; unsigned q where kQ6Unsigned).
template <KQ K, bool kQ6Unsigned = false>
inline __m256i unpack_sub(const typename Block<K>::type& b, int k) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    if constexpr (K == KQ::Q2 || K == KQ::Q3) {
        // Elements 128n + 32j + l hold bits 2j, 2j + 1 of qs[32n + l].
        const int n = k / 4, j = k % 4;
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * n));
        __m256i w =
            _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * j)), _mm256_set1_epi8(3));
        if constexpr (K == KQ::Q3) {
            // Value = low bits - 4 unless bit 4n + j of hmask[l] is set.
            const __m256i hm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.hmask));
            const __m256i bit = _mm256_set1_epi8(char(1 << (4 * n + j)));
            const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);
            w = _mm256_sub_epi8(w, _mm256_andnot_si256(set, _mm256_set1_epi8(4)));
        }
        return w;
    } else if constexpr (K == KQ::Q6) {
        const int h = k / 4, part = k % 4;
        const __m256i l =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32 * (part % 2)));
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
        const __m256i lo =
            part < 2 ? _mm256_and_si256(l, m4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
        __m256i hb;
        switch (part) {  // bits 2 * part, 2 * part + 1 of qh -> bits 4, 5
            case 0:
                hb = _mm256_slli_epi16(qh, 4);
                break;
            case 1:
                hb = _mm256_slli_epi16(qh, 2);
                break;
            case 2:
                hb = qh;
                break;
            default:
                hb = _mm256_srli_epi16(qh, 2);
                break;
        }
        hb = _mm256_and_si256(hb, _mm256_set1_epi8(0x30));
        const __m256i u = _mm256_or_si256(lo, hb);
        return kQ6Unsigned ? u : _mm256_sub_epi8(u, _mm256_set1_epi8(32));
    } else {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * (k / 2)));
        __m256i w = k % 2 ? _mm256_and_si256(_mm256_srli_epi16(q, 4), m4) : _mm256_and_si256(q, m4);
        if constexpr (K == KQ::Q5) {
            const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh));
            const __m256i bit = _mm256_set1_epi8(char(1 << k));
            const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
            w = _mm256_or_si256(w, _mm256_and_si256(set, _mm256_set1_epi8(16)));
        }
        return w;
    }
}

// The reference's 8-lane horizontal sum ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
inline float hsum8(const float* a) {
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

// One tile: rows w0 + i * wrb (i < R), tokens a0 + j * arb (j < T), nb super-blocks;
// writes y[j * ldy + i].
template <KQ K, int R, int T>
void tile(const uint8_t* w0, size_t wrb, const uint8_t* a0, size_t arb, int64_t nb, float* y,
          int64_t ldy) {
    using B = typename Block<K>::type;
    __m256 facc[R][T];
    __m128 macc[R][T];                     // Q4: the 4 min lanes
    float summs[R][T];                     // Q5: the float sum of the mins
    __m256 macc2[K == KQ::Q2 ? R : 1][T];  // Q2: the mins, 8 float lanes
    for (int i = 0; i < R; ++i)
        for (int j = 0; j < T; ++j) {
            if (K == KQ::Q2 || i == 0) macc2[K == KQ::Q2 ? i : 0][j] = _mm256_setzero_ps();
            facc[i][j] = _mm256_setzero_ps();
            macc[i][j] = _mm_setzero_ps();
            summs[i][j] = 0;
        }
    const __m256i ones8 = _mm256_set1_epi8(1), x_off = _mm256_set1_epi8(char(0x80));
    const uint8_t* pf = w0 + size_t(R) * wrb;  // the next tile's rows: prefetched one tile ahead
    for (int64_t b = 0; b < nb; ++b) {
        for (size_t k = 0; k < R * sizeof(B); k += 64)
            _mm_prefetch(reinterpret_cast<const char*>(pf + size_t(b) * R * sizeof(B) + k),
                         _MM_HINT_T1);
        const B* wb[R];
        RowState rs[R];
        for (int i = 0; i < R; ++i) {
            wb[i] = reinterpret_cast<const B*>(w0 + size_t(i) * wrb) + b;
            row_state<K>(*wb[i], rs[i]);
        }
        const BlockQ8_K* xb[T];
        for (int j = 0; j < T; ++j) xb[j] = reinterpret_cast<const BlockQ8_K*>(a0 + j * arb) + b;
        // Q6_K for one token: unsigned quants q and pair sums maddubs(q, x) - maddubs(32, x),
        // cheaper than offset activations when the per-row correction is not shared.
        constexpr bool kSub32 = K == KQ::Q6 && T == 1;
        constexpr bool kOffsetX = kSigned<K> && !kSub32;
        __m256i acc[R][T], corr[R];
        for (int i = 0; i < R; ++i) {
            corr[i] = _mm256_setzero_si256();
            for (int j = 0; j < T; ++j) acc[i][j] = _mm256_setzero_si256();
        }
        for (int k = 0; k < 8; ++k) {
            __m256i wv[R], sv[R];
            for (int i = 0; i < R; ++i) {
                wv[i] = unpack_sub<K, kSub32>(*wb[i], k);
                sv[i] = scale_vec<K>(rs[i], k);
                if constexpr (kOffsetX)
                    corr[i] = _mm256_add_epi32(
                        corr[i], _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, wv[i]), sv[i]));
            }
            for (int j = 0; j < T; ++j) {
                __m256i xv =
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[j]->qs + 32 * k));
                if constexpr (kOffsetX) xv = _mm256_xor_si256(xv, x_off);
                __m256i x32 = _mm256_setzero_si256();
                if constexpr (kSub32) x32 = _mm256_maddubs_epi16(_mm256_set1_epi8(32), xv);
                for (int i = 0; i < R; ++i) {
                    __m256i p = kOffsetX ? _mm256_maddubs_epi16(xv, wv[i])
                                         : _mm256_maddubs_epi16(wv[i], xv);
                    if constexpr (kSub32) p = _mm256_sub_epi16(p, x32);
                    acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(p, sv[i]));
                }
            }
        }
        for (int i = 0; i < R; ++i) {
            const __m256i c7 = _mm256_slli_epi32(corr[i], 7);
            for (int j = 0; j < T; ++j) {
                __m256i a = acc[i][j];
                if constexpr (kOffsetX) a = _mm256_sub_epi32(a, c7);
                const __m256 d = _mm256_set1_ps(xb[j]->d * rs[i].d);
                facc[i][j] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(a), facc[i][j]);
            }
        }
        if constexpr (K == KQ::Q2) {
            // Mins: per row, sum over the 16 sub-blocks of min * bsum, accumulated (float,
            // 8 lanes) with -x.d * dmin. (Q2_K has no exact reference order.)
            for (int j = 0; j < T; ++j) {
                const __m256i bs =
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[j]->bsums));
                for (int i = 0; i < R; ++i)
                    macc2[i][j] = _mm256_fmadd_ps(
                        _mm256_set1_ps(-xb[j]->d * rs[i].dmin),
                        _mm256_cvtepi32_ps(_mm256_madd_epi16(rs[i].mins2, bs)), macc2[i][j]);
            }
        }
        if constexpr (K == KQ::Q4 || K == KQ::Q5) {
            // Mins: prod[k] = m[2k] * s[2k] + m[2k+1] * s[2k+1] with s the 32-element sums of
            // the activations; Q4_K: 4-lane FMA by -x.d * dmin; Q5_K: a float sum.
            const __m256i ones16 = _mm256_set1_epi16(1);
            for (int j = 0; j < T; ++j) {
                const __m256i bs =
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[j]->bsums));
                const __m256i s32 = _mm256_madd_epi16(bs, ones16);
                const __m128i s16 =
                    _mm_packs_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
                for (int i = 0; i < R; ++i) {
                    const __m128i prod = _mm_madd_epi16(rs[i].mins, s16);
                    float dm = -xb[j]->d * rs[i].dmin;
                    if constexpr (K == KQ::Q4) {
                        macc[i][j] =
                            _mm_fmadd_ps(_mm_set1_ps(dm), _mm_cvtepi32_ps(prod), macc[i][j]);
                    } else {
                        __m128i h =
                            _mm_add_epi32(prod, _mm_shuffle_epi32(prod, _MM_SHUFFLE(1, 0, 3, 2)));
                        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
                        float t = dm * float(_mm_cvtsi128_si32(h));
                        // The reference rounds the product before adding it: keep GCC from
                        // contracting the two into an FMA (it does so even in ISO C++ mode).
                        asm("" : "+x"(t));
                        summs[i][j] += t;
                    }
                }
            }
        }
    }
    for (int i = 0; i < R; ++i)
        for (int j = 0; j < T; ++j) {
            alignas(32) float f[8];
            _mm256_store_ps(f, facc[i][j]);
            const float s = hsum8(f);
            float out = s;
            if constexpr (K == KQ::Q4) {
                alignas(16) float m[4];
                _mm_store_ps(m, macc[i][j]);
                out = s + ((m[0] + m[2]) + (m[1] + m[3]));
            } else if constexpr (K == KQ::Q5) {
                out = s + summs[i][j];
            } else if constexpr (K == KQ::Q2) {
                alignas(32) float m[8];
                _mm256_store_ps(m, macc2[i][j]);
                out = s + hsum8(m);
            }
            y[j * ldy + i] = out;
        }
}

template <KQ K, int R, int T>
void rows(const uint8_t* w, size_t wrb, const uint8_t* a0, size_t arb, int64_t nb, int64_t r0,
          int64_t r1, float* y, int64_t ldy) {
    int64_t r = r0;
    for (; r + R <= r1; r += R) tile<K, R, T>(w + size_t(r) * wrb, wrb, a0, arb, nb, y + r, ldy);
    for (; r < r1; ++r) tile<K, 1, T>(w + size_t(r) * wrb, wrb, a0, arb, nb, y + r, ldy);
}

// GemmFn (dispatch.h). Rows are processed in blocks of kRowBlock so that a block's weights
// stay in L2 while every token tile passes over them.
template <KQ K>
void gemm(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n_cols,
          int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const int64_t nb = n_cols / kQK_K;
    if (n_tokens == 1) {
        rows<K, 4, 1>(w, wrb, acts, arb, nb, r0, r1, y, ldy);
        return;
    }
    constexpr int64_t kRowBlock = 32;
    for (int64_t rb = r0; rb < r1; rb += kRowBlock) {
        const int64_t re = std::min(r1, rb + kRowBlock);
        int64_t t = 0;
        for (; t + 2 <= n_tokens; t += 2)
            rows<K, 2, 2>(w, wrb, acts + size_t(t) * arb, arb, nb, rb, re, y + t * ldy, ldy);
        if (t < n_tokens)
            rows<K, 2, 1>(w, wrb, acts + size_t(t) * arb, arb, nb, rb, re, y + t * ldy, ldy);
    }
}

}  // namespace

void register_gemm_kquants_avx2(KernelTable& t) {
    t.gemm_for(DType::Q4_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q4>};
    t.gemm_for(DType::Q5_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q5>};
    t.gemm_for(DType::Q6_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q6>};
    t.gemm_for(DType::Q2_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q2>};
    t.gemm_for(DType::Q3_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q3>};
}

}  // namespace ponder::kernels
#endif
