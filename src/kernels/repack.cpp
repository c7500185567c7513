#include "kernels/repack.h"

#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/error.h"

namespace ponder::kernels {

namespace {

// Validates a repack's arguments: whole groups of `group` rows of whole blocks of `block`
// elements, `block_bytes` each, and row_bytes matching n_cols; returns blocks per row.
int64_t check_shape(const char* fn, const char* type, int64_t group, int64_t block,
                    size_t block_bytes, size_t row_bytes, int64_t n_rows, int64_t n_cols) {
    if (n_rows < 0 || n_rows % group != 0 || n_cols % block != 0)
        fail(fn, ": a ", n_rows, " x ", n_cols, " matrix is not whole groups of ", group,
             " rows of whole ", block, "-element blocks");
    const int64_t nb = n_cols / block;
    if (row_bytes != size_t(nb) * block_bytes)
        fail(fn, ": row size ", row_bytes, " does not match ", n_cols, " ", type, " elements");
    return nb;
}

}  // namespace

void repack_q4_0x8(const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                   uint8_t* dst) {
    const int64_t nb =
        check_shape("repack_q4_0x8", "Q4_0", 8, kQK, sizeof(BlockQ4_0), row_bytes, n_rows, n_cols);
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
    const int64_t nb = check_shape("repack_q8_0x16", "Q8_0", 16, kQK, sizeof(BlockQ8_0), row_bytes,
                                   n_rows, n_cols);
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

void repack_q5_0x16(const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                    uint8_t* dst) {
    const int64_t nb = check_shape("repack_q5_0x16", "Q5_0", 16, kQK, sizeof(BlockQ5_0), row_bytes,
                                   n_rows, n_cols);
    for (int64_t g = 0; g < n_rows / 16; ++g) {
        uint8_t* out = dst + size_t(16 * g) * row_bytes;
        for (int64_t b = 0; b < nb; ++b, out += kQ5_0x16Bytes) {
            uint64_t masks[8] = {};
            for (int k = 0; k < 16; ++k) {
                const BlockQ5_0& blk =
                    reinterpret_cast<const BlockQ5_0*>(src + size_t(16 * g + k) * row_bytes)[b];
                std::memcpy(out + 320 + 2 * k, &blk.d, 2);
                for (int jj = 0; jj < 4; ++jj)
                    std::memcpy(out + 64 * jj + 4 * k, blk.qs + 4 * jj, 4);
                uint32_t qh;
                std::memcpy(&qh, blk.qh, 4);
                for (int j = 0; j < 8; ++j) masks[j] |= uint64_t((qh >> (4 * j)) & 0xF) << (4 * k);
            }
            std::memcpy(out + 256, masks, sizeof masks);
        }
    }
}

void unpack_q5_0x16_group(const uint8_t* src, size_t row_bytes, int64_t r0, int64_t n_cols,
                          uint8_t* dst) {
    const int64_t nb = n_cols / kQK;
    const uint8_t* in = src + size_t(r0) * row_bytes;
    for (int64_t b = 0; b < nb; ++b, in += kQ5_0x16Bytes) {
        uint64_t masks[8];
        std::memcpy(masks, in + 256, sizeof masks);
        for (int k = 0; k < 16; ++k) {
            auto* blk = reinterpret_cast<BlockQ5_0*>(dst + size_t(k) * row_bytes) + b;
            std::memcpy(&blk->d, in + 320 + 2 * k, 2);
            for (int jj = 0; jj < 4; ++jj) std::memcpy(blk->qs + 4 * jj, in + 64 * jj + 4 * k, 4);
            uint32_t qh = 0;
            for (int j = 0; j < 8; ++j) qh |= uint32_t((masks[j] >> (4 * k)) & 0xF) << (4 * j);
            std::memcpy(blk->qh, &qh, 4);
        }
    }
}

void repack_q4_kx16(const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                    uint8_t* dst) {
    const int64_t nb = check_shape("repack_q4_kx16", "Q4_K", 16, kQK_K, sizeof(BlockQ4_K),
                                   row_bytes, n_rows, n_cols);
    for (int64_t g = 0; g < n_rows / 16; ++g) {
        uint8_t* out = dst + size_t(16 * g) * row_bytes;
        for (int64_t b = 0; b < nb; ++b, out += kQ4_Kx16Bytes)
            for (int k = 0; k < 16; ++k) {
                const BlockQ4_K& blk =
                    reinterpret_cast<const BlockQ4_K*>(src + size_t(16 * g + k) * row_bytes)[b];
                for (int p = 0; p < 4; ++p)
                    for (int jj = 0; jj < 8; ++jj)
                        std::memcpy(out + 512 * p + 64 * jj + 4 * k, blk.qs + 32 * p + 4 * jj, 4);
                for (int u = 0; u < 3; ++u)
                    std::memcpy(out + 2048 + 64 * u + 4 * k, blk.scales + 4 * u, 4);
                std::memcpy(out + 2240 + 2 * k, &blk.d, 2);
                std::memcpy(out + 2272 + 2 * k, &blk.dmin, 2);
            }
    }
}

void unpack_q4_kx16_group(const uint8_t* src, size_t row_bytes, int64_t r0, int64_t n_cols,
                          uint8_t* dst) {
    const int64_t nb = n_cols / kQK_K;
    const uint8_t* in = src + size_t(r0) * row_bytes;
    for (int64_t b = 0; b < nb; ++b, in += kQ4_Kx16Bytes)
        for (int k = 0; k < 16; ++k) {
            auto* blk = reinterpret_cast<BlockQ4_K*>(dst + size_t(k) * row_bytes) + b;
            for (int p = 0; p < 4; ++p)
                for (int jj = 0; jj < 8; ++jj)
                    std::memcpy(blk->qs + 32 * p + 4 * jj, in + 512 * p + 64 * jj + 4 * k, 4);
            for (int u = 0; u < 3; ++u)
                std::memcpy(blk->scales + 4 * u, in + 2048 + 64 * u + 4 * k, 4);
            std::memcpy(&blk->d, in + 2240 + 2 * k, 2);
            std::memcpy(&blk->dmin, in + 2272 + 2 * k, 2);
        }
}

namespace {

// The 256 unsigned 6-bit quants of a Q6_K super-block.
void q6_k_quants(const BlockQ6_K& b, uint8_t* q) {
    for (int h = 0; h < 2; ++h)
        for (int l = 0; l < 32; ++l) {
            const uint8_t lo0 = b.ql[64 * h + l], lo1 = b.ql[64 * h + 32 + l],
                          hi = b.qh[32 * h + l];
            q[128 * h + l] = uint8_t((lo0 & 0xF) | ((hi & 3) << 4));
            q[128 * h + 32 + l] = uint8_t((lo1 & 0xF) | (((hi >> 2) & 3) << 4));
            q[128 * h + 64 + l] = uint8_t((lo0 >> 4) | (((hi >> 4) & 3) << 4));
            q[128 * h + 96 + l] = uint8_t((lo1 >> 4) | (((hi >> 6) & 3) << 4));
        }
}
}  // namespace

void repack_q6_kx16(const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                    uint8_t* dst) {
    const int64_t nb = check_shape("repack_q6_kx16", "Q6_K", 16, kQK_K, sizeof(BlockQ6_K),
                                   row_bytes, n_rows, n_cols);
    uint8_t q[kQK_K];
    for (int64_t g = 0; g < n_rows / 16; ++g) {
        uint8_t* out = dst + size_t(16 * g) * row_bytes;
        for (int64_t b = 0; b < nb; ++b, out += kQ6_Kx16Bytes)
            for (int k = 0; k < 16; ++k) {
                const BlockQ6_K& blk =
                    reinterpret_cast<const BlockQ6_K*>(src + size_t(16 * g + k) * row_bytes)[b];
                q6_k_quants(blk, q);
                for (int p = 0; p < 4; ++p)
                    for (int jj = 0; jj < 8; ++jj)
                        for (int i = 0; i < 4; ++i)
                            out[512 * p + 64 * jj + 4 * k + i] =
                                uint8_t((q[64 * p + 4 * jj + i] & 0xF) |
                                        ((q[64 * p + 32 + 4 * jj + i] & 0xF) << 4));
                for (int p = 0; p < 4; ++p)
                    for (int s = 0; s < 4; ++s)
                        for (int i = 0; i < 4; ++i) {
                            uint8_t v = 0;
                            for (int f = 0; f < 4; ++f)
                                v |= uint8_t(
                                    (q[64 * p + 32 * (f % 2) + 4 * (2 * s + f / 2) + i] >> 4)
                                    << (2 * f));
                            out[2048 + 256 * p + 64 * s + 4 * k + i] = v;
                        }
                for (int j = 0; j < 16; ++j)
                    out[3072 + 64 * (j / 4) + 4 * k + j % 4] = uint8_t(blk.scales[j]);
                std::memcpy(out + 3328 + 2 * k, &blk.d, 2);
            }
    }
}

void unpack_q6_kx16_group(const uint8_t* src, size_t row_bytes, int64_t r0, int64_t n_cols,
                          uint8_t* dst) {
    const int64_t nb = n_cols / kQK_K;
    const uint8_t* in = src + size_t(r0) * row_bytes;
    for (int64_t b = 0; b < nb; ++b, in += kQ6_Kx16Bytes)
        for (int k = 0; k < 16; ++k) {
            auto* blk = reinterpret_cast<BlockQ6_K*>(dst + size_t(k) * row_bytes) + b;
            // Row k's bytes: lo[p][4 jj + i] (nibble bytes of chunk p), hb[p][4 s + i].
            uint8_t lo[4][32], hb[4][16];
            for (int p = 0; p < 4; ++p) {
                for (int jj = 0; jj < 8; ++jj)
                    std::memcpy(lo[p] + 4 * jj, in + 512 * p + 64 * jj + 4 * k, 4);
                for (int s = 0; s < 4; ++s)
                    std::memcpy(hb[p] + 4 * s, in + 2048 + 256 * p + 64 * s + 4 * k, 4);
            }
            // Elements 128 h + l (+ 32, + 64, + 96) are chunk 2h's low / high nibbles and
            // chunk 2h + 1's; their high bits sit in hb at 4 (l / 8) + l % 4, shifted by
            // 4 ((l / 4) % 2), as the fields of qh's bits 0-1, 2-3 (chunk 2h), 4-5, 6-7.
            for (int h = 0; h < 2; ++h)
                for (int l = 0; l < 32; ++l) {
                    const uint8_t a = lo[2 * h][l], c = lo[2 * h + 1][l];
                    blk->ql[64 * h + l] = uint8_t((a & 0xF) | (c << 4));
                    blk->ql[64 * h + 32 + l] = uint8_t((a >> 4) | (c & 0xF0));
                    const int idx = 4 * (l / 8) + l % 4, sh = 4 * ((l / 4) % 2);
                    blk->qh[32 * h + l] = uint8_t(((hb[2 * h][idx] >> sh) & 0xF) |
                                                  (((hb[2 * h + 1][idx] >> sh) & 0xF) << 4));
                }
            for (int j = 0; j < 16; ++j)
                blk->scales[j] = int8_t(in[3072 + 64 * (j / 4) + 4 * k + j % 4]);
            std::memcpy(&blk->d, in + 3328 + 2 * k, 2);
        }
}

}  // namespace ponder::kernels
