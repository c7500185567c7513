// rms_norm, rope, swiglu, attention kernels for AVX512 (compiled with this level's flags only; see
// dispatch.h).
#if defined(__x86_64__)
// GCC 12's AVX-512 headers build some results from _mm512_undefined_*() and then warn about
// their own uninitialized variable (__Y) at -O3; the values are fully overwritten.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "kernels/x86/attention_avx512.h"

namespace ponder::kernels {

void register_ops_avx512(KernelTable& t) {
    t.attention = attention_avx512;
}

}  // namespace ponder::kernels
#endif
