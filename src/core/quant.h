// Scalar reference conversions between F32 and every supported tensor format: the definition
// of correct that every optimized kernel is tested against (DESIGN rule 4).
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace ponder {

// dst[0..n) = the values encoded in src. n must be a multiple of the type's block size.
// Bit-exact with the format as llama.cpp writes it. Throws Error for unsupported types.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// Encodes src[0..n) into dst (row_size(type, n) bytes). For Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 the
// bytes equal llama.cpp's reference quantizer; K formats use the same search as llama.cpp's
// reference (without importance weights). Throws Error for unsupported types.
void quantize_row(DType type, const float* src, void* dst, int64_t n);

}  // namespace ponder
