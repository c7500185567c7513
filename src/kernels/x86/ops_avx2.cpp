// rms_norm, rope, swiglu, attention kernels for AVX2 (compiled with this level's flags only; see
// dispatch.h).
#if defined(__x86_64__)
#include <algorithm>

#include "core/cpu_features.h"
#include "core/fp16.h"
#include "kernels/ref/kernels_ref.h"
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

// The reference's sum of x^2 in double (each product rounded to float first, then widened),
// in 8 double lanes instead of one sequential sum; the scale and the products are the
// reference's. Only the order of the double additions differs.
void rms_norm_avx2(const float* x, const float* weight, float* y, int64_t n, int64_t n_rows,
                   float eps) {
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
        __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            const __m256 v = _mm256_loadu_ps(xr + i);
            const __m256 p = _mm256_mul_ps(v, v);
            lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(p)));
            hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1)));
        }
        const __m256d s4 = _mm256_add_pd(lo, hi);
        const __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
        double ss = _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
        for (int64_t j = i; j < n; ++j) ss += double(xr[j] * xr[j]);
        const float scale = ref::rms_norm_scale(ss, n, eps);
        const __m256 vs = _mm256_set1_ps(scale);
        for (i = 0; i + 8 <= n; i += 8)
            _mm256_storeu_ps(yr + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + i), vs),
                                                   _mm256_loadu_ps(weight + i)));
        for (; i < n; ++i) yr[i] = xr[i] * scale * weight[i];
    }
}

// Products rounded to float on their own: the empty asm hides them from GCC, which would
// otherwise fuse them into the following add or subtract (the reference rounds each product).
inline __m256 mul_rounded(__m256 a, __m256 b) {
    __m256 p = _mm256_mul_ps(a, b);
    asm("" : "+x"(p));
    return p;
}
inline float mul_rounded(float a, float b) {
    float p = a * b;
    asm("" : "+x"(p));
    return p;
}

// Pair (a, b) -> (a c - b s, a s + b c), as ref::rope.
inline void rotate(float& a, float& b, float c, float s) {
    const float a0 = a;
    a = mul_rounded(a0, c) - mul_rounded(b, s);
    b = mul_rounded(a0, s) + mul_rounded(b, c);
}

// The reference's rotation, 8 floats at a time with each product rounded: the reference's
// bits.
void rope_avx2(float* x, int n_heads, int head_dim, int n_rot, bool neox, const float* cs) {
    const int half = n_rot / 2;
    const float* sn = cs + half;
    // Interleaved pairs: cos and sin of 4 pairs spread to (c0 c0 c1 c1 ..), (-s0 s0 -s1 s1 ..).
    const __m256i dup = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    const __m256 neg_even = _mm256_castsi256_ps(_mm256_set1_epi64x(int64_t(0x80000000)));
    for (int h = 0; h < n_heads; ++h) {
        float* xh = x + h * head_dim;
        int i = 0;
        if (neox) {
            // Pairs (i, i + half): a and b come from two contiguous runs.
            for (; i + 8 <= half; i += 8) {
                const __m256 c = _mm256_loadu_ps(cs + i), s = _mm256_loadu_ps(sn + i);
                const __m256 a = _mm256_loadu_ps(xh + i), b = _mm256_loadu_ps(xh + half + i);
                _mm256_storeu_ps(xh + i, _mm256_sub_ps(mul_rounded(a, c), mul_rounded(b, s)));
                _mm256_storeu_ps(xh + half + i,
                                 _mm256_add_ps(mul_rounded(a, s), mul_rounded(b, c)));
            }
            for (; i < half; ++i) rotate(xh[i], xh[i + half], cs[i], sn[i]);
            continue;
        }
        // Pairs (2i, 2i + 1): x * (c..) + swap(x) * (-s..); a c + (-(b s)) is a c - b s.
        for (; i + 4 <= half; i += 4) {
            const __m256 c =
                _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(cs + i)), dup);
            const __m256 s = _mm256_xor_ps(
                _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(sn + i)), dup),
                neg_even);
            const __m256 v = _mm256_loadu_ps(xh + 2 * i);
            const __m256 swapped = _mm256_permute_ps(v, 0xB1);
            _mm256_storeu_ps(xh + 2 * i, _mm256_add_ps(mul_rounded(v, c), mul_rounded(swapped, s)));
        }
        for (; i < half; ++i) rotate(xh[2 * i], xh[2 * i + 1], cs[i], sn[i]);
    }
}

// n floats -> n halves with F16C (round to nearest even). A vector holding a NaN is converted
// by f32_to_fp16, which drops the NaN's payload as the reference does.
void to_f16_avx2(const float* x, int64_t n, uint8_t* out) {
    auto* h = reinterpret_cast<uint16_t*>(out);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) != 0) {
            for (int64_t j = i; j < i + 8; ++j) h[j] = f32_to_fp16(x[j]);
            continue;
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i),
                         _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; i < n; ++i) h[i] = f32_to_fp16(x[i]);
}

}  // namespace

void register_ops_avx2(KernelTable& t) {
    // Software prefetch of the KV rows on Intel only, as the AVX-512 level (attention_avx512.h):
    // a cold call 1.1x (F16) / 1.04x (Q8_0) as fast on the Intel Xeon kind (2026-12-03).
    if (cpu_features().vendor == "GenuineIntel")
        t.attention = {attention_scores_avx2<16>, exp_span, attention_values_avx2<16>};
    else
        t.attention = {attention_scores_avx2<0>, exp_span, attention_values_avx2<0>};
    t.rms_norm = rms_norm_avx2;
    t.rope = rope_avx2;
    t.swiglu = swiglu_avx2;
    t.to_f16 = to_f16_avx2;
}

}  // namespace ponder::kernels
#endif
