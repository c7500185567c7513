// The steps of GQA attention (kernels.h: attention_scores, attention_exp, attention_values) in
// 16-float AVX-512 registers, for ops_avx512.cpp only (attention_impl.h is the AVX2 build).
// Everything here has internal linkage.
//
// Work per job (rows sharing one KV head and one cell list), in three passes over the cells:
// 1. Scores, 16 cells at a time.
//    - F16 K: each block of 16 keys is converted to floats once (L1 buffer) and every row takes
//      16 dot products with it (16 lanes of dims), the 16 sums folded into one vector of 16
//      scores by a shuffle tree (sum16x16).
//    - Q8_0 K: lanes are cells. The 32 quants of a block of 16 keys are transposed by 4-byte
//      groups (two unpack levels), so one `vpdpbusd` against the query's 4 bytes broadcast adds
//      4 products for 16 cells; the signed keys enter as k + 128 (unsigned) and 128 * sum(q) is
//      subtracted after. The exact integer block sum times the exact float d_k * d_q is added in
//      float.
//    Each row's maximum is kept on the way (for the softmax).
// 2. exp per row and span as attention_impl.h's exp_span, 16 lanes (same exp, sum in double);
//    the probabilities are normalized and rounded to half by pass 3, 16 at a time, just before
//    it uses them.
// 3. part += p * v in float, in cell order per element within a span (as attention_impl.h): V
//    rows converted 16 cells at a time, up to 4 rows x 64 dims of outputs held in registers.
// Software prefetch (kAhead cells ahead, both passes) by CPU vendor, chosen at registration
// (ops_avx512.cpp): each (layer, head) of the cache is one contiguous array (kv_cache.h), which
// AMD's hardware prefetchers stream well enough that prefetching 32 cells ahead made a cold
// decode call 1.3-1.5x slower on the AMD EPYC kind (kAhead = 0 there); on the Intel Xeon kind
// prefetching the next block (16 cells ahead) made it 1.25x (F16) and 1.08x (Q8_0) as fast
// (bench_attention's cold sweep, 2026-12-02 and 2026-12-03).
//
// Numerics against the reference (tests/kernels/test_attention.cpp states the bound): the query
// is rounded exactly as the reference rounds it and every product q * k is exact, but the scores
// are summed in float (F16: 16 lanes of hd / 16 products, then a tree; Q8_0: one rounding per
// block plus the block sum) where the reference sums in double: a relative score error of a few
// float ulps, far below the half rounding of the probabilities, which it can move by one step.
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
#include "kernels/kernels.h"
#include "kernels/ref/kernels_ref.h"
#include "kernels/x86/vmath.h"

namespace ponder::kernels {
namespace {

// The largest head the kernel takes (the decoder's limit).
constexpr int kMaxHeadDim512 = 1024;

inline __m512 round_half16(__m512 x) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// Lanes [0, k) set (k in [0, 16]).
inline __mmask16 lanes16(int k) {
    return k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << k) - 1u);
}

// The input slot whose sum lands in lane i of sum16x16 (an involution).
constexpr int sum16_slot(int i) {
    return 4 * (i % 4) + i / 4;
}

// Lane i of the result = the sum of the 16 lanes of a[sum16_slot(i)].
inline __m512 sum16x16(const __m512* a) {
    __m512 b[8], c[4], d[2];
    // b[i]: 128-bit lanes 0-1 partial sums of a[2i], lanes 2-3 of a[2i + 1].
    for (int i = 0; i < 8; ++i)
        b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    // c[i]: 128-bit lane L holds 4 partial sums of a[4i + L].
    for (int i = 0; i < 4; ++i)
        c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    // d[m]: lane L holds 2 partial sums of a[8m + L], then 2 of a[8m + 4 + L].
    for (int m = 0; m < 2; ++m)
        d[m] = _mm512_add_ps(_mm512_shuffle_ps(c[2 * m], c[2 * m + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(c[2 * m], c[2 * m + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    // Lane 4L + w: the sum of a[L + 4w].
    return _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(d[0], d[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

// Halves h[0, 16) (only the lanes of m) as 16 floats, zeros elsewhere. Full chunks use a plain
// load: a masked load from memory not in cache is much slower on some CPUs (AMD Zen 4).
inline __m512 load_half16(const uint16_t* h, __mmask16 m) {
    const __m256i x = m == __mmask16(0xFFFF)
                          ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h))
                          : _mm256_maskz_loadu_epi16(m, h);
    return _mm512_cvtph_ps(x);
}

// Per-thread buffers of the AVX-512 kernel (64-byte aligned floats).
struct alignas(64) Vec16 {
    float f[16];
};
struct Att512Buffers {
    std::vector<Vec16> q;   // F16: the half-rounded queries [R][nch]; Q8_0: query patterns
    std::vector<Vec16> kv;  // 16 converted K or V rows [16][nch]
    // Room for n_vec vectors of 16 floats.
    float* qf(size_t n_vec) { return grow(q, n_vec); }
    float* kvf(size_t n_vec) { return grow(kv, n_vec); }
    static float* grow(std::vector<Vec16>& v, size_t n_vec) {
        if (v.size() < n_vec) v.resize(n_vec);
        return v.data()->f;
    }
};

inline Att512Buffers& att512_buffers() {
    thread_local Att512Buffers b;
    return b;
}

// Cell ids of block [j0, j0 + 16), the last cell repeated past n (their results are not kept).
inline void block_cells(const int32_t* cells, int32_t j0, int32_t n, int32_t* idx) {
    for (int c = 0; c < 16; ++c) idx[c] = cells[std::min(j0 + c, n - 1)];
}

// Prefetches (into L1) the head rows of the cells of block [j0, j0 + 16) when kAhead > 0.
template <int kAhead>
inline void prefetch_block(const uint8_t* base, size_t row_bytes, const int32_t* cells, int32_t j0,
                           int32_t n) {
    if constexpr (kAhead > 0) {
        const int32_t j1 = std::min(j0 + kAhead + 16, n);
        for (int32_t j = j0 + kAhead; j < j1; ++j) {
            const char* p = reinterpret_cast<const char*>(base + size_t(cells[j]) * row_bytes);
            for (size_t o = 0; o < row_bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
        }
    }
}

// sc[r * ld + j] = scale * q_r . k_j for every row r and j in [j0, j1), j < n_vis[r] (F16 keys,
// any hd); row_max[r] = the largest of these.
template <int kAhead>
void scores_f16_512(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells,
                    int32_t j0, int32_t j1, int hd, float scale, float* sc, size_t ld,
                    float* row_max) {
    const int R = job.n_rows;
    const int nch = (hd + 15) / 16;
    const int hdp = nch * 16;
    const __mmask16 tail = lanes16(hd - (nch - 1) * 16);
    Att512Buffers& buf = att512_buffers();
    float* qh = buf.qf(size_t(R) * size_t(nch));
    float* kb = buf.kvf(16 * size_t(nch));
    // The queries rounded to half, zeros past hd (vector conversions: this runs once per call,
    // and attention_split makes a call per span).
    for (int r = 0; r < R; ++r)
        for (int ch = 0; ch < nch; ++ch) {
            const __mmask16 m = ch == nch - 1 ? tail : __mmask16(0xFFFF);
            _mm512_store_ps(qh + r * hdp + ch * 16,
                            round_half16(_mm512_maskz_loadu_ps(m, job.q[r] + ch * 16)));
        }
    const __m512 vscale = _mm512_set1_ps(scale);
    int32_t idx[16];
    __m512 mx[kMaxAttentionRows];
    for (int r = 0; r < R; ++r) mx[r] = _mm512_set1_ps(-INFINITY);
    for (int32_t jb = j0; jb < j1; jb += 16) {
        block_cells(cells, jb, j1, idx);
        prefetch_block<kAhead>(kv.k, kv.row_bytes, cells, jb, j1);
        // Converted keys, cell c at kb + c * hdp (zeros past hd).
        for (int c = 0; c < 16; ++c) {
            const auto* h = reinterpret_cast<const uint16_t*>(kv.k + size_t(idx[c]) * kv.row_bytes);
            for (int ch = 0; ch < nch; ++ch) {
                const __mmask16 m = ch == nch - 1 ? tail : __mmask16(0xFFFF);
                _mm512_store_ps(kb + c * hdp + ch * 16, load_half16(h + ch * 16, m));
            }
        }
        const __mmask16 store = lanes16(j1 - jb);
        for (int r = 0; r < R; ++r) {
            if (jb >= job.n_vis[r]) continue;
            const float* q = qh + r * hdp;
            __m512 acc[16];
            for (int s = 0; s < 16; ++s) acc[s] = _mm512_setzero_ps();
            for (int ch = 0; ch < nch; ++ch) {
                const __m512 qv = _mm512_load_ps(q + ch * 16);
                for (int s = 0; s < 16; ++s)
                    acc[s] = _mm512_fmadd_ps(qv, _mm512_load_ps(kb + sum16_slot(s) * hdp + ch * 16),
                                             acc[s]);
            }
            const __m512 v = _mm512_mul_ps(sum16x16(acc), vscale);
            _mm512_mask_storeu_ps(sc + size_t(r) * ld + size_t(jb), store, v);
            mx[r] = _mm512_mask_max_ps(mx[r], lanes16(job.n_vis[r] - jb), mx[r], v);
        }
    }
    for (int r = 0; r < R; ++r) row_max[r] = _mm512_reduce_max_ps(mx[r]);
}

// sc, row_max as scores_f16_512, Q8_0 keys (hd a multiple of 32). qb: room for R * hd / 32
// blocks.
template <int kAhead>
void scores_q8_0_512(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells,
                     int32_t j0, int32_t j1, int hd, float scale, float* sc, size_t ld,
                     BlockQ8_0* qb, float* row_max) {
    const int R = job.n_rows;
    const int nb = hd / kQK;
    // Per row and block: 4 patterns (P_k: 128-bit lanes 0 and 2 hold the block's 4-byte group
    // k broadcast, lanes 1 and 3 group k + 4), 128 * sum(q), d_q.
    Att512Buffers& buf = att512_buffers();
    auto* pat = reinterpret_cast<__m512i*>(buf.qf(size_t(R) * size_t(nb) * 4));
    int32_t qcorr[kMaxAttentionRows * (kMaxHeadDim512 / kQK)];
    float dq[kMaxAttentionRows * (kMaxHeadDim512 / kQK)];
    // The level's activation quantizer: bit-identical to ref::quantize_q8_0 and vectorized
    // (this runs once per call, and attention_split makes a call per span).
    const QuantizeFn quantize = kernel_table(Isa::Avx512).gemm_for(DType::Q8_0).quantize;
    for (int r = 0; r < R; ++r) {
        quantize(job.q[r], hd, reinterpret_cast<uint8_t*>(qb + r * nb));
        for (int b = 0; b < nb; ++b) {
            const BlockQ8_0& x = qb[r * nb + b];
            int32_t g[8], sum = 0;
            std::memcpy(g, x.qs, sizeof g);
            for (int e = 0; e < kQK; ++e) sum += x.qs[e];
            qcorr[r * nb + b] = 128 * sum;
            dq[r * nb + b] = _cvtsh_ss(x.d);
            for (int k = 0; k < 4; ++k)
                pat[(r * nb + b) * 4 + k] = _mm512_setr_epi32(
                    g[k], g[k], g[k], g[k], g[k + 4], g[k + 4], g[k + 4], g[k + 4], g[k], g[k],
                    g[k], g[k], g[k + 4], g[k + 4], g[k + 4], g[k + 4]);
        }
    }
    const __m512i flip = _mm512_set1_epi8(int8_t(-128));
    const __m512 vscale = _mm512_set1_ps(scale);
    int32_t idx[16];
    __m512 acc[kMaxAttentionRows], mx[kMaxAttentionRows];
    for (int r = 0; r < R; ++r) mx[r] = _mm512_set1_ps(-INFINITY);
    for (int32_t jb = j0; jb < j1; jb += 16) {
        block_cells(cells, jb, j1, idx);
        prefetch_block<kAhead>(kv.k, kv.row_bytes, cells, jb, j1);
        for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
        for (int b = 0; b < nb; ++b) {
            // z[i] (i < 4): 256-bit halves cells i, i + 4; z[4 + i]: cells 8 + i, 12 + i.
            const BlockQ8_0* kb[16];
            alignas(32) uint16_t dk16[16];
            for (int c = 0; c < 16; ++c) {
                kb[c] =
                    reinterpret_cast<const BlockQ8_0*>(kv.k + size_t(idx[c]) * kv.row_bytes) + b;
                dk16[c] = kb[c]->d;
            }
            const __m512 dk = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<__m256i*>(dk16)));
            auto ld = [&](int c) {
                return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kb[c]->qs));
            };
            __m512i w[8];
            for (int h = 0; h < 2; ++h) {  // cells 8h .. 8h + 7
                __m512i z[4], u[4];
                for (int i = 0; i < 4; ++i)
                    z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(ld(8 * h + i)),
                                              ld(8 * h + i + 4), 1);
                u[0] = _mm512_unpacklo_epi32(z[0], z[1]);
                u[1] = _mm512_unpackhi_epi32(z[0], z[1]);
                u[2] = _mm512_unpacklo_epi32(z[2], z[3]);
                u[3] = _mm512_unpackhi_epi32(z[2], z[3]);
                // w[4h + k]: 128-bit lane 0 = group k of cells 8h..8h+3, lane 1 group k + 4,
                // lanes 2, 3 the same for cells 8h+4..8h+7; as unsigned k + 128.
                w[4 * h + 0] = _mm512_xor_si512(_mm512_unpacklo_epi64(u[0], u[2]), flip);
                w[4 * h + 1] = _mm512_xor_si512(_mm512_unpackhi_epi64(u[0], u[2]), flip);
                w[4 * h + 2] = _mm512_xor_si512(_mm512_unpacklo_epi64(u[1], u[3]), flip);
                w[4 * h + 3] = _mm512_xor_si512(_mm512_unpackhi_epi64(u[1], u[3]), flip);
            }
            for (int r = 0; r < R; ++r) {
                if (jb >= job.n_vis[r]) continue;
                const __m512i* p = pat + (r * nb + b) * 4;
                __m512i a = _mm512_setzero_si512(), c = _mm512_setzero_si512();
                for (int k = 0; k < 4; ++k) {
                    a = _mm512_dpbusd_epi32(a, w[k], p[k]);
                    c = _mm512_dpbusd_epi32(c, w[4 + k], p[k]);
                }
                // Lanes: cells 0-3, 4-7, 8-11, 12-15 (the two halves of each block summed).
                __m512i s = _mm512_add_epi32(_mm512_shuffle_i32x4(a, c, _MM_SHUFFLE(2, 0, 2, 0)),
                                             _mm512_shuffle_i32x4(a, c, _MM_SHUFFLE(3, 1, 3, 1)));
                s = _mm512_sub_epi32(s, _mm512_set1_epi32(qcorr[r * nb + b]));
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                                         _mm512_mul_ps(dk, _mm512_set1_ps(dq[r * nb + b])), acc[r]);
            }
        }
        const __mmask16 store = lanes16(j1 - jb);
        for (int r = 0; r < R; ++r) {
            if (jb >= job.n_vis[r]) continue;
            const __m512 v = _mm512_mul_ps(acc[r], vscale);
            _mm512_mask_storeu_ps(sc + size_t(r) * ld + size_t(jb), store, v);
            mx[r] = _mm512_mask_max_ps(mx[r], lanes16(job.n_vis[r] - jb), mx[r], v);
        }
    }
    for (int r = 0; r < R; ++r) row_max[r] = _mm512_reduce_max_ps(mx[r]);
}

// In place: sc[0..n) -> exp(sc[j] - mx) (mx: the row's largest score); returns their sum in
// double (kernels.h attention_exp, attention_impl.h's exp_span in 16 lanes).
double softmax_exp16(float* sc, int32_t n, float mx) {
    const __m512 vmx = _mm512_set1_ps(mx);
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (int32_t j = 0; j < n; j += 16) {
        const __mmask16 m = lanes16(n - j);
        const __m512 e =
            _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sc + j), vmx)));
        _mm512_mask_storeu_ps(sc + j, m, e);
        lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}

// In place: p[0..k) -> half(p[j] * inv), k <= 16 (the normalized probabilities as the reference
// rounds them).
inline void normalize_half16(float* p, int k, float inv) {
    const __mmask16 m = lanes16(k);
    _mm512_mask_storeu_ps(
        p, m, round_half16(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, p), _mm512_set1_ps(inv))));
}

// out_r[ch0 * 16 ...] += sum over cells c in [c0, c1) of p_r[c] * vb[c] for RB rows and NC
// 16-float chunks (masks: the last chunk's tail).
template <int RB, int NC>
inline void v_accumulate(float* const* out, const float* const* p, const float* vb, int hdp,
                         int ch0, int c0, int c1, __mmask16 last_mask, int nch) {
    __m512 acc[RB][NC];
    __mmask16 m[NC];
    for (int k = 0; k < NC; ++k) m[k] = ch0 + k == nch - 1 ? last_mask : __mmask16(0xFFFF);
    for (int r = 0; r < RB; ++r)
        for (int k = 0; k < NC; ++k)
            acc[r][k] = _mm512_maskz_loadu_ps(m[k], out[r] + (ch0 + k) * 16);
    for (int c = c0; c < c1; ++c) {
        __m512 v[NC];
        for (int k = 0; k < NC; ++k) v[k] = _mm512_load_ps(vb + c * hdp + (ch0 + k) * 16);
        for (int r = 0; r < RB; ++r) {
            const __m512 pc = _mm512_set1_ps(p[r][c]);
            for (int k = 0; k < NC; ++k) acc[r][k] = _mm512_fmadd_ps(pc, v[k], acc[r][k]);
        }
    }
    for (int r = 0; r < RB; ++r)
        for (int k = 0; k < NC; ++k)
            _mm512_mask_storeu_ps(out[r] + (ch0 + k) * 16, m[k], acc[r][k]);
}

template <int RB>
inline void v_accumulate_rows(float* const* out, const float* const* p, const float* vb, int hdp,
                              int c0, int c1, __mmask16 last_mask, int nch) {
    for (int ch0 = 0; ch0 < nch; ch0 += 4) {
        switch (std::min(4, nch - ch0)) {
            case 4:
                v_accumulate<RB, 4>(out, p, vb, hdp, ch0, c0, c1, last_mask, nch);
                break;
            case 3:
                v_accumulate<RB, 3>(out, p, vb, hdp, ch0, c0, c1, last_mask, nch);
                break;
            case 2:
                v_accumulate<RB, 2>(out, p, vb, hdp, ch0, c0, c1, last_mask, nch);
                break;
            default:
                v_accumulate<RB, 1>(out, p, vb, hdp, ch0, c0, c1, last_mask, nch);
                break;
        }
    }
}

template <int kAhead>
void attention_scores_avx512(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells,
                             int32_t j0, int32_t j1, int hd, float scale, float* sc, size_t ld,
                             float* row_max) {
    if (kv.type == DType::Q8_0) {
        thread_local std::vector<BlockQ8_0> qb;
        const size_t need = size_t(job.n_rows) * size_t(hd / kQK);
        if (qb.size() < need) qb.resize(need);
        scores_q8_0_512<kAhead>(job, kv, cells, j0, j1, hd, scale, sc, ld, qb.data(), row_max);
    } else {
        scores_f16_512<kAhead>(job, kv, cells, j0, j1, hd, scale, sc, ld, row_max);
    }
}

// part_r = sum over the cells of [j0, j1) that row r sees of half(e * inv_r) * v, in cell order
// (kernels.h attention_values).
template <int kAhead>
void attention_values_avx512(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells,
                             int32_t j0, int32_t j1, int head_dim, float* sc, size_t ld,
                             const float* inv, float* part) {
    const int R = job.n_rows;
    const int hd = head_dim;
    std::fill(part, part + size_t(R) * size_t(hd), 0.0f);
    const int nch = (hd + 15) / 16;
    const int hdp = nch * 16;
    const __mmask16 last_mask = lanes16(hd - (nch - 1) * 16);
    float* vb = att512_buffers().kvf(16 * size_t(nch));
    int32_t idx[16];
    for (int32_t jb = j0; jb < j1; jb += 16) {
        const int g = std::min<int32_t>(16, j1 - jb);
        block_cells(cells, jb, j1, idx);
        prefetch_block<kAhead>(kv.v, kv.row_bytes, cells, jb, j1);
        for (int c = 0; c < g; ++c) {
            const uint8_t* src = kv.v + size_t(idx[c]) * kv.row_bytes;
            float* dst = vb + c * hdp;
            if (kv.type == DType::F16) {
                const auto* h = reinterpret_cast<const uint16_t*>(src);
                for (int ch = 0; ch < nch; ++ch) {
                    const __mmask16 m = ch == nch - 1 ? last_mask : __mmask16(0xFFFF);
                    _mm512_store_ps(dst + ch * 16, load_half16(h + ch * 16, m));
                }
            } else {
                const auto* b = reinterpret_cast<const BlockQ8_0*>(src);
                for (int k = 0; k < hd / kQK; ++k) {
                    const __m512 d = _mm512_set1_ps(_cvtsh_ss(b[k].d));
                    for (int i = 0; i < 2; ++i) {
                        const __m128i q8 =
                            _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[k].qs + 16 * i));
                        _mm512_store_ps(
                            dst + k * kQK + 16 * i,
                            _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q8))));
                    }
                }
            }
        }
        // Rows in groups of up to 4: the cells all of a group see together, then each row's rest.
        for (int r0 = 0; r0 < R; r0 += 4) {
            const int rb = std::min(4, R - r0);
            float* out[4];
            const float* p[4];
            int gmin = g;
            for (int i = 0; i < rb; ++i) {
                const int r = r0 + i;
                out[i] = part + size_t(r) * size_t(hd);
                float* pr = sc + size_t(r) * ld + size_t(jb);
                p[i] = pr;
                const int gv = std::max(0, std::min<int>(g, job.n_vis[r] - jb));
                if (gv > 0) normalize_half16(pr, gv, inv[r]);
                gmin = std::min(gmin, gv);
            }
            switch (rb) {
                case 4:
                    v_accumulate_rows<4>(out, p, vb, hdp, 0, gmin, last_mask, nch);
                    break;
                case 3:
                    v_accumulate_rows<3>(out, p, vb, hdp, 0, gmin, last_mask, nch);
                    break;
                case 2:
                    v_accumulate_rows<2>(out, p, vb, hdp, 0, gmin, last_mask, nch);
                    break;
                default:
                    v_accumulate_rows<1>(out, p, vb, hdp, 0, gmin, last_mask, nch);
                    break;
            }
            for (int i = 0; i < rb; ++i) {
                const int gv = std::min<int>(g, job.n_vis[r0 + i] - jb);
                if (gv > gmin)
                    v_accumulate_rows<1>(out + i, p + i, vb, hdp, gmin, gv, last_mask, nch);
            }
        }
    }
}

}  // namespace
}  // namespace ponder::kernels
