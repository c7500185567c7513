// Tensor element types as numbered in GGUF files (ggml's type ids), with their block geometry.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ponder {

enum class DType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
};

struct DTypeTraits {
    std::string_view name;
    uint32_t block_size;  // elements per block (1 for plain types)
    uint32_t type_size;   // bytes per block
    bool quantized;
    bool supported;  // ponder can dequantize it (the rest are known only so files can be read)
};

// Traits of a known type id, or nullopt for an id no GGUF writer uses.
std::optional<DTypeTraits> dtype_traits_of(uint32_t id);
// Traits of a valid DType (asserts it is known).
const DTypeTraits& dtype_traits(DType t);
inline std::string_view dtype_name(DType t) {
    return dtype_traits(t).name;
}
// Parses a type name such as "Q4_K" or "f16" (case-insensitive); nullopt if unknown.
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes taken by one row of n elements; n must be a multiple of the block size.
inline size_t row_size(DType t, int64_t n) {
    const auto& tr = dtype_traits(t);
    return size_t(n / tr.block_size) * tr.type_size;
}

}  // namespace ponder
