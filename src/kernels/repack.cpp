#include "kernels/repack.h"

#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
#if defined(__SSE2__)
            // The 8 rows' 16 quant bytes as 4 x 32-bit each: two 4 x 4 transposes of dwords
            // give vector jj (rows 0..3 | rows 4..7) = dword jj of each row.
            __m128i q[8];
            for (int k = 0; k < 8; ++k) {
                std::memcpy(out + 2 * k, &rows[k][b].d, 2);
                q[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[k][b].qs));
            }
            for (int h = 0; h < 2; ++h) {
                const __m128i* r = q + 4 * h;
                const __m128i t0 = _mm_unpacklo_epi32(r[0], r[1]),
                              t1 = _mm_unpackhi_epi32(r[0], r[1]);
                const __m128i t2 = _mm_unpacklo_epi32(r[2], r[3]),
                              t3 = _mm_unpackhi_epi32(r[2], r[3]);
                const __m128i c[4] = {_mm_unpacklo_epi64(t0, t2), _mm_unpackhi_epi64(t0, t2),
                                      _mm_unpacklo_epi64(t1, t3), _mm_unpackhi_epi64(t1, t3)};
                for (int jj = 0; jj < 4; ++jj)
                    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 + 32 * jj + 16 * h),
                                     c[jj]);
            }
            continue;
#endif
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

void repack_q8_0x16(const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                    uint8_t* dst) {
    if (n_rows % 16 != 0 || n_cols % kQK != 0 || n_rows < 0)
        fail("repack_q8_0x16: a ", n_rows, " x ", n_cols,
             " matrix is not whole groups of 16 rows of whole 32-element blocks");
    const int64_t nb = n_cols / kQK;
    if (row_bytes != size_t(nb) * sizeof(BlockQ8_0))
        fail("repack_q8_0x16: row size ", row_bytes, " does not match ", n_cols, " Q8_0 elements");
    for (int64_t g = 0; g < n_rows / 16; ++g) {
        const BlockQ8_0* rows[16];
        for (int k = 0; k < 16; ++k)
            rows[k] = reinterpret_cast<const BlockQ8_0*>(src + size_t(16 * g + k) * row_bytes);
        uint8_t* out = dst + size_t(16 * g) * row_bytes;
        for (int64_t b = 0; b < nb; ++b, out += kQ8_0x16Bytes) {
            for (int k = 0; k < 16; ++k) std::memcpy(out + 2 * k, &rows[k][b].d, 2);
#if defined(__SSE2__)
            // Per 4 rows and half h of the block: a 4 x 4 transpose of dwords gives vector jj
            // = dword 4h + jj of each of the 4 rows.
            const __m128i bias = _mm_set1_epi8(char(0x80));
            for (int k0 = 0; k0 < 16; k0 += 4)
                for (int h = 0; h < 2; ++h) {
                    __m128i r[4];
                    for (int i = 0; i < 4; ++i)
                        r[i] = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(
                                                 rows[k0 + i][b].qs + 16 * h)),
                                             bias);
                    const __m128i t0 = _mm_unpacklo_epi32(r[0], r[1]),
                                  t1 = _mm_unpackhi_epi32(r[0], r[1]);
                    const __m128i t2 = _mm_unpacklo_epi32(r[2], r[3]),
                                  t3 = _mm_unpackhi_epi32(r[2], r[3]);
                    const __m128i c[4] = {_mm_unpacklo_epi64(t0, t2), _mm_unpackhi_epi64(t0, t2),
                                          _mm_unpacklo_epi64(t1, t3), _mm_unpackhi_epi64(t1, t3)};
                    for (int jj = 0; jj < 4; ++jj)
                        _mm_storeu_si128(
                            reinterpret_cast<__m128i*>(out + 32 + 64 * (4 * h + jj) + 4 * k0),
                            c[jj]);
                }
            continue;
#endif
            for (int k = 0; k < 16; ++k)
                for (int j = 0; j < 8; ++j) {
                    uint32_t v;
                    std::memcpy(&v, rows[k][b].qs + 4 * j, 4);
                    v ^= 0x80808080u;
                    std::memcpy(out + 32 + 64 * j + 4 * k, &v, 4);
                }
        }
    }
}

void unpack_q8_0x16_group(const uint8_t* src, size_t row_bytes, int64_t r0, int64_t n_cols,
                          uint8_t* dst) {
    const int64_t nb = n_cols / kQK;
    const uint8_t* in = src + size_t(r0) * row_bytes;
    for (int64_t b = 0; b < nb; ++b, in += kQ8_0x16Bytes)
        for (int k = 0; k < 16; ++k) {
            auto* blk = reinterpret_cast<BlockQ8_0*>(dst + size_t(k) * row_bytes) + b;
            std::memcpy(&blk->d, in + 2 * k, 2);
            for (int j = 0; j < 8; ++j) {
                uint32_t v;
                std::memcpy(&v, in + 32 + 64 * j + 4 * k, 4);
                v ^= 0x80808080u;
                std::memcpy(blk->qs + 4 * j, &v, 4);
            }
        }
}

}  // namespace ponder::kernels
