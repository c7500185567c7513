// The steps of GQA attention (kernels.h: attention_scores, attention_exp, attention_values) in
// 16-float AVX-512 registers, for ops_avx512.cpp only (attention_impl.h is the AVX2 build).
// Everything here has internal linkage.
//
// Work per job (rows sharing one KV head and one cell list), in three passes over the cells:
// 1. Scores, 16 cells at a time.
//    - F16 K: each block of 16 keys is converted to floats once (L1 buffer), two cells per
//      vector (8 dims of each), and every row takes 8 vectors of dot products with it against
//      its query's 8-dim groups (held twice), the 8 sums folded into one vector of 16 scores by
//      a shuffle tree (sum8x2x8: 14 shuffles, where one cell per vector needed 30). Two rows at
//      a time share the key loads.
//    - Q8_0 K: lanes are cells. The 32 quants of a block of 16 keys are transposed by 4-byte
//      groups (two unpack levels), so one `vpdpbusd` against the query's 4 bytes broadcast adds
//      4 products for 16 cells; the signed keys enter as k + 128 (unsigned) and 128 * sum(q) is
//      subtracted after. The exact integer block sum times the exact float d_k * d_q is added in
//      float.
//    Each row's maximum is kept on the way (for the softmax).
// 2. exp per row and span as attention_impl.h's exp_span, 16 lanes (same exp, sum in double);
//    the probabilities are normalized and rounded to half by pass 3.
// 3. part += p * v in float, in cell order per element within a span (as attention_impl.h):
//    the span's probabilities normalized first, then rows in groups of up to 8 hold their
//    outputs in registers over the whole span (up to 16 sums of 16 floats: 4 chunks of dims at a
//    time for up to 3 rows, 2 for more) while each V row's chunks are converted straight from
//    the cache, once per group. (Holding sums for 16 cells only and converting V through an L1
//    buffer was half as fast: 53 vs 27 us for 7 rows x 4096 cells, warm.)
// Software prefetch (kAhead cells ahead, both passes) by CPU vendor, chosen at registration
// (ops_avx512.cpp): each (layer, head) of the cache is one contiguous array (kv_cache.h), which
// AMD's hardware prefetchers stream well enough that prefetching 32 cells ahead made a cold
// decode call 1.3-1.5x slower on the AMD EPYC kind (kAhead = 0 there); on the Intel Xeon kind
// prefetching the next block (16 cells ahead) made it 1.25x (F16) and 1.08x (Q8_0) as fast
// (bench_attention's cold sweep, 2026-12-02 and 2026-12-03).
//
// Numerics against the reference (tests/kernels/test_attention.cpp states the bound): the query
// is rounded exactly as the reference rounds it and every product q * k is exact, but the scores
// are summed in float (F16: 8 lanes of hd / 8 products, then a tree; Q8_0: one rounding per
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
#include "kernels/attention_groups.h"
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

// F16 scores hold two cells per accumulator: lanes 0-7 partial sums (8 dims apart) of cell
// pair_a(i), lanes 8-15 of cell pair_b(i); sum8x2x8 then leaves cell c's score in lane c.
constexpr int pair_a(int i) {
    return (i % 2) * 8 + i / 2;
}
constexpr int pair_b(int i) {
    return pair_a(i) + 4;
}

// Lane c = the sum of the 8 lanes of cell c in a[0..8) (laid out as pair_a / pair_b say).
inline __m512 sum8x2x8(const __m512* a) {
    __m512 b[4], c[2];
    // b[m], 128-bit lane L: 4 partial sums of cell pair_a(2m), pair_b(2m), pair_a(2m + 1),
    // pair_b(2m + 1) for L = 0..3.
    for (int m = 0; m < 4; ++m)
        b[m] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    // c[n], lane L: 2 partial sums of b[2n]'s cell L, then 2 of b[2n + 1]'s.
    for (int n = 0; n < 2; ++n)
        c[n] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * n], b[2 * n + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(b[2 * n], b[2 * n + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    // Lane 4L + w: b[w]'s cell L, which pair_a / pair_b make cell 4L + w.
    return _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(3, 1, 3, 1)));
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

// Prefetches (into L1) the head rows of the kCount cells kAhead past j0 (those before n), when
// kAhead > 0: the block of 16 ahead of the score and V blocks, one cell ahead of p * v's.
template <int kAhead, int kCount = 16>
inline void prefetch_block(const uint8_t* base, size_t row_bytes, const int32_t* cells, int32_t j0,
                           int32_t n) {
    if constexpr (kAhead > 0) {
        const int32_t j1 = std::min(j0 + kAhead + kCount, n);
        for (int32_t j = j0 + kAhead; j < j1; ++j) {
            const char* p = reinterpret_cast<const char*>(base + size_t(cells[j]) * row_bytes);
            for (size_t o = 0; o < row_bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
        }
    }
}

// Eight accumulators of RB rows over one block of 16 keys (kb: ngr groups of 8 dims, each 8
// vectors of two cells as pair_a / pair_b; qp: each row's ngr query groups, twice over), folded
// into the 16 cells' sums.
template <int RB>
inline void f16_block_dots(const float* qp, int ngr, const float* kb, __m512* out) {
    __m512 a[RB][8];
    for (int r = 0; r < RB; ++r)
        for (int i = 0; i < 8; ++i) a[r][i] = _mm512_setzero_ps();
    for (int g = 0; g < ngr; ++g) {
        __m512 qv[RB];
        for (int r = 0; r < RB; ++r) qv[r] = _mm512_load_ps(qp + (size_t(r) * ngr + g) * 16);
        for (int i = 0; i < 8; ++i) {
            const __m512 k = _mm512_load_ps(kb + (size_t(g) * 8 + i) * 16);
            for (int r = 0; r < RB; ++r) a[r][i] = _mm512_fmadd_ps(qv[r], k, a[r][i]);
        }
    }
    for (int r = 0; r < RB; ++r) out[r] = sum8x2x8(a[r]);
}

// sc[r * ld + j] = scale * q_r . k_j for every row r and j in [j0, j1), j < n_vis[r] (F16 keys,
// any hd); row_max[r] = the largest of these.
template <int kAhead>
void scores_f16_512(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells,
                    int32_t j0, int32_t j1, int hd, float scale, float* sc, size_t ld,
                    float* row_max) {
    const int R = job.n_rows;
    const int ngr = (hd + 7) / 8;  // groups of 8 dims
    const __mmask8 tail = __mmask8((1u << (hd - (ngr - 1) * 8)) - 1u);
    Att512Buffers& buf = att512_buffers();
    float* qp = buf.qf(size_t(R) * size_t(ngr));
    float* kb = buf.kvf(8 * size_t(ngr));
    // The queries rounded to half, each group of 8 dims twice (the two cells of a vector), zeros
    // past hd (vector conversions: this runs once per call, and attention_split makes a call per
    // span).
    for (int r = 0; r < R; ++r)
        for (int g = 0; g < ngr; ++g) {
            const __mmask8 m = g == ngr - 1 ? tail : __mmask8(0xFF);
            const __m256 h =
                _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_maskz_loadu_ps(m, job.q[r] + g * 8),
                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            _mm512_store_ps(qp + (size_t(r) * ngr + g) * 16,
                            _mm512_insertf32x8(_mm512_castps256_ps512(h), h, 1));
        }
    const __m512 vscale = _mm512_set1_ps(scale);
    int32_t idx[16];
    __m512 mx[kMaxAttentionRows];
    for (int r = 0; r < R; ++r) mx[r] = _mm512_set1_ps(-INFINITY);
    for (int32_t jb = j0; jb < j1; jb += 16) {
        block_cells(cells, jb, j1, idx);
        prefetch_block<kAhead>(kv.k, kv.row_bytes, cells, jb, j1);
        // The 16 keys converted once, two cells per vector.
        for (int i = 0; i < 8; ++i) {
            const auto* ha =
                reinterpret_cast<const uint16_t*>(kv.k + size_t(idx[pair_a(i)]) * kv.row_bytes);
            const auto* hb =
                reinterpret_cast<const uint16_t*>(kv.k + size_t(idx[pair_b(i)]) * kv.row_bytes);
            for (int g = 0; g < ngr; ++g) {
                __m128i xa, xb;
                if (g == ngr - 1 && tail != __mmask8(0xFF)) {
                    xa = _mm_maskz_loadu_epi16(tail, ha + g * 8);
                    xb = _mm_maskz_loadu_epi16(tail, hb + g * 8);
                } else {
                    xa = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ha + g * 8));
                    xb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hb + g * 8));
                }
                _mm512_store_ps(
                    kb + (size_t(g) * 8 + i) * 16,
                    _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(xa), xb, 1)));
            }
        }
        const __mmask16 store = lanes16(j1 - jb);
        auto finish = [&](int r, __m512 dots) {
            const __m512 v = _mm512_mul_ps(dots, vscale);
            _mm512_mask_storeu_ps(sc + size_t(r) * ld + size_t(jb), store, v);
            mx[r] = _mm512_mask_max_ps(mx[r], lanes16(job.n_vis[r] - jb), mx[r], v);
        };
        int r = 0;
        for (; r + 2 <= R; r += 2) {  // two rows share each key load
            if (jb >= job.n_vis[r] && jb >= job.n_vis[r + 1]) continue;
            __m512 d[2];
            f16_block_dots<2>(qp + size_t(r) * ngr * 16, ngr, kb, d);
            if (jb < job.n_vis[r]) finish(r, d[0]);
            if (jb < job.n_vis[r + 1]) finish(r + 1, d[1]);
        }
        if (r < R && jb < job.n_vis[r]) {
            __m512 d[1];
            f16_block_dots<1>(qp + size_t(r) * ngr * 16, ngr, kb, d);
            finish(r, d[0]);
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

// Chunk k of 16 dims of a V row as floats: F16 (kMasked: only the lanes of m, where the row
// ends; whole chunks use a plain load, as a masked load from memory not in cache is much slower
// on some CPUs, AMD Zen 4) or Q8_0 (d * q of half a block; Q8_0 heads are whole blocks).
template <DType kType, bool kMasked>
inline __m512 v_chunk(const uint8_t* row, int k, __mmask16 m) {
    if constexpr (kType == DType::F16) {
        const auto* h = reinterpret_cast<const uint16_t*>(row) + 16 * k;
        return _mm512_cvtph_ps(kMasked ? _mm256_maskz_loadu_epi16(m, h)
                                       : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h)));
    } else {
        const auto* b = reinterpret_cast<const BlockQ8_0*>(row) + k / 2;
        const __m128i q8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs + 16 * (k % 2)));
        return _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(b->d)),
                             _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q8)));
    }
}

// out_r[16 ch0 ..) += sum over cells c in [c0, c1) of p_r[c] * v_c for RB rows and the NC
// chunks from ch0 (kMasked: the last of them is the head's last, with lanes m_last), the sums
// held in registers over the whole range. Each V row's chunks are converted once for all RB
// rows. kAhead > 0: prefetch the V rows of the cells that far ahead (n: the span's end).
template <DType kType, int RB, int NC, bool kMasked, int kAhead>
inline void v_accumulate(float* const* out, const float* const* p, const KvHeadView& kv,
                         const int32_t* cells, int32_t c0, int32_t c1, int32_t n, int ch0,
                         __mmask16 m_last) {
    __m512 acc[RB][NC];
    __mmask16 m[NC];
    for (int k = 0; k < NC; ++k) m[k] = kMasked && k == NC - 1 ? m_last : __mmask16(0xFFFF);
    for (int r = 0; r < RB; ++r)
        for (int k = 0; k < NC; ++k)
            acc[r][k] = _mm512_maskz_loadu_ps(m[k], out[r] + (ch0 + k) * 16);
    for (int32_t c = c0; c < c1; ++c) {
        prefetch_block<kAhead, 1>(kv.v, kv.row_bytes, cells, c, n);
        const uint8_t* row = kv.v + size_t(cells[c]) * kv.row_bytes;
        __m512 v[NC];
        for (int k = 0; k < NC; ++k)
            v[k] = kMasked && k == NC - 1 ? v_chunk<kType, true>(row, ch0 + k, m_last)
                                          : v_chunk<kType, false>(row, ch0 + k, m_last);
        for (int r = 0; r < RB; ++r) {
            const __m512 pc = _mm512_set1_ps(p[r][c]);
            for (int k = 0; k < NC; ++k) acc[r][k] = _mm512_fmadd_ps(pc, v[k], acc[r][k]);
        }
    }
    for (int r = 0; r < RB; ++r)
        for (int k = 0; k < NC; ++k)
            _mm512_mask_storeu_ps(out[r] + (ch0 + k) * 16, m[k], acc[r][k]);
}

// Chunks of 16 dims per pass over the cells for RB rows: at most 16 sums in registers.
constexpr int chunks_per_pass_512(int rb) {
    return rb <= 3 ? 4 : 2;
}

// v_accumulate for RB rows over all chunks (as many per pass as chunks_per_pass_512 says).
// Prefetches (kAhead) in the first pass only.
template <DType kType, int RB, int kAhead>
void v_accumulate_chunks(float* const* out, const float* const* p, const KvHeadView& kv,
                         const int32_t* cells, int32_t c0, int32_t c1, int32_t n, int nch,
                         __mmask16 m_last, bool prefetch) {
    constexpr int NC = chunks_per_pass_512(RB);
    const bool masked = m_last != __mmask16(0xFFFF);
    for (int ch0 = 0; ch0 < nch; ch0 += NC) {
        const bool pf = kAhead > 0 && prefetch && ch0 == 0;
        const bool mk = masked && ch0 + NC >= nch;
        with_count<NC>(nch - ch0, [&]<int C>() {
            if (mk && pf)
                v_accumulate<kType, RB, C, true, kAhead>(out, p, kv, cells, c0, c1, n, ch0, m_last);
            else if (mk)
                v_accumulate<kType, RB, C, true, 0>(out, p, kv, cells, c0, c1, n, ch0, m_last);
            else if (pf)
                v_accumulate<kType, RB, C, false, kAhead>(out, p, kv, cells, c0, c1, n, ch0,
                                                          m_last);
            else
                v_accumulate<kType, RB, C, false, 0>(out, p, kv, cells, c0, c1, n, ch0, m_last);
        });
    }
}

// part_r = sum over the cells of [j0, j1) that row r sees of half(e * inv_r) * v, in cell order
// (kernels.h attention_values), by attention_groups.h's row groups.
template <DType kType, int kAhead>
void values_512(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells, int32_t j0,
                int32_t j1, int hd, float* sc, size_t ld, const float* inv, float* part) {
    const int nch = (hd + 15) / 16;
    const __mmask16 m_last = lanes16(hd - (nch - 1) * 16);
    values_in_row_groups(
        job, j0, j1, hd, sc, ld, inv, part,
        [](float* p, int32_t n, float inv_r) {
            for (int32_t j = 0; j < n; j += 16)
                normalize_half16(p + j, std::min<int32_t>(16, n - j), inv_r);
        },
        [&](int rb, float* const* out, const float* const* p, int32_t c0, int32_t c1, bool first) {
            with_count<kValueRowGroup>(rb, [&]<int RB>() {
                v_accumulate_chunks<kType, RB, kAhead>(out, p, kv, cells, c0, c1, j1, nch, m_last,
                                                       first);
            });
        });
}

template <int kAhead>
void attention_values_avx512(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells,
                             int32_t j0, int32_t j1, int head_dim, float* sc, size_t ld,
                             const float* inv, float* part) {
    if (kv.type == DType::Q8_0)
        values_512<DType::Q8_0, kAhead>(job, kv, cells, j0, j1, head_dim, sc, ld, inv, part);
    else
        values_512<DType::F16, kAhead>(job, kv, cells, j0, j1, head_dim, sc, ld, inv, part);
}

}  // namespace
}  // namespace ponder::kernels
