// Scalar reference kernels: written for clarity; the definition of correct.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "core/quant.h"
#include "kernels/kernels.h"
#include "kernels/ref/dot_ref.h"
#include "kernels/ref/kernels_ref.h"

namespace ponder::kernels {

DType activation_type(DType t) {
    switch (t) {
        case DType::F32:
            return DType::F32;
        case DType::F16:
            return DType::F16;
        case DType::BF16:
            return DType::BF16;
        case DType::Q4_0:
        case DType::Q4_1:
        case DType::Q5_0:
        case DType::Q5_1:
        case DType::Q8_0:
            return DType::Q8_0;
        case DType::Q2_K:
        case DType::Q3_K:
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K:
            return DType::Q8_K;
        default:
            fail("matmul: weight type ", dtype_name(t), " is not supported");
    }
}

namespace ref {

void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
    const int64_t nc = w.n_cols;
    if (has_exact_dot(w.type)) {
        std::vector<QuantizedActs> xq(static_cast<size_t>(n_tokens));
        for (int64_t t = 0; t < n_tokens; ++t) quantize_acts(w.type, x + t * nc, nc, xq[size_t(t)]);
        pool.run(
            [&](int ith, int nth) {
                int64_t r0, r1;
                ThreadPool::split(w.n_rows, ith, nth, r0, r1);
                for (int64_t r = r0; r < r1; ++r)
                    for (int64_t t = 0; t < n_tokens; ++t)
                        y[t * w.n_rows + r] =
                            dot_row(w.type, w.data + size_t(r) * w.row_bytes, xq[size_t(t)], nc);
            },
            w.n_rows * nc * n_tokens);
        return;
    }
    // Other types: round the activations the way the dot product sees them, then a float dot
    // of the dequantized row.
    const DType at = activation_type(w.type);
    std::vector<float> xr;
    const float* xa = x;
    if (at != DType::F32) {
        xr.resize(size_t(n_tokens * nc));
        std::vector<uint8_t> q(row_size(at, nc));
        for (int64_t t = 0; t < n_tokens; ++t) {
            quantize_row(at, x + t * nc, q.data(), nc);
            dequantize_row(at, q.data(), xr.data() + t * nc, nc);
        }
        xa = xr.data();
    }
    pool.run(
        [&](int ith, int nth) {
            int64_t r0, r1;
            ThreadPool::split(w.n_rows, ith, nth, r0, r1);
            std::vector<float> row(static_cast<size_t>(nc));
            for (int64_t r = r0; r < r1; ++r) {
                dequantize_row(w.type, w.data + size_t(r) * w.row_bytes, row.data(), nc);
                for (int64_t t = 0; t < n_tokens; ++t) {
                    const float* xt = xa + t * nc;
                    double acc = 0;
                    for (int64_t c = 0; c < nc; ++c) acc += double(row[size_t(c)]) * xt[c];
                    y[t * w.n_rows + r] = float(acc);
                }
            }
        },
        w.n_rows * nc * n_tokens);
}

void rms_norm(const float* x, const float* weight, float* y, int64_t n, int64_t n_rows, float eps) {
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
        double ss = 0;
        for (int64_t i = 0; i < n; ++i) ss += double(xr[i] * xr[i]);
        // The mean is rounded to float before eps is added, as the reference engine does.
        const float mean = float(ss / double(n));
        const float scale = 1.0f / std::sqrt(mean + eps);
        for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * scale * weight[i];
    }
}

void rope(float* x, int n_heads, int head_dim, int n_rot, float pos, float base, bool neox,
          const float* freq_factors) {
    // theta_i = pos * base^(-2i/n_rot) / ff_i, with the power built by repeated
    // multiplication in float, as the reference engine does (it matters in the last ulp).
    const float theta_scale = std::pow(base, -2.0f / float(n_rot));
    const int half = n_rot / 2;
    float theta = pos;
    for (int i = 0; i < half; ++i, theta *= theta_scale) {
        const float t = freq_factors ? theta / freq_factors[i] : theta;
        const float c = std::cos(t), s = std::sin(t);
        for (int h = 0; h < n_heads; ++h) {
            float* xh = x + h * head_dim;
            const int i0 = neox ? i : 2 * i;
            const int i1 = neox ? i + half : 2 * i + 1;
            const float a = xh[i0], b = xh[i1];
            xh[i0] = a * c - b * s;
            xh[i1] = a * s + b * c;
        }
    }
}

void swiglu(const float* g, const float* u, float* a, int64_t n) {
    for (int64_t i = 0; i < n; ++i) a[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void attention_head(const float* q, const uint16_t* k, const uint16_t* v, size_t kv_stride,
                    const int32_t* cells, int32_t n, int head_dim, float scale, float* out,
                    float* scratch) {
    // The reference engine multiplies half-precision keys by the query rounded to half.
    float qh[1024];
    for (int d = 0; d < head_dim; ++d) qh[d] = fp16_to_f32(f32_to_fp16(q[d]));
    float mx = -INFINITY;
    for (int32_t j = 0; j < n; ++j) {
        const uint16_t* kr = k + size_t(cells[j]) * kv_stride;
        double s = 0;
        for (int d = 0; d < head_dim; ++d) s += double(qh[d]) * fp16_to_f32(kr[d]);
        scratch[j] = float(s) * scale;
        mx = std::max(mx, scratch[j]);
    }
    double sum = 0;
    for (int32_t j = 0; j < n; ++j) {
        scratch[j] = std::exp(scratch[j] - mx);
        sum += scratch[j];
    }
    const float inv = float(1.0 / sum);
    std::fill(out, out + head_dim, 0.0f);
    for (int32_t j = 0; j < n; ++j) {
        const float p = fp16_to_f32(f32_to_fp16(scratch[j] * inv));
        const uint16_t* vr = v + size_t(cells[j]) * kv_stride;
        for (int d = 0; d < head_dim; ++d) out[d] += p * fp16_to_f32(vr[d]);
    }
}

}  // namespace ref
}  // namespace ponder::kernels
