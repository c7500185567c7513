// Scalar reference conversions between F32 and every supported tensor format: the definition
// of correct that every optimized kernel is tested against (DESIGN rule 4).
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "core/quant_blocks.h"

namespace ponder {

// dst[0..n) = the values encoded in src. n must be a multiple of the type's block size.
// Bit-exact with the format as llama.cpp writes it. Throws Error for unsupported types.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// Encodes src[0..n) into dst (row_size(type, n) bytes). For Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 the
// bytes equal llama.cpp's reference quantizer; K formats use the same search as llama.cpp's
// reference (without importance weights). Throws Error for unsupported types.
void quantize_row(DType type, const float* src, void* dst, int64_t n);

// True if quantize_row / dequantize_row accept `type`.
bool quant_supported(DType type);

// ---- per-format reference routines (nb = number of blocks; x/y are [nb * block size]) -------
// The K formats live in quant_k.cpp. Every quantizer is a pure function of its input: the same
// floats always give the same bytes. Inputs must be finite; non-finite inputs give unspecified
// (but memory-safe) output.
void quantize_blocks_q2_K(const float* x, BlockQ2_K* y, int64_t nb);
void quantize_blocks_q3_K(const float* x, BlockQ3_K* y, int64_t nb);
void quantize_blocks_q4_K(const float* x, BlockQ4_K* y, int64_t nb);
void quantize_blocks_q5_K(const float* x, BlockQ5_K* y, int64_t nb);
void quantize_blocks_q6_K(const float* x, BlockQ6_K* y, int64_t nb);
void quantize_blocks_q8_K(const float* x, BlockQ8_K* y, int64_t nb);
void dequantize_blocks_q2_K(const BlockQ2_K* x, float* y, int64_t nb);
void dequantize_blocks_q3_K(const BlockQ3_K* x, float* y, int64_t nb);
void dequantize_blocks_q4_K(const BlockQ4_K* x, float* y, int64_t nb);
void dequantize_blocks_q5_K(const BlockQ5_K* x, float* y, int64_t nb);
void dequantize_blocks_q6_K(const BlockQ6_K* x, float* y, int64_t nb);
void dequantize_blocks_q8_K(const BlockQ8_K* x, float* y, int64_t nb);

// The 6-bit scale and min of sub-block j (0..7) from the packed 12 bytes of Q4_K / Q5_K.
void unpack_scale_min_k4(int j, const uint8_t* packed, uint8_t* scale, uint8_t* min);
// The 16 signed 6-bit scales (-32..31) from the packed 12 bytes of Q3_K.
void unpack_scales_q3_K(const uint8_t* packed, int8_t scales[16]);

// Round to nearest, ties to even (as llama.cpp's K quantizers round). |v| < 2^22 for an exact
// result; any other input (including NaN) gives some int without undefined behaviour.
int round_nearest_even(float v);

}  // namespace ponder
