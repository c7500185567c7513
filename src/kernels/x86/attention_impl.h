// The steps of GQA attention (kernels.h: attention_scores, attention_exp, attention_values) for
// AVX2 + FMA + F16C, compiled by ops_avx2.cpp only (the AVX-512 level has its own kernels,
// attention_avx512.h, with the same numerics in 16 lanes). Everything here has internal linkage
// (anonymous namespace).
//
// One call handles up to kMaxAttentionRows query rows that share one KV head and one cell list:
// each K row is read once (F16 keys converted to floats, Q8_0 keys transposed 8 cells at a
// time) and used by every row of the job; each V row once per group of up to 8 rows, whose
// outputs stay in registers over the span (up to 12 sums of 8 floats) while its chunks are
// converted straight from the cache.
//
// Numerics (the reference is ref::attention; tests/kernels/test_attention.cpp states bounds):
// - F16 K: the query rounded to half, products q*k exact in float, summed in float (8 lanes of
//   hd / 8 products, then a tree), as the AVX-512 kernel (8 lanes per cell there too): a relative
//   score error of a few float ulps against the reference's double sum, far below the half rounding
//   of the probabilities.
// - Q8_0 K: the query quantized as ref::quantize_q8_0 (bit-identical), per block the exact
//   integer dot product times d_k * d_q (exact in float) added with one float FMA, as the
//   AVX-512 kernel: one rounding per block where the reference sums in double.
// - Softmax: exp by a degree-6 polynomial after range reduction (about 1 ulp, where the
//   reference calls std::exp), the sum in double per span, probabilities rounded to half.
// - V: p * v accumulated in float per element in cell order within a span, as the reference
//   does (exact products for F16 V; for Q8_0 V the product may round differently where FMA is
//   used); the caller adds the spans in order.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/fp16.h"
#include "core/quant_blocks.h"
#include "kernels/attention_groups.h"
#include "kernels/dispatch.h"
#include "kernels/ref/kernels_ref.h"
#include "kernels/x86/vmath.h"

namespace ponder::kernels {
namespace {

// The largest head the kernels take (the decoder's limit).
constexpr int kMaxHeadDimAttention = 1024;

// ---- small vector helpers (8 floats) ----------------------------------------------------------

// Rounds 8 floats to half precision and back (round to nearest even, as f32_to_fp16).
inline __m256 round_half8(__m256 x) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// ---- double accumulators ----------------------------------------------------------------------

struct AccD {
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    void add_f32(__m256 v) {
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double sum() const {
        const __m256d s = _mm256_add_pd(lo, hi);
        __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
        t = _mm_add_sd(t, _mm_unpackhi_pd(t, t));
        return _mm_cvtsd_f64(t);
    }
};

// ---- K / V row conversion -----------------------------------------------------------------------

// One head's row (hd elements) of an F16 cache to floats (the F16 score path's keys).
inline void f16_row_to_f32(const uint8_t* src, int hd, float* dst) {
    const auto* h = reinterpret_cast<const uint16_t*>(src);
    int d = 0;
    for (; d + 8 <= hd; d += 8)
        _mm256_storeu_ps(dst + d,
                         _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + d))));
    for (; d < hd; ++d) dst[d] = fp16_to_f32(h[d]);
}

// ---- the kernel --------------------------------------------------------------------------------

// Prefetches (into L1) the head rows of cells [j0 + kAhead, j1 + kAhead) when kAhead > 0 (the
// same choice by CPU vendor as attention_avx512.h, made by ops_avx2.cpp).
template <int kAhead>
inline void prefetch_cells(const uint8_t* base, size_t row_bytes, const int32_t* cells, int32_t j0,
                           int32_t j1, int32_t n) {
    if constexpr (kAhead > 0) {
        j1 = std::min(j1 + kAhead, n);
        for (int32_t j = j0 + kAhead; j < j1; ++j) {
            const char* p = reinterpret_cast<const char*>(base + size_t(cells[j]) * row_bytes);
            for (size_t o = 0; o < row_bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
        }
    }
}

// Lane c of the result = the sum of the 8 lanes of a[c].
inline __m256 sum8x8(const __m256* a) {
    // hadd(x, y) = [x01 x23 y01 y23 | x45 x67 y45 y67] (pair sums per 128-bit half).
    const __m256 h0 = _mm256_hadd_ps(a[0], a[1]), h1 = _mm256_hadd_ps(a[2], a[3]);
    const __m256 h2 = _mm256_hadd_ps(a[4], a[5]), h3 = _mm256_hadd_ps(a[6], a[7]);
    // g0: [a0 a1 a2 a3 (lanes 0-3) | a0 a1 a2 a3 (lanes 4-7)], g1 the same for a4..a7.
    const __m256 g0 = _mm256_hadd_ps(h0, h1), g1 = _mm256_hadd_ps(h2, h3);
    return _mm256_add_ps(_mm256_permute2f128_ps(g0, g1, 0x20),
                         _mm256_permute2f128_ps(g0, g1, 0x31));
}

// out[0 .. gv) = the first gv lanes of v (gv in [1, 8]).
inline void store_scores(float* out, __m256 v, int gv) {
    if (gv == 8) {
        _mm256_storeu_ps(out, v);
        return;
    }
    alignas(32) float t[8];
    _mm256_store_ps(t, v);
    for (int c = 0; c < gv; ++c) out[c] = t[c];
}

// The first gv lanes of v, -inf in the others (gv in [1, 8]).
inline __m256 first_lanes(__m256 v, int gv) {
    if (gv >= 8) return v;
    const __m256i keep =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(gv), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), v, _mm256_castsi256_ps(keep));
}

// Scores of every row against cells [j0, j1): sc[r * ld + j] = scale * q_r . k_j (for j <
// n_vis[r]), and each row's largest (kernels.h attention_scores). The half query and keys are
// held as floats (zero-padded to hdp, a multiple of 8), so each product is exact; 8 keys at a
// time are converted once and every row takes 8 dot products with them (8 lanes of dims each),
// folded into one vector of 8 scores by sum8x8.
template <int kAhead>
void scores_f16(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells, int32_t j0,
                int32_t j1, int hd, float scale, float* sc, size_t ld, float* row_max, float* qf,
                float* kf) {
    const int R = job.n_rows;
    const int hdp = (hd + 7) & ~7;
    // The queries rounded to half (vector conversions: this runs once per call, and
    // attention_split makes a call per span), zeros past hd.
    for (int r = 0; r < R; ++r) {
        int d = 0;
        for (; d + 8 <= hd; d += 8)
            _mm256_storeu_ps(qf + r * hdp + d, round_half8(_mm256_loadu_ps(job.q[r] + d)));
        for (; d < hd; ++d) qf[r * hdp + d] = fp16_to_f32(f32_to_fp16(job.q[r][d]));
        for (; d < hdp; ++d) qf[r * hdp + d] = 0.0f;
    }
    for (int c = 0; c < 8; ++c)
        for (int d = hd; d < hdp; ++d) kf[c * hdp + d] = 0.0f;
    const __m256 vscale = _mm256_set1_ps(scale);
    __m256 mx[kMaxAttentionRows];
    for (int r = 0; r < R; ++r) mx[r] = _mm256_set1_ps(-INFINITY);
    for (int32_t jb = j0; jb < j1; jb += 8) {
        const int g = std::min<int32_t>(8, j1 - jb);
        prefetch_cells<kAhead>(kv.k, kv.row_bytes, cells, jb, jb + 8, j1);
        // Keys of cells jb.. (the last one repeated past j1: their scores are not kept).
        for (int c = 0; c < 8; ++c)
            f16_row_to_f32(kv.k + size_t(cells[jb + std::min(c, g - 1)]) * kv.row_bytes, hd,
                           kf + c * hdp);
        for (int r = 0; r < R; ++r) {
            if (jb >= job.n_vis[r]) continue;
            const float* q = qf + r * hdp;
            __m256 acc[8];
            for (int c = 0; c < 8; ++c) acc[c] = _mm256_setzero_ps();
            for (int d = 0; d < hdp; d += 8) {
                const __m256 qv = _mm256_loadu_ps(q + d);
                for (int c = 0; c < 8; ++c)
                    acc[c] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kf + c * hdp + d), acc[c]);
            }
            const int gv = std::min(g, job.n_vis[r] - jb);
            const __m256 v = _mm256_mul_ps(sum8x8(acc), vscale);
            store_scores(sc + size_t(r) * ld + size_t(jb), v, gv);
            mx[r] = _mm256_max_ps(mx[r], first_lanes(v, gv));
        }
    }
    for (int r = 0; r < R; ++r) row_max[r] = hmax8(mx[r]);
}

// out[k], lane c = 32-bit element k of in[c] (an 8 x 8 transpose).
inline void transpose8x8_epi32(const __m256i* in, __m256i* out) {
    __m256i t[8], u[8];
    for (int i = 0; i < 4; ++i) {  // t[2i]: elements 0, 1 | 4, 5 of in[2i], in[2i + 1] interleaved
        t[2 * i] = _mm256_unpacklo_epi32(in[2 * i], in[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(in[2 * i], in[2 * i + 1]);
    }
    for (int h = 0; h < 2; ++h) {  // u[4h + e]: element e | e + 4 of in[4h .. 4h + 3]
        u[4 * h + 0] = _mm256_unpacklo_epi64(t[4 * h], t[4 * h + 2]);
        u[4 * h + 1] = _mm256_unpackhi_epi64(t[4 * h], t[4 * h + 2]);
        u[4 * h + 2] = _mm256_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
        u[4 * h + 3] = _mm256_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
    }
    for (int e = 0; e < 4; ++e) {
        out[e] = _mm256_permute2x128_si256(u[e], u[4 + e], 0x20);
        out[e + 4] = _mm256_permute2x128_si256(u[e], u[4 + e], 0x31);
    }
}

// Scores as scores_f16, Q8_0 keys (hd a multiple of 32), with cells in lanes: the quants of 8
// keys are transposed by 4-byte groups, so each group of the query (broadcast) meets the same
// group of 8 cells; each cell's exact integer block sum (vpmaddubsw with the sign trick, then
// vpmaddwd) times d_k * d_q is added in float, then the blocks, as the AVX-512 kernel.
// qb: room for R * hd / 32 blocks.
template <int kAhead>
void scores_q8_0(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells, int32_t j0,
                 int32_t j1, int hd, float scale, float* sc, size_t ld, float* row_max,
                 BlockQ8_0* qb) {
    const int R = job.n_rows;
    const int nb = hd / kQK;
    float dq[kMaxAttentionRows * (kMaxHeadDimAttention / kQK)];
    __m256 mx[kMaxAttentionRows];
    for (int r = 0; r < R; ++r) mx[r] = _mm256_set1_ps(-INFINITY);
    // The level's activation quantizer: bit-identical to ref::quantize_q8_0 and vectorized
    // (this runs once per call, and attention_split makes a call per span).
    const QuantizeFn quantize = kernel_table(Isa::Avx2).gemm_for(DType::Q8_0).quantize;
    for (int r = 0; r < R; ++r) {
        quantize(job.q[r], hd, reinterpret_cast<uint8_t*>(qb + r * nb));
        for (int b = 0; b < nb; ++b) dq[r * nb + b] = _cvtsh_ss(qb[r * nb + b].d);
    }
    // Per block of the 8 cells: the transposed quants, their magnitudes and the 8 d_k.
    struct alignas(32) KeyBlock {
        __m256i w[8], aw[8];
        __m256 dk;
    };
    thread_local std::vector<KeyBlock> kbuf;
    if (kbuf.size() < size_t(nb)) kbuf.resize(size_t(nb));
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256 vscale = _mm256_set1_ps(scale);
    for (int32_t jb = j0; jb < j1; jb += 8) {
        const int g = std::min<int32_t>(8, j1 - jb);
        prefetch_cells<kAhead>(kv.k, kv.row_bytes, cells, jb, jb + 8, j1);
        const BlockQ8_0* kr[8];
        for (int c = 0; c < 8; ++c)
            kr[c] = reinterpret_cast<const BlockQ8_0*>(
                kv.k + size_t(cells[jb + std::min(c, g - 1)]) * kv.row_bytes);
        for (int b = 0; b < nb; ++b) {
            KeyBlock& K = kbuf[size_t(b)];
            __m256i in[8];
            alignas(16) uint16_t d16[8];
            for (int c = 0; c < 8; ++c) {
                in[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kr[c][b].qs));
                d16[c] = kr[c][b].d;
            }
            transpose8x8_epi32(in, K.w);
            for (int k = 0; k < 8; ++k) K.aw[k] = _mm256_sign_epi8(K.w[k], K.w[k]);
            K.dk = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(d16)));
        }
        for (int r = 0; r < R; ++r) {
            if (jb >= job.n_vis[r]) continue;
            __m256 acc = _mm256_setzero_ps();
            for (int b = 0; b < nb; ++b) {
                const KeyBlock& K = kbuf[size_t(b)];
                const int8_t* qs = qb[r * nb + b].qs;
                __m256i s = _mm256_setzero_si256();
                for (int k = 0; k < 8; ++k) {
                    int32_t gq;
                    std::memcpy(&gq, qs + 4 * k, 4);
                    // |k| * (q with k's sign): the products k * q, pairs summed in int16
                    // (at most 2 * 128 * 127), then the 4 of each cell in int32.
                    const __m256i p = _mm256_maddubs_epi16(
                        K.aw[k], _mm256_sign_epi8(_mm256_set1_epi32(gq), K.w[k]));
                    s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
                }
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
                                      _mm256_mul_ps(K.dk, _mm256_set1_ps(dq[r * nb + b])), acc);
            }
            const int gv = std::min(g, job.n_vis[r] - jb);
            const __m256 v = _mm256_mul_ps(acc, vscale);
            store_scores(sc + size_t(r) * ld + size_t(jb), v, gv);
            mx[r] = _mm256_max_ps(mx[r], first_lanes(v, gv));
        }
    }
    for (int r = 0; r < R; ++r) row_max[r] = hmax8(mx[r]);
}

// In place: e[0..n) -> exp(e[j] - mx); returns their sum in double (kernels.h attention_exp).
double exp_span(float* e, int32_t n, float mx) {
    const int32_t n8 = n & ~7;
    const __m256 vmx = _mm256_set1_ps(mx);
    AccD acc;
    for (int32_t j = 0; j < n8; j += 8) {
        const __m256 x = exp8(_mm256_sub_ps(_mm256_loadu_ps(e + j), vmx));
        _mm256_storeu_ps(e + j, x);
        acc.add_f32(x);
    }
    double sum = 0;
    if (n8 < n) {
        float tmp[8] = {};
        for (int32_t j = n8; j < n; ++j) tmp[j - n8] = e[j] - mx;
        const __m256 x = exp8(_mm256_loadu_ps(tmp));
        _mm256_storeu_ps(tmp, x);
        for (int32_t j = n8; j < n; ++j) {
            e[j] = tmp[j - n8];
            sum += tmp[j - n8];
        }
    }
    return sum + acc.sum();
}

// In place: p[0..k) -> half(p[j] * inv), the normalized probabilities as the reference rounds
// them.
inline void normalize_half(float* p, int k, float inv) {
    const __m256 vinv = _mm256_set1_ps(inv);
    int c = 0;
    for (; c + 8 <= k; c += 8)
        _mm256_storeu_ps(p + c, round_half8(_mm256_mul_ps(_mm256_loadu_ps(p + c), vinv)));
    for (; c < k; ++c) p[c] = fp16_to_f32(f32_to_fp16(p[c] * inv));
}

template <int kAhead>
void attention_scores_avx2(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells,
                           int32_t j0, int32_t j1, int hd, float scale, float* sc, size_t ld,
                           float* row_max) {
    const int R = job.n_rows;
    if (kv.type == DType::Q8_0) {
        thread_local std::vector<BlockQ8_0> qb;
        if (qb.size() < size_t(R) * size_t(hd / kQK)) qb.resize(size_t(R) * size_t(hd / kQK));
        scores_q8_0<kAhead>(job, kv, cells, j0, j1, hd, scale, sc, ld, row_max, qb.data());
        return;
    }
    // The F16 path's queries and 8 converted keys as floats live in a buffer per thread.
    const size_t hdp = size_t((hd + 7) & ~7);
    thread_local std::vector<float> qk;
    if (qk.size() < (size_t(R) + 8) * hdp) qk.resize((size_t(R) + 8) * hdp);
    scores_f16<kAhead>(job, kv, cells, j0, j1, hd, scale, sc, ld, row_max, qk.data(),
                       qk.data() + size_t(R) * hdp);
}

// Chunk k of 8 dims of a V row as floats: F16 (kTail: the row's last kTail-long piece, read
// without passing its end) or Q8_0 (d * q of a quarter block; Q8_0 heads are whole blocks).
template <DType kType, bool kTail>
inline __m256 v_chunk8(const uint8_t* row, int k, int tail) {
    if constexpr (kType == DType::F16) {
        const auto* h = reinterpret_cast<const uint16_t*>(row) + 8 * k;
        if constexpr (kTail) {
            alignas(16) uint16_t t[8] = {};
            std::memcpy(t, h, size_t(tail) * sizeof(uint16_t));
            return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
        }
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
    } else {
        const auto* b = reinterpret_cast<const BlockQ8_0*>(row) + k / 4;
        const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b->qs + 8 * (k % 4)));
        return _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(b->d)),
                             _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)));
    }
}

// out_r[8 ch0 ..) += sum over cells c in [c0, c1) of p_r[c] * v_c for RB rows and the NC
// chunks of 8 dims from ch0 (kTail: the last of them is the head's last, tail dims long), the
// sums held in registers over the whole range; each V row's chunks converted once for all RB
// rows. kAhead > 0: prefetch the V rows of the cells that far ahead (n: the span's end).
template <DType kType, int RB, int NC, bool kTail, int kAhead>
inline void v_accumulate8(float* const* out, const float* const* p, const KvHeadView& kv,
                          const int32_t* cells, int32_t c0, int32_t c1, int32_t n, int ch0,
                          int tail) {
    __m256 acc[RB][NC];
    alignas(32) float t[8] = {};
    for (int r = 0; r < RB; ++r)
        for (int k = 0; k < NC; ++k) {
            if (kTail && k == NC - 1) {
                std::memcpy(t, out[r] + (ch0 + k) * 8, size_t(tail) * sizeof(float));
                acc[r][k] = _mm256_load_ps(t);
            } else {
                acc[r][k] = _mm256_loadu_ps(out[r] + (ch0 + k) * 8);
            }
        }
    for (int32_t c = c0; c < c1; ++c) {
        prefetch_cells<kAhead>(kv.v, kv.row_bytes, cells, c, c + 1, n);
        const uint8_t* row = kv.v + size_t(cells[c]) * kv.row_bytes;
        __m256 v[NC];
        for (int k = 0; k < NC; ++k)
            v[k] = kTail && k == NC - 1 ? v_chunk8<kType, true>(row, ch0 + k, tail)
                                        : v_chunk8<kType, false>(row, ch0 + k, tail);
        for (int r = 0; r < RB; ++r) {
            const __m256 pc = _mm256_broadcast_ss(p[r] + c);
            for (int k = 0; k < NC; ++k) acc[r][k] = _mm256_fmadd_ps(pc, v[k], acc[r][k]);
        }
    }
    for (int r = 0; r < RB; ++r)
        for (int k = 0; k < NC; ++k) {
            if (kTail && k == NC - 1) {
                _mm256_store_ps(t, acc[r][k]);
                std::memcpy(out[r] + (ch0 + k) * 8, t, size_t(tail) * sizeof(float));
            } else {
                _mm256_storeu_ps(out[r] + (ch0 + k) * 8, acc[r][k]);
            }
        }
}

// Chunks of 8 dims per pass over the cells for RB rows: at most 12 sums in registers (16 in
// all, with the chunks and the probability).
constexpr int chunks_per_pass_avx2(int rb) {
    return rb <= 2 ? 4 : rb <= 6 ? 2 : 1;
}

// v_accumulate8 for RB rows over all chunks (as many per pass as chunks_per_pass_avx2 says).
// Prefetches (kAhead) in the first pass only.
template <DType kType, int RB, int kAhead>
void v_accumulate8_chunks(float* const* out, const float* const* p, const KvHeadView& kv,
                          const int32_t* cells, int32_t c0, int32_t c1, int32_t n, int nch,
                          int tail, bool prefetch) {
    constexpr int NC = chunks_per_pass_avx2(RB);
    for (int ch0 = 0; ch0 < nch; ch0 += NC) {
        const bool pf = kAhead > 0 && prefetch && ch0 == 0;
        const bool tl = tail < 8 && ch0 + NC >= nch;
        with_count<NC>(nch - ch0, [&]<int C>() {
            if (tl && pf)
                v_accumulate8<kType, RB, C, true, kAhead>(out, p, kv, cells, c0, c1, n, ch0, tail);
            else if (tl)
                v_accumulate8<kType, RB, C, true, 0>(out, p, kv, cells, c0, c1, n, ch0, tail);
            else if (pf)
                v_accumulate8<kType, RB, C, false, kAhead>(out, p, kv, cells, c0, c1, n, ch0, tail);
            else
                v_accumulate8<kType, RB, C, false, 0>(out, p, kv, cells, c0, c1, n, ch0, tail);
        });
    }
}

// part_r = sum over the cells of [j0, j1) that row r sees of half(e * inv_r) * v, in cell order
// (kernels.h attention_values), by attention_groups.h's row groups.
template <DType kType, int kAhead>
void values_avx2(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells, int32_t j0,
                 int32_t j1, int hd, float* sc, size_t ld, const float* inv, float* part) {
    const int nch = (hd + 7) / 8;
    const int tail = hd - (nch - 1) * 8;  // dims in the last chunk (8: a whole one)
    values_in_row_groups(
        job, j0, j1, hd, sc, ld, inv, part, normalize_half,
        [&](int rb, float* const* out, const float* const* p, int32_t c0, int32_t c1, bool first) {
            with_count<kValueRowGroup>(rb, [&]<int RB>() {
                v_accumulate8_chunks<kType, RB, kAhead>(out, p, kv, cells, c0, c1, j1, nch, tail,
                                                        first);
            });
        });
}

template <int kAhead>
void attention_values_avx2(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells,
                           int32_t j0, int32_t j1, int hd, float* sc, size_t ld, const float* inv,
                           float* part) {
    if (kv.type == DType::Q8_0)
        values_avx2<DType::Q8_0, kAhead>(job, kv, cells, j0, j1, hd, sc, ld, inv, part);
    else
        values_avx2<DType::F16, kAhead>(job, kv, cells, j0, j1, hd, sc, ld, inv, part);
}

}  // namespace
}  // namespace ponder::kernels
