#include "kernels/repack.h"

#include <cstring>

#include "core/error.h"

namespace ponder::kernels {

void repack_q4_0x8(const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                   uint8_t* dst) {
    if (n_rows % 8 != 0 || n_cols % kQK != 0 || n_rows < 0)
        fail("repack_q4_0x8: a ", n_rows, " x ", n_cols,
             " matrix is not whole groups of 8 rows of whole 32-element blocks");
    const int64_t nb = n_cols / kQK;
    if (row_bytes != size_t(nb) * sizeof(BlockQ4_0))
        fail("repack_q4_0x8: row size ", row_bytes, " does not match ", n_cols, " Q4_0 elements");
    for (int64_t g = 0; g < n_rows / 8; ++g) {
        const BlockQ4_0* rows[8];
        for (int k = 0; k < 8; ++k)
            rows[k] = reinterpret_cast<const BlockQ4_0*>(src + size_t(8 * g + k) * row_bytes);
        uint8_t* out = dst + size_t(8 * g) * row_bytes;
        for (int64_t b = 0; b < nb; ++b, out += kQ4_0x8Bytes) {
            for (int k = 0; k < 8; ++k) {
                const BlockQ4_0& blk = rows[k][b];
                std::memcpy(out + 2 * k, &blk.d, 2);
                for (int jj = 0; jj < 4; ++jj)
                    std::memcpy(out + 16 + 32 * jj + 4 * k, blk.qs + 4 * jj, 4);
            }
        }
    }
}

void unpack_q4_0x8_group(const uint8_t* src, size_t row_bytes, int64_t r0, int64_t n_cols,
                         uint8_t* dst) {
    const int64_t nb = n_cols / kQK;
    const uint8_t* in = src + size_t(r0) * row_bytes;
    for (int64_t b = 0; b < nb; ++b, in += kQ4_0x8Bytes)
        for (int k = 0; k < 8; ++k) {
            auto* blk = reinterpret_cast<BlockQ4_0*>(dst + size_t(k) * row_bytes) + b;
            std::memcpy(&blk->d, in + 2 * k, 2);
            for (int jj = 0; jj < 4; ++jj)
                std::memcpy(blk->qs + 4 * jj, in + 16 + 32 * jj + 4 * k, 4);
        }
}

}  // namespace ponder::kernels
