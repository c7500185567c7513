// Reference conversions for the K formats (256-element super-blocks split into sub-blocks of
// 16 or 32 elements, each with its own quantized scale, and for Q2_K/Q4_K/Q5_K a min).
//
// Decoding is bit-exact with llama.cpp: the same float operations in the same order.
// Encoding follows llama.cpp's reference search without importance weights: a per-sub-block
// search for the best scale (and min), then the sub-block scales are themselves quantized
// against a super-block scale and every element is re-quantized with the scale actually
// stored. The arithmetic follows the same order, so the bytes normally equal llama.cpp's.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "core/quant.h"

namespace ponder {
namespace {

constexpr float kGroupMaxEps = 1e-15f;  // a sub-block below this magnitude is all zero

// Symmetric search for a signed scale with quants in [-nmax, nmax) (Q6_K sub-blocks).
// Returns the scale; L[i] = quant + nmax. Weights are x^2 (error weighted by magnitude):
// it tries the scales -(nmax + 0.1 k) / max for k in -9..9 and keeps the best least-squares
// fit sum(w x l)^2 / sum(w l^2).
float search_symmetric(int n, int nmax, const float* x, int8_t* L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            max = x[i];
        }
    }
    if (amax < kGroupMaxEps) {
        std::fill(L, L + n, int8_t(0));
        return 0.0f;
    }
    auto quant = [&](float iscale, int i) {
        return std::clamp(round_nearest_even(iscale * x[i]), -nmax, nmax - 1);
    };
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = quant(iscale, i);
        L[i] = int8_t(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int k = -9; k <= 9; ++k) {
        if (k == 0) continue;
        iscale = -(nmax + 0.1f * k) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = quant(iscale, i);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) L[i] = int8_t(quant(iscale, i) + nmax);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Symmetric search for Q3_K sub-blocks: starts from -nmax / max, then up to 5 passes of
// coordinate descent that move single quants while the weighted fit (weights x^2) improves.
// Returns the scale; L[i] = quant + nmax with quants in [-nmax, nmax).
float search_q3(int n, int nmax, const float* x, int8_t* L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            max = x[i];
        }
    }
    if (amax < kGroupMaxEps) {
        std::fill(L, L + n, int8_t(0));
        return 0.0f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = std::clamp(round_nearest_even(iscale * x[i]), -nmax, nmax - 1);
        L[i] = int8_t(l);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int pass = 0; pass < 5; ++pass) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                const int nl = std::clamp(round_nearest_even(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (nl != L[i]) {
                    slx += w * x[i] * nl;
                    sl2 += w * nl * nl;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = int8_t(nl);
                        sumlx = slx;
                        suml2 = sl2;
                        ++changed;
                    }
                }
            }
        }
        if (changed == 0) break;
    }
    for (int i = 0; i < n; ++i) L[i] = int8_t(L[i] + nmax);
    return sumlx / suml2;
}

// Affine search (scale and min) for Q2_K/Q4_K/Q5_K sub-blocks: x ~ scale * L - the_min with L
// in [0, nmax]. Starts from the range fit, then tries iscale = (nmax + rmin + rdelta k) / range
// for k in 0..nstep, refits scale and min by weighted least squares for each candidate and
// keeps the one with the smallest weighted error (absolute if use_mad, else squared).
// Returns the scale; *the_min >= 0 is the offset subtracted on decode.
float search_affine(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min,
                    float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        std::fill(L, L + n, uint8_t(0));
        *the_min = -min;
        return 0.0f;
    }
    auto err = [use_mad](float diff) { return use_mad ? std::fabs(diff) : diff * diff; };
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        L[i] = uint8_t(std::clamp(round_nearest_even(iscale * (x[i] - min)), 0, nmax));
        best_error += w[i] * err(scale * L[i] + min - x[i]);
    }
    uint8_t Laux[32];
    for (int k = 0; k <= nstep; ++k) {
        iscale = (rmin + rdelta * k + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(round_nearest_even(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = uint8_t(l);
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float cur_error = 0;
        for (int i = 0; i < n; ++i) cur_error += w[i] * err(this_scale * Laux[i] + this_min - x[i]);
        if (cur_error < best_error) {
            std::copy(Laux, Laux + n, L);
            best_error = cur_error;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

// Packs 2-bit quants L[0..256) as Q2_K/Q3_K store them: byte l of each 32-byte group g holds
// elements 128g + l + 32s at bit 2s.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
    for (int j = 0; j < kQK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                    (L[j + l + 96] << 6));
}

// Packs 8 6-bit scales and 8 6-bit mins into the 12 bytes of Q4_K/Q5_K.
void pack_scale_min_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* q) {
    std::memset(q, 0, kScaleBytesK);
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            q[j] = ls[j];
            q[j + 4] = lm[j];
        } else {
            q[j + 4] = uint8_t((ls[j] & 0xf) | ((lm[j] & 0xf) << 4));
            q[j - 4] |= uint8_t((ls[j] >> 4) << 6);
            q[j] |= uint8_t((lm[j] >> 4) << 6);
        }
    }
}

// Shared by Q4_K and Q5_K: per 32-element sub-block an affine search weighted by
// rms(sub-block) + |x|, 6-bit quantization of the scales and mins against d = max/63 and
// dmin = max_min/63, then every element re-quantized to [0, nmax] with the stored values.
// Writes d, dmin, the 12 scale bytes and L[0..256).
void quantize_affine_k(const float* x, int nmax, float rmin, int nstep, uint16_t* d_out,
                       uint16_t* dmin_out, uint8_t* scales_out, uint8_t* L) {
    float scales[8], mins[8], weights[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        scales[j] =
            search_affine(32, nmax, xs, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep, false);
        max_scale = std::max(max_scale, scales[j]);
        max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
        // Wrapping to 8 bits before the clamp matches the reference for any input.
        ls[j] = std::min<uint8_t>(63, uint8_t(round_nearest_even(inv_scale * scales[j])));
        lm[j] = std::min<uint8_t>(63, uint8_t(round_nearest_even(inv_min * mins[j])));
    }
    pack_scale_min_k4(ls, lm, scales_out);
    *d_out = f32_to_fp16(max_scale / 63.f);
    *dmin_out = f32_to_fp16(max_min / 63.f);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        unpack_scale_min_k4(j, scales_out, &sc, &m);
        const float d = fp16_to_f32(*d_out) * sc;
        if (d == 0.0f) continue;
        const float dm = fp16_to_f32(*dmin_out) * m;
        for (int i = 0; i < 32; ++i)
            L[32 * j + i] =
                uint8_t(std::clamp(round_nearest_even((x[32 * j + i] + dm) / d), 0, nmax));
    }
}

}  // namespace

void unpack_scale_min_k4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = uint8_t((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
        *min = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void unpack_scales_q3_K(const uint8_t* q, int8_t scales[16]) {
    // Low 4 bits: bytes 0..7 (low nibble for scales 0..7, high nibble for 8..15).
    // High 2 bits: bytes 8..11, scale j at bit 2 * (j / 4) of byte 8 + j % 4.
    for (int j = 0; j < 16; ++j) {
        const int lo = j < 8 ? (q[j] & 0xf) : (q[j - 8] >> 4);
        const int hi = (q[8 + j % 4] >> (2 * (j / 4))) & 3;
        scales[j] = int8_t((lo | (hi << 4)) - 32);
    }
}

// ---- Q2_K: 16 sub-blocks of 16, 2-bit quants, 4-bit scale and min per sub-block -----------

void quantize_blocks_q2_K(const float* x, BlockQ2_K* y, int64_t nb) {
    constexpr float kQ4Scale = 15.f;
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        uint8_t L[kQK_K];
        float scales[16], mins[16], weights[16];
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
            scales[j] = search_affine(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f,
                                      15, true);
            max_scale = std::max(max_scale, scales[j]);
            max_min = std::max(max_min, mins[j]);
        }
        BlockQ2_K& b = y[i];
        if (max_scale > 0) {
            const float iscale = kQ4Scale / max_scale;
            for (int j = 0; j < 16; ++j)
                b.scales[j] = uint8_t(round_nearest_even(iscale * scales[j]));
            b.d = f32_to_fp16(max_scale / kQ4Scale);
        } else {
            std::fill(b.scales, b.scales + 16, uint8_t(0));
            b.d = f32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = kQ4Scale / max_min;
            for (int j = 0; j < 16; ++j)
                b.scales[j] |= uint8_t(round_nearest_even(iscale * mins[j]) << 4);
            b.dmin = f32_to_fp16(max_min / kQ4Scale);
        } else {
            b.dmin = f32_to_fp16(0.f);
        }
        for (int j = 0; j < 16; ++j) {
            const float d = fp16_to_f32(b.d) * (b.scales[j] & 0xf);
            if (d == 0.0f) continue;
            const float dm = fp16_to_f32(b.dmin) * (b.scales[j] >> 4);
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] =
                    uint8_t(std::clamp(round_nearest_even((x[16 * j + l] + dm) / d), 0, 3));
        }
        pack_2bit(L, b.qs);
    }
}

void dequantize_blocks_q2_K(const BlockQ2_K* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(x[i].d);
        const float min = fp16_to_f32(x[i].dmin);
        const uint8_t* q = x[i].qs;
        int is = 0;
        for (int n = 0; n < kQK_K; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; ++half) {
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * float(sc & 0xf);
                    const float ml = min * float(sc >> 4);
                    for (int l = 0; l < 16; ++l)
                        *y++ = dl * float((q[16 * half + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

// ---- Q3_K: 16 sub-blocks of 16, 3-bit signed quants, 6-bit signed scales ----------------

void quantize_blocks_q3_K(const float* x, BlockQ3_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        int8_t L[kQK_K];
        float scales[16];
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; ++j) {
            scales[j] = search_q3(16, 4, x + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > amax) {
                amax = std::fabs(scales[j]);
                max_scale = scales[j];
            }
        }
        BlockQ3_K& b = y[i];
        std::memset(b.scales, 0, sizeof b.scales);
        if (max_scale != 0.0f) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; ++j) {
                const int l =
                    std::clamp(int(int8_t(round_nearest_even(iscale * scales[j]))), -32, 31) + 32;
                if (j < 8)
                    b.scales[j] = uint8_t(l & 0xf);
                else
                    b.scales[j - 8] |= uint8_t((l & 0xf) << 4);
                b.scales[j % 4 + 8] |= uint8_t((l >> 4) << (2 * (j / 4)));
            }
            b.d = f32_to_fp16(1 / iscale);
        } else {
            b.d = f32_to_fp16(0.f);
        }
        int8_t sc[16];
        unpack_scales_q3_K(b.scales, sc);
        for (int j = 0; j < 16; ++j) {
            const float d = fp16_to_f32(b.d) * sc[j];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] =
                    int8_t(std::clamp(round_nearest_even(x[16 * j + l] / d), -4, 3) + 4);
        }
        // High bit of quant j goes to hmask[j % 32] bit j / 32; the low 2 bits are packed.
        std::memset(b.hmask, 0, sizeof b.hmask);
        uint8_t low[kQK_K];
        for (int j = 0; j < kQK_K; ++j) {
            if (L[j] > 3) b.hmask[j % 32] |= uint8_t(1 << (j / 32));
            low[j] = uint8_t(L[j] & 3);
        }
        pack_2bit(low, b.qs);
    }
}

void dequantize_blocks_q3_K(const BlockQ3_K* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d_all = fp16_to_f32(x[i].d);
        int8_t scales[16];
        unpack_scales_q3_K(x[i].scales, scales);
        const uint8_t* q = x[i].qs;
        const uint8_t* hm = x[i].hmask;
        uint8_t m = 1;
        int is = 0;
        for (int n = 0; n < kQK_K; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = uint8_t(m << 1)) {
                for (int half = 0; half < 2; ++half) {
                    const float dl = d_all * float(scales[is++]);
                    for (int l = 0; l < 16; ++l) {
                        const int k = 16 * half + l;
                        const int v = ((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4);
                        *y++ = dl * float(v);
                    }
                }
            }
        }
    }
}

// ---- Q4_K / Q5_K: 8 sub-blocks of 32, 4/5-bit quants, 6-bit scale and min ---------------

void quantize_blocks_q4_K(const float* x, BlockQ4_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        uint8_t L[kQK_K];
        quantize_affine_k(x, 15, -1.f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t* q = y[i].qs;
        for (int j = 0; j < kQK_K; j += 64, q += 32)
            for (int l = 0; l < 32; ++l) q[l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
    }
}

void dequantize_blocks_q4_K(const BlockQ4_K* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(x[i].d);
        const float min = fp16_to_f32(x[i].dmin);
        const uint8_t* q = x[i].qs;
        for (int is = 0; is < 8; is += 2, q += 32) {
            uint8_t sc, m;
            unpack_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            unpack_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0xf) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
        }
    }
}

void quantize_blocks_q5_K(const float* x, BlockQ5_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        uint8_t L[kQK_K];
        quantize_affine_k(x, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        // Pair g (elements 64g..64g+63): low nibbles in qs[32g..], 5th bits at qh bits 2g, 2g+1.
        std::memset(y[i].qh, 0, sizeof y[i].qh);
        uint8_t* ql = y[i].qs;
        for (int g = 0; g < 4; ++g, ql += 32) {
            for (int j = 0; j < 32; ++j) {
                const int l1 = L[64 * g + j], l2 = L[64 * g + j + 32];
                y[i].qh[j] |= uint8_t(((l1 >> 4) << (2 * g)) | ((l2 >> 4) << (2 * g + 1)));
                ql[j] = uint8_t((l1 & 0xf) | ((l2 & 0xf) << 4));
            }
        }
    }
}

void dequantize_blocks_q5_K(const BlockQ5_K* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(x[i].d);
        const float min = fp16_to_f32(x[i].dmin);
        const uint8_t* ql = x[i].qs;
        const uint8_t* qh = x[i].qh;
        for (int is = 0; is < 8; is += 2, ql += 32) {
            uint8_t sc, m;
            unpack_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            unpack_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            const uint8_t u1 = uint8_t(1 << is), u2 = uint8_t(2 << is);
            for (int l = 0; l < 32; ++l)
                *y++ = d1 * float((ql[l] & 0xf) + ((qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l)
                *y++ = d2 * float((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

// ---- Q6_K: 16 sub-blocks of 16, 6-bit signed quants, 8-bit signed scales ----------------

void quantize_blocks_q6_K(const float* x, BlockQ6_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        int8_t L[kQK_K];
        float scales[16];
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < 16; ++ib) {
            scales[ib] = search_symmetric(16, 32, x + 16 * ib, L + 16 * ib);
            if (std::fabs(scales[ib]) > max_abs_scale) {
                max_abs_scale = std::fabs(scales[ib]);
                max_scale = scales[ib];
            }
        }
        BlockQ6_K& b = y[i];
        if (max_abs_scale < kGroupMaxEps) {
            std::memset(&b, 0, sizeof b);
            continue;
        }
        const float iscale = -128.f / max_scale;
        b.d = f32_to_fp16(1 / iscale);
        for (int ib = 0; ib < 16; ++ib)
            b.scales[ib] = int8_t(std::min(127, round_nearest_even(iscale * scales[ib])));
        for (int j = 0; j < 16; ++j) {
            const float d = fp16_to_f32(b.d) * b.scales[j];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; ++l)
                L[16 * j + l] =
                    int8_t(std::clamp(round_nearest_even(x[16 * j + l] / d), -32, 31) + 32);
        }
        // Per 128 elements: ql holds low nibbles (elements l and l+64 share byte l, l+32 and
        // l+96 share byte l+32), qh the 2 high bits of l, l+32, l+64, l+96 at bits 0,2,4,6.
        uint8_t* ql = b.ql;
        uint8_t* qh = b.qh;
        for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                ql[l] = uint8_t((q1 & 0xf) | ((q3 & 0xf) << 4));
                ql[l + 32] = uint8_t((q2 & 0xf) | ((q4 & 0xf) << 4));
                qh[l] = uint8_t((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

void dequantize_blocks_q6_K(const BlockQ6_K* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(x[i].d);
        const uint8_t* ql = x[i].ql;
        const uint8_t* qh = x[i].qh;
        const int8_t* sc = x[i].scales;
        for (int n = 0; n < kQK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * float(sc[is]) * float(q1);
                y[l + 32] = d * float(sc[is + 2]) * float(q2);
                y[l + 64] = d * float(sc[is + 4]) * float(q3);
                y[l + 96] = d * float(sc[is + 6]) * float(q4);
            }
        }
    }
}

// ---- Q8_K: the 8-bit activation format (f32 scale, sums of 16 quants) ------------------

void quantize_blocks_q8_K(const float* x, BlockQ8_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < kQK_K; ++j) {
            if (std::fabs(x[j]) > amax) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        BlockQ8_K& b = y[i];
        if (amax == 0.0f) {
            std::memset(&b, 0, sizeof b);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < kQK_K; ++j)
            b.qs[j] = int8_t(std::clamp(round_nearest_even(iscale * x[j]), -128, 127));
        for (int j = 0; j < kQK_K / 16; ++j) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += b.qs[16 * j + l];
            b.bsums[j] = int16_t(sum);
        }
        b.d = 1 / iscale;
    }
}

void dequantize_blocks_q8_K(const BlockQ8_K* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK_K)
        for (int j = 0; j < kQK_K; ++j) y[j] = x[i].d * float(x[i].qs[j]);
}

}  // namespace ponder
