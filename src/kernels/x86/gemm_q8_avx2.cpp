// F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 matmul kernels for AVX2 + FMA + F16C (compiled
// with this level's flags only; see dispatch.h). The kernels, the Q8_0x16 layout's included,
// are in gemm_q8_impl.h with the tile sizes for 16 vector registers.
#if defined(__x86_64__)
#define PONDER_GEMM_VNNI 0
#include "kernels/x86/gemm_q8_impl.h"

namespace ponder::kernels {

void register_gemm_q8_avx2(KernelTable& t) {
    register_gemm_256(t);
}

}  // namespace ponder::kernels
#endif
