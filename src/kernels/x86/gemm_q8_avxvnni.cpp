// The AVX2 level's integer matmul kernels (Q8_0 Q4_0 Q4_1 Q5_0 Q5_1, the Q4_0x8 and Q8_0x16
// layouts) built
// again with AVX-VNNI (compiled with AVX2 + FMA + F16C + AVX-VNNI flags; see dispatch.h): one
// `vpdpbusd` instead of `vpmaddubsw` + `vpmaddwd` per 32 products, for CPUs that have AVX-VNNI but
// not AVX-512 (Intel since Alder Lake). Same tile sizes as gemm_q8_avx2.cpp (16 registers); the
// integer sums are exact either way, so the results are those of the AVX2 kernels, bit for bit.
// Registers the AVX2 file's list (register_gemm_256) from this copy, F32 / F16 / BF16 included
// (the same code) and the Q8_0x16 layout's kernel.
#if defined(__x86_64__)
#define PONDER_GEMM_VNNI 2
#include "kernels/x86/gemm_q8_impl.h"

namespace ponder::kernels {

void register_gemm_q8_avxvnni(KernelTable& t) {
    register_gemm_256(t);
}

}  // namespace ponder::kernels
#endif
