// The element-wise kernels (kernels.h: swiglu) on every ISA level this CPU supports against the
// scalar reference, over sizes with tails and inputs across the whole range silu sees.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

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

}  // namespace
}  // namespace ponder::kernels
