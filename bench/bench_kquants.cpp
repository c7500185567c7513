// K-quant matmul speed: every ISA level this CPU runs, interleaved in one run so that their
// ratios are measured under the same machine load.
//
//   bench_kquants [--types Q4_K,Q5_K,Q6_K] [--tokens 1,512] [--threads 1,2] [--reps 5]
//                 [--shapes ffn_down,...] [--isa scalar,avx2,avx512] [--cpu-time]
//
// Shapes (n_cols -> n_rows): ffn_down 4864 -> 896 (Qwen2.5-0.5B), ffn_up 1536 -> 8960 and
// output 1536 -> 151669 (Qwen2.5-1.5B; Qwen2.5-0.5B's 896-wide matrices cannot be K-quants:
// 896 is not a multiple of 256). Prints, per configuration, the median time of a matmul call
// (activation quantization included) over the repetitions, its spread (min..max), the weight
// bytes read per second and the multiply-adds per second.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/quant.h"
#include "core/thread_pool.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/repack.h"

using namespace ponder;
using namespace ponder::kernels;

namespace {

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(item);
    return out;
}

struct Shape {
    std::string name;
    int64_t n_cols, n_rows;
};

bool g_cpu_time = false;

// Wall time, or with --cpu-time the calling thread's CPU time: on a shared machine where other
// processes take turns on the cores, the thread's own CPU time is far steadier (meaningful
// with --threads 1 only: workers' time is not counted).
double now() {
    if (g_cpu_time) {
        timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> types = {"Q4_K", "Q5_K", "Q6_K"};
    std::vector<int64_t> tokens = {1, 512};
    std::vector<int> threads = {1, 2};
    std::vector<std::string> shape_names = {"ffn_down", "ffn_up", "output"};
    std::vector<Isa> isas = supported_isas();
    int reps = 5;
    for (int i = 1; i < argc; i += 2) {
        const std::string k = argv[i];
        if (k == "--cpu-time") {
            g_cpu_time = true;
            --i;
            continue;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "option %s needs a value\n", k.c_str());
            return 2;
        }
        const std::string v = argv[i + 1];
        if (k == "--types") {
            types = split(v);
        } else if (k == "--tokens") {
            tokens.clear();
            for (auto& s : split(v)) tokens.push_back(std::stoll(s));
        } else if (k == "--threads") {
            threads.clear();
            for (auto& s : split(v)) threads.push_back(std::stoi(s));
        } else if (k == "--reps") {
            reps = std::stoi(v);
        } else if (k == "--shapes") {
            shape_names = split(v);
        } else if (k == "--isa") {
            isas.clear();
            for (auto& s : split(v))
                isas.push_back(s == "scalar" ? Isa::Scalar
                               : s == "avx2" ? Isa::Avx2
                               : s == "neon" ? Isa::Neon
                                             : Isa::Avx512);
        } else {
            std::fprintf(stderr, "unknown option %s\n", k.c_str());
            return 2;
        }
    }
    const Shape all_shapes[] = {
        {"ffn_down", 4864, 896}, {"ffn_up", 1536, 8960}, {"output", 1536, 151669}};
    std::printf("%-5s %-9s %5s %3s %-10s %10s %21s %9s %9s\n", "type", "shape", "T", "thr", "isa",
                "median_ms", "(min..max)", "GB/s", "GMAC/s");
    std::mt19937 rng(7);
    for (const auto& tn : types) {
        const auto parsed = dtype_from_name(tn);
        if (!parsed) {
            std::fprintf(stderr, "unknown type %s\n", tn.c_str());
            return 2;
        }
        const DType t = *parsed;
        for (const auto& sn : shape_names) {
            const Shape* sh = nullptr;
            for (const auto& s : all_shapes)
                if (s.name == sn) sh = &s;
            if (!sh) {
                std::fprintf(stderr, "unknown shape %s\n", sn.c_str());
                return 2;
            }
            // Weights: one random row quantized, then copied with small changes to every row
            // (quantizing 151,669 rows would take minutes; the bytes' values do not matter).
            const size_t rb = row_size(t, sh->n_cols);
            std::vector<uint8_t> w(rb * size_t(sh->n_rows));
            {
                std::normal_distribution<float> nd(0.f, 0.05f);
                std::vector<float> row(size_t(sh->n_cols));
                std::vector<uint8_t> q(rb);
                for (int k = 0; k < 8; ++k) {
                    for (auto& v : row) v = nd(rng);
                    quantize_row(t, row.data(), q.data(), sh->n_cols);
                    for (int64_t r = k; r < sh->n_rows; r += 8)
                        std::memcpy(w.data() + size_t(r) * rb, q.data(), rb);
                }
            }
            Matrix m{t, sh->n_cols, sh->n_rows, w.data(), rb};
            // Q4_K and Q6_K also in the x16 layouts models repack them into at load, at each
            // level that has kernels for them ("avx2-x16", "avx512-x16").
            std::vector<uint8_t> wx;
            Matrix mx = m;
            struct Variant {
                Isa isa;
                bool x16;
            };
            std::vector<Variant> vars;
            for (Isa isa : isas) vars.push_back({isa, false});
            if ((t == DType::Q4_K || t == DType::Q6_K) && sh->n_rows % 16 == 0) {
                for (Isa isa : isas)
                    if (kernel_table(isa).gemm_q4_kx16.gemm) vars.push_back({isa, true});
            }
            if (vars.size() > isas.size()) {
                wx.resize(w.size());
                (t == DType::Q4_K ? repack_q4_kx16 : repack_q6_kx16)(w.data(), rb, sh->n_rows,
                                                                     sh->n_cols, wx.data());
                mx.data = wx.data();
                mx.layout = t == DType::Q4_K ? Layout::Q4_Kx16 : Layout::Q6_Kx16;
            }
            const size_t n_var = vars.size();
            for (int64_t nt : tokens) {
                std::normal_distribution<float> nd(0.f, 1.f);
                std::vector<float> x(size_t(nt * sh->n_cols)), y(size_t(nt * sh->n_rows));
                for (auto& v : x) v = nd(rng);
                for (int th : threads) {
                    ThreadPool pool(th);
                    // Repetitions interleave the ISA levels: rep k of each level runs back to
                    // back, so load changes hit all of them alike.
                    std::vector<std::vector<double>> times(n_var);
                    for (int rep = 0; rep < reps + 1; ++rep)
                        for (size_t li = 0; li < n_var; ++li) {
                            const bool x16 = vars[li].x16;
                            const Isa isa = vars[li].isa;
                            // Scalar at large shapes is slow: one timed run is enough.
                            if (isa == Isa::Scalar && rep > 1 &&
                                double(nt) * double(sh->n_cols) * double(sh->n_rows) > 2e9)
                                continue;
                            set_active_isa(isa);
                            const double t0 = now();
                            matmul(x16 ? mx : m, x.data(), nt, y.data(), pool);
                            const double dt = now() - t0;
                            if (rep > 0) times[li].push_back(dt);  // rep 0 warms up
                        }
                    for (size_t li = 0; li < n_var; ++li) {
                        auto v = times[li];
                        std::sort(v.begin(), v.end());
                        const double med = v[v.size() / 2];
                        const double bytes = double(w.size());
                        const double macs = double(nt) * double(sh->n_cols) * double(sh->n_rows);
                        char range[64];
                        std::snprintf(range, sizeof range, "(%.3f..%.3f)", v.front() * 1e3,
                                      v.back() * 1e3);
                        const std::string name =
                            std::string(isa_name(vars[li].isa)) + (vars[li].x16 ? "-x16" : "");
                        std::printf("%-5s %-9s %5lld %3d %-10s %10.3f %21s %9.2f %9.2f\n",
                                    tn.c_str(), sh->name.c_str(), (long long)nt, th, name.c_str(),
                                    med * 1e3, range, bytes / med * 1e-9, macs / med * 1e-9);
                        std::fflush(stdout);
                    }
                }
            }
        }
    }
    return 0;
}
