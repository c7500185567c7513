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
//
// Q5_0x16: the rows of a Q5_0 matrix in groups of 16 (n_rows % 16 == 0), group g, block b at
// (g * nb + b) * kQ5_0x16Bytes, holding
//   - bytes 0..255: four 64-byte vectors jj (jj < 4): byte 64 jj + 4 k + i = qs[4 jj + i] of
//     row k (k < 16, i < 4): low nibbles are elements 4jj + i, high nibbles 16 + 4jj + i;
//   - bytes 256..319: eight 64-bit masks j (j < 8): bit 4 k + i = the fifth bit of element
//     4 j + i of row k (vector j % 4, low nibbles for j < 4 and high nibbles from j = 4);
//   - bytes 320..351: the 16 rows' fp16 scales d (row k at bytes 320 + 2k).
// So one 512-bit load jj, masked to its nibbles plus 16 where mask j is set, holds in 32-bit
// lane k the unsigned quants (q + 16) of row k's elements 4j .. 4j + 3, for the 16 rows. A
// group takes as many bytes as its 16 rows did (16 * row_size).
//
// Q4_Kx16: the rows of a Q4_K matrix in groups of 16 (n_rows % 16 == 0), group g,
// super-block b at (g * nb + b) * kQ4_Kx16Bytes, holding
//   - bytes 0..2047: for each 64-element chunk p (p < 4) eight 64-byte vectors jj (jj < 8) at
//     512 p + 64 jj: byte 4 k + i = qs[32 p + 4 jj + i] of row k (k < 16, i < 4), whose low
//     nibble is element 64 p + 4 jj + i (sub-block 2p) and high nibble element
//     64 p + 32 + 4 jj + i (sub-block 2p + 1);
//   - bytes 2048..2239: three 64-byte vectors u (u < 3): dword k = bytes 4u .. 4u + 3 of row
//     k's 12 packed scale / min bytes;
//   - bytes 2240..2271: the rows' fp16 d (row k at 2240 + 2k); 2272..2303: their fp16 dmin.
// A group takes as many bytes as its 16 rows did (16 * row_size).
//
// Q6_Kx16: the rows of a Q6_K matrix in groups of 16, super-block b at (g * nb + b) *
// kQ6_Kx16Bytes. With q(e) the unsigned 6-bit quant of element e (weight = scale * (q - 32)):
//   - bytes 0..2047: the low 4 bits, arranged as Q4_Kx16's quants: byte 512 p + 64 jj + 4 k + i
//     (k: row) has q(64 p + 4 jj + i) & 15 in its low nibble, q(64 p + 32 + 4 jj + i) & 15 in
//     its high nibble;
//   - bytes 2048..3071: the high 2 bits: byte 2048 + 256 p + 64 s + 4 k + i holds in bits
//     2f, 2f + 1 (f < 4) q(64 p + 32 (f % 2) + 4 (2 s + f / 2) + i) >> 4;
//   - bytes 3072..3327: byte 3072 + 64 m + 4 k + i = scales[4 m + i] of row k;
//   - bytes 3328..3359: the rows' fp16 d.
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

constexpr size_t kQ5_0x16Bytes = 16 * sizeof(BlockQ5_0);
static_assert(kQ5_0x16Bytes == 352);

// src: n_rows rows of Q5_0 (row_bytes each, n_cols elements); dst: the same number of bytes.
// Fails (Error) unless n_rows % 16 == 0 and n_cols % 32 == 0.
void repack_q5_0x16(const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                    uint8_t* dst);
// The inverse: rows [r0, r0 + 16) of a Q5_0x16 matrix (r0 % 16 == 0) back to 16 Q5_0 rows.
void unpack_q5_0x16_group(const uint8_t* src, size_t row_bytes, int64_t r0, int64_t n_cols,
                          uint8_t* dst);

constexpr size_t kQ4_Kx16Bytes = 16 * sizeof(BlockQ4_K);
static_assert(kQ4_Kx16Bytes == 2304);

// src: n_rows rows of Q4_K (row_bytes each, n_cols elements); dst: the same number of bytes.
// Fails (Error) unless n_rows % 16 == 0 and n_cols % 256 == 0.
void repack_q4_kx16(const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                    uint8_t* dst);
// The inverse: rows [r0, r0 + 16) of a Q4_Kx16 matrix (r0 % 16 == 0) back to 16 Q4_K rows.
void unpack_q4_kx16_group(const uint8_t* src, size_t row_bytes, int64_t r0, int64_t n_cols,
                          uint8_t* dst);

constexpr size_t kQ6_Kx16Bytes = 16 * sizeof(BlockQ6_K);
static_assert(kQ6_Kx16Bytes == 3360);

// As repack_q4_kx16 / unpack_q4_kx16_group, for Q6_K.
void repack_q6_kx16(const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                    uint8_t* dst);
void unpack_q6_kx16_group(const uint8_t* src, size_t row_bytes, int64_t r0, int64_t n_cols,
                          uint8_t* dst);

}  // namespace ponder::kernels
