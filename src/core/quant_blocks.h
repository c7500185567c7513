// Block layouts of the quantized tensor formats, byte for byte as GGUF files store them.
// Scales marked `half` are IEEE fp16 bit patterns (see core/fp16.h).
#pragma once
#include <cstdint>

namespace ponder {

constexpr int kQK = 32;           // elements per block of the 32-element formats
constexpr int kQK_K = 256;        // elements per super-block of the K formats
constexpr int kScaleBytesK = 12;  // packed 6-bit scales/mins of Q4_K and Q5_K

struct BlockQ4_0 {
    uint16_t d;           // half: scale
    uint8_t qs[kQK / 2];  // nibbles: element j in low nibble of qs[j], j+16 in high nibble
};
struct BlockQ4_1 {
    uint16_t d, m;  // half: scale, min
    uint8_t qs[kQK / 2];
};
struct BlockQ5_0 {
    uint16_t d;     // half
    uint8_t qh[4];  // 5th bits, little-endian u32: bit j for element j
    uint8_t qs[kQK / 2];
};
struct BlockQ5_1 {
    uint16_t d, m;  // half
    uint8_t qh[4];
    uint8_t qs[kQK / 2];
};
struct BlockQ8_0 {
    uint16_t d;  // half
    int8_t qs[kQK];
};
struct BlockQ8_1 {
    uint16_t d, s;  // half: scale, d * sum(qs)
    int8_t qs[kQK];
};
struct BlockQ2_K {
    uint8_t scales[kQK_K / 16];  // 4-bit scale (low) and min (high) per 16 elements
    uint8_t qs[kQK_K / 4];       // 2-bit quants
    uint16_t d, dmin;            // half: super-block scale for scales and for mins
};
struct BlockQ3_K {
    uint8_t hmask[kQK_K / 8];  // high bit of each quant
    uint8_t qs[kQK_K / 4];     // low 2 bits
    uint8_t scales[12];        // 16 6-bit scales, packed
    uint16_t d;                // half
};
struct BlockQ4_K {
    uint16_t d, dmin;              // half
    uint8_t scales[kScaleBytesK];  // 8 6-bit scales and 8 6-bit mins, packed
    uint8_t qs[kQK_K / 2];
};
struct BlockQ5_K {
    uint16_t d, dmin;  // half
    uint8_t scales[kScaleBytesK];
    uint8_t qh[kQK_K / 8];
    uint8_t qs[kQK_K / 2];
};
struct BlockQ6_K {
    uint8_t ql[kQK_K / 2];      // low 4 bits
    uint8_t qh[kQK_K / 4];      // high 2 bits
    int8_t scales[kQK_K / 16];  // 8-bit scales
    uint16_t d;                 // half
};
struct BlockQ8_K {
    float d;
    int8_t qs[kQK_K];
    int16_t bsums[kQK_K / 16];  // sum of each group of 16 quants
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace ponder
