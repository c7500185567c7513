// Prompt matmul with Intel AMX (AMX-TILE + AMX-INT8; Sapphire Rapids and later) for the
// Q4_0x8, Q8_0x16 and Q5_0x16 layouts (kernels/repack.h). Compiled with the AVX-512 flags plus
// -mamx-tile -mamx-int8; registered into the AVX-512 table only on CPUs (and kernels) that
// allow AMX (dispatch.cpp).
//
// Bits: the same as the AVX-512 kernels these replace (q4_0x16_tile, q8_0x16_rows_tile,
// q5_0x16_tile). All
// form each (row, token, block) integer sum exactly and then do, per row and token, in block
// order, acc = fma(float(sum), dw * dx, acc). Here `tdpbssd` forms the integer sums of 16
// tokens x 16 rows x one 32-element block per tile product (K = 32, not the unit's 64: every
// block has its own scales): the weights of a 32-row panel are unpacked once per call into
// signed bytes in the tile layout (row k4 of a B tile holds, per weight row n, elements
// 4 k4 .. 4 k4 + 3), the activations' quants are loaded as A tiles straight from their Q8_0
// blocks (stride: one activation row), and each block's 32 x 32 sums go through memory to the
// float steps, which are those of the AVX-512 kernels; those steps for one block run while the
// tile unit forms the next block's sums.
//
// Measured (Intel Xeon, 2 cores, `bench_matmul --tokens 512`, one thread): Q4_0x8 up 17.1 ->
// 11.3 ms, down 19.4 -> 12.3 ms; Q5_0x16 up 19.4 -> 13.5, down 21.8 -> 12.9. Timed apart (each
// part skipped in turn), the tile work and the float steps of the up projection take about 7.5
// and 6 ms: on this CPU they hardly overlap, whatever the order of the instructions (tried: one
// tile pair per block with accumulators in registers, two sets of tile registers alternating,
// 2 x 2 tiles with accumulators in memory as here; all within 10%). K = 32 halves the unit's
// work per product, and each product's 1 KiB of sums is stored and read back.
//
// Tokens past the last whole 16 and rows past the last whole 16 (a Q4_0x8 matrix's last group
// of 8) go to the AVX-512 kernel, as do calls of fewer than 16 tokens (decode).
#if defined(__x86_64__)
// GCC 12's AVX-512 headers warn about their own __Y at -O3 (see gemm_q8_avx512.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/fp16.h"
#include "core/quant_blocks.h"
#include "kernels/dispatch.h"
#include "kernels/repack.h"

namespace ponder::kernels {
namespace {

constexpr int kTile = 16;  // tokens per A tile, rows per B tile

// The AVX-512 kernels this file's kernels hand their tails to (set at registration).
GemmFn g_base_q4_0x8 = nullptr;
GemmFn g_base_q8_0x16 = nullptr;
GemmFn g_base_q5_0x16 = nullptr;

// The repacked layouts this file runs (kernels/repack.h).
enum class Packed { Q4_0x8, Q8_0x16, Q5_0x16 };

// Tile registers: tmm0-3 the 16 x 16 int32 sums of (A tile a, B tile b) at tmm 2a + b,
// tmm4-5 the A tiles (16 tokens x 32 bytes each), tmm6-7 the B tiles (8 rows of 16 x 4 bytes).
// Four products per block keep the tile unit busy: each waits for its operands' loads and a
// tile cannot be reloaded before the products reading it are done.
struct alignas(64) TileConfig {
    uint8_t palette_id = 1;
    uint8_t start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

void configure_tiles() {
    TileConfig c;
    for (int i = 0; i < 4; ++i) {
        c.rows[i] = kTile;
        c.colsb[i] = 64;
    }
    c.rows[4] = c.rows[5] = kTile;
    c.colsb[4] = c.colsb[5] = 32;
    c.rows[6] = c.rows[7] = 8;
    c.colsb[6] = c.colsb[7] = 64;
    _tile_loadconfig(&c);
}

// A panel holds 32 rows (two B tiles) per block: B tile 0 (rows 0-15) at 0, B tile 1 at 512,
// then the rows' scales as floats (rows 0-15 at 1024, 16-31 at 1088).
constexpr size_t kPanelBlockBytes = 2 * 512 + 2 * 64;

// One block of 16 rows of a Q4_0x8 matrix: groups g0 (rows 0-7) and g1 (rows 8-15).
inline void panel_q4_0(const uint8_t* g0, const uint8_t* g1, uint8_t* tile, float* dw) {
    const __m512i mask = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
    for (int jj = 0; jj < 4; ++jj) {
        const __m512i v = _mm512_inserti64x4(
            _mm512_castsi256_si512(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g0 + 16 + 32 * jj))),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g1 + 16 + 32 * jj)), 1);
        // Low nibbles: elements 4 jj + i (B row jj); high: 16 + 4 jj + i (B row 4 + jj).
        _mm512_store_si512(tile + 64 * jj, _mm512_sub_epi8(_mm512_and_si512(v, mask), eight));
        _mm512_store_si512(tile + 64 * (4 + jj),
                           _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), mask), eight));
    }
    const __m256i d16 = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g0))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(g1)), 1);
    _mm512_store_ps(dw, _mm512_cvtph_ps(d16));
}

// One block of a Q8_0x16 group: the quants are stored biased by 128 (XOR 0x80) in the tile
// layout already.
inline void panel_q8_0(const uint8_t* g, uint8_t* tile, float* dw) {
    const __m512i bias = _mm512_set1_epi8(char(0x80));
    for (int j = 0; j < 8; ++j)
        _mm512_store_si512(tile + 64 * j,
                           _mm512_xor_si512(_mm512_loadu_si512(g + 32 + 64 * j), bias));
    _mm512_store_ps(dw, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g))));
}

// One block of a Q5_0x16 group: the nibbles plus 16 where the fifth-bit masks are set, minus 16.
inline void panel_q5_0(const uint8_t* g, uint8_t* tile, float* dw) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), b16 = _mm512_set1_epi8(0x10);
    uint64_t hm[8];
    std::memcpy(hm, g + 256, sizeof hm);
    for (int jj = 0; jj < 4; ++jj) {
        const __m512i v = _mm512_loadu_si512(g + 64 * jj);
        const __m512i lo = _mm512_and_si512(v, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        _mm512_store_si512(
            tile + 64 * jj,
            _mm512_sub_epi8(_mm512_mask_add_epi8(lo, __mmask64(hm[jj]), lo, b16), b16));
        _mm512_store_si512(
            tile + 64 * (4 + jj),
            _mm512_sub_epi8(_mm512_mask_add_epi8(hi, __mmask64(hm[4 + jj]), hi, b16), b16));
    }
    _mm512_store_ps(dw,
                    _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 320))));
}

// The tile intrinsics take literal register numbers.
template <int I>
inline void store_sums(int32_t* cbuf) {
    if constexpr (I == 0) _tile_stored(0, cbuf, 64);
    if constexpr (I == 1) _tile_stored(1, cbuf + kTile * kTile, 64);
    if constexpr (I == 2) _tile_stored(2, cbuf + 2 * kTile * kTile, 64);
    if constexpr (I == 3) _tile_stored(3, cbuf + 3 * kTile * kTile, 64);
}

// NA * 16 tokens x NB * 16 rows over all nb blocks of a panel: y[t * ldy + n].
// acts: the first token's activation row; xd[t * nb + b]: token t's block scales; acc: NA * 16
// x 32 floats of scratch.
template <int NA, int NB>
inline void amx_tiles(const uint8_t* panel, const uint8_t* acts, size_t arb, const float* xd,
                      int64_t nb, int32_t* cbuf, float* acc, float* y, int64_t ldy) {
    for (int i = 0; i < NA * kTile * 32; i += 16) _mm512_store_ps(acc + i, _mm512_setzero_ps());
    const long stride = long(arb);
    // The epilogue of block b: acc[t][n] = fma(float(sum), dw[n] * dx[t], acc[t][n]).
    auto scale = [&](int64_t b) {
        const float* dw =
            reinterpret_cast<const float*>(panel + size_t(b) * kPanelBlockBytes + 1024);
        for (int a = 0; a < NA; ++a)
            for (int j = 0; j < NB; ++j) {
                const __m512 d = _mm512_load_ps(dw + 16 * j);
                const int32_t* s = cbuf + (2 * a + j) * kTile * kTile;
                for (int t = 0; t < kTile; ++t) {
                    float* o = acc + (a * kTile + t) * 32 + 16 * j;
                    const __m512 x = _mm512_set1_ps(xd[(a * kTile + t) * nb + b]);
                    _mm512_store_ps(
                        o, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(s + kTile * t)),
                                           _mm512_mul_ps(d, x), _mm512_load_ps(o)));
                }
            }
    };
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* pb = panel + size_t(b) * kPanelBlockBytes;
        const uint8_t* ab = acts + size_t(b) * sizeof(BlockQ8_0) + 2;  // past the block's d
        _tile_zero(0);
        if constexpr (NB > 1) _tile_zero(1);
        if constexpr (NA > 1) _tile_zero(2);
        if constexpr (NA > 1 && NB > 1) _tile_zero(3);
        _tile_loadd(4, ab, stride);
        _tile_loadd(6, pb, 64);
        _tile_dpbssd(0, 4, 6);
        if constexpr (NB > 1) {
            _tile_loadd(7, pb + 512, 64);
            _tile_dpbssd(1, 4, 7);
        }
        if constexpr (NA > 1) {
            _tile_loadd(5, ab + kTile * arb, stride);
            _tile_dpbssd(2, 5, 6);
            if constexpr (NB > 1) _tile_dpbssd(3, 5, 7);
        }
        // The last block's sums are scaled while this block's products run.
        if (b > 0) scale(b - 1);
        store_sums<0>(cbuf);
        if constexpr (NB > 1) store_sums<1>(cbuf);
        if constexpr (NA > 1) store_sums<2>(cbuf);
        if constexpr (NA > 1 && NB > 1) store_sums<3>(cbuf);
    }
    scale(nb - 1);
    for (int t = 0; t < NA * kTile; ++t)
        for (int j = 0; j < NB; ++j)
            _mm512_storeu_ps(y + t * ldy + 16 * j, _mm512_load_ps(acc + t * 32 + 16 * j));
}

// The GemmFn of the three layouts: rows [r0, r1) in panels of 32 (a last one of 16), tokens in
// tiles of 32 (a last one of 16).
template <Packed P>
void gemm_amx(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
              int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const GemmFn base = P == Packed::Q4_0x8    ? g_base_q4_0x8
                        : P == Packed::Q8_0x16 ? g_base_q8_0x16
                                               : g_base_q5_0x16;
    const int64_t t16 = n_tokens / kTile * kTile;
    const int64_t r16 = r0 + (r1 - r0) / kTile * kTile;
    if (t16 == 0 || r16 == r0) {
        base(w, wrb, acts, arb, n, n_tokens, r0, r1, y, ldy);
        return;
    }
    const int64_t nb = n / kQK;
    struct alignas(64) Line {
        uint8_t b[64];
    };
    thread_local std::vector<float> xd;
    thread_local std::vector<Line> panel_buf;
    alignas(64) int32_t cbuf[4 * kTile * kTile];
    alignas(64) float acc[2 * kTile * 32];
    xd.resize(size_t(t16 * nb));
    panel_buf.resize(size_t(nb) * kPanelBlockBytes / 64);
    uint8_t* panel = reinterpret_cast<uint8_t*>(panel_buf.data());
    for (int64_t t = 0; t < t16; ++t) {
        const auto* xb = reinterpret_cast<const BlockQ8_0*>(acts + size_t(t) * arb);
        for (int64_t b = 0; b < nb; ++b) xd[size_t(t * nb + b)] = fp16_to_f32(xb[b].d);
    }
    configure_tiles();
    for (int64_t r = r0; r < r16;) {
        const int rows = r + 32 <= r16 ? 32 : 16;
        for (int j = 0; j < rows / kTile; ++j) {
            const int64_t rj = r + kTile * j;
            for (int64_t b = 0; b < nb; ++b) {
                uint8_t* tile = panel + size_t(b) * kPanelBlockBytes + 512 * j;
                float* dw =
                    reinterpret_cast<float*>(panel + size_t(b) * kPanelBlockBytes + 1024) + 16 * j;
                if constexpr (P == Packed::Q4_0x8)
                    panel_q4_0(w + size_t(rj) * wrb + size_t(b) * kQ4_0x8Bytes,
                               w + size_t(rj + 8) * wrb + size_t(b) * kQ4_0x8Bytes, tile, dw);
                else if constexpr (P == Packed::Q8_0x16)
                    panel_q8_0(w + size_t(rj) * wrb + size_t(b) * kQ8_0x16Bytes, tile, dw);
                else
                    panel_q5_0(w + size_t(rj) * wrb + size_t(b) * kQ5_0x16Bytes, tile, dw);
            }
        }
        for (int64_t t = 0; t < t16;) {
            const uint8_t* at = acts + size_t(t) * arb;
            const float* xt = xd.data() + t * nb;
            float* yt = y + t * ldy + r;
            const bool two = t + 32 <= t16;
            if (two && rows == 32)
                amx_tiles<2, 2>(panel, at, arb, xt, nb, cbuf, acc, yt, ldy);
            else if (two)
                amx_tiles<2, 1>(panel, at, arb, xt, nb, cbuf, acc, yt, ldy);
            else if (rows == 32)
                amx_tiles<1, 2>(panel, at, arb, xt, nb, cbuf, acc, yt, ldy);
            else
                amx_tiles<1, 1>(panel, at, arb, xt, nb, cbuf, acc, yt, ldy);
            t += two ? 32 : 16;
        }
        r += rows;
    }
    _tile_release();
    // A call of one token takes the base kernel's decode path, whose order differs (Q8_0x16):
    // a single leftover token goes with the token before it, recomputed to the same bits.
    const int64_t tail = n_tokens - t16 == 1 ? t16 - 1 : t16;
    if (tail < n_tokens)
        base(w, wrb, acts + size_t(tail) * arb, arb, n, n_tokens - tail, r0, r16, y + tail * ldy,
             ldy);
    if (r16 < r1) base(w, wrb, acts, arb, n, n_tokens, r16, r1, y, ldy);
}

}  // namespace

bool amx_request_permission() {
    // Linux keeps AMX tile data off until a process asks (ARCH_REQ_XCOMP_PERM for
    // XFEATURE_XTILEDATA); without it the first tile instruction faults.
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

void register_gemm_amx(KernelTable& t) {
    if (t.gemm_q4_0x8.gemm) {
        g_base_q4_0x8 = t.gemm_q4_0x8.gemm;
        t.gemm_q4_0x8.gemm = gemm_amx<Packed::Q4_0x8>;
    }
    if (t.gemm_q8_0x16.gemm) {
        g_base_q8_0x16 = t.gemm_q8_0x16.gemm;
        t.gemm_q8_0x16.gemm = gemm_amx<Packed::Q8_0x16>;
    }
    if (t.gemm_q5_0x16.gemm) {
        g_base_q5_0x16 = t.gemm_q5_0x16.gemm;
        t.gemm_q5_0x16.gemm = gemm_amx<Packed::Q5_0x16>;
    }
}

}  // namespace ponder::kernels
#endif
