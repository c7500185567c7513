// The kernel entry points: each calls the active level's table (kernels/dispatch.h).
#include "kernels/kernels.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <vector>

#include "core/error.h"
#include "core/quant.h"
#include "kernels/dispatch.h"
#include "kernels/ref/kernels_ref.h"
#include "kernels/repack.h"

namespace ponder::kernels {

namespace {

// Rows per group of a repacked layout.
int64_t group_rows(Layout l) {
    return l == Layout::Q4_0x8 ? 8 : 16;
}

// Rows [r0, r0 + group_rows) of a repacked matrix (r0 a multiple of it) back to row-major.
void unpack_group(const Matrix& w, int64_t r0, uint8_t* dst) {
    switch (w.layout) {
        case Layout::Q4_0x8:
            return unpack_q4_0x8_group(w.data, w.row_bytes, r0, w.n_cols, dst);
        case Layout::Q8_0x16:
            return unpack_q8_0x16_group(w.data, w.row_bytes, r0, w.n_cols, dst);
        case Layout::Q5_0x16:
            return unpack_q5_0x16_group(w.data, w.row_bytes, r0, w.n_cols, dst);
        case Layout::Q4_Kx16:
            return unpack_q4_kx16_group(w.data, w.row_bytes, r0, w.n_cols, dst);
        case Layout::Q6_Kx16:
            return unpack_q6_kx16_group(w.data, w.row_bytes, r0, w.n_cols, dst);
        case Layout::RowMajor:
            break;
    }
    fail("unpack_group: the matrix is not repacked");
}

// The reference on a row-major copy of a repacked matrix: for a level without the repacked
// kernel (the level was lowered after loading). Slow, but only tests switch levels that way.
void ref_matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
    if (w.layout == Layout::RowMajor) {
        ref::matmul(w, x, n_tokens, y, pool);
        return;
    }
    std::vector<uint8_t> rows(w.row_bytes * size_t(w.n_rows));
    const int64_t g = group_rows(w.layout);
    for (int64_t r = 0; r < w.n_rows; r += g)
        unpack_group(w, r, rows.data() + size_t(r) * w.row_bytes);
    Matrix rm = w;
    rm.data = rows.data();
    rm.layout = Layout::RowMajor;
    ref::matmul(rm, x, n_tokens, y, pool);
}

constexpr int kMaxShared = 4;  // matrices per matmul_shared_input call

}  // namespace

void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
    const Matrix* ws[1] = {&w};
    float* ys[1] = {y};
    matmul_shared_input(1, ws, x, n_tokens, ys, pool);
}

void matmul_shared_input(int n, const Matrix* const* ws, const float* x, int64_t n_tokens,
                         float* const* ys, ThreadPool& pool) {
    if (n < 1 || n > kMaxShared)
        fail("matmul_shared_input: ", n, " matrices (1 to ", kMaxShared, ")");
    const int64_t nc = ws[0]->n_cols;
    const GemmKernel* k[kMaxShared];
    int act[kMaxShared];  // matrix i's activation format: an index into fmt / buf below
    // One activation buffer per distinct activation format, one set per calling thread, grown
    // as needed: no allocation per call in steady state.
    thread_local std::vector<uint8_t> bufs[kMaxShared];
    const GemmKernel* fmt[kMaxShared];
    uint8_t* buf[kMaxShared];  // bufs[f].data(): workers must not touch the thread_local
    size_t act_row[kMaxShared];
    int n_fmt = 0;
    for (int i = 0; i < n; ++i) {
        if (ws[i]->n_cols != nc) fail("matmul_shared_input: matrices of different widths");
        k[i] = &active_kernels().gemm_for(ws[i]->type, ws[i]->layout);
        if (!k[i]->gemm) {
            ref_matmul(*ws[i], x, n_tokens, ys[i], pool);
            continue;
        }
        int f = 0;
        while (f < n_fmt && fmt[f]->act_type != k[i]->act_type) ++f;
        if (f == n_fmt) {
            fmt[f] = k[i];
            act_row[f] = row_size(k[i]->act_type, nc);
            if (bufs[f].size() < act_row[f] * size_t(n_tokens))
                bufs[f].resize(act_row[f] * size_t(n_tokens));
            buf[f] = bufs[f].data();
            ++n_fmt;
        }
        act[i] = f;
    }
    if (n_fmt == 0) return;
    pool.run(
        [&](int ith, int nth) {
            int64_t t0, t1;
            ThreadPool::split(n_tokens, ith, nth, t0, t1);
            for (int f = 0; f < n_fmt; ++f)
                for (int64_t t = t0; t < t1; ++t)
                    fmt[f]->quantize(x + t * nc, nc, buf[f] + size_t(t) * act_row[f]);
        },
        n_tokens * nc * 8 * n_fmt);
    // Rows are split across threads in groups of 16 (over the matrices one after another) so
    // that each thread's kernel runs whole register tiles and no two threads write the same
    // cache line of y when n_tokens = 1.
    int64_t groups[kMaxShared + 1] = {0};
    int64_t work = 0;
    for (int i = 0; i < n; ++i) {
        const int64_t g = k[i]->gemm ? (ws[i]->n_rows + 15) / 16 : 0;
        groups[i + 1] = groups[i] + g;
        work += g * 16 * nc * n_tokens;
    }
    pool.run(
        [&](int ith, int nth) {
            int64_t g0, g1;
            ThreadPool::split(groups[n], ith, nth, g0, g1);
            for (int i = 0; i < n && g0 < g1; ++i) {
                const int64_t a = std::max(g0, groups[i]), b = std::min(g1, groups[i + 1]);
                if (a >= b) continue;
                const Matrix& w = *ws[i];
                const int64_t r0 = (a - groups[i]) * 16;
                const int64_t r1 = std::min(w.n_rows, (b - groups[i]) * 16);
                const int f = act[i];
                k[i]->gemm(w.data, w.row_bytes, buf[f], act_row[f], nc, n_tokens, r0, r1, ys[i],
                           w.n_rows);
            }
        },
        work);
}

void matrix_row(const Matrix& w, int64_t r, float* out) {
    if (r < 0 || r >= w.n_rows) fail("matrix_row: row ", r, " of ", w.n_rows);
    if (w.layout == Layout::RowMajor) {
        dequantize_row(w.type, w.data + size_t(r) * w.row_bytes, out, w.n_cols);
        return;
    }
    // The row's group unpacked (16 rows: a few KiB to tens of KiB per lookup).
    const int64_t g = group_rows(w.layout), r0 = r / g * g;
    thread_local std::vector<uint8_t> rows;
    rows.resize(w.row_bytes * size_t(g));
    unpack_group(w, r0, rows.data());
    dequantize_row(w.type, rows.data() + size_t(r - r0) * w.row_bytes, out, w.n_cols);
}

void rms_norm(const float* x, const float* weight, float* y, int64_t n, int64_t n_rows, float eps) {
    active_kernels().rms_norm(x, weight, y, n, n_rows, eps);
}

void rope_cos_sin(float pos, int n_rot, float base, const float* freq_factors, float* cs) {
    ref::rope_cos_sin(pos, n_rot, base, freq_factors, cs);
}

void rope(float* x, int n_heads, int head_dim, int n_rot, bool neox, const float* cs) {
    active_kernels().rope(x, n_heads, head_dim, n_rot, neox, cs);
}

void store_kv_row(DType type, const float* x, int64_t n, uint8_t* dst) {
    const KernelTable& t = active_kernels();
    // A Q8_0 row is the gemm kernels' Q8_0 activation rounding (bit-identical to the
    // reference's for finite values).
    const GemmKernel& q8 = t.gemm_for(DType::Q8_0);
    const QuantizeFn fn = type == DType::F16                                  ? t.to_f16
                          : type == DType::Q8_0 && q8.act_type == DType::Q8_0 ? q8.quantize
                                                                              : nullptr;
    if (fn)
        fn(x, n, dst);
    else
        ref::store_kv_row(type, x, n, dst);
}

void swiglu(const float* g, const float* u, float* a, int64_t n, ThreadPool& pool) {
    const SwigluFn fn = active_kernels().swiglu;
    // Ranges in whole 64-element units, so each thread's vectors start on the same boundaries
    // as one thread's would.
    constexpr int64_t kUnit = 64;
    pool.run(
        [&](int ith, int nth) {
            int64_t b, e;
            ThreadPool::split((n + kUnit - 1) / kUnit, ith, nth, b, e);
            b = std::min(n, b * kUnit);
            e = std::min(n, e * kUnit);
            if (b < e) fn(g + b, u + b, a + b, e - b);
        },
        n * 8);
}

void check_kv_head_dim(DType type, int head_dim) {
    if (type != DType::F16 && type != DType::Q8_0)
        fail("KV cache type ", dtype_name(type), " is not supported (use f16 or q8_0)");
    if (head_dim <= 0) fail("KV cache: head_dim must be positive, got ", head_dim);
    if (type == DType::Q8_0 && head_dim % kQK != 0)
        fail(
            "a Q8_0 KV cache needs a head size that is a multiple of 32, but this model has "
            "head_dim ",
            head_dim, " (use the f16 KV cache)");
}

void attention_in_steps(const AttentionSteps& steps, const AttentionRows& rows,
                        const KvHeadView& kv, const int32_t* cells, int head_dim, float scale,
                        float* scratch) {
    const int R = rows.n_rows;
    int32_t n = 0;
    for (int r = 0; r < R; ++r) n = std::max(n, rows.n_vis[r]);
    // scratch: scores [R, n] | one span's outputs [R, head_dim].
    float* sc = scratch;
    float* part = sc + size_t(R) * size_t(n);
    float mx[kMaxAttentionRows], inv[kMaxAttentionRows];
    // Scores do not depend on how the cells are cut: one call for all of them.
    steps.scores(rows, kv, cells, 0, n, head_dim, scale, sc, size_t(n), mx);
    for (int r = 0; r < R; ++r) {
        float* e = sc + size_t(r) * size_t(n);
        double sum = 0;  // the span sums in span order, as attention_inv adds them
        for (int32_t j0 = 0; j0 < rows.n_vis[r]; j0 += kAttentionSpan)
            sum += steps.exp(e + j0, std::min(kAttentionSpan, rows.n_vis[r] - j0), mx[r]);
        inv[r] = float(1.0 / sum);
        std::fill(rows.out[r], rows.out[r] + head_dim, 0.0f);
    }
    for (int32_t j0 = 0; j0 < n; j0 += kAttentionSpan) {
        steps.values(rows, kv, cells, j0, std::min(n, j0 + kAttentionSpan), head_dim, sc, size_t(n),
                     inv, part);
        attention_add_span(rows, j0, part, head_dim);
    }
}

void attention(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells, int head_dim,
               float scale, float* scratch) {
    attention_in_steps(active_kernels().attention, rows, kv, cells, head_dim, scale, scratch);
}

void attention_split(const AttentionJob* jobs, size_t n_jobs, int head_dim, float scale,
                     ThreadPool& pool, AttentionSplitBuffers& buf) {
    const AttentionSteps& steps = active_kernels().attention;
    const size_t hd = size_t(head_dim);
    using Item = AttentionSplitBuffers::Item;
    std::vector<AttentionSplitBuffers::Layout>& lay = buf.layouts;
    std::vector<Item>& items = buf.items;
    lay.resize(n_jobs);
    items.clear();
    size_t nf = 0, nd = 0;
    for (size_t i = 0; i < n_jobs; ++i) {
        const AttentionRows& rows = jobs[i].rows;
        const size_t R = size_t(rows.n_rows);
        auto& L = lay[i];
        L.n = 0;
        for (int r = 0; r < rows.n_rows; ++r) L.n = std::max(L.n, rows.n_vis[r]);
        L.n_spans = (L.n + kAttentionSpan - 1) / kAttentionSpan;
        const size_t ns = size_t(L.n_spans);
        L.sc = nf;
        L.mx = L.sc + R * size_t(L.n);
        L.part = L.mx + ns * R;
        nf = L.part + ns * R * hd;
        L.sums = nd;
        nd += R * ns;
        for (int32_t s = 0; s < L.n_spans; ++s) items.push_back({uint32_t(i), s});
    }
    if (buf.f.size() < nf) buf.f.resize(nf);
    if (buf.sums.size() < nd) buf.sums.resize(nd);
    if (buf.done_size < n_jobs) {
        buf.done.reset(new std::atomic<int32_t>[n_jobs]);
        buf.done_size = n_jobs;
    }
    float* F = buf.f.data();
    double* D = buf.sums.data();
    auto span_range = [&](const Item& it, int32_t& j0, int32_t& j1) {
        j0 = it.span * kAttentionSpan;
        j1 = std::min(lay[it.job].n, j0 + kAttentionSpan);
    };
    // Each round gives every thread the same share of the items (a thread keeps its spans, and
    // their data in its caches, from round to round).
    auto round = [&](auto&& body) {
        pool.run([&](int ith, int nth) {
            int64_t k0, k1;
            ThreadPool::split(int64_t(items.size()), ith, nth, k0, k1);
            for (int64_t k = k0; k < k1; ++k) body(items[size_t(k)]);
        });
    };
    round([&](const Item& it) {
        const AttentionJob& job = jobs[it.job];
        const auto& L = lay[it.job];
        int32_t j0, j1;
        span_range(it, j0, j1);
        steps.scores(job.rows, job.kv, job.cells, j0, j1, head_dim, scale, F + L.sc, size_t(L.n),
                     F + L.mx + size_t(it.span) * size_t(job.rows.n_rows));
    });
    // Each row's maximum over its spans, once (few: rows x spans of every job).
    for (size_t i = 0; i < n_jobs; ++i) {
        auto& L = lay[i];
        const size_t R = size_t(jobs[i].rows.n_rows);
        for (size_t r = 0; r < R; ++r) {
            float mx = -INFINITY;
            for (int32_t s = 0; s < L.n_spans; ++s) mx = std::max(mx, F[L.mx + size_t(s) * R + r]);
            L.row_max[r] = mx;
        }
        buf.done[i].store(0, std::memory_order_relaxed);
    }
    round([&](const Item& it) {
        const AttentionRows& rows = jobs[it.job].rows;
        const auto& L = lay[it.job];
        const int32_t j0 = it.span * kAttentionSpan;
        for (int r = 0; r < rows.n_rows; ++r) {
            const int32_t nv = rows.n_vis[r];
            if (j0 >= nv) continue;
            D[L.sums + size_t(r) * size_t(L.n_spans) + size_t(it.span)] =
                steps.exp(F + L.sc + size_t(r) * size_t(L.n) + size_t(j0),
                          std::min(kAttentionSpan, nv - j0), L.row_max[r]);
        }
    });
    round([&](const Item& it) {
        const AttentionJob& job = jobs[it.job];
        const AttentionRows& rows = job.rows;
        const auto& L = lay[it.job];
        const size_t R = size_t(rows.n_rows);
        float inv[kMaxAttentionRows];
        for (size_t r = 0; r < R; ++r) {
            const int ns = (rows.n_vis[r] + kAttentionSpan - 1) / kAttentionSpan;
            inv[r] = attention_inv(D + L.sums + r * size_t(L.n_spans), ns);
        }
        int32_t j0, j1;
        span_range(it, j0, j1);
        steps.values(rows, job.kv, job.cells, j0, j1, head_dim, F + L.sc, size_t(L.n), inv,
                     F + L.part + size_t(it.span) * R * hd);
        // The last span of the job to finish adds the span outputs up, in span order.
        if (buf.done[it.job].fetch_add(1, std::memory_order_acq_rel) + 1 < L.n_spans) return;
        for (size_t r = 0; r < R; ++r) std::fill(rows.out[r], rows.out[r] + hd, 0.0f);
        for (int32_t s = 0; s < L.n_spans; ++s)
            attention_add_span(rows, s * kAttentionSpan, F + L.part + size_t(s) * R * hd, head_dim);
    });
}

void attention_scores(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells,
                      int32_t j0, int32_t j1, int head_dim, float scale, float* sc, size_t ld,
                      float* row_max) {
    active_kernels().attention.scores(rows, kv, cells, j0, j1, head_dim, scale, sc, ld, row_max);
}

double attention_exp(float* e, int32_t n, float mx) {
    return active_kernels().attention.exp(e, n, mx);
}

void attention_values(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells,
                      int32_t j0, int32_t j1, int head_dim, float* sc, size_t ld, const float* inv,
                      float* part) {
    active_kernels().attention.values(rows, kv, cells, j0, j1, head_dim, sc, ld, inv, part);
}

}  // namespace ponder::kernels
