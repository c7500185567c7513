#include "kernels/ref/dot_ref.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/fp16.h"
#include "core/quant.h"
#include "core/quant_blocks.h"

namespace ponder::kernels {
namespace {

// The AVX horizontal sum of 8 lanes: ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
float hsum8(const float* a) {
    const float s0 = a[0] + a[4], s1 = a[1] + a[5], s2 = a[2] + a[6], s3 = a[3] + a[7];
    return (s0 + s2) + (s1 + s3);
}

// Accumulates one block: lanes[l] = fma(d, sum of w[e] * q[e] over e in lane l, lanes[l]).
void block_fma(const int* w, const int8_t* q, int n, float d, float* lanes) {
    for (int l = 0; l < 8; ++l) {
        int s = 0;
        for (int e = 4 * l; e < n; e += 32)
            for (int k = 0; k < 4; ++k) s += w[e + k] * q[e + k];
        lanes[l] = std::fma(d, float(s), lanes[l]);
    }
}

// Weight integers of a 32-element block (natural element order) and its scale / min.
void unpack32(DType t, const uint8_t* blk, int* w, float* d, float* m) {
    auto nib = [&](const uint8_t* qs, int e) { return e < 16 ? qs[e] & 0xF : qs[e - 16] >> 4; };
    auto hbit = [&](const uint8_t* qh, int e) {
        uint32_t h;
        std::memcpy(&h, qh, 4);
        return int((h >> e) & 1);
    };
    *m = 0;
    switch (t) {
        case DType::Q4_0: {
            auto b = reinterpret_cast<const BlockQ4_0*>(blk);
            *d = fp16_to_f32(b->d);
            for (int e = 0; e < 32; ++e) w[e] = nib(b->qs, e) - 8;
            break;
        }
        case DType::Q4_1: {
            auto b = reinterpret_cast<const BlockQ4_1*>(blk);
            *d = fp16_to_f32(b->d);
            *m = fp16_to_f32(b->m);
            for (int e = 0; e < 32; ++e) w[e] = nib(b->qs, e);
            break;
        }
        case DType::Q5_0: {
            auto b = reinterpret_cast<const BlockQ5_0*>(blk);
            *d = fp16_to_f32(b->d);
            for (int e = 0; e < 32; ++e) w[e] = (nib(b->qs, e) | (hbit(b->qh, e) << 4)) - 16;
            break;
        }
        case DType::Q5_1: {
            auto b = reinterpret_cast<const BlockQ5_1*>(blk);
            *d = fp16_to_f32(b->d);
            *m = fp16_to_f32(b->m);
            for (int e = 0; e < 32; ++e) w[e] = nib(b->qs, e) | (hbit(b->qh, e) << 4);
            break;
        }
        default: {  // Q8_0
            auto b = reinterpret_cast<const BlockQ8_0*>(blk);
            *d = fp16_to_f32(b->d);
            for (int e = 0; e < 32; ++e) w[e] = b->qs[e];
            break;
        }
    }
}

// Q6_K weight integers scale(e) * (q6(e) - 32) for one super-block.
void unpack_q6_K(const BlockQ6_K& b, int* w) {
    for (int half = 0; half < 2; ++half) {
        const uint8_t* ql = b.ql + 64 * half;
        const uint8_t* qh = b.qh + 32 * half;
        int* o = w + 128 * half;
        for (int l = 0; l < 32; ++l) {
            o[l] = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            o[l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            o[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            o[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        }
    }
    for (int e = 0; e < kQK_K; ++e) w[e] *= b.scales[e / 16];
}

// The 8 six-bit scales and mins of a Q4_K / Q5_K super-block.
void scales_mins_k4(const uint8_t* sc, int* scale, int* min) {
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            scale[j] = sc[j] & 63;
            min[j] = sc[j + 4] & 63;
        } else {
            scale[j] = (sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4);
            min[j] = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
        }
    }
}

// Q4_K / Q5_K: weight integers scale(e) * q(e) (without the min) and the 8 mins.
void unpack_k4(DType t, const uint8_t* blk, int* w, int* mins, float* d, float* dmin) {
    int scale[8];
    const uint8_t* qs;
    const uint8_t* qh = nullptr;
    if (t == DType::Q4_K) {
        auto b = reinterpret_cast<const BlockQ4_K*>(blk);
        scales_mins_k4(b->scales, scale, mins);
        qs = b->qs;
        *d = fp16_to_f32(b->d);
        *dmin = fp16_to_f32(b->dmin);
    } else {
        auto b = reinterpret_cast<const BlockQ5_K*>(blk);
        scales_mins_k4(b->scales, scale, mins);
        qs = b->qs;
        qh = b->qh;
        *d = fp16_to_f32(b->d);
        *dmin = fp16_to_f32(b->dmin);
    }
    // 64 elements per group of 32 bytes: low nibbles first, then high nibbles.
    for (int g = 0; g < 4; ++g)
        for (int l = 0; l < 32; ++l) {
            int lo = qs[32 * g + l] & 0xF, hi = qs[32 * g + l] >> 4;
            if (qh) {
                lo |= ((qh[l] >> (2 * g)) & 1) << 4;
                hi |= ((qh[l] >> (2 * g + 1)) & 1) << 4;
            }
            w[64 * g + l] = scale[2 * g] * lo;
            w[64 * g + 32 + l] = scale[2 * g + 1] * hi;
        }
}

}  // namespace

bool has_exact_dot(DType t) {
    switch (t) {
        case DType::Q4_0:
        case DType::Q4_1:
        case DType::Q5_0:
        case DType::Q5_1:
        case DType::Q8_0:
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K:
            return true;
        default:
            return false;
    }
}

void quantize_acts(DType t, const float* x, int64_t n, QuantizedActs& out) {
    if (t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K) {
        out.type = DType::Q8_K;
        out.data.resize(row_size(DType::Q8_K, n));
        quantize_row(DType::Q8_K, x, out.data.data(), n);
        return;
    }
    out.type = DType::Q8_0;
    const int64_t nb = n / kQK;
    out.data.resize(size_t(nb) * sizeof(BlockQ8_0));
    out.sums.resize(size_t(nb));
    auto* y = reinterpret_cast<BlockQ8_0*>(out.data.data());
    for (int64_t b = 0; b < nb; ++b) {
        const float* xb = x + b * kQK;
        float amax = 0;
        for (int e = 0; e < kQK; ++e) amax = std::max(amax, std::fabs(xb[e]));
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[b].d = f32_to_fp16(d);
        int sum = 0;
        for (int e = 0; e < kQK; ++e) {
            y[b].qs[e] = int8_t(std::nearbyint(xb[e] * id));  // round half to even
            sum += y[b].qs[e];
        }
        out.sums[size_t(b)] = fp16_to_f32(f32_to_fp16(d * float(sum)));
    }
}

float dot_row(DType t, const uint8_t* w, const QuantizedActs& x, int64_t n) {
    float lanes[8] = {};
    int wi[kQK_K];
    if (t == DType::Q6_K) {
        const auto* wb = reinterpret_cast<const BlockQ6_K*>(w);
        const auto* xb = reinterpret_cast<const BlockQ8_K*>(x.data.data());
        for (int64_t b = 0; b < n / kQK_K; ++b) {
            unpack_q6_K(wb[b], wi);
            block_fma(wi, xb[b].qs, kQK_K, xb[b].d * fp16_to_f32(wb[b].d), lanes);
        }
        return hsum8(lanes);
    }
    if (t == DType::Q4_K || t == DType::Q5_K) {
        // Mins: per pair of 32-element sub-blocks, min * (sum of the activations' quants).
        // Q4_K accumulates them in 4 float lanes; Q5_K sums them as one integer per block.
        const size_t bs = dtype_traits(t).type_size;
        const auto* xb = reinterpret_cast<const BlockQ8_K*>(x.data.data());
        float mlanes[4] = {}, summs = 0;
        int mins[8];
        for (int64_t b = 0; b < n / kQK_K; ++b) {
            float d, dmin;
            unpack_k4(t, w + size_t(b) * bs, wi, mins, &d, &dmin);
            const float dm = -xb[b].d * dmin;
            int prod[4];
            for (int k = 0; k < 4; ++k) {
                const int s0 = xb[b].bsums[4 * k] + xb[b].bsums[4 * k + 1];
                const int s1 = xb[b].bsums[4 * k + 2] + xb[b].bsums[4 * k + 3];
                prod[k] = mins[2 * k] * s0 + mins[2 * k + 1] * s1;
            }
            if (t == DType::Q4_K) {
                for (int k = 0; k < 4; ++k) mlanes[k] = std::fma(dm, float(prod[k]), mlanes[k]);
            } else {
                summs += dm * float(prod[0] + prod[1] + prod[2] + prod[3]);
            }
            block_fma(wi, xb[b].qs, kQK_K, xb[b].d * d, lanes);
        }
        if (t == DType::Q4_K) summs = (mlanes[0] + mlanes[2]) + (mlanes[1] + mlanes[3]);
        return hsum8(lanes) + summs;
    }
    const size_t bs = dtype_traits(t).type_size;
    const auto* xb = reinterpret_cast<const BlockQ8_0*>(x.data.data());
    if (t == DType::Q4_0) {
        // The reference engine runs Q4_0 through its interleaved layout: one integer sum per
        // block and a sequential FMA.
        float acc = 0;
        for (int64_t b = 0; b < n / kQK; ++b) {
            float d, m;
            unpack32(t, w + size_t(b) * bs, wi, &d, &m);
            int s = 0;
            for (int e = 0; e < kQK; ++e) s += wi[e] * xb[b].qs[e];
            acc = std::fma(float(s), d * fp16_to_f32(xb[b].d), acc);
        }
        return acc;
    }
    float summs = 0;
    for (int64_t b = 0; b < n / kQK; ++b) {
        float d, m;
        unpack32(t, w + size_t(b) * bs, wi, &d, &m);
        block_fma(wi, xb[b].qs, kQK, d * fp16_to_f32(xb[b].d), lanes);
        summs += m * x.sums[size_t(b)];
    }
    return hsum8(lanes) + summs;
}

}  // namespace ponder::kernels
