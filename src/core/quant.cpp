// Reference conversions for the plain float types and the 32-element block formats, plus the
// type dispatch of dequantize_row / quantize_row. The K formats are in quant_k.cpp.
//
// The 32-element quantizers reproduce llama.cpp's reference quantizer byte for byte: the same
// scale choice (signed absolute maximum over -8 / -16, or (max - min) over 15 / 31, or
// amax / 127), the same float operations in the same order, and the same rounding (truncation
// after adding 8.5 / 16.5 / 0.5, or round-half-away for Q8_0).
#include "core/quant.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/fp16.h"

namespace ponder {
namespace {

// (int)v for v expected in [0, hi]; clamps first so that no input (NaN, inf, huge) reaches an
// undefined float->int conversion. Equal to min(hi, (int)v) for every v in [0, hi + 1).
int trunc_clamped(float v, int hi) {
    if (!(v > 0.0f)) return 0;
    if (v >= float(hi)) return hi;
    return int(v);
}

// Signed value of largest magnitude in x[0..n) (the first one on ties), or 0.
float signed_absmax(const float* x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    return max;
}

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const float d = signed_absmax(x, kQK) / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        for (int j = 0; j < kQK / 2; ++j) {
            const int q0 = trunc_clamped(x[j] * id + 8.5f, 15);
            const int q1 = trunc_clamped(x[j + kQK / 2] * id + 8.5f, 15);
            y[i].qs[j] = uint8_t(q0 | (q1 << 4));
        }
    }
}

void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < kQK; ++j) {
            min = std::min(min, x[j]);
            max = std::max(max, x[j]);
        }
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        y[i].m = f32_to_fp16(min);
        for (int j = 0; j < kQK / 2; ++j) {
            const int q0 = trunc_clamped((x[j] - min) * id + 0.5f, 15);
            const int q1 = trunc_clamped((x[j + kQK / 2] - min) * id + 0.5f, 15);
            y[i].qs[j] = uint8_t(q0 | (q1 << 4));
        }
    }
}

// Shared by Q5_0 and Q5_1: packs 32 5-bit quants into 4-bit nibbles plus a bit mask.
void pack_q5(const int* q, uint8_t* qs, uint8_t* qh_bytes) {
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
        const int q0 = q[j], q1 = q[j + kQK / 2];
        qs[j] = uint8_t((q0 & 0x0f) | ((q1 & 0x0f) << 4));
        qh |= uint32_t((q0 >> 4) & 1) << j;
        qh |= uint32_t((q1 >> 4) & 1) << (j + kQK / 2);
    }
    std::memcpy(qh_bytes, &qh, 4);
}

void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const float d = signed_absmax(x, kQK) / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        int q[kQK];
        for (int j = 0; j < kQK; ++j) q[j] = trunc_clamped(x[j] * id + 16.5f, 31);
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < kQK; ++j) {
            min = std::min(min, x[j]);
            max = std::max(max, x[j]);
        }
        const float d = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        y[i].m = f32_to_fp16(min);
        int q[kQK];
        for (int j = 0; j < kQK; ++j) q[j] = trunc_clamped((x[j] - min) * id + 0.5f, 31);
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        float amax = 0.0f;
        for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        for (int j = 0; j < kQK; ++j) {
            const float r = std::round(x[j] * id);  // half away from zero, |r| <= 127
            y[i].qs[j] = int8_t(std::clamp(std::isnan(r) ? 0.0f : r, -128.0f, 127.0f));
        }
    }
}

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK) {
        const float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < kQK / 2; ++j) {
            y[j] = float((x[i].qs[j] & 0x0f) - 8) * d;
            y[j + kQK / 2] = float((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK) {
        const float d = fp16_to_f32(x[i].d), m = fp16_to_f32(x[i].m);
        for (int j = 0; j < kQK / 2; ++j) {
            y[j] = float(x[i].qs[j] & 0x0f) * d + m;
            y[j + kQK / 2] = float(x[i].qs[j] >> 4) * d + m;
        }
    }
}

// The 5-bit quant j (0..31) of a Q5 block.
int q5_at(const uint8_t* qs, uint32_t qh, int j) {
    const int lo = j < kQK / 2 ? (qs[j] & 0x0f) : (qs[j - kQK / 2] >> 4);
    return lo | int(((qh >> j) & 1) << 4);
}

void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK) {
        const float d = fp16_to_f32(x[i].d);
        uint32_t qh;
        std::memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < kQK; ++j) y[j] = float(q5_at(x[i].qs, qh, j) - 16) * d;
    }
}

void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK) {
        const float d = fp16_to_f32(x[i].d), m = fp16_to_f32(x[i].m);
        uint32_t qh;
        std::memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < kQK; ++j) y[j] = float(q5_at(x[i].qs, qh, j)) * d + m;
    }
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK) {
        const float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < kQK; ++j) y[j] = float(x[i].qs[j]) * d;
    }
}

// Name of a type id for messages, also for ids that are not a known DType.
std::string type_label(DType type) {
    const auto tr = dtype_traits_of(uint32_t(type));
    return tr ? std::string(tr->name) : cat("id ", uint32_t(type));
}

// Number of blocks in n elements; throws unless n is a multiple of the block size.
int64_t blocks_of(DType type, int64_t n, const char* what) {
    const auto& tr = dtype_traits(type);
    if (n < 0 || n % tr.block_size != 0)
        fail(what, ": ", n, " elements is not a multiple of the ", tr.name, " block size ",
             tr.block_size);
    return n / tr.block_size;
}

}  // namespace

int round_nearest_even(float v) {
    // Adding 1.5 * 2^23 puts the value where one unit in the last place is exactly 1, so the
    // addition itself rounds to nearest-even; the integer then sits in the low mantissa bits.
    const float shifted = v + 12582912.0f;
    return int(f32_to_bits(shifted) & 0x7fffffu) - 0x400000;
}

bool quant_supported(DType type) {
    switch (type) {
        case DType::F32:
        case DType::F16:
        case DType::BF16:
        case DType::Q4_0:
        case DType::Q4_1:
        case DType::Q5_0:
        case DType::Q5_1:
        case DType::Q8_0:
        case DType::Q2_K:
        case DType::Q3_K:
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K:
        case DType::Q8_K:
            return true;
        default:
            return false;
    }
}

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
    const char* what = "dequantize";
    switch (type) {
        case DType::F32:
            std::memcpy(dst, src, size_t(blocks_of(type, n, what)) * sizeof(float));
            return;
        case DType::F16: {
            const auto* s = static_cast<const uint16_t*>(src);
            for (int64_t i = 0, e = blocks_of(type, n, what); i < e; ++i)
                dst[i] = fp16_to_f32(s[i]);
            return;
        }
        case DType::BF16: {
            const auto* s = static_cast<const uint16_t*>(src);
            for (int64_t i = 0, e = blocks_of(type, n, what); i < e; ++i)
                dst[i] = bf16_to_f32(s[i]);
            return;
        }
#define PONDER_DQ(T, fn, B) \
    case DType::T:          \
        return fn(static_cast<const B*>(src), dst, blocks_of(type, n, what));
            PONDER_DQ(Q4_0, dequantize_q4_0, BlockQ4_0)
            PONDER_DQ(Q4_1, dequantize_q4_1, BlockQ4_1)
            PONDER_DQ(Q5_0, dequantize_q5_0, BlockQ5_0)
            PONDER_DQ(Q5_1, dequantize_q5_1, BlockQ5_1)
            PONDER_DQ(Q8_0, dequantize_q8_0, BlockQ8_0)
            PONDER_DQ(Q2_K, dequantize_blocks_q2_K, BlockQ2_K)
            PONDER_DQ(Q3_K, dequantize_blocks_q3_K, BlockQ3_K)
            PONDER_DQ(Q4_K, dequantize_blocks_q4_K, BlockQ4_K)
            PONDER_DQ(Q5_K, dequantize_blocks_q5_K, BlockQ5_K)
            PONDER_DQ(Q6_K, dequantize_blocks_q6_K, BlockQ6_K)
            PONDER_DQ(Q8_K, dequantize_blocks_q8_K, BlockQ8_K)
#undef PONDER_DQ
        default:
            fail("dequantize: type ", type_label(type), " is not supported");
    }
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
    const char* what = "quantize";
    switch (type) {
        case DType::F32:
            std::memcpy(dst, src, size_t(blocks_of(type, n, what)) * sizeof(float));
            return;
        case DType::F16: {
            auto* d = static_cast<uint16_t*>(dst);
            for (int64_t i = 0, e = blocks_of(type, n, what); i < e; ++i)
                d[i] = f32_to_fp16(src[i]);
            return;
        }
        case DType::BF16: {
            auto* d = static_cast<uint16_t*>(dst);
            for (int64_t i = 0, e = blocks_of(type, n, what); i < e; ++i)
                d[i] = f32_to_bf16(src[i]);
            return;
        }
#define PONDER_Q(T, fn, B) \
    case DType::T:         \
        return fn(src, static_cast<B*>(dst), blocks_of(type, n, what));
            PONDER_Q(Q4_0, quantize_q4_0, BlockQ4_0)
            PONDER_Q(Q4_1, quantize_q4_1, BlockQ4_1)
            PONDER_Q(Q5_0, quantize_q5_0, BlockQ5_0)
            PONDER_Q(Q5_1, quantize_q5_1, BlockQ5_1)
            PONDER_Q(Q8_0, quantize_q8_0, BlockQ8_0)
            PONDER_Q(Q2_K, quantize_blocks_q2_K, BlockQ2_K)
            PONDER_Q(Q3_K, quantize_blocks_q3_K, BlockQ3_K)
            PONDER_Q(Q4_K, quantize_blocks_q4_K, BlockQ4_K)
            PONDER_Q(Q5_K, quantize_blocks_q5_K, BlockQ5_K)
            PONDER_Q(Q6_K, quantize_blocks_q6_K, BlockQ6_K)
            PONDER_Q(Q8_K, quantize_blocks_q8_K, BlockQ8_K)
#undef PONDER_Q
        default:
            fail("quantize: type ", type_label(type), " is not supported");
    }
}

}  // namespace ponder
