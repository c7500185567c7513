// Q4_K, Q5_K and Q6_K matmul kernels for aarch64 Advanced SIMD with the dot product extension
// (compiled with -march=armv8.2-a+dotprod+fp16 for this file alone; see dispatch.h).
//
// Numerics: bit-identical to dot_row (kernels/ref/dot_ref.cpp). Per super-block, SDOT sums
// each lane of 4 consecutive elements of a 32-element group, the sub-block scales multiply
// those integer sums and the 8 groups add up in integers (exact: |sum| < 2^25), so each of the
// 8 lanes gets the reference's integer; then one FMA per lane with xd * d, the mins as the
// reference computes them (Q4_K: 4 FMA lanes; Q5_K: one float sum per super-block), and the
// reference's 8-lane horizontal sum. Activations: quantize_row(Q8_K) itself.
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cmath>
#include <cstdint>

#include "core/fp16.h"
#include "core/quant.h"
#include "core/quant_blocks.h"
#include "kernels/dispatch.h"

namespace ponder::kernels {
namespace {

// One weight super-block unpacked: the 256 quants as int8 (natural element order), the scale
// of each 16 elements, and for Q4_K / Q5_K the 8 mins and dmin.
struct Unpacked {
    alignas(16) int8_t q[kQK_K];
    int32_t scale[16];
    int32_t min[8];
    float d, dmin;
};

// The 8 six-bit scales and mins of a Q4_K / Q5_K super-block.
void scales_mins(const uint8_t* sc, int32_t* scale16, int32_t* min) {
    for (int j = 0; j < 8; ++j) {
        int s, m;
        if (j < 4) {
            s = sc[j] & 63;
            m = sc[j + 4] & 63;
        } else {
            s = (sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4);
            m = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
        }
        scale16[2 * j] = scale16[2 * j + 1] = s;
        min[j] = m;
    }
}

// Q4_K / Q5_K: 64 elements per 32 bytes of qs, low nibbles first (elements 64g + l), then
// high nibbles (64g + 32 + l); Q5_K's fifth bits are bits 2g and 2g + 1 of qh[l].
template <bool kQ5>
void unpack_k4(const uint8_t* qs, const uint8_t* qh, Unpacked& u) {
    const uint8x16_t low4 = vdupq_n_u8(0x0F), five = vdupq_n_u8(0x10);
    uint8x16_t h[2] = {vdupq_n_u8(0), vdupq_n_u8(0)};
    if constexpr (kQ5) {
        h[0] = vld1q_u8(qh);
        h[1] = vld1q_u8(qh + 16);
    }
    for (int g = 0; g < 4; ++g)
        for (int half = 0; half < 2; ++half) {
            const uint8x16_t q = vld1q_u8(qs + 32 * g + 16 * half);
            uint8x16_t lo = vandq_u8(q, low4), hi = vshrq_n_u8(q, 4);
            if constexpr (kQ5) {
                lo = vorrq_u8(lo,
                              vandq_u8(vtstq_u8(h[half], vdupq_n_u8(uint8_t(1 << (2 * g)))), five));
                hi = vorrq_u8(hi,
                              vandq_u8(vtstq_u8(h[half], vdupq_n_u8(uint8_t(2 << (2 * g)))), five));
            }
            vst1q_s8(u.q + 64 * g + 16 * half, vreinterpretq_s8_u8(lo));
            vst1q_s8(u.q + 64 * g + 32 + 16 * half, vreinterpretq_s8_u8(hi));
        }
}

struct FmtQ4_K {
    using Block = BlockQ4_K;
    static void unpack(const Block& b, Unpacked& u) {
        scales_mins(b.scales, u.scale, u.min);
        unpack_k4<false>(b.qs, nullptr, u);
        u.d = fp16_to_f32(b.d);
        u.dmin = fp16_to_f32(b.dmin);
    }
};
struct FmtQ5_K {
    using Block = BlockQ5_K;
    static void unpack(const Block& b, Unpacked& u) {
        scales_mins(b.scales, u.scale, u.min);
        unpack_k4<true>(b.qs, b.qh, u);
        u.d = fp16_to_f32(b.d);
        u.dmin = fp16_to_f32(b.dmin);
    }
};
// Q6_K: per half of 128 elements, 64 bytes of low nibbles and 32 bytes of 2-bit highs; the
// quant is (low | high << 4) - 32 and every 16 elements have an int8 scale.
struct FmtQ6_K {
    using Block = BlockQ6_K;
    static void unpack(const Block& b, Unpacked& u) {
        const uint8x16_t low4 = vdupq_n_u8(0x0F), three = vdupq_n_u8(3);
        const int8x16_t bias = vdupq_n_s8(32);
        auto put = [&](int e, uint8x16_t low, uint8x16_t high2) {
            const uint8x16_t q = vorrq_u8(low, vshlq_n_u8(vandq_u8(high2, three), 4));
            vst1q_s8(u.q + e, vsubq_s8(vreinterpretq_s8_u8(q), bias));
        };
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = b.ql + 64 * half;
            const uint8_t* qh = b.qh + 32 * half;
            const int o = 128 * half;
            for (int j = 0; j < 32; j += 16) {
                const uint8x16_t a = vld1q_u8(ql + j), c = vld1q_u8(ql + 32 + j);
                const uint8x16_t h = vld1q_u8(qh + j);
                put(o + j, vandq_u8(a, low4), h);
                put(o + 32 + j, vandq_u8(c, low4), vshrq_n_u8(h, 2));
                put(o + 64 + j, vshrq_n_u8(a, 4), vshrq_n_u8(h, 4));
                put(o + 96 + j, vshrq_n_u8(c, 4), vshrq_n_u8(h, 6));
            }
        }
        for (int s = 0; s < 16; ++s) u.scale[s] = b.scales[s];
        u.d = fp16_to_f32(b.d);
        u.dmin = 0;
    }
};

enum class Mins { None, Lanes4, Sum };
template <class F>
constexpr Mins kMins = Mins::None;
template <>
constexpr Mins kMins<FmtQ4_K> = Mins::Lanes4;
template <>
constexpr Mins kMins<FmtQ5_K> = Mins::Sum;

// The reference's 8-lane sum ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
inline float hsum_lanes(float32x4_t lo, float32x4_t hi) {
    const float32x4_t s = vaddq_f32(lo, hi);
    return (vgetq_lane_f32(s, 0) + vgetq_lane_f32(s, 2)) +
           (vgetq_lane_f32(s, 1) + vgetq_lane_f32(s, 3));
}

// One weight row x NT tokens: y[(t0 + t) * ldy + r] for t < NT.
template <class F, int NT>
void row_tokens(const uint8_t* wrow, const uint8_t* acts, size_t arb, int64_t nb, int64_t r,
                int64_t t0, float* y, int64_t ldy) {
    const auto* wb = reinterpret_cast<const typename F::Block*>(wrow);
    const BlockQ8_K* xb[NT];
    for (int t = 0; t < NT; ++t)
        xb[t] = reinterpret_cast<const BlockQ8_K*>(acts + size_t(t0 + t) * arb);
    float32x4_t acc[NT][2];
    float mlanes[NT][4], summs[NT];
    for (int t = 0; t < NT; ++t) {
        acc[t][0] = acc[t][1] = vdupq_n_f32(0.0f);
        for (int k = 0; k < 4; ++k) mlanes[t][k] = 0.0f;
        summs[t] = 0.0f;
    }
    Unpacked u;
    for (int64_t b = 0; b < nb; ++b) {
        F::unpack(wb[b], u);
        for (int t = 0; t < NT; ++t) {
            const BlockQ8_K& x = xb[t][b];
            int32x4_t il = vdupq_n_s32(0), ih = vdupq_n_s32(0);
            for (int g = 0; g < 8; ++g) {
                const int32x4_t sl =
                    vdotq_s32(vdupq_n_s32(0), vld1q_s8(u.q + 32 * g), vld1q_s8(x.qs + 32 * g));
                const int32x4_t sh = vdotq_s32(vdupq_n_s32(0), vld1q_s8(u.q + 32 * g + 16),
                                               vld1q_s8(x.qs + 32 * g + 16));
                il = vmlaq_n_s32(il, sl, u.scale[2 * g]);
                ih = vmlaq_n_s32(ih, sh, u.scale[2 * g + 1]);
            }
            const float32x4_t dd = vdupq_n_f32(x.d * u.d);
            acc[t][0] = vfmaq_f32(acc[t][0], vcvtq_f32_s32(il), dd);
            acc[t][1] = vfmaq_f32(acc[t][1], vcvtq_f32_s32(ih), dd);
            if constexpr (kMins<F> != Mins::None) {
                const float dm = -x.d * u.dmin;
                int prod[4];
                for (int k = 0; k < 4; ++k) {
                    const int s0 = x.bsums[4 * k] + x.bsums[4 * k + 1];
                    const int s1 = x.bsums[4 * k + 2] + x.bsums[4 * k + 3];
                    prod[k] = u.min[2 * k] * s0 + u.min[2 * k + 1] * s1;
                }
                if constexpr (kMins<F> == Mins::Lanes4) {
                    for (int k = 0; k < 4; ++k)
                        mlanes[t][k] = std::fma(dm, float(prod[k]), mlanes[t][k]);
                } else {
                    summs[t] += dm * float(prod[0] + prod[1] + prod[2] + prod[3]);
                }
            }
        }
    }
    for (int t = 0; t < NT; ++t) {
        float s = hsum_lanes(acc[t][0], acc[t][1]);
        if constexpr (kMins<F> == Mins::Lanes4)
            s += (mlanes[t][0] + mlanes[t][2]) + (mlanes[t][1] + mlanes[t][3]);
        else if constexpr (kMins<F> == Mins::Sum)
            s += summs[t];
        y[(t0 + t) * ldy + r] = s;
    }
}

// Rows one at a time (the unpacked super-block is reused by up to 4 tokens).
template <class F>
void gemm(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
          int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const int64_t nb = n / kQK_K;
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* wrow = w + size_t(r) * wrb;
        int64_t t = 0;
        for (; t + 4 <= n_tokens; t += 4) row_tokens<F, 4>(wrow, acts, arb, nb, r, t, y, ldy);
        switch (n_tokens - t) {
            case 3:
                row_tokens<F, 3>(wrow, acts, arb, nb, r, t, y, ldy);
                break;
            case 2:
                row_tokens<F, 2>(wrow, acts, arb, nb, r, t, y, ldy);
                break;
            case 1:
                row_tokens<F, 1>(wrow, acts, arb, nb, r, t, y, ldy);
                break;
            default:
                break;
        }
    }
}

void quantize_q8_K(const float* x, int64_t n, uint8_t* out) {
    quantize_row(DType::Q8_K, x, out, n);
}

}  // namespace

void register_gemm_kquants_neon(KernelTable& t) {
    t.gemm_for(DType::Q4_K) = {DType::Q8_K, quantize_q8_K, gemm<FmtQ4_K>};
    t.gemm_for(DType::Q5_K) = {DType::Q8_K, quantize_q8_K, gemm<FmtQ5_K>};
    t.gemm_for(DType::Q6_K) = {DType::Q8_K, quantize_q8_K, gemm<FmtQ6_K>};
}

}  // namespace ponder::kernels
#endif
