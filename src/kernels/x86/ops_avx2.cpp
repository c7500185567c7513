// rms_norm, rope, swiglu, attention kernels for AVX2 (compiled with this level's flags only; see
// dispatch.h).
#if defined(__x86_64__)
#include <algorithm>

#include "kernels/x86/attention_impl.h"
#include "kernels/x86/vmath.h"

namespace ponder::kernels {
namespace {

void swiglu_avx2(const float* g, const float* u, float* a, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(a + i, swiglu8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) {
        // The tail through a zero-padded vector, so every element takes the same path.
        alignas(32) float gt[8] = {}, ut[8] = {}, at[8];
        std::copy_n(g + i, n - i, gt);
        std::copy_n(u + i, n - i, ut);
        _mm256_store_ps(at, swiglu8(_mm256_load_ps(gt), _mm256_load_ps(ut)));
        std::copy_n(at, n - i, a + i);
    }
}

}  // namespace

void register_ops_avx2(KernelTable& t) {
    t.attention = attention_simd;
    t.swiglu = swiglu_avx2;
}

}  // namespace ponder::kernels
#endif
