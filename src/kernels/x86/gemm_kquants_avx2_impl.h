// Q4_K, Q5_K, Q6_K (and Q2_K, Q3_K) matmul kernels for 256-bit registers: included by
// gemm_kquants_avx2.cpp (AVX2 + FMA + F16C flags) and gemm_kquants_avxvnni.cpp (the same and
// AVX-VNNI, where dot_pairs is one vpdpwssd; integer sums are exact either way, so the two
// give the same bits). Everything here has internal linkage (anonymous namespace), so each
// file keeps its own copy.
//
// Arithmetic (docs/DESIGN.md "Numerics", kernels/ref/dot_ref.cpp): a 256-bit register holds
// one 32-element sub-block; vpmaddubsw (u8 x s8 -> s16 pairs) then vpmaddwd by the sub-block
// scale gives exactly the reference's 8 int32 lanes (element e -> lane (e % 32) / 4). Per
// super-block and (row, token) pair the lanes are converted to float and added with one FMA
// by d = x.d * w.d; the mins (Q4_K, Q5_K) come from the activations' bsums. Every float
// operation is the reference's, in its order: results are bit-identical to dot_row.
//
// Direct tiles of R rows x T tokens (4 x 1 for decode, 2 x 2 for a few tokens): each row's
// sub-block is unpacked once per tile and reused by its T tokens. Prompts (Q4_K, Q5_K, Q6_K
// from kPackedMinTokens tokens) unpack each row once into PackedSB records and run 2 x 4 tiles
// over them (2.2-3x the direct tiles' speed at 512 tokens). Q6_K quants are signed (q - 32): the
// activations are offset by 128 to be the unsigned operand and 128 * sum(scale * w) (per
// row, shared by the tokens) is subtracted per lane, which keeps the lanes exact.
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/quant_blocks.h"
#include "kernels/dispatch.h"
#include "kernels/x86/vmath.h"

namespace ponder::kernels {
namespace {

// The reference's 8-lane sum ((a0+a4)+(a2+a6))+((a1+a5)+(a3+a7)) (dot_ref.cpp) in
// registers: the same additions in the same order, without a trip through memory.
inline float hsum8_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));  // (a0+a4)+(a2+a6), (a1+a5)+(a3+a7)
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
// The Q4_K mins' 4-lane sum (m0+m2)+(m1+m3), likewise.
inline float hsum4_ps(__m128 m) {
    const __m128 s = _mm_add_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

// ---- activations: Q8_K rows ------------------------------------------------------------

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

#include "kernels/x86/kquants_common.h"

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
        uint64_t sc, mn;
        scales_mins(b.scales, sc, mn);
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

// acc + the int32 sums of adjacent int16 products p * s (vpdpwssd where the build has
// AVX-VNNI, which also has it for 256-bit registers; vpmaddwd + vpaddd otherwise).
inline __m256i dot_pairs(__m256i acc, __m256i p, __m256i s) {
#if defined(__AVXVNNI__)
    return _mm256_dpwssd_avx_epi32(acc, p, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
#endif
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
                    corr[i] = dot_pairs(corr[i], _mm256_maddubs_epi16(ones8, wv[i]), sv[i]);
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
                    acc[i][j] = dot_pairs(acc[i][j], p, sv[i]);
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
            const float s = hsum8_ps(facc[i][j]);
            float out = s;
            if constexpr (K == KQ::Q4) {
                out = s + hsum4_ps(macc[i][j]);
            } else if constexpr (K == KQ::Q5) {
                out = s + summs[i][j];
            } else if constexpr (K == KQ::Q2) {
                out = s + hsum8_ps(macc2[i][j]);
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

// ---- prompts: weights unpacked once per row block -----------------------------------------
//
// For many tokens, each row of a block of kPackRows rows is unpacked once into PackedSB
// records (one per super-block: the quants as bytes, the scale of every pair product), then
// tiles of 2 rows x up to 4 tokens run over them with nothing left to unpack: the direct
// tiles above unpack every sub-block again for each pair of tokens, which cost more than the
// products.
struct alignas(32) PackedSB {
    uint8_t q[8][32];  // sub-block k's 32 quants (Q6: q - 32, signed)
    int16_t s[8][16];  // the scale of each int16 pair product of sub-block k
    int32_t corr[8];   // Q6: 128 * sum over k of scale * (q - 32), per reference lane
    int16_t mins[8];   // Q4/Q5: the 8 mins
    float d, dmin;
};

// From how many tokens the packed path is faster (one thread, Intel Xeon with AVX-VNNI,
// Qwen2.5 ffn shapes, 2026-12-03): Q4_K unpacks cheaply, so the direct tiles keep up longer.
template <KQ K>
constexpr int64_t kPackedMinTokens = K == KQ::Q4 ? 6 : 3;
constexpr int64_t kPackRows = 16;

// One row's nb super-blocks -> out[0 .. nb).
template <KQ K>
void pack_row(const uint8_t* w, int64_t nb, PackedSB* out) {
    using B = typename Block<K>::type;
    const __m256i ones8 = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < nb; ++b) {
        const B& wb = reinterpret_cast<const B*>(w)[b];
        PackedSB& P = out[b];
        RowState rs;
        row_state<K>(wb, rs);
        __m256i corr = _mm256_setzero_si256();
        for (int k = 0; k < 8; ++k) {
            const __m256i q = unpack_sub<K>(wb, k);
            const __m256i sv = scale_vec<K>(rs, k);
            _mm256_store_si256(reinterpret_cast<__m256i*>(P.q[k]), q);
            _mm256_store_si256(reinterpret_cast<__m256i*>(P.s[k]), sv);
            if constexpr (K == KQ::Q6) corr = dot_pairs(corr, _mm256_maddubs_epi16(ones8, q), sv);
        }
        _mm256_store_si256(reinterpret_cast<__m256i*>(P.corr), _mm256_slli_epi32(corr, 7));
        if constexpr (K != KQ::Q6) _mm_storeu_si128(reinterpret_cast<__m128i*>(P.mins), rs.mins);
        P.d = rs.d;
        P.dmin = K == KQ::Q6 ? 0.f : rs.dmin;
    }
}

// Per token and super-block: the quants, d, and for Q4/Q5 the 32-element sums of the quants
// (int16 x 8) for the mins.
struct TokenSB {
    const int8_t* q;
    float d;
    __m128i s16;
};

// R packed rows x T tokens over nb super-blocks: y[j * ldy + i] for i < R, j < T.
template <KQ K, int R, int T>
void tile_packed(const PackedSB* const* rows, const TokenSB* const* tok, int64_t nb, float* y,
                 int64_t ldy) {
    // Float accumulators live in memory (L1): they are touched once per super-block, and the
    // registers are left to the R * T integer accumulators of the inner loop.
    alignas(32) float facc[R][T][8] = {};
    alignas(16) float macc[R][T][4] = {};
    float summs[R][T] = {};
    for (int64_t b = 0; b < nb; ++b) {
        const PackedSB* P[R];
        for (int i = 0; i < R; ++i) P[i] = rows[i] + b;
        const TokenSB* tb[T];
        for (int j = 0; j < T; ++j) tb[j] = tok[j] + b;
        __m256i acc[R][T];
        for (int i = 0; i < R; ++i)
            for (int j = 0; j < T; ++j) acc[i][j] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int k = 0; k < 8; ++k) {
            __m256i wv[R], sv[R];
            for (int i = 0; i < R; ++i) {
                wv[i] = _mm256_load_si256(reinterpret_cast<const __m256i*>(P[i]->q[k]));
                sv[i] = _mm256_load_si256(reinterpret_cast<const __m256i*>(P[i]->s[k]));
            }
            for (int j = 0; j < T; ++j) {
                __m256i xv =
                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tb[j]->q + 32 * k));
                if constexpr (K == KQ::Q6) xv = _mm256_xor_si256(xv, _mm256_set1_epi8(char(0x80)));
                for (int i = 0; i < R; ++i) {
                    const __m256i p = K == KQ::Q6 ? _mm256_maddubs_epi16(xv, wv[i])
                                                  : _mm256_maddubs_epi16(wv[i], xv);
                    acc[i][j] = dot_pairs(acc[i][j], p, sv[i]);
                }
            }
        }
        for (int i = 0; i < R; ++i) {
            const __m256i corr = _mm256_load_si256(reinterpret_cast<const __m256i*>(P[i]->corr));
            for (int j = 0; j < T; ++j) {
                __m256i a = acc[i][j];
                if constexpr (K == KQ::Q6) a = _mm256_sub_epi32(a, corr);
                const __m256 d = _mm256_set1_ps(tb[j]->d * P[i]->d);
                _mm256_store_ps(facc[i][j], _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(a),
                                                            _mm256_load_ps(facc[i][j])));
            }
        }
        if constexpr (K != KQ::Q6) {
            for (int i = 0; i < R; ++i) {
                const __m128i mins = _mm_loadu_si128(reinterpret_cast<const __m128i*>(P[i]->mins));
                for (int j = 0; j < T; ++j) {
                    const __m128i prod = _mm_madd_epi16(mins, tb[j]->s16);
                    const float dm = -tb[j]->d * P[i]->dmin;
                    if constexpr (K == KQ::Q4) {
                        _mm_store_ps(macc[i][j],
                                     _mm_fmadd_ps(_mm_set1_ps(dm), _mm_cvtepi32_ps(prod),
                                                  _mm_load_ps(macc[i][j])));
                    } else {
                        __m128i h =
                            _mm_add_epi32(prod, _mm_shuffle_epi32(prod, _MM_SHUFFLE(1, 0, 3, 2)));
                        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
                        float t = dm * float(_mm_cvtsi128_si32(h));
                        asm("" : "+x"(t));  // no FMA contraction: the reference rounds the product
                        summs[i][j] += t;
                    }
                }
            }
        }
    }
    for (int i = 0; i < R; ++i)
        for (int j = 0; j < T; ++j) {
            const float s = hsum8_ps(_mm256_load_ps(facc[i][j]));
            float out = s;
            if constexpr (K == KQ::Q4) {
                out = s + hsum4_ps(_mm_load_ps(macc[i][j]));
            } else if constexpr (K == KQ::Q5) {
                out = s + summs[i][j];
            }
            y[j * ldy + i] = out;
        }
}

template <KQ K, int R>
void tiles_packed(const PackedSB* const* rows, const TokenSB* const* tok, int tn, int64_t nb,
                  float* y, int64_t ldy) {
    switch (tn) {
        case 4:
            tile_packed<K, R, 4>(rows, tok, nb, y, ldy);
            break;
        case 3:
            tile_packed<K, R, 3>(rows, tok, nb, y, ldy);
            break;
        case 2:
            tile_packed<K, R, 2>(rows, tok, nb, y, ldy);
            break;
        default:
            tile_packed<K, R, 1>(rows, tok, nb, y, ldy);
            break;
    }
}

// The packed path (GemmFn contract). Thread-local scratch, grown as needed and kept: 32 bytes
// per token and super-block, and kPackRows x n_cols / 256 PackedSB records (576 bytes each).
template <KQ K>
void gemm_packed(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n_cols,
                 int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const int64_t nb = n_cols / kQK_K;
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
            const __m256i s32 = _mm256_madd_epi16(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.bsums)), ones16);
            ts.s16 = _mm_packs_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
        }
    // Row blocks of kPackRows rows: their records (kPackRows * nb * 576 bytes) stay in L2 while
    // all token tiles pass over them.
    thread_local std::vector<PackedSB> pack;
    pack.resize(size_t(kPackRows * nb));
    for (int64_t rb = r0; rb < r1; rb += kPackRows) {
        const int64_t re = std::min(r1, rb + kPackRows);
        for (int64_t r = rb; r < re; ++r)
            pack_row<K>(w + size_t(r) * wrb, nb, pack.data() + (r - rb) * nb);
        for (int64_t t = 0; t < n_tokens; t += 4) {
            const int tn = int(std::min<int64_t>(4, n_tokens - t));
            const TokenSB* tp[4];
            for (int j = 0; j < tn; ++j) tp[j] = toks.data() + (t + j) * nb;
            int64_t r = rb;
            for (; r + 2 <= re; r += 2) {
                const PackedSB* pr[2] = {pack.data() + (r - rb) * nb,
                                         pack.data() + (r + 1 - rb) * nb};
                tiles_packed<K, 2>(pr, tp, tn, nb, y + t * ldy + r, ldy);
            }
            if (r < re) {
                const PackedSB* pr[1] = {pack.data() + (r - rb) * nb};
                tiles_packed<K, 1>(pr, tp, tn, nb, y + t * ldy + r, ldy);
            }
        }
    }
}

// GemmFn (dispatch.h). Direct path: rows in blocks of kRowBlock so that a block's weights stay
// in L2 while every token tile passes over them.
template <KQ K>
void gemm(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n_cols,
          int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    if constexpr (K == KQ::Q4 || K == KQ::Q5 || K == KQ::Q6) {  // Q2_K, Q3_K: no packed form
        if (n_tokens >= kPackedMinTokens<K>) {
            gemm_packed<K>(w, wrb, acts, arb, n_cols, n_tokens, r0, r1, y, ldy);
            return;
        }
    }
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

inline void register_kquants_256(KernelTable& t) {
    t.gemm_for(DType::Q4_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q4>};
    t.gemm_for(DType::Q5_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q5>};
    t.gemm_for(DType::Q6_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q6>};
    t.gemm_for(DType::Q2_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q2>};
    t.gemm_for(DType::Q3_K) = {DType::Q8_K, quantize_q8_K, gemm<KQ::Q3>};
}

}  // namespace
}  // namespace ponder::kernels
#endif
