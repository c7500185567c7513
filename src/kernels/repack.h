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

}  // namespace ponder::kernels
