// rms_norm, rope, swiglu, attention kernels for AVX512 (compiled with this level's flags only; see
// dispatch.h).
#if defined(__x86_64__)
// GCC 12's AVX-512 headers build some results from _mm512_undefined_*() and then warn about
// their own uninitialized variable (__Y) at -O3; the values are fully overwritten.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <algorithm>

#include "core/cpu_features.h"
#include "core/fp16.h"
#include "kernels/ref/kernels_ref.h"
#include "kernels/x86/attention_avx512.h"
#include "kernels/x86/vmath.h"

namespace ponder::kernels {
namespace {

// The first min(n, 16) lanes (attention_avx512.h's lanes16, for 64-bit counts).
inline __mmask16 first_lanes(int64_t n) {
    return lanes16(int(std::min<int64_t>(n, 16)));
}

void swiglu_avx512(const float* g, const float* u, float* a, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(a + i, swiglu16(_mm512_loadu_ps(g + i), _mm512_loadu_ps(u + i)));
    if (i < n) {
        const __mmask16 m = first_lanes(n - i);
        _mm512_mask_storeu_ps(
            a + i, m, swiglu16(_mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, u + i)));
    }
}

// The reference's sum of x^2 in double (each product rounded to float first, then widened),
// in 16 double lanes instead of one sequential sum; the scale and the products are the
// reference's. Only the order of the double additions differs.
void rms_norm_avx512(const float* x, const float* weight, float* y, int64_t n, int64_t n_rows,
                     float eps) {
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
        __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
        for (int64_t i = 0; i < n; i += 16) {
            // The tail's missing lanes load as zeros and add +0.
            const __m512 v = _mm512_maskz_loadu_ps(first_lanes(n - i), xr + i);
            const __m512 p = _mm512_mul_ps(v, v);
            lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(p)));
            hi = _mm512_add_pd(
                hi,
                _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(p), 1))));
        }
        const double ss = _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
        const __m512 vs = _mm512_set1_ps(ref::rms_norm_scale(ss, n, eps));
        for (int64_t i = 0; i < n; i += 16) {
            const __mmask16 m = first_lanes(n - i);
            _mm512_mask_storeu_ps(yr + i, m,
                                  _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + i), vs),
                                                _mm512_maskz_loadu_ps(m, weight + i)));
        }
    }
}

// A product rounded to float on its own (embedded round-to-nearest, which GCC cannot fuse into
// the following add or subtract as it would a plain multiply): the reference rounds each one.
inline __m512 mul_rounded(__m512 a, __m512 b) {
    return _mm512_mul_round_ps(a, b, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

// The reference's rotation, 16 floats at a time with each product rounded: the reference's
// bits.
void rope_avx512(float* x, int n_heads, int head_dim, int n_rot, bool neox, const float* cs) {
    const int half = n_rot / 2;
    const float* sn = cs + half;
    // Interleaved pairs: cos and sin of 8 pairs spread to (c0 c0 c1 c1 ..), (-s0 s0 -s1 s1 ..).
    const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512 neg_even = _mm512_castsi512_ps(_mm512_set1_epi64(int64_t(0x80000000)));
    for (int h = 0; h < n_heads; ++h) {
        float* xh = x + h * head_dim;
        if (neox) {
            // Pairs (i, i + half): a and b come from two contiguous runs.
            for (int i = 0; i < half; i += 16) {
                const __mmask16 m = first_lanes(half - i);
                const __m512 c = _mm512_maskz_loadu_ps(m, cs + i);
                const __m512 s = _mm512_maskz_loadu_ps(m, sn + i);
                const __m512 a = _mm512_maskz_loadu_ps(m, xh + i);
                const __m512 b = _mm512_maskz_loadu_ps(m, xh + half + i);
                _mm512_mask_storeu_ps(xh + i, m,
                                      _mm512_sub_ps(mul_rounded(a, c), mul_rounded(b, s)));
                _mm512_mask_storeu_ps(xh + half + i, m,
                                      _mm512_add_ps(mul_rounded(a, s), mul_rounded(b, c)));
            }
            continue;
        }
        // Pairs (2i, 2i + 1): x * (c..) + swap(x) * (-s..); a c + (-(b s)) is a c - b s.
        for (int i = 0; i < half; i += 8) {
            const __mmask16 mh = first_lanes(std::min(8, half - i));
            const __mmask16 m = first_lanes(2 * (half - i));
            const __m512 c = _mm512_permutexvar_ps(dup, _mm512_maskz_loadu_ps(mh, cs + i));
            const __m512 s = _mm512_xor_ps(
                _mm512_permutexvar_ps(dup, _mm512_maskz_loadu_ps(mh, sn + i)), neg_even);
            const __m512 v = _mm512_maskz_loadu_ps(m, xh + 2 * i);
            const __m512 swapped = _mm512_permute_ps(v, 0xB1);
            _mm512_mask_storeu_ps(xh + 2 * i, m,
                                  _mm512_add_ps(mul_rounded(v, c), mul_rounded(swapped, s)));
        }
    }
}

// n floats -> n halves (round to nearest even). NaN lanes are replaced by the reference's
// quiet NaN (sign | 0x7e00), dropping the payload vcvtps2ph would keep.
void to_f16_avx512(const float* x, int64_t n, uint8_t* out) {
    auto* h = reinterpret_cast<uint16_t*>(out);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = first_lanes(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m256i r = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        if (nan != 0) {
            const __m256i sign = _mm256_and_si256(r, _mm256_set1_epi16(int16_t(0x8000)));
            r = _mm256_mask_blend_epi16(nan, r, _mm256_or_si256(sign, _mm256_set1_epi16(0x7e00)));
        }
        _mm256_mask_storeu_epi16(h + i, m, r);
    }
}

}  // namespace

void register_ops_avx512(KernelTable& t) {
    // Software prefetch of the KV rows where it was measured to help (attention_avx512.h).
    if (cpu_features().vendor == "GenuineIntel")
        t.attention = {attention_scores_avx512<16>, softmax_exp16, attention_values_avx512<16>};
    else
        t.attention = {attention_scores_avx512<0>, softmax_exp16, attention_values_avx512<0>};
    t.rms_norm = rms_norm_avx512;
    t.rope = rope_avx512;
    t.swiglu = swiglu_avx512;
    t.to_f16 = to_f16_avx512;
}

}  // namespace ponder::kernels
#endif
