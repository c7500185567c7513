// swiglu, rms_norm, rope, the F16 KV store and the steps of GQA attention (kernels.h:
// attention_scores, attention_exp, attention_values) for aarch64 Advanced SIMD with the dot
// product extension, compiled with -march=armv8.2-a+dotprod+fp16 for this file alone and chosen
// at run time (dispatch.h).
//
// swiglu: g / (1 + exp(-g)) * u in the reference's order with the 4-lane exp below (the x86
// kernels' polynomial). rms_norm: the reference's float squares summed in double in 4 lanes,
// its scale and products. rope: the reference's rotation with each product rounded (aarch64
// builds use -ffp-contract=off, so the multiplies and adds stay apart): its bits. F16 store: FCVTN
// rounds to nearest even as f32_to_fp16; a vector holding a NaN goes through f32_to_fp16 (its
// payload rule).
//
// Attention:
// Work per job (rows sharing one KV head and one cell list), as the x86 kernels
// (x86/attention_impl.h, x86/attention_avx512.h) in 4-float registers:
// 1. Scores, 8 cells at a time.
//    - F16 K: the 8 keys converted to floats once (an L1 buffer, zeros past hd), every row takes
//      8 vectors of 4-lane dot products against its half-rounded query, folded into two vectors
//      of 4 scores by pairwise adds (FADDP). Two rows at a time share the key loads.
//    - Q8_0 K: the query quantized as ref::quantize_q8_0; per block and cell the exact integer
//      dot product (SDOT over 32 bytes), times d_k * d_q (exact in float), added with one FMA.
//    Each row's maximum is kept on the way.
// 2. exp per row and span: the x86 kernels' range reduction and polynomial (x86/vmath.h exp8) in
//    4 lanes, the sum in double.
// 3. part += p * v in float, in cell order per element within a span: the span's probabilities
//    normalized and rounded to half first, then rows in groups of up to 8 hold their outputs in
//    registers over the whole span (at most 16 vectors of 4 sums) while each V row's chunks are
//    converted straight from the cache, once per group.
//
// Numerics against the reference (tests/kernels/test_attention.cpp states the bound): the query
// rounding / quantization and every product are those of the reference; scores are summed in
// float (F16: 4 lanes of hd / 4 products, then pairwise; Q8_0: one rounding per block) where the
// reference sums in double, a relative score error of a few float ulps; the probabilities and
// p * v are the reference's (FMA in cell order).
#if defined(__aarch64__)
#include <arm_neon.h>

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

namespace ponder::kernels {
namespace {

// The largest head the kernels take (the decoder's limit).
constexpr int kMaxHeadDimNeon = 1024;

// Rounds 4 floats to half precision and back (round to nearest even, as f32_to_fp16).
inline float32x4_t round_half4(float32x4_t x) {
    return vcvt_f32_f16(vcvt_f16_f32(x));
}

// Halves h[0, n) as floats at dst[0, n), zeros up to a multiple of 4.
inline void halves_to_f32(const uint16_t* h, int n, float* dst) {
    int d = 0;
    for (; d + 4 <= n; d += 4)
        vst1q_f32(dst + d, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + d))));
    if (d < n) {
        uint16_t t[4] = {};
        std::memcpy(t, h + d, size_t(n - d) * sizeof(uint16_t));
        vst1q_f32(dst + d, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(t))));
    }
}

// Per-thread buffers: the F16 path's half-rounded queries [R][hdp] and 8 converted keys.
struct NeonBuffers {
    std::vector<float> q, k;
    std::vector<BlockQ8_0> qb;
};
inline NeonBuffers& neon_buffers() {
    thread_local NeonBuffers b;
    return b;
}

// The scores of RB rows (queries q, hdp floats apart) against 8 keys (kb, hdp floats apart):
// out[r][0] = cells 0-3, out[r][1] = cells 4-7.
template <int RB>
inline void f16_dots8(const float* q, const float* kb, int hdp, float32x4_t (*out)[2]) {
    float32x4_t a[RB][8];
    for (int r = 0; r < RB; ++r)
        for (int c = 0; c < 8; ++c) a[r][c] = vdupq_n_f32(0.0f);
    for (int d = 0; d < hdp; d += 4) {
        float32x4_t qv[RB];
        for (int r = 0; r < RB; ++r) qv[r] = vld1q_f32(q + r * hdp + d);
        for (int c = 0; c < 8; ++c) {
            const float32x4_t k = vld1q_f32(kb + c * hdp + d);
            for (int r = 0; r < RB; ++r) a[r][c] = vfmaq_f32(a[r][c], qv[r], k);
        }
    }
    for (int r = 0; r < RB; ++r) {
        out[r][0] = vpaddq_f32(vpaddq_f32(a[r][0], a[r][1]), vpaddq_f32(a[r][2], a[r][3]));
        out[r][1] = vpaddq_f32(vpaddq_f32(a[r][4], a[r][5]), vpaddq_f32(a[r][6], a[r][7]));
    }
}

// Stores the 8 scores s (times scale) of cells [jb, jb + g) of row r and updates its maximum.
inline void store8(float* out, const float32x4_t* s, float scale, int g, float& mx) {
    float t[8];
    vst1q_f32(t, vmulq_n_f32(s[0], scale));
    vst1q_f32(t + 4, vmulq_n_f32(s[1], scale));
    for (int c = 0; c < g; ++c) {
        out[c] = t[c];
        mx = std::max(mx, t[c]);
    }
}

void scores_f16(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells, int32_t j0,
                int32_t j1, int hd, float scale, float* sc, size_t ld, float* row_max) {
    const int R = job.n_rows;
    const int hdp = (hd + 3) & ~3;
    NeonBuffers& buf = neon_buffers();
    if (buf.q.size() < size_t(R) * size_t(hdp)) buf.q.resize(size_t(R) * size_t(hdp));
    if (buf.k.size() < 8 * size_t(hdp)) buf.k.resize(8 * size_t(hdp));
    float* q = buf.q.data();
    float* kb = buf.k.data();
    for (int r = 0; r < R; ++r) {
        float* qr = q + r * hdp;
        std::fill(qr, qr + hdp, 0.0f);
        int d = 0;
        for (; d + 4 <= hd; d += 4) vst1q_f32(qr + d, round_half4(vld1q_f32(job.q[r] + d)));
        for (; d < hd; ++d) qr[d] = fp16_to_f32(f32_to_fp16(job.q[r][d]));
        row_max[r] = -INFINITY;
    }
    for (int32_t jb = j0; jb < j1; jb += 8) {
        const int g = std::min<int32_t>(8, j1 - jb);
        for (int c = 0; c < 8; ++c)  // past the range: the last cell again (not kept)
            halves_to_f32(reinterpret_cast<const uint16_t*>(
                              kv.k + size_t(cells[jb + std::min(c, g - 1)]) * kv.row_bytes),
                          hd, kb + c * hdp);
        int r = 0;
        for (; r + 2 <= R; r += 2) {
            if (jb >= job.n_vis[r] && jb >= job.n_vis[r + 1]) continue;
            float32x4_t s[2][2];
            f16_dots8<2>(q + r * hdp, kb, hdp, s);
            for (int i = 0; i < 2; ++i) {
                const int gv = std::min<int32_t>(g, job.n_vis[r + i] - jb);
                if (gv > 0)
                    store8(sc + size_t(r + i) * ld + size_t(jb), s[i], scale, gv, row_max[r + i]);
            }
        }
        if (r < R && jb < job.n_vis[r]) {
            float32x4_t s[1][2];
            f16_dots8<1>(q + r * hdp, kb, hdp, s);
            store8(sc + size_t(r) * ld + size_t(jb), s[0], scale,
                   std::min<int32_t>(g, job.n_vis[r] - jb), row_max[r]);
        }
    }
}

void scores_q8_0(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells, int32_t j0,
                 int32_t j1, int hd, float scale, float* sc, size_t ld, float* row_max) {
    const int R = job.n_rows;
    const int nb = hd / kQK;
    NeonBuffers& buf = neon_buffers();
    if (buf.qb.size() < size_t(R) * size_t(nb)) buf.qb.resize(size_t(R) * size_t(nb));
    BlockQ8_0* qb = buf.qb.data();
    float dq[kMaxAttentionRows * (kMaxHeadDimNeon / kQK)];
    for (int r = 0; r < R; ++r) {
        ref::quantize_q8_0(job.q[r], hd, qb + r * nb);
        for (int b = 0; b < nb; ++b) dq[r * nb + b] = fp16_to_f32(qb[r * nb + b].d);
        row_max[r] = -INFINITY;
    }
    for (int32_t jb = j0; jb < j1; jb += 4) {
        const int g = std::min<int32_t>(4, j1 - jb);
        const BlockQ8_0* kr[4];
        for (int c = 0; c < 4; ++c)
            kr[c] = reinterpret_cast<const BlockQ8_0*>(
                kv.k + size_t(cells[jb + std::min(c, g - 1)]) * kv.row_bytes);
        for (int r = 0; r < R; ++r) {
            const int gv = std::min<int32_t>(g, job.n_vis[r] - jb);
            if (gv <= 0) continue;
            float32x4_t acc = vdupq_n_f32(0.0f);
            for (int b = 0; b < nb; ++b) {
                const BlockQ8_0& x = qb[r * nb + b];
                const int8x16_t q0 = vld1q_s8(x.qs), q1 = vld1q_s8(x.qs + 16);
                int32x4_t s[4];
                float dk[4];
                for (int c = 0; c < 4; ++c) {
                    const BlockQ8_0& y = kr[c][b];
                    s[c] = vdotq_s32(vdotq_s32(vdupq_n_s32(0), q0, vld1q_s8(y.qs)), q1,
                                     vld1q_s8(y.qs + 16));
                    dk[c] = fp16_to_f32(y.d);
                }
                // Lane c: cell c's exact integer block sum.
                const int32x4_t is = vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
                acc = vfmaq_f32(acc, vcvtq_f32_s32(is), vmulq_n_f32(vld1q_f32(dk), dq[r * nb + b]));
            }
            float t[4];
            vst1q_f32(t, vmulq_n_f32(acc, scale));
            float* out = sc + size_t(r) * ld + size_t(jb);
            for (int c = 0; c < gv; ++c) {
                out[c] = t[c];
                row_max[r] = std::max(row_max[r], t[c]);
            }
        }
    }
}

void scores_neon(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells, int32_t j0,
                 int32_t j1, int hd, float scale, float* sc, size_t ld, float* row_max) {
    if (kv.type == DType::Q8_0)
        scores_q8_0(job, kv, cells, j0, j1, hd, scale, sc, ld, row_max);
    else
        scores_f16(job, kv, cells, j0, j1, hd, scale, sc, ld, row_max);
}

// exp(x) for 4 floats: x86/vmath.h exp8's reduction and polynomial.
inline float32x4_t exp4(float32x4_t x) {
    x = vmaxq_f32(x, vdupq_n_f32(-87.3f));
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    const float32x4_t y = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    // y * 2^n through the exponent field (n in [-126, 127] after the clamp).
    const int32x4_t e = vshlq_n_s32(vcvtq_s32_f32(n), 23);
    return vreinterpretq_f32_s32(vaddq_s32(vreinterpretq_s32_f32(y), e));
}

void swiglu_neon(const float* g, const float* u, float* a, int64_t n) {
    auto one = [](float32x4_t gv, float32x4_t uv) {
        const float32x4_t e = exp4(vminq_f32(vnegq_f32(gv), vdupq_n_f32(88.0f)));
        return vmulq_f32(vdivq_f32(gv, vaddq_f32(vdupq_n_f32(1.0f), e)), uv);
    };
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(a + i, one(vld1q_f32(g + i), vld1q_f32(u + i)));
    if (i < n) {
        // The tail through a zero-padded vector, so every element takes the same path.
        float gt[4] = {}, ut[4] = {}, at[4];
        std::copy_n(g + i, n - i, gt);
        std::copy_n(u + i, n - i, ut);
        vst1q_f32(at, one(vld1q_f32(gt), vld1q_f32(ut)));
        std::copy_n(at, n - i, a + i);
    }
}

void rms_norm_neon(const float* x, const float* weight, float* y, int64_t n, int64_t n_rows,
                   float eps) {
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
        float64x2_t lo = vdupq_n_f64(0.0), hi = vdupq_n_f64(0.0);
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
            const float32x4_t v = vld1q_f32(xr + i);
            const float32x4_t sq = vmulq_f32(v, v);
            lo = vaddq_f64(lo, vcvt_f64_f32(vget_low_f32(sq)));
            hi = vaddq_f64(hi, vcvt_high_f64_f32(sq));
        }
        double ss = vaddvq_f64(vaddq_f64(lo, hi));
        for (int64_t j = i; j < n; ++j) ss += double(xr[j] * xr[j]);
        const float scale = ref::rms_norm_scale(ss, n, eps);
        for (i = 0; i + 4 <= n; i += 4)
            vst1q_f32(yr + i,
                      vmulq_f32(vmulq_n_f32(vld1q_f32(xr + i), scale), vld1q_f32(weight + i)));
        for (; i < n; ++i) yr[i] = xr[i] * scale * weight[i];
    }
}

// Pairs (a, b) -> (a c - b s, a s + b c), as ref::rope.
void rope_neon(float* x, int n_heads, int head_dim, int n_rot, bool neox, const float* cs) {
    const int half = n_rot / 2;
    const float* sn = cs + half;
    for (int h = 0; h < n_heads; ++h) {
        float* xh = x + h * head_dim;
        int i = 0;
        for (; i + 4 <= half; i += 4) {
            const float32x4_t c = vld1q_f32(cs + i), s = vld1q_f32(sn + i);
            if (neox) {  // pairs (i, i + half): two contiguous runs
                const float32x4_t a = vld1q_f32(xh + i), b = vld1q_f32(xh + half + i);
                vst1q_f32(xh + i, vsubq_f32(vmulq_f32(a, c), vmulq_f32(b, s)));
                vst1q_f32(xh + half + i, vaddq_f32(vmulq_f32(a, s), vmulq_f32(b, c)));
            } else {  // pairs (2i, 2i + 1): split into even and odd lanes
                float32x4x2_t v = vld2q_f32(xh + 2 * i);
                const float32x4_t a = v.val[0], b = v.val[1];
                v.val[0] = vsubq_f32(vmulq_f32(a, c), vmulq_f32(b, s));
                v.val[1] = vaddq_f32(vmulq_f32(a, s), vmulq_f32(b, c));
                vst2q_f32(xh + 2 * i, v);
            }
        }
        for (; i < half; ++i) {
            const int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
            const float a = xh[i0], b = xh[i1];
            xh[i0] = a * cs[i] - b * sn[i];
            xh[i1] = a * sn[i] + b * cs[i];
        }
    }
}

void to_f16_neon(const float* x, int64_t n, uint8_t* out) {
    auto* h = reinterpret_cast<uint16_t*>(out);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        if (vminvq_u32(vceqq_f32(v, v)) == 0) {  // a NaN lane
            for (int64_t j = i; j < i + 4; ++j) h[j] = f32_to_fp16(x[j]);
            continue;
        }
        vst1_u16(h + i, vreinterpret_u16_f16(vcvt_f16_f32(v)));
    }
    for (; i < n; ++i) h[i] = f32_to_fp16(x[i]);
}

// In place: e[0..n) -> exp(e[j] - mx); returns their sum in double (kernels.h attention_exp).
double exp_neon(float* e, int32_t n, float mx) {
    const float32x4_t vmx = vdupq_n_f32(mx);
    float64x2_t lo = vdupq_n_f64(0.0), hi = vdupq_n_f64(0.0);
    int32_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float32x4_t x = exp4(vsubq_f32(vld1q_f32(e + j), vmx));
        vst1q_f32(e + j, x);
        lo = vaddq_f64(lo, vcvt_f64_f32(vget_low_f32(x)));
        hi = vaddq_f64(hi, vcvt_high_f64_f32(x));
    }
    double sum = 0;
    if (j < n) {
        float t[4] = {};
        for (int32_t i = j; i < n; ++i) t[i - j] = e[i] - mx;
        vst1q_f32(t, exp4(vld1q_f32(t)));
        for (int32_t i = j; i < n; ++i) {
            e[i] = t[i - j];
            sum += t[i - j];
        }
    }
    return sum + vaddvq_f64(vaddq_f64(lo, hi));
}

// Chunk k of 4 dims of a V row as floats: F16 (kTail: the row's last, tail dims long, read
// without passing its end) or Q8_0 (d * q of an eighth of a block; Q8_0 heads are whole blocks).
template <DType kType, bool kTail>
inline float32x4_t v_chunk4(const uint8_t* row, int k, int tail) {
    if constexpr (kType == DType::F16) {
        const auto* h = reinterpret_cast<const uint16_t*>(row) + 4 * k;
        if constexpr (kTail) {
            uint16_t t[4] = {};
            std::memcpy(t, h, size_t(tail) * sizeof(uint16_t));
            return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(t)));
        }
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
    } else {
        const auto* b = reinterpret_cast<const BlockQ8_0*>(row) + k / 8;
        int32_t four;
        std::memcpy(&four, b->qs + 4 * (k % 8), sizeof four);
        const int16x8_t q16 = vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(four)));
        return vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q16))), fp16_to_f32(b->d));
    }
}

// out_r[4 ch0 ..) += sum over cells c in [c0, c1) of p_r[c] * v_c for RB rows and the NC
// chunks of 4 dims from ch0 (kTail: the last of them is the head's last, tail dims long), the
// sums held in registers over the whole range.
template <DType kType, int RB, int NC, bool kTail>
inline void v_accumulate4(float* const* out, const float* const* p, const KvHeadView& kv,
                          const int32_t* cells, int32_t c0, int32_t c1, int ch0, int tail) {
    float32x4_t acc[RB][NC];
    for (int r = 0; r < RB; ++r)
        for (int k = 0; k < NC; ++k) {
            float t[4] = {};
            const int w = kTail && k == NC - 1 ? tail : 4;
            std::memcpy(t, out[r] + (ch0 + k) * 4, size_t(w) * sizeof(float));
            acc[r][k] = vld1q_f32(t);
        }
    for (int32_t c = c0; c < c1; ++c) {
        const uint8_t* row = kv.v + size_t(cells[c]) * kv.row_bytes;
        float32x4_t v[NC];
        for (int k = 0; k < NC; ++k)
            v[k] = kTail && k == NC - 1 ? v_chunk4<kType, true>(row, ch0 + k, tail)
                                        : v_chunk4<kType, false>(row, ch0 + k, tail);
        for (int r = 0; r < RB; ++r) {
            const float32x4_t pc = vld1q_dup_f32(p[r] + c);
            for (int k = 0; k < NC; ++k) acc[r][k] = vfmaq_f32(acc[r][k], pc, v[k]);
        }
    }
    for (int r = 0; r < RB; ++r)
        for (int k = 0; k < NC; ++k) {
            float t[4];
            vst1q_f32(t, acc[r][k]);
            const int w = kTail && k == NC - 1 ? tail : 4;
            std::memcpy(out[r] + (ch0 + k) * 4, t, size_t(w) * sizeof(float));
        }
}

// Chunks of 4 dims per pass over the cells for RB rows: at most 16 sums in registers.
constexpr int chunks_per_pass_neon(int rb) {
    return rb <= 2 ? 8 : rb <= 4 ? 4 : 2;
}

// v_accumulate4 for RB rows over all chunks (as many per pass as chunks_per_pass_neon says).
template <DType kType, int RB>
void v_accumulate4_chunks(float* const* out, const float* const* p, const KvHeadView& kv,
                          const int32_t* cells, int32_t c0, int32_t c1, int nch, int tail) {
    constexpr int NC = chunks_per_pass_neon(RB);
    for (int ch0 = 0; ch0 < nch; ch0 += NC) {
        const bool tl = tail < 4 && ch0 + NC >= nch;
        with_count<NC>(nch - ch0, [&]<int C>() {
            if (tl)
                v_accumulate4<kType, RB, C, true>(out, p, kv, cells, c0, c1, ch0, tail);
            else
                v_accumulate4<kType, RB, C, false>(out, p, kv, cells, c0, c1, ch0, tail);
        });
    }
}

// In place: p[0..n) -> half(p[j] * inv), the normalized probabilities as the reference rounds
// them.
void normalize_half(float* p, int32_t n, float inv) {
    int32_t j = 0;
    for (; j + 4 <= n; j += 4) vst1q_f32(p + j, round_half4(vmulq_n_f32(vld1q_f32(p + j), inv)));
    for (; j < n; ++j) p[j] = fp16_to_f32(f32_to_fp16(p[j] * inv));
}

// part_r = sum over the cells of [j0, j1) that row r sees of half(e * inv_r) * v, in cell order
// (kernels.h attention_values), by attention_groups.h's row groups.
template <DType kType>
void values_neon(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells, int32_t j0,
                 int32_t j1, int hd, float* sc, size_t ld, const float* inv, float* part) {
    const int nch = (hd + 3) / 4;
    const int tail = hd - (nch - 1) * 4;  // dims in the last chunk (4: a whole one)
    values_in_row_groups(
        job, j0, j1, hd, sc, ld, inv, part, normalize_half,
        [&](int rb, float* const* out, const float* const* p, int32_t c0, int32_t c1, bool) {
            with_count<kValueRowGroup>(rb, [&]<int RB>() {
                v_accumulate4_chunks<kType, RB>(out, p, kv, cells, c0, c1, nch, tail);
            });
        });
}

void attention_values_neon(const AttentionRows& job, const KvHeadView& kv, const int32_t* cells,
                           int32_t j0, int32_t j1, int hd, float* sc, size_t ld, const float* inv,
                           float* part) {
    if (kv.type == DType::Q8_0)
        values_neon<DType::Q8_0>(job, kv, cells, j0, j1, hd, sc, ld, inv, part);
    else
        values_neon<DType::F16>(job, kv, cells, j0, j1, hd, sc, ld, inv, part);
}

}  // namespace

void register_ops_neon(KernelTable& t) {
    t.rms_norm = rms_norm_neon;
    t.swiglu = swiglu_neon;
    t.rope = rope_neon;
    t.to_f16 = to_f16_neon;
    t.attention = {scores_neon, exp_neon, attention_values_neon};
}

}  // namespace ponder::kernels
#endif
