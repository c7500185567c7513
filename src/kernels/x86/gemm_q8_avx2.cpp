// F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 matmul kernels for AVX2 + FMA + F16C (compiled
// with this level's flags only; see dispatch.h). The kernels are in gemm_q8_impl.h; this file
// picks tile sizes for 16 vector registers and has the Q8_0x16 kernel (kernels/repack.h).
#if defined(__x86_64__)
#define PONDER_GEMM_VNNI 0
#include "kernels/x86/gemm_q8_impl.h"

namespace ponder::kernels {
namespace {

// 8 rows (half h of a 16-row Q8_0x16 group: the low or high 256 bits of each 64-byte chunk)
// x 1 token in the reference's lane order: per lane j the exact integer sum of elements
// 4j..4j+3 (maddubs on |w| and x * sign(w) after removing the 128 bias: no saturation, as
// FmtQ8_0's sign trick), acc_j = fma(float(s_j), dw * dx, acc_j), and the reference's 8-lane
// sum ((a0+a4)+(a2+a6))+((a1+a5)+(a3+a7)) at the end: bit-identical to dot_row.
inline void q8_0x16_lanes8(const uint8_t* g, int h, const BlockQ8_0* x, int64_t nb, float* y) {
    __m256 acc[8];
    for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
    const __m256i bias = _mm256_set1_epi8(char(0x80)), ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; ++b, g += kQ8_0x16Bytes) {
        const __m256 dw =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + 16 * h)));
        const __m256 dwdx = _mm256_mul_ps(dw, _mm256_set1_ps(half_to_float(x[b].d)));
        for (int j = 0; j < 8; ++j) {
            const __m256i w = _mm256_xor_si256(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 32 + 64 * j + 32 * h)),
                bias);
            int32_t x4;
            std::memcpy(&x4, x[b].qs + 4 * j, 4);
            const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w),
                                                   _mm256_sign_epi8(_mm256_set1_epi32(x4), w));
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)), dwdx, acc[j]);
        }
    }
    const __m256 s02 = _mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6]));
    const __m256 s13 = _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7]));
    _mm256_storeu_ps(y, _mm256_add_ps(s02, s13));
}

// A Q8_0x16 matrix (r0 and r1 multiples of 16), token by token in the lane order: the bits of
// gemm_lanes<FmtQ8_0> (the row-major kernel of this level) at every token count.
void gemm_q8_0x16_lanes(const uint8_t* w, size_t wrb, const uint8_t* acts, size_t arb, int64_t n,
                        int64_t n_tokens, int64_t r0, int64_t r1, float* y, int64_t ldy) {
    const int64_t nb = n / kQK;
    for (int64_t r = r0; r < r1; r += 16)
        for (int64_t t = 0; t < n_tokens; ++t) {
            const auto* x = reinterpret_cast<const BlockQ8_0*>(acts + size_t(t) * arb);
            for (int h = 0; h < 2; ++h)
                q8_0x16_lanes8(w + size_t(r) * wrb, h, x, nb, y + t * ldy + r + 8 * h);
        }
}

}  // namespace

void register_gemm_q8_avx2(KernelTable& t) {
    register_gemm_256(t);
    t.gemm_q8_0x16 = {DType::Q8_0, quantize_q8_0, gemm_q8_0x16_lanes};
}

}  // namespace ponder::kernels
#endif
