// rms_norm, rope, swiglu, attention kernels for AVX512 (compiled with this level's flags only; see
// dispatch.h).
#if defined(__x86_64__)
#include "kernels/dispatch.h"

namespace ponder::kernels {

void register_ops_avx512(KernelTable& t) {
    (void)t;  // no kernels of this group yet: the reference is used
}

}  // namespace ponder::kernels
#endif
