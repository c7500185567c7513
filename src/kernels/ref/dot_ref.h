// Scalar dot products of one weight row with quantized activations, with the exact
// arithmetic of the reference engine's AVX2 kernels: integer products summed into 8 lanes of
// 4 consecutive elements (element e -> lane (e % 32) / 4), one float FMA per block and lane
// with the block's combined scale, an 8-lane horizontal sum at the end. Matching this order
// makes logits agree with llama.cpp to the last bit in all but rare cases, so near-tie
// roundings of later activations go the same way (see docs/DESIGN.md, "Numerics").
#pragma once
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace ponder::kernels {

// Whether dot_row supports this weight type (the rest use dequantize + float dot).
bool has_exact_dot(DType weight_type);

// Activations quantized for weight type t, one row of n elements: Q8_0 blocks (with the Q8_1
// block sum where the weight has a min) or Q8_K blocks. Rounding is round-half-even with
// scale 127/max, as at run time in the reference engine (its file quantizer differs).
struct QuantizedActs {
    DType type = DType::Q8_0;
    std::vector<uint8_t> data;  // blocks
    std::vector<float> sums;    // per 32-block: fp16-rounded d * sum(q) (for Q4_1 / Q5_1)
};
void quantize_acts(DType weight_type, const float* x, int64_t n, QuantizedActs& out);

// sum_c W[c] * x[c] for one row of n elements of weight type t.
float dot_row(DType t, const uint8_t* w, const QuantizedActs& x, int64_t n);

}  // namespace ponder::kernels
