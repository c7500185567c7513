// Weight layouts other than GGUF's row-major one, made at load time for faster kernels.
//
// Q4_0x8: the rows of a Q4_0 matrix in groups of 8 (n_rows % 8 == 0), each group stored block
// by block: group g, block b at (g * nb + b) * kQ4_0x8Bytes, holding
//   - the 8 rows' fp16 scales d (row k at bytes 2k, 2k+1), then
//   - 128 bytes: byte 16 + 32 jj + 4 k + i = qs[4 jj + i] of row k (jj < 4, i < 4).
// One 256-bit load jj thus holds, in 32-bit lane k, row k's bytes 4jj..4jj+3: its low nibbles
// are elements 4jj..4jj+3 and its high nibbles elements 16+4jj..16+4jj+3 of row k. A group
// takes as many bytes as its 8 rows did (8 * row_size), so row r of the original starts group
// r / 8 at r * row_size when r % 8 == 0.
//
// Q8_0x16: the rows of a Q8_0 matrix in groups of 16 (n_rows % 16 == 0), each group stored block
// by block: group g, block b at (g * nb + b) * kQ8_0x16Bytes, holding
//   - the 16 rows' fp16 scales d (row k at bytes 2k, 2k+1), then
//   - 512 bytes: byte 32 + 64 j + 4 k + i = qs[4 j + i] of row k XOR 0x80 (j < 8, i < 4).
// One 512-bit load j thus holds, in 32-bit lane k, row k's elements 4j..4j+3 as unsigned bytes
// q + 128, which `vpdpbusd` takes directly (the kernels subtract 128 * the activations' sums).
// A group takes as many bytes as its 16 rows did, so group r / 16 starts at r * row_size.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/quant_blocks.h"

namespace ponder::kernels {

constexpr size_t kQ4_0x8Bytes = 8 * sizeof(BlockQ4_0);
static_assert(kQ4_0x8Bytes == 144);

// src: n_rows rows of Q4_0 (row_bytes each, n_cols elements); dst: the same number of bytes.
// Fails (Error) unless n_rows % 8 == 0 and n_cols % 32 == 0.
void repack_q4_0x8(const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                   uint8_t* dst);
// The inverse: rows [r0, r0 + 8) of a Q4_0x8 matrix (r0 % 8 == 0) back to 8 Q4_0 rows.
void unpack_q4_0x8_group(const uint8_t* src, size_t row_bytes, int64_t r0, int64_t n_cols,
                         uint8_t* dst);

constexpr size_t kQ8_0x16Bytes = 16 * sizeof(BlockQ8_0);
static_assert(kQ8_0x16Bytes == 544);

// src: n_rows rows of Q8_0 (row_bytes each, n_cols elements); dst: the same number of bytes.
// Fails (Error) unless n_rows % 16 == 0 and n_cols % 32 == 0.
void repack_q8_0x16(const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                    uint8_t* dst);
// The inverse: rows [r0, r0 + 16) of a Q8_0x16 matrix (r0 % 16 == 0) back to 16 Q8_0 rows.
void unpack_q8_0x16_group(const uint8_t* src, size_t row_bytes, int64_t r0, int64_t n_cols,
                          uint8_t* dst);

}  // namespace ponder::kernels
