// The K-quant matmul kernels (gemm_kquants_avx2_impl.h) for AVX2 + FMA + F16C (compiled with
// this level's flags only; see dispatch.h).
#if defined(__x86_64__)
#include "kernels/x86/gemm_kquants_avx2_impl.h"

namespace ponder::kernels {

void register_gemm_kquants_avx2(KernelTable& t) {
    register_kquants_256(t);
}

}  // namespace ponder::kernels
#endif
