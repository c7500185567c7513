// Attention kernel speed (kernels.h `attention`), one thread, every ISA level this CPU runs:
// the decode step of a Qwen2.5-0.5B-shaped layer (one job of 7 query rows sharing a KV head,
// head_dim 64) over n cached cells, F16 and Q8_0 caches. Prints the best of the repetitions
// (the least disturbed by other processes) per call and per cell.
// "warm": one head's cache (fits in L2), called repeatedly. "cold": the model's layout and
// traffic, layers of 2 KV heads, each head's cells contiguous (kv_cache.h; head 0 read), one
// call per layer in turn over enough layers (at least 24) to fill twice the last-level cache,
// so K and V come from memory as in a decode step at that depth; time per call, best of the
// reps of the sweep. "split": the warm job's spans shared out among 1, 2, 4, ... threads (up
// to the CPU's count, at most 8) by attention_split, at the active level. "steps": the warm
// call's three steps (kernels.h: scores, exp, values) timed apart, each the best of the reps.
//
//   bench_attention [n_cells = 4096] [reps = 20]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "core/quant.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/ref/kernels_ref.h"

using namespace ponder;
using namespace ponder::kernels;

// A positive integer argument, or a usage message and exit.
int positive_arg(const char* s, const char* what) {
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 1 || v > (1 << 24)) {
        std::fprintf(stderr,
                     "bench_attention: %s must be a positive integer, not '%s'\n"
                     "usage: bench_attention [n_cells = 4096] [reps = 20]\n",
                     what, s);
        std::exit(2);
    }
    return int(v);
}

int main(int argc, char** argv) {
    const int32_t n = argc > 1 ? positive_arg(argv[1], "n_cells") : 4096;
    const int reps = argc > 2 ? positive_arg(argv[2], "reps") : 20;
    const int hd = 64, rows = 7;
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(hd)), q(static_cast<size_t>(rows * hd)),
        out(static_cast<size_t>(rows * hd));
    for (auto& e : q) e = nd(rng);
    std::vector<int32_t> cells(static_cast<size_t>(n));
    std::iota(cells.begin(), cells.end(), 0);
    std::vector<float> scratch(attention_scratch_floats(rows, n, hd));
    for (DType t : {DType::F16, DType::Q8_0}) {
        const size_t row = row_size(t, hd);
        std::vector<uint8_t> k(row * size_t(n)), v(row * size_t(n));
        for (int32_t c = 0; c < n; ++c) {
            for (auto& e : x) e = nd(rng);
            ref::store_kv_row(t, x.data(), hd, k.data() + size_t(c) * row);
            for (auto& e : x) e = nd(rng);
            ref::store_kv_row(t, x.data(), hd, v.data() + size_t(c) * row);
        }
        AttentionRows job;
        job.n_rows = rows;
        for (int r = 0; r < rows; ++r) {
            job.q[r] = q.data() + r * hd;
            job.out[r] = out.data() + r * hd;
            job.n_vis[r] = n;
        }
        const KvHeadView kv{t, k.data(), v.data(), row};
        // The cold layout: [layer][2 heads][cell], random values (the kernel's speed does not
        // depend on them), head 0 read. At least 24 layers, and as many as fill twice the
        // last-level cache, so that every call reads K and V from memory as in a decode step
        // (whose weights evict the cache between layers).
        const size_t layer_bytes = 2 * row * size_t(n);
        const uint64_t llc = cpu_features().llc_bytes ? cpu_features().llc_bytes : 64u << 20;
        const int kLayers = int(std::max<uint64_t>(24, llc / layer_bytes + 1));
        std::vector<uint8_t> kc(layer_bytes * kLayers), vc(kc.size());
        for (size_t i = 0; i < kc.size(); i += row) {
            std::memcpy(kc.data() + i, k.data() + (i / row % size_t(n)) * row, row);
            std::memcpy(vc.data() + i, v.data() + (i / row % size_t(n)) * row, row);
        }
        for (const Isa lvl : supported_isas()) {
            const AttentionSteps& steps = kernel_table(lvl).attention;
            double best = 1e30;
            for (int rep = 0; rep < (lvl == Isa::Scalar ? std::max(1, reps / 5) : reps); ++rep) {
                const auto t0 = std::chrono::steady_clock::now();
                attention_in_steps(steps, job, kv, cells.data(), hd, 0.125f, scratch.data());
                best = std::min(
                    best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            std::printf(
                "%-5s %-7s rows=%d hd=%d cells=%d warm: %9.1f us per call, %6.1f ns per cell\n",
                std::string(dtype_name(t)).c_str(), std::string(isa_name(lvl)).c_str(), rows, hd, n,
                best * 1e6, best * 1e9 / n);
            if (lvl == Isa::Scalar) continue;  // the scalar reference: too slow to sweep
            {
                std::vector<float> sc(size_t(rows) * size_t(n)), part(size_t(rows * hd));
                float mx[kMaxAttentionRows], inv[kMaxAttentionRows];
                double t_sc = 1e30, t_exp = 1e30, t_val = 1e30;
                for (int rep = 0; rep < reps; ++rep) {
                    const auto t0 = std::chrono::steady_clock::now();
                    steps.scores(job, kv, cells.data(), 0, n, hd, 0.125f, sc.data(), size_t(n), mx);
                    const auto t1 = std::chrono::steady_clock::now();
                    for (int r = 0; r < rows; ++r) {
                        double sum = 0;
                        for (int32_t j0 = 0; j0 < n; j0 += kAttentionSpan)
                            sum += steps.exp(sc.data() + size_t(r) * size_t(n) + size_t(j0),
                                             std::min(kAttentionSpan, n - j0), mx[r]);
                        inv[r] = float(1.0 / sum);
                    }
                    const auto t2 = std::chrono::steady_clock::now();
                    for (int32_t j0 = 0; j0 < n; j0 += kAttentionSpan)
                        steps.values(job, kv, cells.data(), j0, std::min(n, j0 + kAttentionSpan),
                                     hd, sc.data(), size_t(n), inv, part.data());
                    const auto t3 = std::chrono::steady_clock::now();
                    t_sc = std::min(t_sc, std::chrono::duration<double>(t1 - t0).count());
                    t_exp = std::min(t_exp, std::chrono::duration<double>(t2 - t1).count());
                    t_val = std::min(t_val, std::chrono::duration<double>(t3 - t2).count());
                }
                std::printf(
                    "%-5s %-7s rows=%d hd=%d cells=%d steps: scores %.1f us, exp %.1f us, "
                    "values %.1f us\n",
                    std::string(dtype_name(t)).c_str(), std::string(isa_name(lvl)).c_str(), rows,
                    hd, n, t_sc * 1e6, t_exp * 1e6, t_val * 1e6);
            }
            best = 1e30;
            for (int rep = 0; rep < std::max(1, reps / 4); ++rep) {
                const auto t0 = std::chrono::steady_clock::now();
                for (int l = 0; l < kLayers; ++l) {
                    const size_t off = size_t(l) * layer_bytes;
                    const KvHeadView kvl{t, kc.data() + off, vc.data() + off, row};
                    attention_in_steps(steps, job, kvl, cells.data(), hd, 0.125f, scratch.data());
                }
                best = std::min(
                    best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            std::printf(
                "%-5s %-7s rows=%d hd=%d cells=%d cold: %9.1f us per call, %6.1f ns per cell\n",
                std::string(dtype_name(t)).c_str(), std::string(isa_name(lvl)).c_str(), rows, hd, n,
                best * 1e6 / kLayers, best * 1e9 / n / kLayers);
        }
        // The same job with its spans shared out among T threads (attention_split, as a decode
        // step does when it has fewer jobs than threads), active level, warm.
        const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
        double one = 0;
        for (int threads = 1; threads <= int(std::min(hw, 8u)); threads *= 2) {
            ThreadPool pool(threads);
            AttentionSplitBuffers buf;
            const AttentionJob aj{job, kv, cells.data()};
            double best = 1e30;
            for (int rep = 0; rep < reps; ++rep) {
                const auto t0 = std::chrono::steady_clock::now();
                attention_split(&aj, 1, hd, 0.125f, pool, buf);
                best = std::min(
                    best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            if (threads == 1) one = best;
            std::printf(
                "%-5s %-7s rows=%d hd=%d cells=%d split over %d thread%s: %9.1f us per call "
                "(%.2fx one thread)\n",
                std::string(dtype_name(t)).c_str(), std::string(isa_name(active_isa())).c_str(),
                rows, hd, n, threads, threads == 1 ? " " : "s", best * 1e6, one / best);
        }
    }
}
