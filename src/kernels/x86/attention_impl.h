// The steps of GQA attention (kernels.h: attention_scores, attention_exp, attention_values) for
// AVX2 + FMA + F16C, compiled by ops_avx2.cpp only (the AVX-512 level has its own kernels,
// attention_avx512.h, with the same numerics in 16 lanes). Everything here has internal linkage
// (anonymous namespace).
//
// One call handles up to kMaxAttentionRows query rows that share one KV head and one cell list:
// each K and V row is read once (F16 keys and all values converted to floats, Q8_0 keys
// transposed 8 cells at a time) and used by every row of the job.
//
// Numerics (the reference is ref::attention; tests/kernels/test_attention.cpp states bounds):
// - F16 K: the query rounded to half, products q*k exact in float, summed in float (8 lanes of
//   hd / 8 products, then a tree), as the AVX-512 kernel: a relative score error of a few float
//   ulps against the reference's double sum, far below the half rounding of the probabilities.
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

// One head's row (hd elements) of an F16 or Q8_0 cache to floats.
inline void row_to_f32(DType type, const uint8_t* src, int hd, float* dst) {
    if (type == DType::F16) {
        const auto* h = reinterpret_cast<const uint16_t*>(src);
        int d = 0;
        for (; d + 8 <= hd; d += 8)
            _mm256_storeu_ps(
                dst + d, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + d))));
        for (; d < hd; ++d) dst[d] = fp16_to_f32(h[d]);
        return;
    }
    const auto* b = reinterpret_cast<const BlockQ8_0*>(src);
    for (int k = 0; k < hd / kQK; ++k) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[k].d));
        for (int i = 0; i < kQK; i += 8) {
            const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b[k].qs + i));
            const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
            _mm256_storeu_ps(dst + k * kQK + i, _mm256_mul_ps(d, q));
        }
    }
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
            row_to_f32(DType::F16, kv.k + size_t(cells[jb + std::min(c, g - 1)]) * kv.row_bytes, hd,
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

// part_r = sum over the cells of [j0, j1) that row r sees of half(e * inv_r) * v, in cell order
// (kernels.h attention_values): V rows are converted kVB cells at a time, then each row's output
// is held in registers (32 floats at a time) across the block's cells.
template <int kAhead>
void attention_values_avx2(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells,
                           int32_t j0, int32_t j1, int hd, float* sc, size_t ld, const float* inv,
                           float* part) {
    const int R = job.n_rows;
    std::fill(part, part + size_t(R) * size_t(hd), 0.0f);
    constexpr int kVB = 16;
    thread_local std::vector<float> vbuf;
    if (vbuf.size() < size_t(kVB) * size_t(hd)) vbuf.resize(size_t(kVB) * size_t(hd));
    float* vb = vbuf.data();
    for (int32_t jb = j0; jb < j1; jb += kVB) {
        const int g = std::min<int32_t>(kVB, j1 - jb);
        prefetch_cells<kAhead>(kv.v, kv.row_bytes, cells, jb, jb + kVB, j1);
        for (int c = 0; c < g; ++c)
            row_to_f32(kv.type, kv.v + size_t(cells[jb + c]) * kv.row_bytes, hd, vb + c * hd);
        for (int r = 0; r < R; ++r) {
            const int gv = std::min<int32_t>(g, job.n_vis[r] - jb);
            if (gv <= 0) continue;
            float* p = sc + size_t(r) * ld + size_t(jb);
            normalize_half(p, gv, inv[r]);
            float* o = part + size_t(r) * size_t(hd);
            int d = 0;
            for (; d + 32 <= hd; d += 32) {
                __m256 a0 = _mm256_loadu_ps(o + d), a1 = _mm256_loadu_ps(o + d + 8);
                __m256 a2 = _mm256_loadu_ps(o + d + 16), a3 = _mm256_loadu_ps(o + d + 24);
                for (int c = 0; c < gv; ++c) {
                    const __m256 pc = _mm256_set1_ps(p[c]);
                    const float* v = vb + c * hd + d;
                    a0 = _mm256_fmadd_ps(pc, _mm256_loadu_ps(v), a0);
                    a1 = _mm256_fmadd_ps(pc, _mm256_loadu_ps(v + 8), a1);
                    a2 = _mm256_fmadd_ps(pc, _mm256_loadu_ps(v + 16), a2);
                    a3 = _mm256_fmadd_ps(pc, _mm256_loadu_ps(v + 24), a3);
                }
                _mm256_storeu_ps(o + d, a0);
                _mm256_storeu_ps(o + d + 8, a1);
                _mm256_storeu_ps(o + d + 16, a2);
                _mm256_storeu_ps(o + d + 24, a3);
            }
            for (; d + 8 <= hd; d += 8) {
                __m256 a = _mm256_loadu_ps(o + d);
                for (int c = 0; c < gv; ++c)
                    a = _mm256_fmadd_ps(_mm256_set1_ps(p[c]), _mm256_loadu_ps(vb + c * hd + d), a);
                _mm256_storeu_ps(o + d, a);
            }
            for (; d < hd; ++d) {
                float a = o[d];
                for (int c = 0; c < gv; ++c) a += p[c] * vb[c * hd + d];
                o[d] = a;
            }
        }
    }
}

}  // namespace
}  // namespace ponder::kernels
