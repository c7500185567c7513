// The kernel levels: which ones this CPU supports follows from the detected features, each
// supported level has its own table, and unsupported levels are refused with an error.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/cpu_features.h"
#include "kernels/dispatch.h"

namespace ponder::kernels {
namespace {

const Isa kAll[] = {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon};

TEST(Dispatch, SupportedLevelsAreConsistent) {
    const std::vector<Isa> levels = supported_isas();
    ASSERT_FALSE(levels.empty());
    EXPECT_EQ(levels.front(), Isa::Scalar);
    EXPECT_EQ(levels.back(), best_isa());
    for (Isa isa : kAll) {
        SCOPED_TRACE(std::string(isa_name(isa)));
        const bool listed = std::find(levels.begin(), levels.end(), isa) != levels.end();
        EXPECT_EQ(isa_supported(isa), listed);
        if (listed) {
            EXPECT_EQ(kernel_table(isa).isa, isa);
        } else {
            EXPECT_ANY_THROW(kernel_table(isa));
            EXPECT_ANY_THROW(set_active_isa(isa));
        }
    }
}

// The best level is the one the detected features allow (x86-64: see dispatch.cpp; aarch64:
// NEON with dotprod and fp16), and a level of the other architecture is never supported.
TEST(Dispatch, BestLevelFollowsTheFeatures) {
    const CpuFeatures& f = cpu_features();
#if defined(__aarch64__)
    EXPECT_TRUE(f.neon);
    EXPECT_EQ(best_isa() == Isa::Neon, f.dotprod && f.fp16);
    EXPECT_FALSE(isa_supported(Isa::Avx2));
    EXPECT_FALSE(isa_supported(Isa::Avx512));
#else
    EXPECT_FALSE(f.neon);
    EXPECT_FALSE(isa_supported(Isa::Neon));
#endif
    if (best_isa() == Isa::Neon) {
        const KernelTable& t = kernel_table(Isa::Neon);
        for (DType d : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1,
                        DType::Q5_0, DType::Q5_1}) {
            EXPECT_NE(t.gemm_for(d).gemm, nullptr) << dtype_name(d);
            EXPECT_NE(t.gemm_for(d).quantize, nullptr) << dtype_name(d);
        }
    }
}

}  // namespace
}  // namespace ponder::kernels
