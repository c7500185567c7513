// Scalar reference kernels: written for clarity; the definition of correct.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "core/quant.h"
#include "kernels/dispatch.h"
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
        const float scale = rms_norm_scale(ss, n, eps);
        for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * scale * weight[i];
    }
}

void rope_cos_sin(float pos, int n_rot, float base, const float* freq_factors, float* cs) {
    // theta_i = pos * base^(-2i/n_rot) / ff_i, with the power built by repeated
    // multiplication in float, as the reference engine does (it matters in the last ulp).
    const float theta_scale = std::pow(base, -2.0f / float(n_rot));
    const int half = n_rot / 2;
    float theta = pos;
    for (int i = 0; i < half; ++i, theta *= theta_scale) {
        const float t = freq_factors ? theta / freq_factors[i] : theta;
        cs[i] = std::cos(t);
        cs[half + i] = std::sin(t);
    }
}

void rope(float* x, int n_heads, int head_dim, int n_rot, bool neox, const float* cs) {
    const int half = n_rot / 2;
    for (int h = 0; h < n_heads; ++h) {
        float* xh = x + h * head_dim;
        for (int i = 0; i < half; ++i) {
            const float c = cs[i], s = cs[half + i];
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

void quantize_q8_0(const float* x, int64_t n, BlockQ8_0* out) {
    for (int64_t b = 0; b < n / kQK; ++b) {
        const float* xb = x + b * kQK;
        float amax = 0;
        for (int e = 0; e < kQK; ++e) amax = std::max(amax, std::fabs(xb[e]));
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        out[b].d = f32_to_fp16(d);
        for (int e = 0; e < kQK; ++e) out[b].qs[e] = int8_t(std::nearbyint(xb[e] * id));
    }
}

void store_kv_row(DType type, const float* x, int64_t n, uint8_t* dst) {
    if (type == DType::Q8_0) {
        quantize_q8_0(x, n, reinterpret_cast<BlockQ8_0*>(dst));
        return;
    }
    auto* h = reinterpret_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = f32_to_fp16(x[i]);
}

namespace {

// Element d of one head's row of an F16 or Q8_0 cache.
float kv_elem(DType type, const uint8_t* row, int d) {
    if (type == DType::Q8_0) {
        const auto& b = reinterpret_cast<const BlockQ8_0*>(row)[d / kQK];
        return fp16_to_f32(b.d) * float(b.qs[d % kQK]);
    }
    return fp16_to_f32(reinterpret_cast<const uint16_t*>(row)[d]);
}

}  // namespace

void attention_scores(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells,
                      int32_t j0, int32_t j1, int head_dim, float scale, float* sc, size_t ld,
                      float* row_max) {
    // The reference engine multiplies half keys by the query rounded to half, and Q8_0 keys by
    // the query quantized to Q8_0 (exact integer block sums times d_k * d_q).
    float qh[1024];
    BlockQ8_0 qb[1024 / kQK];
    for (int r = 0; r < rows.n_rows; ++r) {
        const float* q = rows.q[r];
        if (kv.type == DType::Q8_0)
            quantize_q8_0(q, head_dim, qb);
        else
            for (int d = 0; d < head_dim; ++d) qh[d] = fp16_to_f32(f32_to_fp16(q[d]));
        float mx = -INFINITY;
        for (int32_t j = j0; j < std::min(j1, rows.n_vis[r]); ++j) {
            const uint8_t* kr = kv.k + size_t(cells[j]) * kv.row_bytes;
            double s = 0;
            if (kv.type == DType::Q8_0) {
                const auto* kb = reinterpret_cast<const BlockQ8_0*>(kr);
                for (int b = 0; b < head_dim / kQK; ++b) {
                    int isum = 0;
                    for (int e = 0; e < kQK; ++e) isum += int(kb[b].qs[e]) * int(qb[b].qs[e]);
                    s += double(fp16_to_f32(kb[b].d)) * double(fp16_to_f32(qb[b].d)) * double(isum);
                }
            } else {
                const auto* kh = reinterpret_cast<const uint16_t*>(kr);
                for (int d = 0; d < head_dim; ++d) s += double(qh[d]) * fp16_to_f32(kh[d]);
            }
            float& out = sc[size_t(r) * ld + size_t(j)];
            out = float(s) * scale;
            mx = std::max(mx, out);
        }
        row_max[r] = mx;
    }
}

double attention_exp(float* e, int32_t n, float mx) {
    double sum = 0;
    for (int32_t j = 0; j < n; ++j) {
        e[j] = std::exp(e[j] - mx);
        sum += e[j];
    }
    return sum;
}

void attention_values(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells,
                      int32_t j0, int32_t j1, int head_dim, float* sc, size_t ld, const float* inv,
                      float* part) {
    for (int r = 0; r < rows.n_rows; ++r) {
        float* out = part + size_t(r) * size_t(head_dim);
        std::fill(out, out + head_dim, 0.0f);
        for (int32_t j = j0; j < std::min(j1, rows.n_vis[r]); ++j) {
            float& p = sc[size_t(r) * ld + size_t(j)];
            p = fp16_to_f32(f32_to_fp16(p * inv[r]));
            const uint8_t* vr = kv.v + size_t(cells[j]) * kv.row_bytes;
            for (int d = 0; d < head_dim; ++d) out[d] += p * kv_elem(kv.type, vr, d);
        }
    }
}

void attention(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells, int head_dim,
               float scale, float* scratch) {
    attention_in_steps({attention_scores, attention_exp, attention_values}, rows, kv, cells,
                       head_dim, scale, scratch);
}

}  // namespace ref
}  // namespace ponder::kernels
