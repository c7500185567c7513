// The Q4_0x8 layout (kernels/repack.h) and its kernels: the repacked matrix holds exactly the
// original blocks, and at every level with a Q4_0x8 kernel the result is BIT-IDENTICAL to the
// row-major kernel and to the reference dot_row (same integer block sums, the same FMA per
// block in block order). The entry point routes repacked matrices to that kernel, and a level
// without one (scalar) gets the reference's bits from a row-major copy.
//
// The Q8_0x16 layout likewise: the repacked matrix holds exactly the original blocks (quants
// biased by 128), and its kernel gives the BIT-IDENTICAL results of the row-major kernel of the
// same level at every token count. At one token that is dot_row's bits (the lane order); at
// more tokens (AVX2 and AVX-512) both sum each block's integers whole (rows in lanes), bounded
// against dot_row as in test_gemm_q8.cpp:
// |y - dot_row| <= (2 nb + 8) * 2^-23 * sum_e |w_e| |xq_e|.
//
// The Q5_0x16 layout likewise holds the original blocks. Its kernel (AVX-512) makes one FMA
// per block and row, as the row-major AVX-512 kernel does for prompts: with more than one
// token it is BIT-IDENTICAL to that kernel; against dot_row (8 lanes per block) it keeps the
// bound test_gemm_q8.cpp states for those prompts, |y - dot_row| <= (2 nb + 8) * 2^-23 *
// sum_e |w_e| |xq_e|, now also at one token.
//
// The Q4_Kx16 and Q6_Kx16 layouts hold the original super-blocks. Their kernels (AVX-512)
// give prompts (n_tokens > 1) the reference's bits (row-major kernels on unpacked groups).
// At one token they sum each super-block's integers whole (scale part and min part, exact) and make
// at most 5 float roundings per super-block (conversions, the d / dmin products and difference, the
// FMA into the row's sum); the reference makes 8 lane FMAs per super-block, 4 FMAs of mins and an
// 8-lane sum at the end. With M_b = |x.d| (|d| sum_e |sc_e q_e xq_e| + |dmin| sum_k m_k |s_k|)
// per super-block (Q6_K: q_e - 32 and no min; s_k: the activations' 32-element sums), both
// are within (nb + 8) u sum_b M_b of the exact value: |y - dot_row| <= (2 nb + 16) * 2^-24 *
// sum_b M_b.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "core/quant.h"
#include "core/quant_blocks.h"
#include "core/thread_pool.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/ref/dot_ref.h"
#include "kernels/ref/kernels_ref.h"
#include "kernels/repack.h"

namespace ponder::kernels {
namespace {

std::vector<float> random_floats(size_t n, uint32_t seed, float scale) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
}

// A random Q4_0 matrix (reference quantizer) and its Q4_0x8 copy.
struct Q4Matrix {
    std::vector<uint8_t> rows, packed;
    Matrix m, mx8;
};
Q4Matrix make_q4(int64_t n_rows, int64_t n_cols, uint32_t seed) {
    Q4Matrix q;
    const size_t rb = row_size(DType::Q4_0, n_cols);
    q.rows.resize(rb * size_t(n_rows));
    q.packed.resize(q.rows.size());
    const auto f = random_floats(size_t(n_rows * n_cols), seed, 1.0f);
    for (int64_t r = 0; r < n_rows; ++r)
        quantize_row(DType::Q4_0, f.data() + r * n_cols, q.rows.data() + size_t(r) * rb, n_cols);
    repack_q4_0x8(q.rows.data(), rb, n_rows, n_cols, q.packed.data());
    q.m = {DType::Q4_0, n_cols, n_rows, q.rows.data(), rb};
    q.mx8 = {DType::Q4_0, n_cols, n_rows, q.packed.data(), rb, Layout::Q4_0x8};
    return q;
}

std::vector<Isa> isas_with_x8() {
    std::vector<Isa> v;
    for (const Isa lvl : supported_isas())
        if (kernel_table(lvl).gemm_q4_0x8.gemm) v.push_back(lvl);
    return v;
}

TEST(RepackQ4_0x8, LayoutHoldsTheOriginalBlocks) {
    const int64_t rows = 24, cols = 7 * kQK, nb = 7;
    const auto q = make_q4(rows, cols, 3);
    // Element by element through the documented layout.
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t b = 0; b < nb; ++b) {
            const auto& blk =
                reinterpret_cast<const BlockQ4_0*>(q.rows.data() + size_t(r) * q.m.row_bytes)[b];
            const uint8_t* g = q.packed.data() + size_t(((r / 8) * nb + b)) * kQ4_0x8Bytes;
            const int k = int(r % 8);
            uint16_t d;
            std::memcpy(&d, g + 2 * k, 2);
            ASSERT_EQ(d, blk.d) << "row " << r << " block " << b;
            for (int j = 0; j < 16; ++j)
                ASSERT_EQ(g[16 + 32 * (j / 4) + 4 * k + j % 4], blk.qs[j])
                    << "row " << r << " block " << b << " byte " << j;
        }
    // And back.
    std::vector<uint8_t> back(q.rows.size());
    for (int64_t r = 0; r < rows; r += 8)
        unpack_q4_0x8_group(q.packed.data(), q.m.row_bytes, r, cols,
                            back.data() + size_t(r) * q.m.row_bytes);
    EXPECT_EQ(back, q.rows);
}

TEST(RepackQ4_0x8, RejectsShapesItCannotHold) {
    std::vector<uint8_t> src(row_size(DType::Q4_0, 64) * 12), dst(src.size());
    EXPECT_THROW(repack_q4_0x8(src.data(), row_size(DType::Q4_0, 64), 12, 64, dst.data()), Error);
    EXPECT_THROW(repack_q4_0x8(src.data(), row_size(DType::Q4_0, 64), 8, 48, dst.data()), Error);
}

// Random activations for n_tokens tokens (the first block all zero), rounded by kx, and the
// outputs of the repacked kernel kx and the row-major kernel kr on rows [r0, r1) of the same
// matrix (yx, yr: [n_tokens, rows], `sentinel` where a kernel must not write).
struct BothRuns {
    std::vector<float> x, yx, yr;
};
BothRuns run_both(const GemmKernel& kx, const GemmKernel& kr, const uint8_t* packed,
                  const uint8_t* rowmajor, size_t row_bytes, int64_t rows, int64_t cols,
                  int64_t n_tokens, int64_t r0, int64_t r1, uint32_t seed, float sentinel) {
    BothRuns b;
    b.x = random_floats(size_t(n_tokens * cols), seed + 1, 2.0f);
    for (int e = 0; e < 32; ++e) b.x[size_t(e)] = 0.0f;
    const size_t arb = row_size(kx.act_type, cols);
    std::vector<uint8_t> acts(arb * size_t(n_tokens));
    for (int64_t t = 0; t < n_tokens; ++t)
        kx.quantize(b.x.data() + t * cols, cols, acts.data() + size_t(t) * arb);
    b.yx.assign(size_t(rows * n_tokens), sentinel);
    b.yr.assign(b.yx.size(), sentinel);
    kx.gemm(packed, row_bytes, acts.data(), arb, cols, n_tokens, r0, r1, b.yx.data(), rows);
    kr.gemm(rowmajor, row_bytes, acts.data(), arb, cols, n_tokens, r0, r1, b.yr.data(), rows);
    return b;
}

// The Q4_0x8 kernel of `isa` on rows [r0, r1) against the row-major kernel and dot_row.
void check_x8(Isa isa, int64_t rows, int64_t nb, int64_t n_tokens, int64_t r0, int64_t r1,
              uint32_t seed) {
    const KernelTable& tab = kernel_table(isa);
    const GemmKernel& kx = tab.gemm_q4_0x8;
    const GemmKernel& kr = tab.gemm_for(DType::Q4_0);
    ASSERT_NE(kx.gemm, nullptr);
    ASSERT_NE(kr.gemm, nullptr);
    ASSERT_EQ(kx.act_type, kr.act_type);
    const int64_t cols = nb * kQK;
    SCOPED_TRACE(std::string(isa_name(isa)) + " rows=" + std::to_string(rows) +
                 " blocks=" + std::to_string(nb) + " tokens=" + std::to_string(n_tokens) +
                 " r0=" + std::to_string(r0) + " r1=" + std::to_string(r1));
    const auto q = make_q4(rows, cols, seed);
    const float sentinel = -12345.0f;
    const auto [x, yx, yr] = run_both(kx, kr, q.packed.data(), q.rows.data(), q.m.row_bytes, rows,
                                      cols, n_tokens, r0, r1, seed, sentinel);
    int failures = 0;
    for (int64_t t = 0; t < n_tokens && failures < 5; ++t) {
        QuantizedActs xq;
        quantize_acts(DType::Q4_0, x.data() + t * cols, cols, xq);
        for (int64_t r = 0; r < rows; ++r) {
            const float got = yx[size_t(t * rows + r)];
            if (r < r0 || r >= r1) {
                EXPECT_EQ(got, sentinel) << "wrote outside its rows: token " << t << " row " << r;
                continue;
            }
            const float want =
                dot_row(DType::Q4_0, q.rows.data() + size_t(r) * q.m.row_bytes, xq, cols);
            const float rowk = yr[size_t(t * rows + r)];
            if (f32_to_bits(got) != f32_to_bits(want) || f32_to_bits(got) != f32_to_bits(rowk)) {
                ADD_FAILURE() << "token " << t << " row " << r << ": " << got << " != dot_row "
                              << want << " / row-major kernel " << rowk;
                ++failures;
            }
        }
    }
}

TEST(RepackQ4_0x8, KernelBitIdenticalToReference) {
    const auto levels = isas_with_x8();
    if (levels.empty()) GTEST_SKIP() << "no level with a Q4_0x8 kernel on this CPU";
    for (Isa isa : levels) {
        uint32_t seed = 1;
        for (int64_t rows : {8, 24, 64})
            for (int64_t nb : {1, 3, 7, 27})
                for (int64_t nt : {1, 2, 3, 7, 16}) check_x8(isa, rows, nb, nt, 0, rows, seed++);
        for (int64_t nt = 4; nt <= 17; ++nt) check_x8(isa, 16, 5, nt, 0, 16, seed++);
        // A row range inside the matrix (one thread's share).
        check_x8(isa, 72, 9, 5, 16, 48, 99);
        check_x8(isa, 72, 9, 1, 32, 72, 98);
    }
}

// The entry point with a Q4_0x8 matrix: the reference's bits at every level (scalar has no
// Q4_0x8 kernel and must fall back to a row-major copy), with 1 and 2 threads.
TEST(RepackQ4_0x8, MatmulRoutesRepackedMatrices) {
    ThreadPool one(1), two(2);
    const Isa saved = active_isa();
    const int64_t rows = 296, cols = 9 * kQK;
    const auto q = make_q4(rows, cols, 5);
    for (const Isa lvl : supported_isas()) {
        const Isa isa = lvl;
        set_active_isa(isa);
        for (int64_t nt : {1, 3, 16}) {
            SCOPED_TRACE(std::string(isa_name(isa)) + " tokens=" + std::to_string(nt));
            const auto x = random_floats(size_t(nt * cols), 6, 2.0f);
            std::vector<float> y1(size_t(rows * nt)), y2(y1.size()), yr(y1.size());
            matmul(q.mx8, x.data(), nt, y1.data(), one);
            matmul(q.mx8, x.data(), nt, y2.data(), two);
            ref::matmul(q.m, x.data(), nt, yr.data(), one);
            EXPECT_EQ(0, std::memcmp(y1.data(), yr.data(), y1.size() * sizeof(float)));
            EXPECT_EQ(0, std::memcmp(y2.data(), yr.data(), y2.size() * sizeof(float)));
        }
    }
    set_active_isa(saved);
}

// ---- Q5_0x16 ---------------------------------------------------------------------------

struct Q5Matrix {
    std::vector<uint8_t> rows, packed;
    Matrix m, mx16;
};
Q5Matrix make_q5(int64_t n_rows, int64_t n_cols, uint32_t seed) {
    Q5Matrix q;
    const size_t rb = row_size(DType::Q5_0, n_cols);
    q.rows.resize(rb * size_t(n_rows));
    q.packed.resize(q.rows.size());
    const auto f = random_floats(size_t(n_rows * n_cols), seed, 1.0f);
    for (int64_t r = 0; r < n_rows; ++r)
        quantize_row(DType::Q5_0, f.data() + r * n_cols, q.rows.data() + size_t(r) * rb, n_cols);
    repack_q5_0x16(q.rows.data(), rb, n_rows, n_cols, q.packed.data());
    q.m = {DType::Q5_0, n_cols, n_rows, q.rows.data(), rb};
    q.mx16 = {DType::Q5_0, n_cols, n_rows, q.packed.data(), rb, Layout::Q5_0x16};
    return q;
}

TEST(RepackQ5_0x16, LayoutHoldsTheOriginalBlocks) {
    const int64_t rows = 32, cols = 5 * kQK, nb = 5;
    const auto q = make_q5(rows, cols, 13);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t b = 0; b < nb; ++b) {
            const auto& blk =
                reinterpret_cast<const BlockQ5_0*>(q.rows.data() + size_t(r) * q.m.row_bytes)[b];
            const uint8_t* g = q.packed.data() + size_t(((r / 16) * nb + b)) * kQ5_0x16Bytes;
            const int k = int(r % 16);
            uint16_t d;
            std::memcpy(&d, g + 320 + 2 * k, 2);
            ASSERT_EQ(d, blk.d) << "row " << r << " block " << b;
            uint32_t qh;
            std::memcpy(&qh, blk.qh, 4);
            for (int e = 0; e < 32; ++e) {
                const int jj = (e % 16) / 4, i = e % 4;
                const uint8_t byte = g[64 * jj + 4 * k + i];
                const int nib = e < 16 ? byte & 0xF : byte >> 4;
                const int want_nib = e < 16 ? blk.qs[e] & 0xF : blk.qs[e - 16] >> 4;
                uint64_t mask;
                std::memcpy(&mask, g + 256 + 8 * (e / 4), 8);
                ASSERT_EQ(nib, want_nib) << "row " << r << " block " << b << " element " << e;
                ASSERT_EQ(int((mask >> (4 * k + i)) & 1), int((qh >> e) & 1))
                    << "row " << r << " block " << b << " element " << e;
            }
        }
    std::vector<uint8_t> back(q.rows.size());
    for (int64_t r = 0; r < rows; r += 16)
        unpack_q5_0x16_group(q.packed.data(), q.m.row_bytes, r, cols,
                             back.data() + size_t(r) * q.m.row_bytes);
    EXPECT_EQ(back, q.rows);
}

TEST(RepackQ5_0x16, RejectsShapesItCannotHold) {
    std::vector<uint8_t> src(row_size(DType::Q5_0, 64) * 24), dst(src.size());
    EXPECT_THROW(repack_q5_0x16(src.data(), row_size(DType::Q5_0, 64), 24, 64, dst.data()), Error);
    EXPECT_THROW(repack_q5_0x16(src.data(), row_size(DType::Q5_0, 64), 16, 48, dst.data()), Error);
}

// |got - dot_row| within the bound above for row r of q against token x (already quantized
// by the reference into xq).
void expect_q5_bound(const Q5Matrix& q, int64_t r, const QuantizedActs& xq, float got,
                     int& failures, const char* what) {
    const int64_t cols = q.m.n_cols;
    const uint8_t* wr = q.rows.data() + size_t(r) * q.m.row_bytes;
    const float want = dot_row(DType::Q5_0, wr, xq, cols);
    std::vector<float> wf(static_cast<size_t>(cols));
    dequantize_row(DType::Q5_0, wr, wf.data(), cols);
    const auto* xb = reinterpret_cast<const BlockQ8_0*>(xq.data.data());
    double mag = 0;
    for (int64_t c = 0; c < cols; ++c)
        mag +=
            std::fabs(double(wf[size_t(c)]) * fp16_to_f32(xb[c / kQK].d) * xb[c / kQK].qs[c % kQK]);
    const double bound = double(2 * (cols / kQK) + 8) * std::ldexp(1.0, -23) * mag;
    if (!(std::fabs(double(got) - double(want)) <= bound) && failures++ < 5)
        ADD_FAILURE() << what << " row " << r << ": " << got << " vs dot_row " << want << " (bound "
                      << bound << ")";
}

void check_x16(Isa isa, int64_t rows, int64_t nb, int64_t n_tokens, int64_t r0, int64_t r1,
               uint32_t seed) {
    const KernelTable& tab = kernel_table(isa);
    const GemmKernel& kx = tab.gemm_q5_0x16;
    const GemmKernel& kr = tab.gemm_for(DType::Q5_0);
    ASSERT_NE(kx.gemm, nullptr);
    ASSERT_NE(kr.gemm, nullptr);
    ASSERT_EQ(kx.act_type, kr.act_type);
    const int64_t cols = nb * kQK;
    SCOPED_TRACE(std::string(isa_name(isa)) + " rows=" + std::to_string(rows) +
                 " blocks=" + std::to_string(nb) + " tokens=" + std::to_string(n_tokens) +
                 " r0=" + std::to_string(r0) + " r1=" + std::to_string(r1));
    const auto q = make_q5(rows, cols, seed);
    const float sentinel = -12345.0f;
    const auto [x, yx, yr] = run_both(kx, kr, q.packed.data(), q.rows.data(), q.m.row_bytes, rows,
                                      cols, n_tokens, r0, r1, seed, sentinel);
    int failures = 0;
    for (int64_t t = 0; t < n_tokens; ++t) {
        QuantizedActs xq;
        quantize_acts(DType::Q5_0, x.data() + t * cols, cols, xq);
        for (int64_t r = 0; r < rows; ++r) {
            const float got = yx[size_t(t * rows + r)];
            if (r < r0 || r >= r1) {
                EXPECT_EQ(got, sentinel) << "wrote outside its rows: token " << t << " row " << r;
                continue;
            }
            expect_q5_bound(q, r, xq, got, failures, "token");
            const float rowk = yr[size_t(t * rows + r)];
            if (n_tokens > 1 && f32_to_bits(got) != f32_to_bits(rowk) && failures++ < 5)
                ADD_FAILURE() << "token " << t << " row " << r << ": " << got
                              << " != row-major prompt kernel " << rowk;
        }
    }
    EXPECT_EQ(failures, 0);
}

TEST(RepackQ5_0x16, KernelMatchesRowMajorAndReference) {
    std::vector<Isa> levels;
    for (const Isa lvl : supported_isas())
        if (kernel_table(lvl).gemm_q5_0x16.gemm) levels.push_back(lvl);
    if (levels.empty()) GTEST_SKIP() << "no level with a Q5_0x16 kernel on this CPU";
    for (Isa isa : levels) {
        uint32_t seed = 1;
        for (int64_t rows : {16, 48})
            for (int64_t nb : {1, 3, 28})
                for (int64_t nt : {1, 2, 3, 8, 9, 17})
                    check_x16(isa, rows, nb, nt, 0, rows, seed++);
        check_x16(isa, 80, 9, 5, 16, 48, 99);
        check_x16(isa, 80, 9, 1, 32, 80, 98);
    }
}

// The entry point with a Q5_0x16 matrix: within the bound at every level (scalar falls back to
// the reference on a row-major copy: its bits), the same bits with 1 and 2 threads.
TEST(RepackQ5_0x16, MatmulRoutesRepackedMatrices) {
    ThreadPool one(1), two(2);
    const Isa saved = active_isa();
    const int64_t rows = 304, cols = 9 * kQK;
    const auto q = make_q5(rows, cols, 5);
    for (const Isa lvl : supported_isas()) {
        const Isa isa = lvl;
        set_active_isa(isa);
        for (int64_t nt : {1, 3, 16}) {
            SCOPED_TRACE(std::string(isa_name(isa)) + " tokens=" + std::to_string(nt));
            const auto x = random_floats(size_t(nt * cols), 6, 2.0f);
            std::vector<float> y1(size_t(rows * nt)), y2(y1.size()), yr(y1.size());
            matmul(q.mx16, x.data(), nt, y1.data(), one);
            matmul(q.mx16, x.data(), nt, y2.data(), two);
            ref::matmul(q.m, x.data(), nt, yr.data(), one);
            EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)));
            if (!kernel_table(isa).gemm_q5_0x16.gemm) {
                EXPECT_EQ(0, std::memcmp(y1.data(), yr.data(), y1.size() * sizeof(float)));
            }
            int failures = 0;
            for (int64_t t = 0; t < nt; ++t) {
                QuantizedActs xq;
                quantize_acts(DType::Q5_0, x.data() + t * cols, cols, xq);
                for (int64_t r = 0; r < rows; ++r)
                    expect_q5_bound(q, r, xq, y1[size_t(t * rows + r)], failures, "matmul");
            }
            EXPECT_EQ(failures, 0);
        }
    }
    set_active_isa(saved);
}

// ---- Q4_Kx16, Q6_Kx16 -----------------------------------------------------------------------

struct KMatrix {
    std::vector<uint8_t> rows, packed;
    Matrix m, mx16;
};
// t: Q4_K or Q6_K. raw: every bit pattern of quants and scales, with finite d (and dmin).
KMatrix make_kx16(DType t, int64_t n_rows, int64_t n_cols, uint32_t seed, bool raw) {
    KMatrix q;
    const size_t rb = row_size(t, n_cols);
    q.rows.resize(rb * size_t(n_rows));
    q.packed.resize(q.rows.size());
    if (raw) {
        std::mt19937 rng(seed);
        std::uniform_int_distribution<int> byte(0, 255);
        std::uniform_real_distribution<float> sc(-1e-3f, 1e-3f);
        for (auto& b : q.rows) b = uint8_t(byte(rng));
        const size_t bs = t == DType::Q4_K ? sizeof(BlockQ4_K) : sizeof(BlockQ6_K);
        for (size_t off = 0; off < q.rows.size(); off += bs) {
            const uint16_t d = f32_to_fp16(sc(rng)), dmin = f32_to_fp16(sc(rng));
            if (t == DType::Q4_K) {
                std::memcpy(q.rows.data() + off, &d, 2);
                std::memcpy(q.rows.data() + off + 2, &dmin, 2);
            } else {
                std::memcpy(q.rows.data() + off + offsetof(BlockQ6_K, d), &d, 2);
            }
        }
    } else {
        const auto f = random_floats(size_t(n_rows * n_cols), seed, 1.0f);
        for (int64_t r = 0; r < n_rows; ++r)
            quantize_row(t, f.data() + r * n_cols, q.rows.data() + size_t(r) * rb, n_cols);
    }
    if (t == DType::Q4_K)
        repack_q4_kx16(q.rows.data(), rb, n_rows, n_cols, q.packed.data());
    else
        repack_q6_kx16(q.rows.data(), rb, n_rows, n_cols, q.packed.data());
    q.m = {t, n_cols, n_rows, q.rows.data(), rb};
    q.mx16 = {t,      n_cols,
              n_rows, q.packed.data(),
              rb,     t == DType::Q4_K ? Layout::Q4_Kx16 : Layout::Q6_Kx16};
    return q;
}

const GemmKernel& kx16_kernel(Isa isa, DType t) {
    return t == DType::Q4_K ? kernel_table(isa).gemm_q4_kx16 : kernel_table(isa).gemm_q6_kx16;
}

// The 6-bit scale and min of sub-block k of a Q4_K super-block.
void q4k_scale_min(const uint8_t* s, int k, int& sc, int& m) {
    if (k < 4) {
        sc = s[k] & 63;
        m = s[k + 4] & 63;
    } else {
        sc = (s[k + 4] & 0xF) | ((s[k - 4] >> 6) << 4);
        m = (s[k + 4] >> 4) | ((s[k] >> 6) << 4);
    }
}

TEST(RepackQ4_Kx16, LayoutHoldsTheOriginalBlocks) {
    const int64_t rows = 32, nb = 3, cols = nb * kQK_K;
    const auto q = make_kx16(DType::Q4_K, rows, cols, 21, true);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t b = 0; b < nb; ++b) {
            const auto& blk =
                reinterpret_cast<const BlockQ4_K*>(q.rows.data() + size_t(r) * q.m.row_bytes)[b];
            const uint8_t* g = q.packed.data() + size_t(((r / 16) * nb + b)) * kQ4_Kx16Bytes;
            const int k = int(r % 16);
            uint16_t d, dmin;
            std::memcpy(&d, g + 2240 + 2 * k, 2);
            std::memcpy(&dmin, g + 2272 + 2 * k, 2);
            ASSERT_EQ(d, blk.d);
            ASSERT_EQ(dmin, blk.dmin);
            for (int e = 0; e < 256; ++e) {
                const int p = e / 64, jj = (e % 32) / 4, i = e % 4;
                const uint8_t byte = g[512 * p + 64 * jj + 4 * k + i];
                const int got = (e % 64) < 32 ? byte & 0xF : byte >> 4;
                const uint8_t src = blk.qs[32 * p + e % 32];
                ASSERT_EQ(got, (e % 64) < 32 ? src & 0xF : src >> 4)
                    << "row " << r << " block " << b << " element " << e;
            }
            for (int j = 0; j < 12; ++j)
                ASSERT_EQ(g[2048 + 64 * (j / 4) + 4 * k + j % 4], blk.scales[j]);
        }
    std::vector<uint8_t> back(q.rows.size());
    for (int64_t r = 0; r < rows; r += 16)
        unpack_q4_kx16_group(q.packed.data(), q.m.row_bytes, r, cols,
                             back.data() + size_t(r) * q.m.row_bytes);
    EXPECT_EQ(back, q.rows);
    std::vector<uint8_t> dst(q.rows.size());
    EXPECT_THROW(repack_q4_kx16(q.rows.data(), q.m.row_bytes, 24, cols, dst.data()), Error);
    EXPECT_THROW(repack_q4_kx16(q.rows.data(), q.m.row_bytes, 16, 128, dst.data()), Error);
}

TEST(RepackQ6_Kx16, LayoutHoldsTheOriginalBlocks) {
    const int64_t rows = 32, nb = 3, cols = nb * kQK_K;
    const auto q = make_kx16(DType::Q6_K, rows, cols, 22, true);
    // Element by element: dequantized through the documented layout = the reference's.
    std::vector<float> want(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
        dequantize_row(DType::Q6_K, q.rows.data() + size_t(r) * q.m.row_bytes, want.data(), cols);
        const int k = int(r % 16);
        for (int64_t b = 0; b < nb; ++b) {
            const uint8_t* g = q.packed.data() + size_t(((r / 16) * nb + b)) * kQ6_Kx16Bytes;
            uint16_t d;
            std::memcpy(&d, g + 3328 + 2 * k, 2);
            for (int e = 0; e < 256; ++e) {
                const int p = e / 64, h = (e % 64) / 32, jj = (e % 32) / 4, i = e % 4;
                const uint8_t lo = g[512 * p + 64 * jj + 4 * k + i];
                const int f = 2 * (jj % 2) + h;
                const uint8_t hi = g[2048 + 256 * p + 64 * (jj / 2) + 4 * k + i];
                const int qv = (h ? lo >> 4 : lo & 0xF) | (((hi >> (2 * f)) & 3) << 4);
                const int sc = int8_t(g[3072 + 64 * (e / 64) + 4 * k + (e % 64) / 16]);
                const float got = fp16_to_f32(d) * float(sc * (qv - 32));
                ASSERT_EQ(got, want[size_t(b * 256 + e)])
                    << "row " << r << " block " << b << " element " << e;
            }
        }
    }
    std::vector<uint8_t> back(q.rows.size());
    for (int64_t r = 0; r < rows; r += 16)
        unpack_q6_kx16_group(q.packed.data(), q.m.row_bytes, r, cols,
                             back.data() + size_t(r) * q.m.row_bytes);
    EXPECT_EQ(back, q.rows);
    std::vector<uint8_t> dst(q.rows.size());
    EXPECT_THROW(repack_q6_kx16(q.rows.data(), q.m.row_bytes, 24, cols, dst.data()), Error);
}

// |got - dot_row| within the bound above for row r of q against xq.
void expect_kx16_bound(const KMatrix& q, int64_t r, const QuantizedActs& xq, float got,
                       int& failures, const char* what) {
    const DType t = q.m.type;
    const int64_t cols = q.m.n_cols, nb = cols / kQK_K;
    const uint8_t* wr = q.rows.data() + size_t(r) * q.m.row_bytes;
    const float want = dot_row(t, wr, xq, cols);
    const auto* xb = reinterpret_cast<const BlockQ8_K*>(xq.data.data());
    std::vector<float> wf(static_cast<size_t>(cols));
    dequantize_row(t, wr, wf.data(), cols);
    double mag = 0;
    for (int64_t b = 0; b < nb; ++b) {
        if (t == DType::Q6_K) {
            // d * sc * (q - 32) is exact in float: the dequantized weights are the scale parts.
            for (int e = 0; e < 256; ++e)
                mag += std::fabs(double(xb[b].d) * wf[size_t(b * 256 + e)] * xb[b].qs[e]);
            continue;
        }
        const auto& wb = reinterpret_cast<const BlockQ4_K*>(wr)[b];
        double ms = 0, mm = 0;
        for (int k = 0; k < 8; ++k) {
            int sc, m;
            q4k_scale_min(wb.scales, k, sc, m);
            int sx = 0;
            for (int e = 32 * k; e < 32 * k + 32; ++e) {
                const uint8_t byte = wb.qs[32 * (e / 64) + e % 32];
                const int qv = (e % 64) < 32 ? byte & 0xF : byte >> 4;
                ms += double(sc) * qv * std::abs(int(xb[b].qs[e]));
                sx += xb[b].qs[e];
            }
            mm += double(m) * std::abs(sx);
        }
        mag += std::fabs(double(xb[b].d)) * (std::fabs(double(fp16_to_f32(wb.d))) * ms +
                                             std::fabs(double(fp16_to_f32(wb.dmin))) * mm);
    }
    const double bound = double(2 * nb + 16) * std::ldexp(1.0, -24) * mag;
    if (!(std::fabs(double(got) - double(want)) <= bound) && failures++ < 5)
        ADD_FAILURE() << what << " row " << r << ": " << got << " vs dot_row " << want << " (bound "
                      << bound << ")";
}

void check_kx16(Isa isa, DType t, int64_t rows, int64_t nb, int64_t n_tokens, int64_t r0,
                int64_t r1, bool raw, uint32_t seed) {
    const GemmKernel& kx = kx16_kernel(isa, t);
    ASSERT_NE(kx.gemm, nullptr);
    const int64_t cols = nb * kQK_K;
    SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(dtype_name(t)) +
                 " rows=" + std::to_string(rows) + " super-blocks=" + std::to_string(nb) +
                 " tokens=" + std::to_string(n_tokens) + " r0=" + std::to_string(r0) +
                 " r1=" + std::to_string(r1) + (raw ? " raw" : " quantized"));
    const auto q = make_kx16(t, rows, cols, seed, raw);
    auto x = random_floats(size_t(n_tokens * cols), seed + 1, 2.0f);
    for (int e = 0; e < kQK_K; ++e) x[size_t(e)] = 0.0f;  // an all-zero activation block
    const size_t arb = row_size(kx.act_type, cols);
    std::vector<uint8_t> acts(arb * size_t(n_tokens));
    for (int64_t j = 0; j < n_tokens; ++j)
        kx.quantize(x.data() + j * cols, cols, acts.data() + size_t(j) * arb);
    const float sentinel = -12345.0f;
    std::vector<float> y(size_t(rows * n_tokens), sentinel);
    kx.gemm(q.packed.data(), q.m.row_bytes, acts.data(), arb, cols, n_tokens, r0, r1, y.data(),
            rows);
    int failures = 0;
    for (int64_t j = 0; j < n_tokens; ++j) {
        QuantizedActs xq;
        quantize_acts(t, x.data() + j * cols, cols, xq);
        for (int64_t r = 0; r < rows; ++r) {
            const float got = y[size_t(j * rows + r)];
            if (r < r0 || r >= r1) {
                EXPECT_EQ(got, sentinel) << "wrote outside its rows: token " << j << " row " << r;
                continue;
            }
            expect_kx16_bound(q, r, xq, got, failures, "token");
            const float want = dot_row(t, q.rows.data() + size_t(r) * q.m.row_bytes, xq, cols);
            if (n_tokens > 1 && f32_to_bits(got) != f32_to_bits(want) && failures++ < 5)
                ADD_FAILURE() << "token " << j << " row " << r << ": " << got << " != dot_row "
                              << want << " (prompts keep its bits)";
        }
    }
    EXPECT_EQ(failures, 0);
}

TEST(RepackKx16, KernelsWithinBoundOfReference) {
    for (DType t : {DType::Q4_K, DType::Q6_K}) {
        std::vector<Isa> levels;
        for (const Isa lvl : supported_isas())
            if (kx16_kernel(lvl, t).gemm) levels.push_back(lvl);
        if (levels.empty()) GTEST_SKIP() << "no level with a K-quant x16 kernel on this CPU";
        for (Isa isa : levels) {
            uint32_t seed = 1;
            for (bool raw : {false, true})
                for (int64_t rows : {16, 48})
                    for (int64_t nb : {1, 3, 19})
                        for (int64_t nt : {1, 2, 7, 8, 9, 17})
                            check_kx16(isa, t, rows, nb, nt, 0, rows, raw, seed++);
            check_kx16(isa, t, 80, 2, 5, 16, 48, false, 99);
            check_kx16(isa, t, 80, 2, 1, 32, 80, true, 98);
        }
    }
}

// The entry point with a Q4_Kx16 / Q6_Kx16 matrix: within the bound at every level (scalar
// falls back to the reference on a row-major copy: its bits), the same bits with 1 and 2
// threads.
TEST(RepackKx16, MatmulRoutesRepackedMatrices) {
    ThreadPool one(1), two(2);
    const Isa saved = active_isa();
    const int64_t rows = 304, cols = 2 * kQK_K;
    for (DType t : {DType::Q4_K, DType::Q6_K}) {
        const auto q = make_kx16(t, rows, cols, 5, false);
        for (const Isa lvl : supported_isas()) {
            const Isa isa = lvl;
            set_active_isa(isa);
            for (int64_t nt : {1, 3, 16}) {
                SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(dtype_name(t)) +
                             " tokens=" + std::to_string(nt));
                const auto x = random_floats(size_t(nt * cols), 6, 2.0f);
                std::vector<float> y1(size_t(rows * nt)), y2(y1.size()), yr(y1.size());
                matmul(q.mx16, x.data(), nt, y1.data(), one);
                matmul(q.mx16, x.data(), nt, y2.data(), two);
                ref::matmul(q.m, x.data(), nt, yr.data(), one);
                EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)));
                if (!kx16_kernel(isa, t).gemm) {
                    EXPECT_EQ(0, std::memcmp(y1.data(), yr.data(), y1.size() * sizeof(float)));
                }
                int failures = 0;
                for (int64_t j = 0; j < nt; ++j) {
                    QuantizedActs xq;
                    quantize_acts(t, x.data() + j * cols, cols, xq);
                    for (int64_t r = 0; r < rows; ++r)
                        expect_kx16_bound(q, r, xq, y1[size_t(j * rows + r)], failures, "matmul");
                }
                EXPECT_EQ(failures, 0);
            }
        }
    }
    set_active_isa(saved);
}

// ---- Q8_0x16 ----------------------------------------------------------------------------

// A random Q8_0 matrix (reference quantizer) and its Q8_0x16 copy.
struct Q8Matrix {
    std::vector<uint8_t> rows, packed;
    Matrix m, mx16;
};
Q8Matrix make_q8(int64_t n_rows, int64_t n_cols, uint32_t seed) {
    Q8Matrix q;
    const size_t rb = row_size(DType::Q8_0, n_cols);
    q.rows.resize(rb * size_t(n_rows));
    q.packed.resize(q.rows.size());
    const auto f = random_floats(size_t(n_rows * n_cols), seed, 1.0f);
    for (int64_t r = 0; r < n_rows; ++r)
        quantize_row(DType::Q8_0, f.data() + r * n_cols, q.rows.data() + size_t(r) * rb, n_cols);
    repack_q8_0x16(q.rows.data(), rb, n_rows, n_cols, q.packed.data());
    q.m = {DType::Q8_0, n_cols, n_rows, q.rows.data(), rb};
    q.mx16 = {DType::Q8_0, n_cols, n_rows, q.packed.data(), rb, Layout::Q8_0x16};
    return q;
}

std::vector<Isa> isas_with_x16() {
    std::vector<Isa> v;
    for (const Isa lvl : supported_isas())
        if (kernel_table(lvl).gemm_q8_0x16.gemm) v.push_back(lvl);
    return v;
}

TEST(RepackQ8_0x16, LayoutHoldsTheOriginalBlocks) {
    const int64_t rows = 48, cols = 5 * kQK, nb = 5;
    const auto q = make_q8(rows, cols, 13);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t b = 0; b < nb; ++b) {
            const auto& blk =
                reinterpret_cast<const BlockQ8_0*>(q.rows.data() + size_t(r) * q.m.row_bytes)[b];
            const uint8_t* g = q.packed.data() + size_t(((r / 16) * nb + b)) * kQ8_0x16Bytes;
            const int k = int(r % 16);
            uint16_t d;
            std::memcpy(&d, g + 2 * k, 2);
            ASSERT_EQ(d, blk.d) << "row " << r << " block " << b;
            for (int e = 0; e < 32; ++e)
                ASSERT_EQ(g[32 + 64 * (e / 4) + 4 * k + e % 4], uint8_t(blk.qs[e]) ^ 0x80)
                    << "row " << r << " block " << b << " element " << e;
        }
    std::vector<uint8_t> back(q.rows.size());
    for (int64_t r = 0; r < rows; r += 16)
        unpack_q8_0x16_group(q.packed.data(), q.m.row_bytes, r, cols,
                             back.data() + size_t(r) * q.m.row_bytes);
    EXPECT_EQ(back, q.rows);
}

TEST(RepackQ8_0x16, RejectsShapesItCannotHold) {
    std::vector<uint8_t> src(row_size(DType::Q8_0, 64) * 24), dst(src.size());
    EXPECT_THROW(repack_q8_0x16(src.data(), row_size(DType::Q8_0, 64), 24, 64, dst.data()), Error);
    EXPECT_THROW(repack_q8_0x16(src.data(), row_size(DType::Q8_0, 64), 16, 48, dst.data()), Error);
}

// The Q8_0x16 kernel of `isa` on rows [r0, r1) against the row-major kernel (bits) and dot_row
// (bits at one token, the bound above at more).
void check_q8_x16(Isa isa, int64_t rows, int64_t nb, int64_t n_tokens, int64_t r0, int64_t r1,
                  uint32_t seed) {
    const KernelTable& tab = kernel_table(isa);
    const GemmKernel& kx = tab.gemm_q8_0x16;
    const GemmKernel& kr = tab.gemm_for(DType::Q8_0);
    ASSERT_NE(kx.gemm, nullptr);
    ASSERT_NE(kr.gemm, nullptr);
    ASSERT_EQ(kx.act_type, kr.act_type);
    const int64_t cols = nb * kQK;
    SCOPED_TRACE(std::string(isa_name(isa)) + " rows=" + std::to_string(rows) +
                 " blocks=" + std::to_string(nb) + " tokens=" + std::to_string(n_tokens) +
                 " r0=" + std::to_string(r0) + " r1=" + std::to_string(r1));
    const auto q = make_q8(rows, cols, seed);
    const float sentinel = -12345.0f;
    const auto [x, yx, yr] = run_both(kx, kr, q.packed.data(), q.rows.data(), q.m.row_bytes, rows,
                                      cols, n_tokens, r0, r1, seed, sentinel);
    std::vector<float> wrow(static_cast<size_t>(cols));
    int failures = 0;
    for (int64_t t = 0; t < n_tokens && failures < 5; ++t) {
        QuantizedActs xq;
        quantize_acts(DType::Q8_0, x.data() + t * cols, cols, xq);
        const auto* xb = reinterpret_cast<const BlockQ8_0*>(xq.data.data());
        for (int64_t r = 0; r < rows; ++r) {
            const float got = yx[size_t(t * rows + r)];
            if (r < r0 || r >= r1) {
                EXPECT_EQ(got, sentinel) << "wrote outside its rows: token " << t << " row " << r;
                continue;
            }
            const uint8_t* wr = q.rows.data() + size_t(r) * q.m.row_bytes;
            const float want = dot_row(DType::Q8_0, wr, xq, cols);
            const float rowk = yr[size_t(t * rows + r)];
            if (f32_to_bits(got) != f32_to_bits(rowk)) {
                ADD_FAILURE() << "token " << t << " row " << r << ": " << got
                              << " != row-major kernel " << rowk;
                ++failures;
            }
            if (n_tokens == 1) {  // the lane order
                if (f32_to_bits(got) != f32_to_bits(want)) {
                    ADD_FAILURE() << "token " << t << " row " << r << ": " << got << " != dot_row "
                                  << want;
                    ++failures;
                }
                continue;
            }
            dequantize_row(DType::Q8_0, wr, wrow.data(), cols);
            double mag = 0;
            for (int64_t c = 0; c < cols; ++c)
                mag += std::fabs(double(wrow[size_t(c)]) * fp16_to_f32(xb[c / kQK].d) *
                                 xb[c / kQK].qs[c % kQK]);
            const double bound = double(2 * nb + 8) * std::ldexp(1.0, -23) * mag;
            if (std::fabs(double(got) - double(want)) > bound) {
                ADD_FAILURE() << "token " << t << " row " << r << ": " << got << " vs dot_row "
                              << want << " (bound " << bound << ")";
                ++failures;
            }
        }
    }
}

TEST(RepackQ8_0x16, KernelMatchesRowMajorKernelAndReference) {
    const auto levels = isas_with_x16();
    if (levels.empty()) GTEST_SKIP() << "no level with a Q8_0x16 kernel on this CPU";
    for (Isa isa : levels) {
        uint32_t seed = 1;
        for (int64_t rows : {16, 48})
            for (int64_t nb : {1, 3, 7, 28})
                for (int64_t nt : {1, 2, 3, 8, 9}) check_q8_x16(isa, rows, nb, nt, 0, rows, seed++);
        for (int64_t nt = 1; nt <= 17; ++nt) check_q8_x16(isa, 32, 5, nt, 0, 32, seed++);
        // A row range inside the matrix (one thread's share).
        check_q8_x16(isa, 80, 9, 5, 16, 48, 99);
        check_q8_x16(isa, 80, 9, 1, 32, 80, 98);
        check_q8_x16(isa, 80, 9, 17, 48, 64, 97);
    }
}

// The entry point with a Q8_0x16 matrix at every level (scalar has no Q8_0x16 kernel and falls
// back to a row-major copy), with 1 and 2 threads: the bits of the row-major matrix.
TEST(RepackQ8_0x16, MatmulRoutesRepackedMatrices) {
    ThreadPool one(1), two(2);
    const Isa saved = active_isa();
    const int64_t rows = 304, cols = 9 * kQK;
    const auto q = make_q8(rows, cols, 5);
    for (const Isa lvl : supported_isas()) {
        const Isa isa = lvl;
        set_active_isa(isa);
        for (int64_t nt : {1, 3, 16}) {
            SCOPED_TRACE(std::string(isa_name(isa)) + " tokens=" + std::to_string(nt));
            const auto x = random_floats(size_t(nt * cols), 6, 2.0f);
            std::vector<float> y1(size_t(rows * nt)), y2(y1.size()), yr(y1.size());
            matmul(q.mx16, x.data(), nt, y1.data(), one);
            matmul(q.mx16, x.data(), nt, y2.data(), two);
            matmul(q.m, x.data(), nt, yr.data(), one);
            EXPECT_EQ(0, std::memcmp(y1.data(), yr.data(), y1.size() * sizeof(float)));
            EXPECT_EQ(0, std::memcmp(y2.data(), yr.data(), y2.size() * sizeof(float)));
        }
    }
    set_active_isa(saved);
}

// ---- row lookups in every layout ---------------------------------------------------------

// matrix_row (embedding lookups of a tied, repacked output) reads the repacked copy and gives
// exactly the floats dequantize_row gives for the original row.
void expect_rows_equal(const Matrix& m, const Matrix& packed) {
    std::vector<float> want(size_t(m.n_cols)), got(size_t(m.n_cols));
    for (int64_t r = 0; r < m.n_rows; ++r) {
        dequantize_row(m.type, m.data + size_t(r) * m.row_bytes, want.data(), m.n_cols);
        matrix_row(packed, r, got.data());
        ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
            << dtype_name(m.type) << " row " << r;
    }
}

TEST(RepackRows, MatrixRowReadsEveryLayout) {
    const auto q4 = make_q4(24, 3 * kQK, 21);
    expect_rows_equal(q4.m, q4.mx8);
    const auto q8 = make_q8(48, 3 * kQK, 22);
    expect_rows_equal(q8.m, q8.mx16);
    const auto q5 = make_q5(32, 3 * kQK, 23);
    expect_rows_equal(q5.m, q5.mx16);
    for (DType t : {DType::Q4_K, DType::Q6_K}) {
        const auto k = make_kx16(t, 32, 2 * kQK_K, 24, false);
        expect_rows_equal(k.m, k.mx16);
    }
    std::vector<float> out(size_t(q8.m.n_cols));
    EXPECT_THROW(matrix_row(q8.mx16, 48, out.data()), Error);
}

}  // namespace
}  // namespace ponder::kernels
