// rms_norm, rope, swiglu, attention kernels for AVX2 (compiled with this level's flags only; see
// dispatch.h).
#if defined(__x86_64__)
#include "kernels/x86/attention_impl.h"

namespace ponder::kernels {

void register_ops_avx2(KernelTable& t) {
    t.attention = attention_simd;
}

}  // namespace ponder::kernels
#endif
