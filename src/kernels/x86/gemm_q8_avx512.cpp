// F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 matmul kernels for AVX-512 (F/BW/VL/DQ + VNNI;
// compiled with this level's flags only, see dispatch.h). The quantized kernels are those of
// gemm_q8_impl.h, here with `vpdpbusd` for the integer dot products and tile sizes for 32
// vector registers. The float kernels below use 512-bit registers: one 16-lane accumulator
// per (row, token), element c in lane c % 16 (BF16 with `vdpbf16ps`: pair c / 2 in lane
// (c / 2) % 16), then a tree sum of the 16 lanes; the reference engine's tiled float matmul
// accumulates the same way, which keeps logits closer to it than an 8-lane order.
#if defined(__x86_64__)
// GCC 12's AVX-512 headers build some results from _mm512_undefined_*() and then warn about
// their own uninitialized variable (__Y) at -O3; the values are fully overwritten.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define PONDER_GEMM_VNNI 1
#include "core/cpu_features.h"
#include "kernels/x86/gemm_q8_impl.h"

namespace ponder::kernels {
namespace {

// Weights of 16 floats from 16 elements (F32, F16, BF16 as for the 8-lane loaders).
struct Load16F32 {
    using T = float;
    static constexpr int kStep = 16;
    static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
    static float load1(const float* p) { return *p; }
};
struct Load16F16 {
    using T = uint16_t;
    static constexpr int kStep = 16;
    static __m512 load(const uint16_t* p) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
    static float load1(const uint16_t* p) { return half_to_float(*p); }
};
struct Load16BF16 {
    using T = uint16_t;
    static constexpr int kStep = 16;
    static __m512 load(const uint16_t* p) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    static float load1(const uint16_t* p) { return bf16_to_f32(*p); }
};

// R rows x NT tokens; activations are floats (rounded to the weight's precision).
template <class L, int R, int NT>
inline void float16_tile(const uint8_t* w, size_t wrb, const float* x, size_t xs, int64_t n,
                         float* y, int64_t ldy) {
    using W = typename L::T;
    const W* wr[R];
    for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const W*>(w + size_t(r) * wrb);
    __m512 acc[R][NT];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 16 <= n; c += 16) {
        __m512 xv[NT];
        for (int t = 0; t < NT; ++t) xv[t] = _mm512_loadu_ps(x + size_t(t) * xs + c);
        for (int r = 0; r < R; ++r) {
            const __m512 wv = L::load(wr[r] + c);
            for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NT; ++t) {
            float s = _mm512_reduce_add_ps(acc[r][t]);
            const float* xt = x + size_t(t) * xs;
            for (int64_t k = c; k < n; ++k) s += L::load1(wr[r] + k) * xt[k];
            y[t * ldy + r] = s;
        }
}

// BF16 weights x BF16 activations with vdpbf16ps (32 elements per instruction).
template <int R, int NT>
inline void bf16_dp_tile(const uint8_t* w, size_t wrb, const uint16_t* x, size_t xs, int64_t n,
                         float* y, int64_t ldy) {
    const uint16_t* wr[R];
    for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const uint16_t*>(w + size_t(r) * wrb);
    __m512 acc[R][NT];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 32 <= n; c += 32) {
        __m512bh xv[NT];
        for (int t = 0; t < NT; ++t) xv[t] = (__m512bh)_mm512_loadu_si512(x + size_t(t) * xs + c);
        for (int r = 0; r < R; ++r) {
            const __m512bh wv = (__m512bh)_mm512_loadu_si512(wr[r] + c);
            for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv, xv[t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < NT; ++t) {
            float s = _mm512_reduce_add_ps(acc[r][t]);
            const uint16_t* xt = x + size_t(t) * xs;
            for (int64_t k = c; k < n; ++k) s += bf16_to_f32(wr[r][k]) * bf16_to_f32(xt[k]);
            y[t * ldy + r] = s;
        }
}

// Tiles of R x NT with 1-row / 1-token tails; Tile(w, x, y) computes one tile.
template <int R, int NT, class Elem, template <int, int> class Tile>
void tiled(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
           int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const Elem* x = reinterpret_cast<const Elem*>(acts);
    const size_t xs = arb / sizeof(Elem);
    int64_t t = 0;
    auto rows = [&]<int NTT>(int64_t t0) {
        int64_t r = r0;
        for (; r + R <= r1; r += R)
            Tile<R, NTT>::run(w + size_t(r) * wrb, wrb, x + size_t(t0) * xs, xs, n,
                              y + t0 * ldy + r, ldy);
        for (; r < r1; ++r)
            Tile<1, NTT>::run(w + size_t(r) * wrb, wrb, x + size_t(t0) * xs, xs, n,
                              y + t0 * ldy + r, ldy);
    };
    for (; t + NT <= n_tokens; t += NT) rows.template operator()<NT>(t);
    for (; t < n_tokens; ++t) rows.template operator()<1>(t);
}

template <class L>
struct FloatTile {
    template <int R, int NT>
    struct T {
        static void run(const uint8_t* w, size_t wrb, const float* x, size_t xs, int64_t n,
                        float* y, int64_t ldy) {
            float16_tile<L, R, NT>(w, wrb, x, xs, n, y, ldy);
        }
    };
};
template <int R, int NT>
struct Bf16DpTile {
    static void run(const uint8_t* w, size_t wrb, const uint16_t* x, size_t xs, int64_t n, float* y,
                    int64_t ldy) {
        bf16_dp_tile<R, NT>(w, wrb, x, xs, n, y, ldy);
    }
};

// BF16 activations (act_type BF16), rounded as f32_to_bf16.
void quantize_bf16(const float* x, int64_t n, uint8_t* out) {
    uint16_t* y = reinterpret_cast<uint16_t*>(out);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i b = _mm256_srli_epi32(bf16_bits(_mm256_loadu_ps(x + i)), 16);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtepi32_epi16(b));
    }
    for (; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}

// Two Q4_0x8 groups (rows r..r+15) x NT tokens in 512-bit registers: group g0 in the low
// 256 bits, g1 in the high ones, each token's 4-byte groups broadcast to all 16 lanes. Lane
// for lane the operations of q4_0x8_tile, so the same bits; half the instructions per row.
template <int NT>
inline void q4_0x16_tile(const uint8_t* g0, const uint8_t* g1, const uint8_t* acts, size_t arb,
                         const int32_t* negsum, int64_t nb, float* y, int64_t ldy) {
    const BlockQ8_0* xr[NT];
    for (int t = 0; t < NT; ++t) xr[t] = reinterpret_cast<const BlockQ8_0*>(acts + size_t(t) * arb);
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    const __m512i mask = _mm512_set1_epi8(0x0F);
    auto ld256 = [](const uint8_t* p) {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    };
    // Each group is prefetched kAhead blocks ahead; near its end, in the next tile's group (the
    // two groups are adjacent, so the same distance would land in g1's current blocks).
    constexpr int64_t kAhead = kPrefetchL2Bytes / (2 * kQ4_0x8Bytes);
    for (int64_t b = 0; b < nb; ++b, g0 += kQ4_0x8Bytes, g1 += kQ4_0x8Bytes) {
        const size_t ahead = size_t(b + kAhead < nb ? kAhead : nb + kAhead) * kQ4_0x8Bytes;
        for (int o = 0; o < 192; o += 64) {
            prefetch_l2(g0 + ahead + o);
            prefetch_l2(g1 + ahead + o);
        }
        const __m256i d16 = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g0))),
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(g1)), 1);
        const __m512 dw = _mm512_cvtph_ps(d16);
        __m512i wv[8];
        for (int jj = 0; jj < 4; ++jj) {
            const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(ld256(g0 + 16 + 32 * jj)),
                                                 ld256(g1 + 16 + 32 * jj), 1);
            wv[jj] = _mm512_and_si512(v, mask);
            wv[4 + jj] = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
        }
        for (int t = 0; t < NT; ++t) {
            const int8_t* q = xr[t][b].qs;
            __m512i s = _mm512_set1_epi32(negsum[t * nb + b]);
            for (int j = 0; j < 8; ++j) {
                int32_t x4;
                std::memcpy(&x4, q + 4 * j, 4);
                s = _mm512_dpbusd_epi32(s, wv[j], _mm512_set1_epi32(x4));
            }
            const __m512 dx = _mm512_set1_ps(half_to_float(xr[t][b].d));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, dx), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

// A Q4_0x8 matrix 16 rows at a time (a last group of 8 with the 256-bit tile).
template <int NT>
void gemm_q4_0x16(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
                  int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const int64_t nb = n / kQK;
    thread_local std::vector<int32_t> negsum;
    negsum.resize(size_t(n_tokens * nb));
    block_negsums<BlockQ8_0>(acts, arb, nb, n_tokens, 8, negsum.data());
    const int32_t* ns = negsum.data();
    int64_t r = r0;
    for (; r + 16 <= r1; r += 16) {
        const uint8_t* g0 = w + size_t(r) * wrb;
        const uint8_t* g1 = w + size_t(r + 8) * wrb;
        int64_t t = 0;
        for (; t + NT <= n_tokens; t += NT)
            q4_0x16_tile<NT>(g0, g1, acts + size_t(t) * arb, arb, ns + t * nb, nb, y + t * ldy + r,
                             ldy);
        for (; t < n_tokens; ++t)
            q4_0x16_tile<1>(g0, g1, acts + size_t(t) * arb, arb, ns + t * nb, nb, y + t * ldy + r,
                            ldy);
    }
    for (; r < r1; r += 8)
        for (int64_t t = 0; t < n_tokens; ++t)
            q4_0x8_tile<1>(w + size_t(r) * wrb, acts + size_t(t) * arb, arb, ns + t * nb, nb,
                           y + t * ldy + r, ldy);
}

// One Q5_0x16 group (16 rows, kernels/repack.h) x NT tokens: per block, the four nibble
// vectors give the 8 registers of unsigned quants q + 16 (plus 16 where the fifth-bit masks are
// set), each token's 4-byte groups are broadcast, and per row and token the integer block sum
// (started at -16 * sum x) makes one FMA with dw * dx, in block order: the operations of
// rows_tile<FmtQ5_0>, so the same bits as the row-major AVX-512 prompt kernel.
// xd[t * nb + b]: token t's block b scale as a float.
template <int NT>
inline void q5_0x16_tile(const uint8_t* g, const uint8_t* acts, size_t arb, const int32_t* negsum,
                         const float* xd, int64_t nb, float* y, int64_t ldy) {
    const BlockQ8_0* xr[NT];
    for (int t = 0; t < NT; ++t) xr[t] = reinterpret_cast<const BlockQ8_0*>(acts + size_t(t) * arb);
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0F), b16 = _mm512_set1_epi8(0x10);
    for (int64_t b = 0; b < nb; ++b, g += kQ5_0x16Bytes) {
        for (int o = 0; o < 384; o += 64)
            _mm_prefetch(reinterpret_cast<const char*>(g) + kPrefetchBytes + o, _MM_HINT_T0);
        const __m512 dw =
            _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 320)));
        uint64_t hm[8];
        std::memcpy(hm, g + 256, sizeof hm);
        __m512i wv[8];
        for (int jj = 0; jj < 4; ++jj) {
            const __m512i v = _mm512_loadu_si512(g + 64 * jj);
            const __m512i lo = _mm512_and_si512(v, m4);
            const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            wv[jj] = _mm512_mask_add_epi8(lo, __mmask64(hm[jj]), lo, b16);
            wv[4 + jj] = _mm512_mask_add_epi8(hi, __mmask64(hm[4 + jj]), hi, b16);
        }
        for (int t = 0; t < NT; ++t) {
            const int8_t* q = xr[t][b].qs;
            __m512i s = _mm512_set1_epi32(negsum[t * nb + b]);
            for (int j = 0; j < 8; ++j) {
                int32_t x4;
                std::memcpy(&x4, q + 4 * j, 4);
                s = _mm512_dpbusd_epi32(s, wv[j], _mm512_set1_epi32(x4));
            }
            const __m512 dx = _mm512_set1_ps(xd[t * nb + b]);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, dx), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

// A Q5_0x16 matrix (r0, r1 multiples of 16), tokens in groups of NT (the rest one by one).
template <int NT>
void gemm_q5_0x16(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
                  int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const int64_t nb = n / kQK;
    thread_local std::vector<int32_t> negsum;
    thread_local std::vector<float> xd;
    negsum.resize(size_t(n_tokens * nb));
    xd.resize(size_t(n_tokens * nb));
    block_negsums<BlockQ8_0>(acts, arb, nb, n_tokens, 16, negsum.data());
    for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t b = 0; b < nb; ++b)
            xd[size_t(t * nb + b)] =
                half_to_float(reinterpret_cast<const BlockQ8_0*>(acts + size_t(t) * arb)[b].d);
    const int32_t* ns = negsum.data();
    const float* xs = xd.data();
    for (int64_t r = r0; r < r1; r += 16) {
        const uint8_t* g = w + size_t(r) * wrb;
        int64_t t = 0;
        for (; t + NT <= n_tokens; t += NT)
            q5_0x16_tile<NT>(g, acts + size_t(t) * arb, arb, ns + t * nb, xs + t * nb, nb,
                             y + t * ldy + r, ldy);
        for (; t < n_tokens; ++t)
            q5_0x16_tile<1>(g, acts + size_t(t) * arb, arb, ns + t * nb, xs + t * nb, nb,
                            y + t * ldy + r, ldy);
    }
}

// ---- Q8_0 repacked into 16-row groups (kernels/repack.h) ----------------------------------

// Each thread reads its rows as one contiguous stream. The prompt tiles rely on the hardware
// prefetcher (they are compute-bound); the one-token tile also prefetches kPrefetchL2Bytes ahead
// into L2: more CPU time per call, but whole-model decode of the Q8_0 file was 1-4 % faster in
// wall time with T0 prefetches 4 KiB ahead (3 of 3 alternating `ponder bench -n 128` runs), and
// T1 8 KiB ahead another 5-7 % (gemm_q8_impl.h).

// 16 rows x NT tokens of a Q8_0x16 matrix, rows in lanes: g points at the group's first block.
// Register j holds elements 4j..4j+3 of the 16 rows (biased by 128), each token's 4-byte groups
// are broadcast; s starts at -128 * (sum of the token's block quants), so after 8 vpdpbusd it
// is the exact integer block sum; then acc = fma(float(s), dw * dx, acc) in block order: the
// operations of rows_tile<FmtQ8_0>, so the same bits as the row-major prompt kernel.
// negsum / dx: [t * nb + b] for the tile's tokens.
template <int NT>
inline void q8_0x16_rows_tile(const uint8_t* g, const uint8_t* acts, size_t arb,
                              const int32_t* negsum, const float* dx, int64_t nb, float* y,
                              int64_t ldy) {
    const BlockQ8_0* xr[NT];
    for (int t = 0; t < NT; ++t) xr[t] = reinterpret_cast<const BlockQ8_0*>(acts + size_t(t) * arb);
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, g += kQ8_0x16Bytes) {
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g)));
        __m512i wv[8];
        for (int j = 0; j < 8; ++j) wv[j] = _mm512_loadu_si512(g + 32 + 64 * j);
        for (int t = 0; t < NT; ++t) {
            const int8_t* q = xr[t][b].qs;
            __m512i s = _mm512_set1_epi32(negsum[t * nb + b]);
            for (int j = 0; j < 8; ++j) {
                int32_t x4;
                std::memcpy(&x4, q + 4 * j, 4);
                s = _mm512_dpbusd_epi32(s, wv[j], _mm512_set1_epi32(x4));
            }
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                                     _mm512_mul_ps(dw, _mm512_set1_ps(dx[t * nb + b])), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

// 16 rows x 1 token of a Q8_0x16 matrix in the reference's lane order: one accumulator per
// lane j (elements 4j..4j+3 of each block), acc_j = fma(float(s_j), dw * dx, acc_j) with the
// exact integer lane sum s_j, and the 8-lane sum ((a0+a4)+(a2+a6))+((a1+a5)+(a3+a7)) at the
// end: bit-identical to dot_row (and to gemm_lanes<FmtQ8_0>). lanecorr[8 b + j] = -128 * (sum
// of the token's elements 4j..4j+3 of block b).
inline void q8_0x16_lanes_tile(const uint8_t* g, const BlockQ8_0* x, const int32_t* lanecorr,
                               int64_t nb, float* y) {
    __m512 acc[8];
    for (int j = 0; j < 8; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, g += kQ8_0x16Bytes) {
        for (int o = 0; o < int(kQ8_0x16Bytes); o += 64) prefetch_l2(g + kPrefetchL2Bytes + o);
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g)));
        const __m512 dwdx = _mm512_mul_ps(dw, _mm512_set1_ps(half_to_float(x[b].d)));
        for (int j = 0; j < 8; ++j) {
            int32_t x4;
            std::memcpy(&x4, x[b].qs + 4 * j, 4);
            const __m512i s =
                _mm512_dpbusd_epi32(_mm512_set1_epi32(lanecorr[8 * b + j]),
                                    _mm512_loadu_si512(g + 32 + 64 * j), _mm512_set1_epi32(x4));
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), dwdx, acc[j]);
        }
    }
    const __m512 s02 = _mm512_add_ps(_mm512_add_ps(acc[0], acc[4]), _mm512_add_ps(acc[2], acc[6]));
    const __m512 s13 = _mm512_add_ps(_mm512_add_ps(acc[1], acc[5]), _mm512_add_ps(acc[3], acc[7]));
    _mm512_storeu_ps(y, _mm512_add_ps(s02, s13));
}

// Two groups (32 rows) x NT tokens, lane for lane the operations of q8_0x16_rows_tile (the
// same bits): each broadcast of a token's 4 bytes feeds two vpdpbusd, which made prompts
// about 1.3x faster than one group x 8 tokens (bench_matmul, up and down at 512 tokens).
template <int NT>
inline void q8_0x32_rows_tile(const uint8_t* g0, const uint8_t* g1, const uint8_t* acts, size_t arb,
                              const int32_t* negsum, const float* dx, int64_t nb, float* y,
                              int64_t ldy) {
    const BlockQ8_0* xr[NT];
    for (int t = 0; t < NT; ++t) xr[t] = reinterpret_cast<const BlockQ8_0*>(acts + size_t(t) * arb);
    __m512 acc0[NT], acc1[NT];
    for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, g0 += kQ8_0x16Bytes, g1 += kQ8_0x16Bytes) {
        const __m512 dw0 =
            _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g0)));
        const __m512 dw1 =
            _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g1)));
        __m512i w0[8], w1[8];
        for (int j = 0; j < 8; ++j) {
            w0[j] = _mm512_loadu_si512(g0 + 32 + 64 * j);
            w1[j] = _mm512_loadu_si512(g1 + 32 + 64 * j);
        }
        for (int t = 0; t < NT; ++t) {
            const int8_t* q = xr[t][b].qs;
            const __m512i ns = _mm512_set1_epi32(negsum[t * nb + b]);
            __m512i s0 = ns, s1 = ns;
            for (int j = 0; j < 8; ++j) {
                int32_t x4;
                std::memcpy(&x4, q + 4 * j, 4);
                const __m512i xv = _mm512_set1_epi32(x4);
                s0 = _mm512_dpbusd_epi32(s0, w0[j], xv);
                s1 = _mm512_dpbusd_epi32(s1, w1[j], xv);
            }
            const __m512 d = _mm512_set1_ps(dx[t * nb + b]);
            acc0[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), _mm512_mul_ps(dw0, d), acc0[t]);
            acc1[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), _mm512_mul_ps(dw1, d), acc1[t]);
        }
    }
    for (int t = 0; t < NT; ++t) {
        _mm512_storeu_ps(y + t * ldy, acc0[t]);
        _mm512_storeu_ps(y + t * ldy + 16, acc1[t]);
    }
}

// f.template operator()<k>() for k = n (1 <= n <= K): a tile of a run-time token count.
template <int K, class F>
inline void with_tile_size(int64_t n, F&& f) {
    if constexpr (K >= 1) {
        if (n == K)
            f.template operator()<K>();
        else
            with_tile_size<K - 1>(n, f);
    }
}

// A Q8_0x16 matrix (w: groups of 16 rows, 16 * wrb bytes each; r0 and r1 multiples of 16).
// One token: the lane order (bit-identical to dot_row); more: rows in lanes, tiles of 32 rows
// x NT32 tokens and 16 x NT16 (bit-identical to the row-major AVX-512 prompt kernel). Same
// GemmFn contract as the others.
template <int NT32, int NT16>
void gemm_q8_0x16(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
                  int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const int64_t nb = n / kQK;
    if (n_tokens == 1) {
        const auto* x = reinterpret_cast<const BlockQ8_0*>(acts);
        thread_local std::vector<int32_t> lanecorr;
        lanecorr.resize(size_t(8 * nb));
        const __m256i bias = _mm256_set1_epi8(char(0x80));
        for (int64_t b = 0; b < nb; ++b) {
            const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
            const __m256i c = _mm256_sub_epi32(
                _mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), bias, xv));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanecorr.data() + 8 * b), c);
        }
        for (int64_t r = r0; r < r1; r += 16)
            q8_0x16_lanes_tile(w + size_t(r) * wrb, x, lanecorr.data(), nb, y + r);
        return;
    }
    thread_local std::vector<int32_t> negsum;
    thread_local std::vector<float> dx;
    negsum.resize(size_t(n_tokens * nb));
    dx.resize(negsum.size());
    block_negsums<BlockQ8_0>(acts, arb, nb, n_tokens, 128, negsum.data());
    for (int64_t t = 0; t < n_tokens; ++t) {
        const auto* xb = reinterpret_cast<const BlockQ8_0*>(acts + size_t(t) * arb);
        for (int64_t b = 0; b < nb; ++b) dx[size_t(t * nb + b)] = half_to_float(xb[b].d);
    }
    const int32_t* ns = negsum.data();
    const float* dxs = dx.data();
    // Pairs of groups (32 rows x NT32 tokens), then a last single group (16 x NT16).
    int64_t r = r0;
    for (; r + 32 <= r1; r += 32) {
        const uint8_t* g0 = w + size_t(r) * wrb;
        const uint8_t* g1 = w + size_t(r + 16) * wrb;
        for (int64_t t = 0; t < n_tokens; t += NT32)
            with_tile_size<NT32>(std::min<int64_t>(NT32, n_tokens - t), [&]<int K>() {
                q8_0x32_rows_tile<K>(g0, g1, acts + size_t(t) * arb, arb, ns + t * nb, dxs + t * nb,
                                     nb, y + t * ldy + r, ldy);
            });
    }
    for (; r < r1; r += 16) {
        const uint8_t* g = w + size_t(r) * wrb;
        for (int64_t t = 0; t < n_tokens; t += NT16)
            with_tile_size<NT16>(std::min<int64_t>(NT16, n_tokens - t), [&]<int K>() {
                q8_0x16_rows_tile<K>(g, acts + size_t(t) * arb, arb, ns + t * nb, dxs + t * nb, nb,
                                     y + t * ldy + r, ldy);
            });
    }
}

}  // namespace

// Models repack Q5_0 at load into Q5_0x16 (gemm_q5_0x16: rows-in-lanes at every token count,
// so decode of repacked Q5_0 is no longer bit-identical to dot_row; prompts keep the bits of
// the row-major prompt kernel).
// Q8_0 and Q5_0 prompts use the rows-in-lanes kernel (about 2x the lane order's speed; one
// float FMA per block, so not the reference's bits: on the golden models Q8_0 then agrees with
// llama.cpp to 0.03 instead of 1e-5, Q5_0 still to 1e-5). Q4_1 and Q5_1 keep the exact lane
// order (rows-in-lanes moved Q4_1 to 0.044 of the 0.05 tolerance).
void register_gemm_q8_avx512(KernelTable& t) {
    t.gemm_for(DType::F32) = {DType::F32, copy_f32,
                              tiled<4, 5, float, FloatTile<Load16F32>::template T>};
    t.gemm_for(DType::F16) = {DType::F32, round_f16,
                              tiled<4, 5, float, FloatTile<Load16F16>::template T>};
    if (cpu_features().avx512bf16)
        t.gemm_for(DType::BF16) = {DType::BF16, quantize_bf16, tiled<4, 5, uint16_t, Bf16DpTile>};
    else
        t.gemm_for(DType::BF16) = {DType::F32, round_bf16,
                                   tiled<4, 5, float, FloatTile<Load16BF16>::template T>};
    t.gemm_for(DType::Q8_0) = {DType::Q8_0, quantize_q8_0, gemm_rows_or_lanes<FmtQ8_0, 8, 4>};
    t.gemm_for(DType::Q4_0) = {DType::Q8_0, quantize_q8_0, gemm_rows<FmtQ4_0, 8>};
    t.gemm_q4_0x8 = {DType::Q8_0, quantize_q8_0, gemm_q4_0x16<8>};
    t.gemm_q8_0x16 = {DType::Q8_0, quantize_q8_0, gemm_q8_0x16<4, 8>};
    t.gemm_q5_0x16 = {DType::Q8_0, quantize_q8_0, gemm_q5_0x16<8>};
    t.gemm_for(DType::Q4_1) = {DType::Q8_1, quantize_q8_1, gemm_lanes<FmtQ4_1, 4, 3, 4>};
    t.gemm_for(DType::Q5_0) = {DType::Q8_0, quantize_q8_0, gemm_rows_or_lanes<FmtQ5_0, 8, 4>};
    t.gemm_for(DType::Q5_1) = {DType::Q8_1, quantize_q8_1, gemm_lanes<FmtQ5_1, 4, 3, 4>};
}

}  // namespace ponder::kernels
#endif
