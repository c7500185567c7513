// Q4_K, Q5_K, Q6_K (Q2_K, Q3_K) matmul kernels for AVX2 (compiled with this level's flags only; see
// dispatch.h).
#if defined(__x86_64__)
#include "kernels/dispatch.h"

namespace ponder::kernels {

void register_gemm_kquants_avx2(KernelTable& t) {
    (void)t;  // no kernels of this group yet: the reference is used
}

}  // namespace ponder::kernels
#endif
