// The AVX2 level's K-quant matmul kernels (gemm_kquants_avx2_impl.h) built again with AVX-VNNI
// (AVX2 + FMA + F16C + AVX-VNNI flags; see dispatch.h), for CPUs that have it without
// AVX-512: each scaled pair sum is one vpdpwssd instead of vpmaddwd + vpaddd. Same bits.
#if defined(__x86_64__)
#include "kernels/x86/gemm_kquants_avx2_impl.h"

namespace ponder::kernels {

void register_gemm_kquants_avxvnni(KernelTable& t) {
    register_kquants_256(t);
}

}  // namespace ponder::kernels
#endif
