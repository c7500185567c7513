// The matmul kernels of x86/gemm_q8_* (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) against
// the scalar reference, on every ISA level this CPU supports.
//
// Bounds:
// - Activation rounding: bit-identical to quantize_acts (Q8_0 / Q8_1) and to the fp16 / bf16
//   round trip of core/fp16.h (F16 / BF16 weights).
// - Quantized types: bit-identical to dot_row where the kernel keeps the reference's order
//   (integer block sums, the same float FMAs in the same order): Q4_0, Q4_1 and Q5_1 always,
//   Q8_0 and Q5_0 at one token. There any difference is a bug, not rounding. Prompts
//   (n_tokens > 1) of Q5_0 and Q8_0 (AVX2 and AVX-512) sum each
//   block's integers whole and make one FMA per block instead of one per 8 lanes: with d_b the
//   combined scale and S_b the block's integer sum (exact in both), the reference errs by at
//   most (nb + 3) u sum_b |d_b| sum|w q|
//   and the kernel by nb u sum_b |d_b S_b|, so |y - dot_row| <= (2 nb + 8) * 2^-23 *
//   sum_e |w_e| |xq_e| (w dequantized, xq the dequantized activation quants; factor 2 spare).
// - F32 / F16 / BF16: the reference sums in double, the kernels in float over 8 (or 16) lanes
//   with FMAs. Recursive float summation of k terms errs by at most (k - 1) * u * sum|terms|
//   (u = 2^-24); a lane chain has k <= n / 8 terms and the lane reduction adds 4 levels, so
//   |y - ref| <= (n / 8 + 8) * 2^-23 * sum|w x| holds with a factor 2 to spare.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "core/fp16.h"
#include "core/quant.h"
#include "core/quant_blocks.h"
#include "core/thread_pool.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/repack.h"
#include "kernels/ref/dot_ref.h"
#include "kernels/ref/kernels_ref.h"

namespace ponder::kernels {
namespace {

const DType kQuantTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1};
const DType kFloatTypes[] = {DType::F32, DType::F16, DType::BF16};

std::vector<Isa> isas() {
    return supported_isas();
}

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
}

// A weight matrix of type t with random contents (quantized by the reference quantizer).
struct TestMatrix {
    std::vector<uint8_t> bytes;
    Matrix m;
};
TestMatrix make_matrix(DType t, int64_t rows, int64_t cols, uint32_t seed) {
    TestMatrix tm;
    const size_t rb = row_size(t, cols);
    tm.bytes.resize(rb * size_t(rows) + 64);
    const auto f = random_floats(size_t(rows * cols), seed);
    for (int64_t r = 0; r < rows; ++r)
        quantize_row(t, f.data() + r * cols, tm.bytes.data() + size_t(r) * rb, cols);
    tm.m = {t, cols, rows, tm.bytes.data(), rb};
    return tm;
}

// Activations with a few hand-made blocks: all zeros, and exact ties (k + 0.5 with max 127,
// so that x * 127 / max lands on .5 and round-half-even decides).
std::vector<float> make_acts(int64_t n_tokens, int64_t cols, uint32_t seed) {
    auto x = random_floats(size_t(n_tokens * cols), seed, 2.0f);
    if (cols >= 64) {
        for (int e = 0; e < 32; ++e) x[size_t(e)] = 0.0f;
        for (int e = 0; e < 32; ++e) x[size_t(32 + e)] = float(e - 16) + 0.5f;
        x[32 + 31] = 127.0f;
    }
    return x;
}

TEST(GemmQ8, QuantizeIsBitIdentical) {
    for (Isa isa : isas()) {
        const KernelTable& tab = kernel_table(isa);
        for (DType t : kQuantTypes) {
            const GemmKernel& k = tab.gemm_for(t);
            if (!k.gemm) continue;
            for (int64_t n : {32, 64, 96, 896, 4864}) {
                SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(dtype_name(t)) +
                             " n=" + std::to_string(n));
                const auto x = make_acts(1, n, uint32_t(n));
                QuantizedActs ref;
                quantize_acts(t, x.data(), n, ref);
                std::vector<uint8_t> got(row_size(k.act_type, n));
                k.quantize(x.data(), n, got.data());
                if (k.act_type == DType::Q8_0) {
                    ASSERT_EQ(got.size(), ref.data.size());
                    EXPECT_EQ(0, std::memcmp(got.data(), ref.data.data(), got.size()));
                } else {
                    ASSERT_EQ(k.act_type, DType::Q8_1);
                    const auto* g = reinterpret_cast<const BlockQ8_1*>(got.data());
                    const auto* r = reinterpret_cast<const BlockQ8_0*>(ref.data.data());
                    for (int64_t b = 0; b < n / kQK; ++b) {
                        EXPECT_EQ(g[b].d, r[b].d) << "block " << b;
                        EXPECT_EQ(0, std::memcmp(g[b].qs, r[b].qs, kQK)) << "block " << b;
                        EXPECT_EQ(fp16_to_f32(g[b].s), ref.sums[size_t(b)]) << "block " << b;
                    }
                }
            }
        }
        for (DType t : kFloatTypes) {
            const GemmKernel& k = tab.gemm_for(t);
            if (!k.gemm) continue;
            SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(dtype_name(t)));
            auto x = random_floats(1000, 7, 100.0f);
            x[0] = 1e-6f;               // half subnormal
            x[1] = 70000.0f;            // half overflow
            x[2] = 1.0f + 1.0f / 2048;  // a half tie
            x[3] = 1.0f + 1.0f / 256;   // a bfloat16 tie
            std::vector<uint8_t> got(row_size(k.act_type, 1000));
            k.quantize(x.data(), 1000, got.data());
            for (size_t i = 0; i < 1000; ++i) {
                float want = x[i];
                if (t == DType::F16) want = fp16_to_f32(f32_to_fp16(x[i]));
                if (t == DType::BF16) want = bf16_to_f32(f32_to_bf16(x[i]));
                if (k.act_type == DType::BF16) {
                    uint16_t h;
                    std::memcpy(&h, got.data() + 2 * i, 2);
                    ASSERT_EQ(f32_to_bits(bf16_to_f32(h)), f32_to_bits(want)) << i;
                } else {
                    float g;
                    std::memcpy(&g, got.data() + 4 * i, 4);
                    ASSERT_EQ(f32_to_bits(g), f32_to_bits(want)) << i;
                }
            }
        }
    }
}

// Whether the kernel of `isa` must give dot_row's bits for type t at n_tokens (see the top).
bool exact_order(Isa isa, DType t, int64_t n_tokens) {
    if (isa == Isa::Scalar || n_tokens == 1) return true;
    // Rows-in-lanes prompts on AVX2 and AVX-512.
    return t != DType::Q5_0 && t != DType::Q8_0;
}

// The kernel of `isa` on rows [r0, r1) of w against the reference.
void check_gemm(Isa isa, DType t, int64_t rows, int64_t cols, int64_t n_tokens, int64_t r0,
                int64_t r1, uint32_t seed) {
    const GemmKernel& k = kernel_table(isa).gemm_for(t);
    ASSERT_NE(k.gemm, nullptr);
    SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(dtype_name(t)) +
                 " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) +
                 " tokens=" + std::to_string(n_tokens) + " r0=" + std::to_string(r0) +
                 " r1=" + std::to_string(r1));
    const auto tm = make_matrix(t, rows, cols, seed);
    const auto x = make_acts(n_tokens, cols, seed + 1);
    const size_t arb = row_size(k.act_type, cols);
    std::vector<uint8_t> acts(arb * size_t(n_tokens));
    for (int64_t i = 0; i < n_tokens; ++i)
        k.quantize(x.data() + i * cols, cols, acts.data() + i * arb);
    const float sentinel = -12345.0f;
    std::vector<float> y(size_t(rows * n_tokens), sentinel);
    k.gemm(tm.m.data, tm.m.row_bytes, acts.data(), arb, cols, n_tokens, r0, r1, y.data(), rows);
    std::vector<float> wrow(static_cast<size_t>(cols));
    int failures = 0;
    for (int64_t i = 0; i < n_tokens && failures < 5; ++i) {
        QuantizedActs q;
        std::vector<float> xr(x.begin() + i * cols, x.begin() + (i + 1) * cols);
        if (has_exact_dot(t)) quantize_acts(t, xr.data(), cols, q);
        if (t == DType::F16)
            for (auto& v : xr) v = fp16_to_f32(f32_to_fp16(v));
        if (t == DType::BF16)
            for (auto& v : xr) v = bf16_to_f32(f32_to_bf16(v));
        for (int64_t r = 0; r < rows; ++r) {
            const float got = y[size_t(i * rows + r)];
            if (r < r0 || r >= r1) {
                EXPECT_EQ(got, sentinel) << "wrote outside its rows: token " << i << " row " << r;
                continue;
            }
            const uint8_t* wr = tm.m.data + size_t(r) * tm.m.row_bytes;
            if (has_exact_dot(t) && exact_order(isa, t, n_tokens)) {
                const float want = dot_row(t, wr, q, cols);
                if (f32_to_bits(got) != f32_to_bits(want) && !(got == 0 && want == 0)) {
                    ADD_FAILURE() << "token " << i << " row " << r << ": " << got << " != " << want;
                    ++failures;
                }
            } else if (has_exact_dot(t)) {
                const float want = dot_row(t, wr, q, cols);
                dequantize_row(t, wr, wrow.data(), cols);
                const auto* xb = reinterpret_cast<const BlockQ8_0*>(q.data.data());
                double mag = 0;
                for (int64_t c = 0; c < cols; ++c)
                    mag += std::fabs(double(wrow[size_t(c)]) * fp16_to_f32(xb[c / kQK].d) *
                                     xb[c / kQK].qs[c % kQK]);
                const double bound = double(2 * (cols / kQK) + 8) * std::ldexp(1.0, -23) * mag;
                if (std::fabs(double(got) - double(want)) > bound) {
                    ADD_FAILURE() << "token " << i << " row " << r << ": " << got << " vs " << want
                                  << " (bound " << bound << ")";
                    ++failures;
                }
            } else {
                dequantize_row(t, wr, wrow.data(), cols);
                double want = 0, mag = 0;
                for (int64_t c = 0; c < cols; ++c) {
                    want += double(wrow[size_t(c)]) * xr[size_t(c)];
                    mag += std::fabs(double(wrow[size_t(c)]) * xr[size_t(c)]);
                }
                const double bound = double(cols / 8 + 8) * std::ldexp(1.0, -23) * mag;
                if (std::fabs(got - want) > bound) {
                    ADD_FAILURE() << "token " << i << " row " << r << ": " << got << " vs " << want
                                  << " (bound " << bound << ")";
                    ++failures;
                }
            }
        }
    }
}

TEST(GemmQ8, QuantizedKernelsEqualDotRow) {
    for (Isa isa : isas()) {
        if (isa == Isa::Scalar) continue;  // no kernels of its own: matmul uses the reference
        for (DType t : kQuantTypes) {
            uint32_t seed = 1;
            for (int64_t rows : {1, 7, 16, 33, 67})
                for (int64_t nb : {1, 3, 7}) {
                    for (int64_t nt = 1; nt <= 17; ++nt)
                        check_gemm(isa, t, rows, nb * kQK, nt, 0, rows, seed++);
                    check_gemm(isa, t, rows, nb * kQK, 40, 0, rows, seed++);
                }
            // A row range inside the matrix (as one thread of several gets).
            check_gemm(isa, t, 70, 64, 5, 16, 51, 99);
            check_gemm(isa, t, 70, 64, 1, 32, 70, 98);
        }
    }
}

#if defined(__x86_64__)
// On a CPU with AVX-VNNI the AVX2 level runs gemm_q8_avxvnni.cpp's kernels, so the tests above
// see those; here the AVX2 file's own (vpmaddubsw) kernels run beside them on the same inputs and
// must give the same bits (exact integer sums either way), Q4_0x8 and Q8_0x16 layouts included.
TEST(GemmQ8, AvxVnniKernelsEqualAvx2Bits) {
    if (!cpu_features().avxvnni) GTEST_SKIP() << "this CPU has no AVX-VNNI";
    KernelTable plain, vnni;
    register_gemm_q8_avx2(plain);
    register_gemm_q8_avxvnni(vnni);
    uint32_t seed = 500;
    for (int layout = 0; layout < 3; ++layout)  // row-major, Q4_0x8, Q8_0x16
        for (DType t : kQuantTypes) {
            if ((layout == 1 && t != DType::Q4_0) || (layout == 2 && t != DType::Q8_0)) continue;
            const GemmKernel& a = layout == 1   ? plain.gemm_q4_0x8
                                  : layout == 2 ? plain.gemm_q8_0x16
                                                : plain.gemm_for(t);
            const GemmKernel& b = layout == 1   ? vnni.gemm_q4_0x8
                                  : layout == 2 ? vnni.gemm_q8_0x16
                                                : vnni.gemm_for(t);
            for (int64_t nt : {1, 2, 3, 4, 7, 16}) {
                SCOPED_TRACE(std::string(dtype_name(t)) + (layout == 1 ? "x8" : "") +
                             (layout == 2 ? "x16" : "") + " tokens=" + std::to_string(nt));
                const int64_t rows = 48, cols = 5 * kQK;
                auto tm = make_matrix(t, rows, cols, seed++);
                std::vector<uint8_t> packed(tm.bytes.size());
                const uint8_t* w = tm.m.data;
                if (layout == 1)
                    repack_q4_0x8(tm.m.data, tm.m.row_bytes, rows, cols, packed.data());
                if (layout == 2)
                    repack_q8_0x16(tm.m.data, tm.m.row_bytes, rows, cols, packed.data());
                if (layout) w = packed.data();
                const auto x = make_acts(nt, cols, seed++);
                const size_t arb = row_size(a.act_type, cols);
                std::vector<uint8_t> acts(arb * size_t(nt)), acts_b(acts.size());
                for (int64_t i = 0; i < nt; ++i) {
                    a.quantize(x.data() + i * cols, cols, acts.data() + i * arb);
                    b.quantize(x.data() + i * cols, cols, acts_b.data() + i * arb);
                }
                ASSERT_EQ(acts, acts_b);
                std::vector<float> ya(size_t(rows * nt)), yb(ya.size());
                a.gemm(w, tm.m.row_bytes, acts.data(), arb, cols, nt, 0, rows, ya.data(), rows);
                b.gemm(w, tm.m.row_bytes, acts.data(), arb, cols, nt, 0, rows, yb.data(), rows);
                EXPECT_EQ(0, std::memcmp(ya.data(), yb.data(), ya.size() * sizeof(float)));
            }
        }
}
#endif

#if defined(__x86_64__)
// On a CPU with AMX the AVX-512 level runs the prompts of the Q4_0x8, Q8_0x16 and Q5_0x16
// layouts with tile products (x86/gemm_amx.cpp), so the tests above see those; here the AVX-512
// file's own kernels run beside them and must give the same bits: token counts around the
// 16-token tiles (tails go to the AVX-512 kernel, one leftover token with the token before it),
// row counts around the 32-row panels (a Q4_0x8 last group of 8), row ranges inside the matrix.
TEST(GemmQ8, AmxKernelsEqualAvx512Bits) {
    if (!amx_enabled()) GTEST_SKIP() << "this CPU (or PONDER_AMX=0, or the OS) gives no AMX";
    KernelTable plain;
    register_gemm_q8_avx512(plain);
    KernelTable amx = plain;
    register_gemm_amx(amx);
    struct Case {
        const char* name;
        DType type;
        const GemmKernel& plain;
        const GemmKernel& amx;
        void (*repack)(const uint8_t*, size_t, int64_t, int64_t, uint8_t*);
        int group;
    };
    const Case cases[] = {
        {"Q4_0x8", DType::Q4_0, plain.gemm_q4_0x8, amx.gemm_q4_0x8, repack_q4_0x8, 8},
        {"Q8_0x16", DType::Q8_0, plain.gemm_q8_0x16, amx.gemm_q8_0x16, repack_q8_0x16, 16},
        {"Q5_0x16", DType::Q5_0, plain.gemm_q5_0x16, amx.gemm_q5_0x16, repack_q5_0x16, 16},
    };
    uint32_t seed = 900;
    for (const Case& c : cases) {
        ASSERT_NE(c.amx.gemm, c.plain.gemm) << c.name;
        for (int64_t rows : {16, 48, 56, 96})
            for (int64_t nb : {1, 3, 28})
                for (int64_t nt : {15, 16, 17, 31, 32, 33, 50, 64}) {
                    if (rows % c.group != 0) continue;
                    SCOPED_TRACE(std::string(c.name) + " rows=" + std::to_string(rows) +
                                 " blocks=" + std::to_string(nb) + " tokens=" + std::to_string(nt));
                    const int64_t cols = nb * kQK;
                    auto tm = make_matrix(c.type, rows, cols, seed++);
                    std::vector<uint8_t> packed(tm.bytes.size());
                    c.repack(tm.m.data, tm.m.row_bytes, rows, cols, packed.data());
                    const auto x = make_acts(nt, cols, seed++);
                    const size_t arb = row_size(c.plain.act_type, cols);
                    std::vector<uint8_t> acts(arb * size_t(nt));
                    for (int64_t i = 0; i < nt; ++i)
                        c.plain.quantize(x.data() + i * cols, cols, acts.data() + i * arb);
                    // The whole matrix, then a range inside it as one thread of several gets.
                    const int64_t ranges[2][2] = {{0, rows}, {16, rows}};
                    for (const auto& rg : ranges) {
                        if (rg[0] >= rg[1]) continue;
                        std::vector<float> ya(size_t(rows * nt), -1.0f), yb(ya.size(), -1.0f);
                        c.plain.gemm(packed.data(), tm.m.row_bytes, acts.data(), arb, cols, nt,
                                     rg[0], rg[1], ya.data(), rows);
                        c.amx.gemm(packed.data(), tm.m.row_bytes, acts.data(), arb, cols, nt, rg[0],
                                   rg[1], yb.data(), rows);
                        EXPECT_EQ(0, std::memcmp(ya.data(), yb.data(), ya.size() * sizeof(float)))
                            << "rows " << rg[0] << ".." << rg[1];
                    }
                }
    }
}
#endif

// Q8_0 prompts sum each block's integers whole (rows in lanes) at both vector widths, with the
// same float steps per (row, token): AVX2 and AVX-512 give the same bits, row-major and
// repacked into Q8_0x16.
TEST(GemmQ8, Q8_0PromptsSameBitsOnAvx2AndAvx512) {
    if (!isa_supported(Isa::Avx512)) GTEST_SKIP() << "this CPU has no AVX-512 level";
    const KernelTable& a2 = kernel_table(Isa::Avx2);
    const KernelTable& a5 = kernel_table(Isa::Avx512);
    uint32_t seed = 700;
    for (bool x16 : {false, true})
        for (int64_t nt : {2, 3, 5, 9, 17}) {
            SCOPED_TRACE(std::string(x16 ? "Q8_0x16" : "Q8_0") + " tokens=" + std::to_string(nt));
            const GemmKernel& a = x16 ? a2.gemm_q8_0x16 : a2.gemm_for(DType::Q8_0);
            const GemmKernel& b = x16 ? a5.gemm_q8_0x16 : a5.gemm_for(DType::Q8_0);
            const int64_t rows = 64, cols = 7 * kQK;
            auto tm = make_matrix(DType::Q8_0, rows, cols, seed++);
            std::vector<uint8_t> packed(tm.bytes.size());
            if (x16) repack_q8_0x16(tm.m.data, tm.m.row_bytes, rows, cols, packed.data());
            const uint8_t* w = x16 ? packed.data() : tm.m.data;
            const auto x = make_acts(nt, cols, seed++);
            const size_t arb = row_size(DType::Q8_0, cols);
            std::vector<uint8_t> acts(arb * size_t(nt));
            for (int64_t i = 0; i < nt; ++i)
                a.quantize(x.data() + i * cols, cols, acts.data() + i * arb);
            std::vector<float> ya(size_t(rows * nt)), yb(ya.size());
            a.gemm(w, tm.m.row_bytes, acts.data(), arb, cols, nt, 0, rows, ya.data(), rows);
            b.gemm(w, tm.m.row_bytes, acts.data(), arb, cols, nt, 0, rows, yb.data(), rows);
            EXPECT_EQ(0, std::memcmp(ya.data(), yb.data(), ya.size() * sizeof(float)));
        }
}

TEST(GemmQ8, FloatKernelsWithinBound) {
    for (Isa isa : isas()) {
        if (isa == Isa::Scalar) continue;
        for (DType t : kFloatTypes) {
            uint32_t seed = 1;
            for (int64_t rows : {1, 5, 16, 37})
                for (int64_t cols : {1, 8, 13, 64, 200, 1000})
                    for (int64_t nt : {1, 2, 3, 4, 5, 6, 7, 11, 17, 40})
                        check_gemm(isa, t, rows, cols, nt, 0, rows, seed++);
            check_gemm(isa, t, 70, 100, 6, 16, 51, 99);
        }
    }
}

// The entry point: the active level's kernel (or the reference for scalar), the same bits
// with 1 and 2 threads, and equal to the kernel called directly.
TEST(GemmQ8, MatmulThreadsAgree) {
    ThreadPool one(1), two(2);
    const Isa saved = active_isa();
    for (Isa isa : isas()) {
        set_active_isa(isa);
        for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::F16,
                        DType::BF16, DType::F32}) {
            SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(dtype_name(t)));
            const int64_t rows = 300, cols = 256;
            const auto tm = make_matrix(t, rows, cols, 5);
            for (int64_t nt : {1, 9}) {
                const auto x = make_acts(nt, cols, 6);
                std::vector<float> y1(size_t(rows * nt)), y2(size_t(rows * nt));
                matmul(tm.m, x.data(), nt, y1.data(), one);
                matmul(tm.m, x.data(), nt, y2.data(), two);
                EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)));
                if (has_exact_dot(t) && exact_order(isa, t, nt)) {
                    // The reference's bits where the kernel keeps its order.
                    std::vector<float> yr(y1.size());
                    ref::matmul(tm.m, x.data(), nt, yr.data(), one);
                    EXPECT_EQ(0, std::memcmp(y1.data(), yr.data(), y1.size() * sizeof(float)));
                }
            }
        }
    }
    set_active_isa(saved);
}

}  // namespace
}  // namespace ponder::kernels
