// F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 matmul kernels for AVX2 + FMA + F16C (compiled
// with this level's flags only; see dispatch.h). The kernels are in gemm_q8_impl.h; this file
// picks tile sizes for 16 vector registers.
#if defined(__x86_64__)
#define PONDER_GEMM_VNNI 0
#include "kernels/x86/gemm_q8_impl.h"

namespace ponder::kernels {

void register_gemm_q8_avx2(KernelTable& t) {
    t.gemm_for(DType::F32) = {DType::F32, copy_f32, gemm_float<LoadF32, 4, 3>};
    t.gemm_for(DType::F16) = {DType::F32, round_f16, gemm_float<LoadF16, 4, 3>};
    t.gemm_for(DType::BF16) = {DType::F32, round_bf16, gemm_float<LoadBF16, 4, 3>};
    t.gemm_for(DType::Q8_0) = {DType::Q8_0, quantize_q8_0, gemm_lanes<FmtQ8_0, 2, 2, 4>};
    t.gemm_for(DType::Q4_0) = {DType::Q8_0, quantize_q8_0, gemm_rows<FmtQ4_0, 3>};
    t.gemm_q4_0x8 = {DType::Q8_0, quantize_q8_0, gemm_q4_0x8<3>};
    t.gemm_for(DType::Q4_1) = {DType::Q8_1, quantize_q8_1, gemm_lanes<FmtQ4_1, 2, 2, 4>};
    t.gemm_for(DType::Q5_0) = {DType::Q8_0, quantize_q8_0, gemm_lanes<FmtQ5_0, 2, 2, 4>};
    t.gemm_for(DType::Q5_1) = {DType::Q8_1, quantize_q8_1, gemm_lanes<FmtQ5_1, 2, 2, 4>};
}

}  // namespace ponder::kernels
#endif
