// The element-wise kernels (kernels.h: swiglu, rms_norm, rope, the F16 KV store) on every ISA
// level this CPU supports against the scalar reference, over sizes with tails and inputs across
// the whole range each sees.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/fp16.h"
#include "core/thread_pool.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/ref/kernels_ref.h"

namespace ponder::kernels {
namespace {

// Gate values: mostly the range an MLP produces, plus the extremes where exp over- or
// underflows, zeros of both signs and a NaN.
std::vector<float> gate_values(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    std::uniform_real_distribution<float> wide(-120.0f, 120.0f);
    std::vector<float> g(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) g[size_t(i)] = i % 5 == 4 ? wide(rng) : normal(rng);
    const float specials[] = {0.0f, -0.0f, -88.5f, 88.5f, -200.0f, 1e-30f, -1e-30f, -87.0f};
    for (size_t k = 0; k < std::size(specials) && k < g.size(); ++k)
        g[k * 3 % g.size()] = specials[k];
    return g;
}

// |a - ref| <= 4 ulp of |ref| (exp to about 1 ulp, then the reference's add, divide and
// multiply), or below 1e-30 where the reference's exp overflows and it returns -0.
void expect_swiglu_close(const std::vector<float>& got, const std::vector<float>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        if (std::isnan(want[i])) {
            EXPECT_TRUE(std::isnan(got[i])) << "element " << i;
            continue;
        }
        const float bound =
            4.0f * std::numeric_limits<float>::epsilon() * std::fabs(want[i]) + 1e-30f;
        EXPECT_LE(std::fabs(got[i] - want[i]), bound)
            << "element " << i << ": " << got[i] << " vs " << want[i];
    }
}

TEST(Swiglu, IsaVariantsMatchReference) {
    for (int64_t n : {1, 7, 8, 15, 16, 17, 63, 64, 65, 1000, 4864 + 13}) {
        std::vector<float> g = gate_values(n, uint32_t(n));
        g[size_t(n / 2)] = std::numeric_limits<float>::quiet_NaN();
        std::vector<float> u(static_cast<size_t>(n));
        std::mt19937 rng(uint32_t(n) + 1);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (float& x : u) x = normal(rng);
        std::vector<float> want(static_cast<size_t>(n));
        ref::swiglu(g.data(), u.data(), want.data(), n);
        for (Isa isa : supported_isas()) {
            SCOPED_TRACE(std::string(isa_name(isa)) + " n=" + std::to_string(n));
            std::vector<float> got(static_cast<size_t>(n), 123.0f);
            kernel_table(isa).swiglu(g.data(), u.data(), got.data(), n);
            expect_swiglu_close(got, want);
            // In place (a aliasing g), as the decoder calls it.
            std::vector<float> inplace = g;
            kernel_table(isa).swiglu(inplace.data(), u.data(), inplace.data(), n);
            for (size_t i = 0; i < got.size(); ++i) {
                if (std::isnan(got[i])) continue;
                EXPECT_EQ(inplace[i], got[i]) << "element " << i;
            }
        }
    }
}

// Split over threads, the result is the single-threaded kernel's, bit for bit, at any thread
// count, for sizes that do and do not divide into the threads' ranges.
TEST(Swiglu, ThreadedEqualsOneThread) {
    for (int64_t n : {int64_t(5), int64_t(4096) + 3, int64_t(512) * 4864 + 7}) {
        const std::vector<float> g = gate_values(n, 7);
        std::vector<float> u(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) u[size_t(i)] = float(i % 97) / 13.0f - 3.0f;
        std::vector<float> one(static_cast<size_t>(n));
        active_kernels().swiglu(g.data(), u.data(), one.data(), n);
        for (int threads : {1, 2, 3}) {
            ThreadPool pool(threads);
            std::vector<float> got(static_cast<size_t>(n));
            swiglu(g.data(), u.data(), got.data(), n, pool);
            EXPECT_EQ(0, std::memcmp(got.data(), one.data(), got.size() * sizeof(float)))
                << "n=" << n << " threads=" << threads;
        }
    }
}

// Rows of n activations: normal values, a few rows with one large element (where a float sum
// of squares would lose the small ones), a large element in the tail, and a zero row.
std::vector<float> norm_rows(int64_t n, int64_t n_rows, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(size_t(n * n_rows));
    for (float& v : x) v = normal(rng);
    for (int64_t r = 0; r < n_rows; ++r) {
        float* xr = x.data() + r * n;
        // 4096^2 = 2^24: a float sum of squares holding it drops every square below 1 after
        // it and rounds the others to even integers.
        if (r % 4 == 1) xr[(r * 7) % n] = 4096.0f;
        if (r % 4 == 2) xr[n - 1] = -5e2f;  // a large element in the tail
        if (r == n_rows - 1)
            for (int64_t i = 0; i < n; ++i) xr[i] = 0.0f;
    }
    return x;
}

// The vector kernels sum the same double terms as the reference in another order: the double
// sums differ by at most 2 n 2^-53 relative, which can move the float mean by one ulp, and
// through eps, sqrt and the division the scale by at most 2 ulp; the two products after it are
// the reference's. Bound: |y - ref| <= 4 ulp of |ref| (in practice the results are identical).
TEST(RmsNorm, IsaVariantsMatchReference) {
    for (int64_t n : {1, 7, 8, 15, 16, 17, 33, 64, 127, 128, 896, 1000, 4096 + 5}) {
        const int64_t rows = 9;
        const std::vector<float> x = norm_rows(n, rows, uint32_t(n));
        std::vector<float> w(static_cast<size_t>(n));
        std::mt19937 rng(uint32_t(n) + 3);
        std::uniform_real_distribution<float> wd(-2.0f, 2.0f);
        for (float& v : w) v = wd(rng);
        const float eps = 1e-6f;
        std::vector<float> want(x.size());
        ref::rms_norm(x.data(), w.data(), want.data(), n, rows, eps);
        for (Isa isa : supported_isas()) {
            SCOPED_TRACE(std::string(isa_name(isa)) + " n=" + std::to_string(n));
            std::vector<float> got(x.size(), 123.0f);
            kernel_table(isa).rms_norm(x.data(), w.data(), got.data(), n, rows, eps);
            for (size_t i = 0; i < got.size(); ++i) {
                const float bound =
                    4.0f * std::numeric_limits<float>::epsilon() * std::fabs(want[i]);
                ASSERT_LE(std::fabs(got[i] - want[i]), bound)
                    << "element " << i << ": " << got[i] << " vs " << want[i];
            }
            // In place (y aliasing x), as the decoder calls it for the q/k norms.
            std::vector<float> inplace = x;
            kernel_table(isa).rms_norm(inplace.data(), w.data(), inplace.data(), n, rows, eps);
            EXPECT_EQ(0, std::memcmp(inplace.data(), got.data(), got.size() * sizeof(float)));
        }
    }
}

// The rotation rounds each product as the reference does (no FMA), so every level gives the
// reference's bits: the bound is 0. Head sizes with and without tails, partial rotation
// (n_rot < head_dim, whose other dimensions stay untouched), both pairings.
TEST(Rope, IsaVariantsMatchReference) {
    struct Shape {
        int n_heads, head_dim, n_rot;
    };
    for (const Shape sh : {Shape{1, 2, 2}, Shape{3, 6, 6}, Shape{2, 16, 16}, Shape{4, 34, 34},
                           Shape{2, 64, 64}, Shape{14, 64, 64}, Shape{2, 128, 128},
                           Shape{3, 80, 32}, Shape{2, 96, 46}, Shape{5, 256, 256}}) {
        for (bool neox : {false, true}) {
            std::mt19937 rng(uint32_t(sh.head_dim * 31 + sh.n_rot + neox));
            std::normal_distribution<float> normal(0.0f, 2.0f);
            std::vector<float> x(size_t(sh.n_heads * sh.head_dim));
            for (float& v : x) v = normal(rng);
            std::vector<float> ff(size_t(sh.n_rot / 2));
            for (size_t i = 0; i < ff.size(); ++i) ff[i] = 1.0f + float(i % 5);
            for (float pos : {0.0f, 1.0f, 37.0f, 4095.0f, 131071.0f}) {
                std::vector<float> cs(size_t(sh.n_rot));
                rope_cos_sin(pos, sh.n_rot, 10000.0f, pos == 37.0f ? ff.data() : nullptr,
                             cs.data());
                std::vector<float> want = x;
                ref::rope(want.data(), sh.n_heads, sh.head_dim, sh.n_rot, neox, cs.data());
                for (Isa isa : supported_isas()) {
                    SCOPED_TRACE(std::string(isa_name(isa)) +
                                 " head_dim=" + std::to_string(sh.head_dim) +
                                 " n_rot=" + std::to_string(sh.n_rot) +
                                 " neox=" + std::to_string(neox) + " pos=" + std::to_string(pos));
                    std::vector<float> got = x;
                    kernel_table(isa).rope(got.data(), sh.n_heads, sh.head_dim, sh.n_rot, neox,
                                           cs.data());
                    for (size_t i = 0; i < got.size(); ++i)
                        ASSERT_EQ(f32_to_bits(got[i]), f32_to_bits(want[i]))
                            << "element " << i << ": " << got[i] << " vs " << want[i];
                }
            }
        }
    }
}

// Floats around every rounding decision of the half format (each midpoint between two
// neighbouring halves, one float ulp either side of it), the overflow threshold, subnormals,
// infinities, NaNs with payloads, and random bit patterns.
std::vector<float> f16_edge_values() {
    std::vector<float> v;
    for (uint32_t h = 0; h < 0x7c00; ++h) {
        const float lo = fp16_to_f32(uint16_t(h)), hi = fp16_to_f32(uint16_t(h + 1));
        const float mid = lo + (hi - lo) / 2;  // exact: a float has 13 more mantissa bits
        for (float f : {lo, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) {
            v.push_back(f);
            v.push_back(-f);
        }
    }
    for (float f : {65504.0f, 65519.99f, 65520.0f, 1e30f, std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::denorm_min(), 1e-40f})
        for (float s : {1.0f, -1.0f}) v.push_back(s * f);
    for (uint32_t bits : {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fbfffffu, 0xff812345u,
                          0x7fffffffu, 0x7fc0abcdu})
        v.push_back(bits_to_f32(bits));
    std::mt19937 rng(11);
    for (int i = 0; i < 200000; ++i) v.push_back(bits_to_f32(uint32_t(rng())));
    v.push_back(1.0f);  // an odd count: the last vector has a tail
    return v;
}

// Makes a level active for one scope (store_kv_row goes through the active table).
struct ActiveIsa {
    explicit ActiveIsa(Isa isa) : saved(active_isa()) { set_active_isa(isa); }
    ~ActiveIsa() { set_active_isa(saved); }
    ActiveIsa(const ActiveIsa&) = delete;
    ActiveIsa& operator=(const ActiveIsa&) = delete;
    Isa saved;
};

// The F16 KV store is f32_to_fp16 bit for bit on every level, NaN payloads and infinities
// included; on odd offsets and lengths the tail is converted and nothing past it written.
TEST(KvStore, F16MatchesReferenceBitForBit) {
    const std::vector<float> x = f16_edge_values();
    const int64_t n = int64_t(x.size());
    std::vector<uint16_t> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = f32_to_fp16(x[i]);
    for (Isa isa : supported_isas()) {
        const ActiveIsa active(isa);
        SCOPED_TRACE(std::string(isa_name(isa)));
        std::vector<uint16_t> got(x.size() + 1, 0xabcd);
        store_kv_row(DType::F16, x.data(), n, reinterpret_cast<uint8_t*>(got.data()));
        for (size_t i = 0; i < x.size(); ++i)
            ASSERT_EQ(got[i], want[i])
                << "element " << i << " bits 0x" << std::hex << f32_to_bits(x[i]);
        EXPECT_EQ(got.back(), 0xabcd);
        for (int64_t len : {1, 5, 13, 21}) {
            std::vector<uint16_t> part(size_t(len) + 1, 0xabcd);
            store_kv_row(DType::F16, x.data() + 3, len, reinterpret_cast<uint8_t*>(part.data()));
            for (int64_t i = 0; i < len; ++i) EXPECT_EQ(part[size_t(i)], want[size_t(i) + 3]);
            EXPECT_EQ(part.back(), 0xabcd);
        }
    }
}

// The Q8_0 KV store (the level's Q8_0 activation rounding) is ref::store_kv_row bit for bit for
// finite values, including ties of the rounding (x * 127 / max on a half integer) and zero
// blocks.
TEST(KvStore, Q8_0MatchesReferenceBitForBit) {
    for (int64_t n : {32, 64, 128, 256}) {
        std::mt19937 rng{uint32_t(n)};
        std::normal_distribution<float> normal(0.0f, 1.5f);
        std::vector<float> x(static_cast<size_t>(n));
        for (float& v : x) v = normal(rng);
        x[0] = 127.0f;  // block 0: max 127, so x * 127 / max = x: ties at k + 0.5
        for (int e = 1; e < 8; ++e) x[size_t(e)] = float(e) + 0.5f;
        if (n >= 64)
            for (int e = 32; e < 64; ++e) x[size_t(e)] = 0.0f;
        const size_t bytes = row_size(DType::Q8_0, n);
        std::vector<uint8_t> want(bytes);
        ref::store_kv_row(DType::Q8_0, x.data(), n, want.data());
        for (Isa isa : supported_isas()) {
            const ActiveIsa active(isa);
            SCOPED_TRACE(std::string(isa_name(isa)) + " n=" + std::to_string(n));
            std::vector<uint8_t> got(bytes + 1, 0xab);
            store_kv_row(DType::Q8_0, x.data(), n, got.data());
            EXPECT_EQ(0, std::memcmp(got.data(), want.data(), bytes));
            EXPECT_EQ(got.back(), 0xab);
        }
    }
}

}  // namespace
}  // namespace ponder::kernels
