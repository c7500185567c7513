// Matmul kernels for aarch64 Advanced SIMD with the dot product extension (SDOT), compiled
// with -march=armv8.2-a+dotprod+fp16 for this file alone and chosen at run time (dispatch.h).
//
// Numerics (docs/DESIGN.md, "Numerics"; kernels/ref/dot_ref.cpp is the statement):
// - quantize_*: bit-identical to quantize_acts (scale 127/max, round half to even through
//   FCVTNS, fp16 scales through core/fp16.h).
// - Q8_0, Q4_1, Q5_0, Q5_1 (gemm_lanes): per block, SDOT gives the integer sums of the 8 lanes
//   of 4 consecutive elements in two vectors (lanes 0-3, 4-7), then one FMA per lane with
//   dw * dx, and the reference's 8-lane horizontal sum at the end, plus a sequential float sum
//   of m * s for Q4_1 / Q5_1: bit-identical to dot_row.
// - Q4_0 (gemm_rows): one integer sum per block (SDOT, then an exact integer reduction) and a
//   sequential FMA per block; 4 weight rows share one vector of accumulators (a lane per row):
//   bit-identical to dot_row.
// - F32 / F16 / BF16 (gemm_float): activations rounded to the weight's precision (kept as
//   floats), float FMAs over 8 lanes; not the reference's double sum (see the tests' bound).
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/fp16.h"
#include "core/quant_blocks.h"
#include "kernels/dispatch.h"

namespace ponder::kernels {
namespace {

// ---- tiling -----------------------------------------------------------------------------------

// Calls f.operator()<R, NT>(r, t) for tiles of R rows from r and NT tokens from t covering
// rows [r0, r1) and tokens [t0, t0 + NT): whole R-row tiles, then single rows.
template <int R, int NT, class F>
inline void row_tiles(F& f, int64_t r0, int64_t r1, int64_t t0) {
    int64_t r = r0;
    for (; r + R <= r1; r += R) f.template operator()<R, NT>(r, t0);
    for (; r < r1; ++r) f.template operator()<1, NT>(r, t0);
}

// Covers rows [r0, r1) x tokens [0, n_tokens) with tiles of up to R rows x 4 tokens.
template <int R, class F>
inline void tiles(F&& f, int64_t r0, int64_t r1, int64_t n_tokens) {
    int64_t t = 0;
    for (; t + 4 <= n_tokens; t += 4) row_tiles<R, 4>(f, r0, r1, t);
    switch (n_tokens - t) {
        case 3:
            row_tiles<R, 3>(f, r0, r1, t);
            break;
        case 2:
            row_tiles<R, 2>(f, r0, r1, t);
            break;
        case 1:
            row_tiles<R, 1>(f, r0, r1, t);
            break;
        default:
            break;
    }
}

// ---- activation rounding ----------------------------------------------------------------------

// One block of 32 floats -> 32 int8 with d = max|x| / 127 (stored as fp16 in *d_out, returned
// unrounded in *d_f32); returns the sum of the quants.
inline int quantize_block32(const float* x, uint16_t* d_out, float* d_f32, int8_t* qs) {
    float32x4_t v[8];
    float32x4_t m = vdupq_n_f32(0.0f);
    // maxNum ignores NaNs as std::max(amax, |x|) in the reference does.
    for (int i = 0; i < 8; ++i) {
        v[i] = vld1q_f32(x + 4 * i);
        m = vmaxnmq_f32(m, vabsq_f32(v[i]));
    }
    const float amax = vmaxnmvq_f32(m);
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    *d_out = f32_to_fp16(d);
    *d_f32 = d;
    const float32x4_t vid = vdupq_n_f32(id);
    int32x4_t q[8];
    for (int i = 0; i < 8; ++i) q[i] = vcvtnq_s32_f32(vmulq_f32(v[i], vid));  // half to even
    for (int h = 0; h < 2; ++h) {
        const int16x8_t a = vcombine_s16(vqmovn_s32(q[4 * h]), vqmovn_s32(q[4 * h + 1]));
        const int16x8_t b = vcombine_s16(vqmovn_s32(q[4 * h + 2]), vqmovn_s32(q[4 * h + 3]));
        vst1q_s8(qs + 16 * h, vcombine_s8(vqmovn_s16(a), vqmovn_s16(b)));
    }
    const int32x4_t s = vaddq_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3])),
                                  vaddq_s32(vaddq_s32(q[4], q[5]), vaddq_s32(q[6], q[7])));
    return vaddvq_s32(s);
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

// F16 weights: activations rounded to half precision (FCVTN, round to nearest even, overflow
// to inf, subnormals kept), kept as floats (act_type F32).
void round_f16(const float* x, int64_t n, uint8_t* out) {
    float* y = reinterpret_cast<float*>(out);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vcvt_f32_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; ++i) y[i] = fp16_to_f32(f32_to_fp16(x[i]));
}

// BF16 weights: activations rounded to bfloat16 as f32_to_bf16 does, kept as floats.
void round_bf16(const float* x, int64_t n, uint8_t* out) {
    float* y = reinterpret_cast<float*>(out);
    const uint32x4_t one = vdupq_n_u32(1), bias = vdupq_n_u32(0x7fff);
    const uint32x4_t inf = vdupq_n_u32(0x7f800000u), quiet = vdupq_n_u32(0x400000);
    const uint32x4_t high = vdupq_n_u32(0xffff0000u), abs_mask = vdupq_n_u32(0x7fffffffu);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32x4_t v = vreinterpretq_u32_f32(vld1q_f32(x + i));
        const uint32x4_t lsb = vandq_u32(vshrq_n_u32(v, 16), one);
        const uint32x4_t rounded = vaddq_u32(vaddq_u32(v, bias), lsb);
        const uint32x4_t nan = vcgtq_u32(vandq_u32(v, abs_mask), inf);
        const uint32x4_t r = vbslq_u32(nan, vorrq_u32(v, quiet), rounded);
        vst1q_f32(y + i, vreinterpretq_f32_u32(vandq_u32(r, high)));
    }
    for (; i < n; ++i) y[i] = bf16_to_f32(f32_to_bf16(x[i]));
}

void copy_f32(const float* x, int64_t n, uint8_t* out) {
    std::memcpy(out, x, size_t(n) * sizeof(float));
}

// ---- float weights ----------------------------------------------------------------------------

struct LoadF32 {
    using T = float;
    static float32x4_t load4(const float* p) { return vld1q_f32(p); }
    static float load1(const float* p) { return *p; }
};
struct LoadF16 {
    using T = uint16_t;
    static float32x4_t load4(const uint16_t* p) {
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
    }
    static float load1(const uint16_t* p) { return fp16_to_f32(*p); }
};
struct LoadBF16 {
    using T = uint16_t;
    static float32x4_t load4(const uint16_t* p) {
        return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
    }
    static float load1(const uint16_t* p) { return bf16_to_f32(*p); }
};

// y[t * ldy + r] = dot(weight row r, activation row t); R rows x NT tokens per tile, 8 lanes
// (two vectors) per output.
template <class L>
void gemm_float(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
                int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    using W = typename L::T;
    const float* x = reinterpret_cast<const float*>(acts);
    const size_t xs = arb / sizeof(float);
    tiles<2>(
        [&]<int R, int NT>(int64_t r_first, int64_t t_first) {
            const W* wr[R];
            for (int r = 0; r < R; ++r)
                wr[r] = reinterpret_cast<const W*>(w + size_t(r_first + r) * wrb);
            const float* xt[NT];
            for (int t = 0; t < NT; ++t) xt[t] = x + size_t(t_first + t) * xs;
            float32x4_t acc[R][NT][2];
            for (int r = 0; r < R; ++r)
                for (int t = 0; t < NT; ++t) acc[r][t][0] = acc[r][t][1] = vdupq_n_f32(0.0f);
            int64_t c = 0;
            for (; c + 8 <= n; c += 8) {
                float32x4_t xv[NT][2];
                for (int t = 0; t < NT; ++t) {
                    xv[t][0] = vld1q_f32(xt[t] + c);
                    xv[t][1] = vld1q_f32(xt[t] + c + 4);
                }
                for (int r = 0; r < R; ++r) {
                    const float32x4_t w0 = L::load4(wr[r] + c), w1 = L::load4(wr[r] + c + 4);
                    for (int t = 0; t < NT; ++t) {
                        acc[r][t][0] = vfmaq_f32(acc[r][t][0], w0, xv[t][0]);
                        acc[r][t][1] = vfmaq_f32(acc[r][t][1], w1, xv[t][1]);
                    }
                }
            }
            for (int r = 0; r < R; ++r)
                for (int t = 0; t < NT; ++t) {
                    float s = vaddvq_f32(vaddq_f32(acc[r][t][0], acc[r][t][1]));
                    for (int64_t k = c; k < n; ++k) s += L::load1(wr[r] + k) * xt[t][k];
                    y[(t_first + t) * ldy + r_first + r] = s;
                }
        },
        r0, r1, n_tokens);
}

// ---- 32-element quantized weights -------------------------------------------------------------

// A weight block's 32 integers (elements 0-15 in lo, 16-31 in hi), its scale and its min.
struct FmtQ8_0 {
    using Block = BlockQ8_0;
    static constexpr bool kMin = false;
    static void unpack(const Block& b, int8x16_t& lo, int8x16_t& hi, float& d, float& m) {
        lo = vld1q_s8(b.qs);
        hi = vld1q_s8(b.qs + 16);
        d = fp16_to_f32(b.d);
        m = 0;
    }
};
// Nibbles: element j in the low nibble of qs[j], element j + 16 in the high nibble.
inline void nibbles(const uint8_t* qs, uint8x16_t& lo, uint8x16_t& hi) {
    const uint8x16_t q = vld1q_u8(qs);
    lo = vandq_u8(q, vdupq_n_u8(0x0F));
    hi = vshrq_n_u8(q, 4);
}
// The fifth bits (bit j of the little-endian u32 qh for element j) as 0x10 in each byte.
inline void fifth_bits(const uint8_t* qh, uint8x16_t& lo, uint8x16_t& hi) {
    uint32_t h;
    std::memcpy(&h, qh, 4);
    const uint8x16_t bytes = vreinterpretq_u8_u32(vdupq_n_u32(h));
    // Element j's bit is bit j % 8 of byte j / 8.
    static const uint8_t kIdxLo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t kIdxHi[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bit = vld1q_u8(kBit), five = vdupq_n_u8(0x10);
    lo = vandq_u8(vtstq_u8(vqtbl1q_u8(bytes, vld1q_u8(kIdxLo)), bit), five);
    hi = vandq_u8(vtstq_u8(vqtbl1q_u8(bytes, vld1q_u8(kIdxHi)), bit), five);
}
struct FmtQ4_0 {
    using Block = BlockQ4_0;
    static constexpr bool kMin = false;
    static void unpack(const Block& b, int8x16_t& lo, int8x16_t& hi, float& d, float& m) {
        uint8x16_t l, h;
        nibbles(b.qs, l, h);
        lo = vsubq_s8(vreinterpretq_s8_u8(l), vdupq_n_s8(8));
        hi = vsubq_s8(vreinterpretq_s8_u8(h), vdupq_n_s8(8));
        d = fp16_to_f32(b.d);
        m = 0;
    }
};
struct FmtQ4_1 {
    using Block = BlockQ4_1;
    static constexpr bool kMin = true;
    static void unpack(const Block& b, int8x16_t& lo, int8x16_t& hi, float& d, float& m) {
        uint8x16_t l, h;
        nibbles(b.qs, l, h);
        lo = vreinterpretq_s8_u8(l);
        hi = vreinterpretq_s8_u8(h);
        d = fp16_to_f32(b.d);
        m = fp16_to_f32(b.m);
    }
};
struct FmtQ5_0 {
    using Block = BlockQ5_0;
    static constexpr bool kMin = false;
    static void unpack(const Block& b, int8x16_t& lo, int8x16_t& hi, float& d, float& m) {
        uint8x16_t l, h, bl, bh;
        nibbles(b.qs, l, h);
        fifth_bits(b.qh, bl, bh);
        lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(l, bl)), vdupq_n_s8(16));
        hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(h, bh)), vdupq_n_s8(16));
        d = fp16_to_f32(b.d);
        m = 0;
    }
};
struct FmtQ5_1 {
    using Block = BlockQ5_1;
    static constexpr bool kMin = true;
    static void unpack(const Block& b, int8x16_t& lo, int8x16_t& hi, float& d, float& m) {
        uint8x16_t l, h, bl, bh;
        nibbles(b.qs, l, h);
        fifth_bits(b.qh, bl, bh);
        lo = vreinterpretq_s8_u8(vorrq_u8(l, bl));
        hi = vreinterpretq_s8_u8(vorrq_u8(h, bh));
        d = fp16_to_f32(b.d);
        m = fp16_to_f32(b.m);
    }
};

// The activation block of the formats: Q8_1 (with s) for those with a min, else Q8_0.
template <class F>
using ActBlock = std::conditional_t<F::kMin, BlockQ8_1, BlockQ8_0>;

// The reference's 8-lane sum ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)) of lanes lo = a0..a3,
// hi = a4..a7.
inline float hsum_lanes(float32x4_t lo, float32x4_t hi) {
    const float32x4_t s = vaddq_f32(lo, hi);
    return (vgetq_lane_f32(s, 0) + vgetq_lane_f32(s, 2)) +
           (vgetq_lane_f32(s, 1) + vgetq_lane_f32(s, 3));
}

// Lane order (Q8_0, Q4_1, Q5_0, Q5_1): tiles of up to 2 rows x 4 tokens.
template <class F>
void gemm_lanes(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
                int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    using A = ActBlock<F>;
    const int64_t nb = n / kQK;
    tiles<2>(
        [&]<int R, int NT>(int64_t r_first, int64_t t_first) {
            const typename F::Block* wb[R];
            for (int r = 0; r < R; ++r)
                wb[r] = reinterpret_cast<const typename F::Block*>(w + size_t(r_first + r) * wrb);
            const A* xb[NT];
            for (int t = 0; t < NT; ++t)
                xb[t] = reinterpret_cast<const A*>(acts + size_t(t_first + t) * arb);
            float32x4_t acc[R][NT][2];
            float summs[R][NT];
            for (int r = 0; r < R; ++r)
                for (int t = 0; t < NT; ++t) {
                    acc[r][t][0] = acc[r][t][1] = vdupq_n_f32(0.0f);
                    summs[r][t] = 0.0f;
                }
            for (int64_t b = 0; b < nb; ++b) {
                int8x16_t xl[NT], xh[NT];
                float xd[NT], xsum[NT];
                for (int t = 0; t < NT; ++t) {
                    xl[t] = vld1q_s8(xb[t][b].qs);
                    xh[t] = vld1q_s8(xb[t][b].qs + 16);
                    xd[t] = fp16_to_f32(xb[t][b].d);
                    if constexpr (F::kMin) xsum[t] = fp16_to_f32(xb[t][b].s);
                }
                for (int r = 0; r < R; ++r) {
                    int8x16_t wl, wh;
                    float d, m;
                    F::unpack(wb[r][b], wl, wh, d, m);
                    for (int t = 0; t < NT; ++t) {
                        const int32x4_t sl = vdotq_s32(vdupq_n_s32(0), wl, xl[t]);
                        const int32x4_t sh = vdotq_s32(vdupq_n_s32(0), wh, xh[t]);
                        const float32x4_t dd = vdupq_n_f32(d * xd[t]);
                        acc[r][t][0] = vfmaq_f32(acc[r][t][0], vcvtq_f32_s32(sl), dd);
                        acc[r][t][1] = vfmaq_f32(acc[r][t][1], vcvtq_f32_s32(sh), dd);
                        if constexpr (F::kMin) summs[r][t] += m * xsum[t];
                    }
                }
            }
            for (int r = 0; r < R; ++r)
                for (int t = 0; t < NT; ++t) {
                    float s = hsum_lanes(acc[r][t][0], acc[r][t][1]);
                    if constexpr (F::kMin) s += summs[r][t];
                    y[(t_first + t) * ldy + r_first + r] = s;
                }
        },
        r0, r1, n_tokens);
}

// Row order (Q4_0): one integer sum per block, then acc = fma(sum, dw * dx, acc). Up to 4
// rows share one accumulator vector (lane r for row r), so each lane is the reference's
// sequential chain.
template <class F>
void gemm_rows(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
               int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const int64_t nb = n / kQK;
    tiles<4>(
        [&]<int R, int NT>(int64_t r_first, int64_t t_first) {
            const typename F::Block* wb[R];
            for (int r = 0; r < R; ++r)
                wb[r] = reinterpret_cast<const typename F::Block*>(w + size_t(r_first + r) * wrb);
            const BlockQ8_0* xb[NT];
            for (int t = 0; t < NT; ++t)
                xb[t] = reinterpret_cast<const BlockQ8_0*>(acts + size_t(t_first + t) * arb);
            float32x4_t acc[NT];
            for (int t = 0; t < NT; ++t) acc[t] = vdupq_n_f32(0.0f);
            for (int64_t b = 0; b < nb; ++b) {
                int8x16_t wl[R], wh[R];
                float dw[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                for (int r = 0; r < R; ++r) {
                    float m;
                    F::unpack(wb[r][b], wl[r], wh[r], dw[r], m);
                }
                for (int t = 0; t < NT; ++t) {
                    const int8x16_t xl = vld1q_s8(xb[t][b].qs), xh = vld1q_s8(xb[t][b].qs + 16);
                    const float xd = fp16_to_f32(xb[t][b].d);
                    int32x4_t s[4];
                    for (int r = 0; r < 4; ++r) s[r] = vdupq_n_s32(0);
                    for (int r = 0; r < R; ++r)
                        s[r] = vdotq_s32(vdotq_s32(s[r], wl[r], xl), wh[r], xh);
                    // Lane r: the whole block's integer sum of row r (exact).
                    const int32x4_t sums =
                        vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
                    float dd[4];
                    for (int r = 0; r < 4; ++r) dd[r] = dw[r] * xd;
                    acc[t] = vfmaq_f32(acc[t], vcvtq_f32_s32(sums), vld1q_f32(dd));
                }
            }
            for (int t = 0; t < NT; ++t) {
                float out[4];
                vst1q_f32(out, acc[t]);
                for (int r = 0; r < R; ++r) y[(t_first + t) * ldy + r_first + r] = out[r];
            }
        },
        r0, r1, n_tokens);
}

}  // namespace

void register_gemm_neon(KernelTable& t) {
    t.gemm_for(DType::F32) = {DType::F32, copy_f32, gemm_float<LoadF32>};
    t.gemm_for(DType::F16) = {DType::F32, round_f16, gemm_float<LoadF16>};
    t.gemm_for(DType::BF16) = {DType::F32, round_bf16, gemm_float<LoadBF16>};
    t.gemm_for(DType::Q8_0) = {DType::Q8_0, quantize_q8_0, gemm_lanes<FmtQ8_0>};
    t.gemm_for(DType::Q4_0) = {DType::Q8_0, quantize_q8_0, gemm_rows<FmtQ4_0>};
    t.gemm_for(DType::Q4_1) = {DType::Q8_1, quantize_q8_1, gemm_lanes<FmtQ4_1>};
    t.gemm_for(DType::Q5_0) = {DType::Q8_0, quantize_q8_0, gemm_lanes<FmtQ5_0>};
    t.gemm_for(DType::Q5_1) = {DType::Q8_1, quantize_q8_1, gemm_lanes<FmtQ5_1>};
}

}  // namespace ponder::kernels
#endif
