// The K-quant matmul kernels (Q4_K, Q5_K, Q6_K; x86/gemm_kquants_*.cpp) of every ISA level
// this CPU runs, against the scalar reference (kernels/ref/dot_ref.h).
//
// Bound: 0. The kernels reproduce the reference arithmetic exactly (integer lane sums are
// exact in any order; the float FMAs per lane, the min terms and the final horizontal sum are
// the reference's operations in its order), so every output must be bit-identical to
// dot_row. Activation quantization must be bit-identical to quantize_acts.
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
#include "kernels/ref/dot_ref.h"
#include "kernels/ref/kernels_ref.h"

namespace ponder::kernels {
namespace {

// Types whose kernels must equal dot_row bit for bit (Q2_K and Q3_K: see below).
const DType kTypes[] = {DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::vector<Isa> levels() {
    return supported_isas();
}

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

std::vector<float> random_floats(std::mt19937& rng, int64_t n, float scale) {
    std::normal_distribution<float> nd(0.f, scale);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = nd(rng);
    return x;
}

// Weights of n_rows x n_cols: quantized from random floats (realistic blocks) or random bytes
// with finite scales (every bit pattern of quants and sub-block scales: the extremes).
std::vector<uint8_t> random_weights(std::mt19937& rng, DType t, int64_t n_rows, int64_t n_cols,
                                    bool raw) {
    const size_t rb = row_size(t, n_cols);
    std::vector<uint8_t> w(rb * size_t(n_rows));
    if (!raw) {
        for (int64_t r = 0; r < n_rows; ++r) {
            auto x = random_floats(rng, n_cols, 0.05f);
            quantize_row(t, x.data(), w.data() + size_t(r) * rb, n_cols);
        }
        return w;
    }
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> sc(-1e-3f, 1e-3f);
    for (auto& b : w) b = uint8_t(byte(rng));
    const size_t bs = dtype_traits(t).type_size;
    for (size_t off = 0; off < w.size(); off += bs) {
        const uint16_t d = f32_to_fp16(sc(rng)), dmin = f32_to_fp16(sc(rng));
        size_t od = 0, om = 2;  // Q4_K and Q5_K start with d, dmin
        if (t == DType::Q6_K) od = offsetof(BlockQ6_K, d), om = SIZE_MAX;
        if (t == DType::Q3_K) od = offsetof(BlockQ3_K, d), om = SIZE_MAX;
        if (t == DType::Q2_K) od = offsetof(BlockQ2_K, d), om = offsetof(BlockQ2_K, dmin);
        std::memcpy(w.data() + off + od, &d, 2);
        if (om != SIZE_MAX) std::memcpy(w.data() + off + om, &dmin, 2);
    }
    return w;
}

// --- activation quantization --------------------------------------------------------------

void expect_same_quantization(const GemmKernel& k, const std::vector<float>& x) {
    const int64_t n = int64_t(x.size());
    QuantizedActs ref;
    quantize_acts(DType::Q4_K, x.data(), n, ref);
    std::vector<uint8_t> got(row_size(DType::Q8_K, n), 0xAB);
    k.quantize(x.data(), n, got.data());
    ASSERT_EQ(got.size(), ref.data.size());
    for (size_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(got[i], ref.data[i])
            << "byte " << i << " (block " << i / sizeof(BlockQ8_K) << ")";
}

TEST(GemmKQuants, QuantizeQ8KBitIdentical) {
    std::mt19937 rng(1);
    for (Isa isa : levels()) {
        for (DType t : kTypes) {
            const GemmKernel& k = kernel_table(isa).gemm_for(t);
            if (!k.gemm) continue;
            SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(dtype_name(t)));
            ASSERT_EQ(k.act_type, DType::Q8_K);
            for (float scale : {1e-3f, 1.f, 37.f, 1e4f})
                for (int64_t n : {256, 512, 2304})
                    expect_same_quantization(k, random_floats(rng, n, scale));
            // Crafted blocks: all zero; the largest magnitude negative; +a and -a both present
            // (the first one sets the sign); max 127 (scale -1: x.5 values are exact ties, which
            // round to even); a single nonzero; tiny (subnormal) values.
            std::vector<float> x(256 * 6, 0.f);
            float* b1 = x.data() + 256;
            for (int i = 0; i < 256; ++i) b1[i] = float(i % 17) - 8.f;
            b1[100] = -20.f;
            float* b2 = x.data() + 512;
            for (int i = 0; i < 256; ++i) b2[i] = 0.25f * float(i % 9);
            b2[3] = -5.f;
            b2[7] = 5.f;
            float* b3 = x.data() + 768;
            for (int i = 0; i < 256; ++i) b3[i] = float(i % 64) - 31.5f;
            b3[200] = 127.f;
            float* b4 = x.data() + 1024;
            b4[77] = -3.f;
            float* b5 = x.data() + 1280;
            for (int i = 0; i < 256; ++i) b5[i] = float(i) * 1e-42f;
            expect_same_quantization(k, x);
        }
    }
}

// --- gemm vs dot_row ----------------------------------------------------------------------

struct Case {
    int64_t n_rows, n_cols, n_tokens;
};

void check_gemm(Isa isa, DType t, const Case& c, bool raw, std::mt19937& rng) {
    const GemmKernel& k = kernel_table(isa).gemm_for(t);
    SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(dtype_name(t)) +
                 " rows=" + std::to_string(c.n_rows) + " cols=" + std::to_string(c.n_cols) +
                 " tokens=" + std::to_string(c.n_tokens) + (raw ? " raw" : " quantized"));
    const auto w = random_weights(rng, t, c.n_rows, c.n_cols, raw);
    const size_t wrb = row_size(t, c.n_cols);
    const auto x = random_floats(rng, c.n_tokens * c.n_cols, 1.f);
    const size_t arb = row_size(DType::Q8_K, c.n_cols);
    std::vector<uint8_t> acts(arb * size_t(c.n_tokens));
    std::vector<QuantizedActs> xq(size_t(c.n_tokens));
    for (int64_t j = 0; j < c.n_tokens; ++j) {
        k.quantize(x.data() + j * c.n_cols, c.n_cols, acts.data() + size_t(j) * arb);
        quantize_acts(t, x.data() + j * c.n_cols, c.n_cols, xq[size_t(j)]);
    }
    // A row range that starts and ends off any tile boundary when there are enough rows; the
    // rest of y must stay untouched. ldy > n_rows checks the stride.
    const int64_t r0 = c.n_rows > 3 ? 1 : 0, r1 = c.n_rows > 5 ? c.n_rows - 1 : c.n_rows;
    const int64_t ldy = c.n_rows + 3;
    const float sentinel = -12345.f;
    std::vector<float> y(size_t(ldy * c.n_tokens), sentinel);
    k.gemm(w.data(), wrb, acts.data(), arb, c.n_cols, c.n_tokens, r0, r1, y.data(), ldy);
    int bad = 0;
    for (int64_t j = 0; j < c.n_tokens; ++j)
        for (int64_t r = 0; r < ldy; ++r) {
            const float got = y[size_t(j * ldy + r)];
            if (r < r0 || r >= r1) {
                if (bits(got) != bits(sentinel) && ++bad < 5)
                    ADD_FAILURE() << "wrote outside its rows: token " << j << " row " << r;
                continue;
            }
            const float want = dot_row(t, w.data() + size_t(r) * wrb, xq[size_t(j)], c.n_cols);
            if (bits(got) != bits(want) && ++bad < 5)
                ADD_FAILURE() << "token " << j << " row " << r << ": " << got << " vs reference "
                              << want << " (diff " << got - want << ")";
        }
    EXPECT_EQ(bad, 0);
}

TEST(GemmKQuants, GemmEqualsReferenceOnOddShapes) {
    std::mt19937 rng(2);
    const Case cases[] = {{1, 256, 1},   {3, 256, 2},   {5, 512, 3},    {7, 768, 4},
                          {16, 256, 5},  {17, 512, 6},  {18, 1280, 7},  {23, 256, 8},
                          {33, 768, 9},  {36, 512, 10}, {37, 256, 11},  {41, 1024, 12},
                          {19, 512, 13}, {70, 256, 14}, {9, 2304, 15},  {6, 256, 16},
                          {13, 768, 17}, {67, 512, 33}, {130, 256, 40}, {21, 4864, 3}};
    for (Isa isa : levels())
        for (DType t : kTypes) {
            if (!kernel_table(isa).gemm_for(t).gemm) continue;
            for (const Case& c : cases)
                for (bool raw : {false, true}) check_gemm(isa, t, c, raw, rng);
        }
}

// --- Q2_K, Q3_K: the reference has no exact integer order for these ----------------------
//
// ref::matmul computes them as a double dot of the dequantized weights (each rounded to
// float: 3 roundings) with the dequantized Q8_K activations, the kernels as integer sums per
// super-block plus a few float roundings per super-block (d products, FMAs, the mins, the final
// horizontal sum), each at most half an ulp of a partial sum bounded by
// S = sum_c (|scale part| + |min part|) * |x_c|. Bound: 2^-24 * (8 * n_blocks + 16) * S.

// S for one row of Q2_K / Q3_K weights against dequantized activations xa.
double magnitude_sum(DType t, const uint8_t* w, const float* xa, int64_t n) {
    double s = 0;
    for (int64_t b = 0; b < n / kQK_K; ++b) {
        const float* x = xa + b * kQK_K;
        if (t == DType::Q2_K) {
            const auto& blk = reinterpret_cast<const BlockQ2_K*>(w)[b];
            const double d = std::fabs(fp16_to_f32(blk.d)), dm = std::fabs(fp16_to_f32(blk.dmin));
            for (int e = 0; e < kQK_K; ++e) {
                const int n2 = e / 128, j = (e % 128) / 32, l = e % 32;
                const int q = (blk.qs[32 * n2 + l] >> (2 * j)) & 3;
                const uint8_t sc = blk.scales[e / 16];
                s += (d * (sc & 0xF) * q + dm * (sc >> 4)) * std::fabs(x[e]);
            }
        } else {
            const auto& blk = reinterpret_cast<const BlockQ3_K*>(w)[b];
            int8_t sc[16];
            unpack_scales_q3_K(blk.scales, sc);
            const double d = std::fabs(fp16_to_f32(blk.d));
            for (int e = 0; e < kQK_K; ++e) s += d * std::abs(sc[e / 16]) * 4.0 * std::fabs(x[e]);
        }
    }
    return s;
}

TEST(GemmKQuants, Q2KQ3KWithinBoundOfReference) {
    std::mt19937 rng(4);
    ThreadPool one(1);
    const Case cases[] = {{1, 256, 1},   {5, 512, 3},   {7, 768, 4},   {17, 512, 6},
                          {23, 256, 8},  {37, 256, 11}, {9, 2304, 15}, {13, 768, 17},
                          {67, 512, 33}, {21, 4864, 2}};
    int checked = 0;
    for (Isa isa : levels())
        for (DType t : {DType::Q2_K, DType::Q3_K}) {
            const GemmKernel& k = kernel_table(isa).gemm_for(t);
            if (!k.gemm) continue;
            for (const Case& c : cases)
                for (bool raw : {false, true}) {
                    SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(dtype_name(t)) +
                                 " rows=" + std::to_string(c.n_rows) +
                                 " cols=" + std::to_string(c.n_cols) +
                                 " tokens=" + std::to_string(c.n_tokens) + (raw ? " raw" : ""));
                    const auto w = random_weights(rng, t, c.n_rows, c.n_cols, raw);
                    const size_t wrb = row_size(t, c.n_cols), arb = row_size(DType::Q8_K, c.n_cols);
                    Matrix m{t, c.n_cols, c.n_rows, w.data(), wrb};
                    const auto x = random_floats(rng, c.n_tokens * c.n_cols, 1.f);
                    std::vector<float> ref(size_t(c.n_rows * c.n_tokens));
                    ref::matmul(m, x.data(), c.n_tokens, ref.data(), one);
                    std::vector<uint8_t> acts(arb * size_t(c.n_tokens));
                    std::vector<float> xa(x.size());
                    for (int64_t j = 0; j < c.n_tokens; ++j) {
                        k.quantize(x.data() + j * c.n_cols, c.n_cols,
                                   acts.data() + size_t(j) * arb);
                        dequantize_row(DType::Q8_K, acts.data() + size_t(j) * arb,
                                       xa.data() + j * c.n_cols, c.n_cols);
                    }
                    std::vector<float> y(ref.size());
                    k.gemm(w.data(), wrb, acts.data(), arb, c.n_cols, c.n_tokens, 0, c.n_rows,
                           y.data(), c.n_rows);
                    const double nb = double(c.n_cols / kQK_K);
                    for (int64_t j = 0; j < c.n_tokens; ++j)
                        for (int64_t r = 0; r < c.n_rows; ++r) {
                            const size_t i = size_t(j * c.n_rows + r);
                            const double bound = std::ldexp(8 * nb + 16, -24) *
                                                 magnitude_sum(t, w.data() + size_t(r) * wrb,
                                                               xa.data() + j * c.n_cols, c.n_cols);
                            ASSERT_LE(std::fabs(double(y[i]) - double(ref[i])), bound)
                                << "token " << j << " row " << r << ": " << y[i] << " vs "
                                << ref[i];
                            ++checked;
                        }
                }
        }
    if (isa_supported(Isa::Avx512)) {
        EXPECT_GT(checked, 0);
    }
}

// --- the entry point: threads and ISA levels agree ------------------------------------------

TEST(GemmKQuants, MatmulMultiThreadedEqualsSingleThreadedAndReference) {
    std::mt19937 rng(3);
    ThreadPool one(1), two(2);
    const Isa saved = active_isa();
    for (DType t : kTypes)
        for (const Case& c : {Case{150, 1024, 1}, Case{97, 512, 19}, Case{300, 256, 64}}) {
            const auto w = random_weights(rng, t, c.n_rows, c.n_cols, false);
            Matrix m{t, c.n_cols, c.n_rows, w.data(), row_size(t, c.n_cols)};
            const auto x = random_floats(rng, c.n_tokens * c.n_cols, 1.f);
            std::vector<float> ref(size_t(c.n_rows * c.n_tokens));
            ref::matmul(m, x.data(), c.n_tokens, ref.data(), one);
            for (Isa isa : levels()) {
                SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(dtype_name(t)) +
                             " tokens=" + std::to_string(c.n_tokens));
                set_active_isa(isa);
                std::vector<float> y1(ref.size()), y2(ref.size());
                matmul(m, x.data(), c.n_tokens, y1.data(), one);
                matmul(m, x.data(), c.n_tokens, y2.data(), two);
                for (size_t i = 0; i < ref.size(); ++i) {
                    ASSERT_EQ(bits(y1[i]), bits(y2[i])) << "1 vs 2 threads at " << i;
                    ASSERT_EQ(bits(y1[i]), bits(ref[i])) << "vs reference at " << i;
                }
            }
        }
    set_active_isa(saved);
}

#if defined(__x86_64__)
// On a CPU with AVX-VNNI the AVX2 level runs gemm_kquants_avxvnni.cpp's kernels, so the tests
// above see those; here the AVX2 file's own (vpmaddwd) kernels run beside them on the same
// inputs and must give the same bits, Q2_K and Q3_K included, over the direct tiles (1-5
// tokens) and the packed ones.
TEST(GemmKQuants, AvxVnniKernelsEqualAvx2Bits) {
    if (!cpu_features().avxvnni) GTEST_SKIP() << "this CPU has no AVX-VNNI";
    KernelTable plain, vnni;
    register_gemm_kquants_avx2(plain);
    register_gemm_kquants_avxvnni(vnni);
    std::mt19937 rng(6);
    for (DType t : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K})
        for (int64_t nt : {1, 2, 3, 5, 6, 9, 17}) {
            SCOPED_TRACE(std::string(dtype_name(t)) + " tokens=" + std::to_string(nt));
            const GemmKernel& a = plain.gemm_for(t);
            const GemmKernel& b = vnni.gemm_for(t);
            const int64_t rows = 37, cols = 3 * kQK_K;
            const auto w = random_weights(rng, t, rows, cols, false);
            const size_t wrb = row_size(t, cols);
            const auto x = random_floats(rng, nt * cols, 1.f);
            const size_t arb = row_size(DType::Q8_K, cols);
            std::vector<uint8_t> acts(arb * size_t(nt)), acts_b(acts.size());
            for (int64_t i = 0; i < nt; ++i) {
                a.quantize(x.data() + i * cols, cols, acts.data() + size_t(i) * arb);
                b.quantize(x.data() + i * cols, cols, acts_b.data() + size_t(i) * arb);
            }
            ASSERT_EQ(acts, acts_b);
            std::vector<float> ya(size_t(rows * nt)), yb(ya.size());
            a.gemm(w.data(), wrb, acts.data(), arb, cols, nt, 0, rows, ya.data(), rows);
            b.gemm(w.data(), wrb, acts.data(), arb, cols, nt, 0, rows, yb.data(), rows);
            EXPECT_EQ(0, std::memcmp(ya.data(), yb.data(), ya.size() * sizeof(float)));
        }
}
#endif

}  // namespace
}  // namespace ponder::kernels
