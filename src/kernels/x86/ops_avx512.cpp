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
#include "kernels/x86/vmath.h"

namespace ponder::kernels {
namespace {

void swiglu_avx512(const float* g, const float* u, float* a, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(a + i, swiglu16(_mm512_loadu_ps(g + i), _mm512_loadu_ps(u + i)));
    if (i < n) {
        const __mmask16 m = __mmask16((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(
            a + i, m, swiglu16(_mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, u + i)));
    }
}

}  // namespace

void register_ops_avx512(KernelTable& t) {
    t.attention = attention_avx512;
    t.swiglu = swiglu_avx512;
}

}  // namespace ponder::kernels
#endif
