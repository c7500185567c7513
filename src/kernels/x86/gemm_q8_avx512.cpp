// F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 matmul kernels for AVX512 (compiled with this
// level's flags only; see dispatch.h).
#if defined(__x86_64__)
#include "kernels/dispatch.h"

namespace ponder::kernels {

void register_gemm_q8_avx512(KernelTable& t) {
    (void)t;  // no kernels of this group yet: the reference is used
}

}  // namespace ponder::kernels
#endif
