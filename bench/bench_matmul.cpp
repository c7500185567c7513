// Matmul throughput on Qwen2.5-0.5B shapes, for each weight type, kernel level and thread
// count: median time per call, GB/s of weights read at one token (decode is memory-bound),
// GOP/s (2 ops per multiply-add) at many tokens (prompts are compute-bound).
//
// Usage: bench_matmul [--types Q8_0,Q4_0,...] [--shapes q,kv,up,down,output] [--tokens 1,512]
//                     [--isa scalar,avx2,avx512] [--threads 1,2] [--reps N] [--all] [--cold]
// Defaults: every type, the shapes q / kv / up / down / output, T = 1 and 512, every level
// this CPU runs, 1 and 2 threads, N = 7 (T = 1) or 3 (T > 1) timed calls after one warm-up.
// Q4_0, Q8_0 and Q5_0 are measured twice where the level has a kernel for it: row-major, and
// repacked into the layout models use at load (the "Q4_0x8", "Q8_0x16" and "Q5_0x16" lines).
// Without --all, the very slow combinations are skipped: the scalar level at T > 1 and the
// output matrix (151,936 rows) at T > 1 (a prompt needs its logits for one token only).
// --cold: each call reads the next of enough copies of the matrix to fill twice the last-level
// cache, so every call streams its weights from memory as a model's decode does (without it a
// matrix smaller than the cache is read from the cache after the warm-up).
// Weights are random bytes with sane scales (speed does not depend on the values).
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "core/quant_blocks.h"
#include "core/thread_pool.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/repack.h"

using namespace ponder;
using namespace ponder::kernels;

namespace {

struct Shape {
    const char* name;
    int64_t rows, cols;
};
const Shape kShapes[] = {{"q", 896, 896},
                         {"kv", 128, 896},
                         {"up", 4864, 896},
                         {"down", 896, 4864},
                         {"output", 151936, 896}};
const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                        DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K,
                        DType::Q6_K, DType::Q2_K, DType::Q3_K};

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    size_t p = 0;
    while (p <= s.size()) {
        const size_t q = std::min(s.find(',', p), s.size());
        if (q > p) out.push_back(s.substr(p, q - p));
        p = q + 1;
    }
    return out;
}

bool listed(const std::vector<std::string>& list, const std::string& v) {
    return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

// Byte offsets of the fp16 scale fields in a block of type t (set to sane values).
std::vector<size_t> scale_offsets(DType t) {
    switch (t) {
        case DType::Q4_0:
        case DType::Q5_0:
        case DType::Q8_0:
            return {0};
        case DType::Q4_1:
        case DType::Q5_1:
        case DType::Q4_K:
        case DType::Q5_K:
            return {0, 2};
        case DType::Q2_K:
            return {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
        case DType::Q3_K:
            return {offsetof(BlockQ3_K, d)};
        case DType::Q6_K:
            return {offsetof(BlockQ6_K, d)};
        default:
            return {};
    }
}

std::vector<uint8_t> random_weights(DType t, int64_t rows, int64_t cols) {
    const size_t bytes = row_size(t, cols) * size_t(rows);
    std::vector<uint8_t> w(bytes);
    std::mt19937_64 rng(42);
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
        const uint64_t v = rng();
        std::memcpy(&w[i], &v, 8);
    }
    if (t == DType::F32) {
        auto* f = reinterpret_cast<float*>(w.data());
        for (size_t i = 0; i < bytes / 4; ++i) f[i] = float(int(w[4 * i] & 0xFF) - 128) / 4096.0f;
    } else if (t == DType::F16 || t == DType::BF16) {
        auto* h = reinterpret_cast<uint16_t*>(w.data());
        for (size_t i = 0; i < bytes / 2; ++i) {
            const float f = float(int(h[i] & 0xFF) - 128) / 4096.0f;
            h[i] = t == DType::F16 ? f32_to_fp16(f) : f32_to_bf16(f);
        }
    } else {
        const size_t bs = dtype_traits(t).type_size;
        const uint16_t d = f32_to_fp16(0.01f);
        for (size_t b = 0; b + bs <= bytes; b += bs)
            for (size_t off : scale_offsets(t)) std::memcpy(&w[b + off], &d, 2);
    }
    return w;
}

// CPU time of the whole process (all threads): under load from other processes, the time
// this process actually ran is steadier than the wall clock.
double cpu_s() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> types, shapes, isas;
    std::vector<int64_t> tokens = {1, 512};
    std::vector<int> threads = {1, 2};
    int reps = 0;
    bool all = false, cold = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const std::string v = i + 1 < argc ? argv[i + 1] : "";
        if (a == "--types") {
            types = split(v), ++i;
        } else if (a == "--shapes") {
            shapes = split(v), ++i;
        } else if (a == "--isa") {
            isas = split(v), ++i;
        } else if (a == "--tokens") {
            tokens.clear();
            for (auto& s : split(v)) tokens.push_back(std::atoll(s.c_str()));
            ++i;
        } else if (a == "--threads") {
            threads.clear();
            for (auto& s : split(v)) threads.push_back(std::atoi(s.c_str()));
            ++i;
        } else if (a == "--reps") {
            reps = std::atoi(v.c_str()), ++i;
        } else if (a == "--all") {
            all = true;
        } else if (a == "--cold") {
            cold = true;
        } else {
            std::fprintf(stderr, "bench_matmul: unknown argument %s (see the file header)\n",
                         a.c_str());
            return 1;
        }
    }
    std::printf(
        "best level %s; columns: median ms per call over N calls, GB/s of weights (T=1) "
        "or GOP/s (T>1)\n",
        std::string(isa_name(best_isa())).c_str());
    std::printf("%-6s %-7s %5s %-7s %3s %10s %10s %3s\n", "type", "shape", "T", "isa", "thr", "ms",
                "GB/s|GOP/s", "N");
    for (DType t : kTypes) {
        if (!listed(types, std::string(dtype_name(t)))) continue;
        for (const Shape& s : kShapes) {
            if (!listed(shapes, s.name)) continue;
            const auto wbytes = random_weights(t, s.rows, s.cols);
            const Matrix w{t, s.cols, s.rows, wbytes.data(), row_size(t, s.cols)};
            std::vector<uint8_t> packed;
            Matrix wx8 = w;
            if (t == DType::Q4_0 && s.rows % 8 == 0) {
                packed.resize(w.row_bytes * size_t(s.rows));
                repack_q4_0x8(w.data, w.row_bytes, s.rows, s.cols, packed.data());
                wx8.data = packed.data();
                wx8.layout = Layout::Q4_0x8;
            }
            if (t == DType::Q5_0 && s.rows % 16 == 0) {
                packed.resize(w.row_bytes * size_t(s.rows));
                repack_q5_0x16(w.data, w.row_bytes, s.rows, s.cols, packed.data());
                wx8.data = packed.data();
                wx8.layout = Layout::Q5_0x16;
            }
            if (t == DType::Q8_0 && s.rows % 16 == 0) {
                packed.resize(w.row_bytes * size_t(s.rows));
                repack_q8_0x16(w.data, w.row_bytes, s.rows, s.cols, packed.data());
                wx8.data = packed.data();
                wx8.layout = Layout::Q8_0x16;
            }
            // --cold: copies of the row-major and the repacked matrix, used in turn.
            const uint64_t llc = cpu_features().llc_bytes ? cpu_features().llc_bytes : 64u << 20;
            const size_t copies = cold ? size_t(2 * llc / wbytes.size() + 1) : 1;
            std::vector<std::vector<uint8_t>> wcopies(copies - 1, wbytes), pcopies;
            if (!packed.empty()) pcopies.assign(copies - 1, packed);
            auto copy_of = [&](const Matrix& m, size_t i) {
                Matrix c = m;
                if (i % copies != 0)
                    c.data = (m.data == wbytes.data() ? wcopies : pcopies)[i % copies - 1].data();
                return c;
            };
            for (int64_t T : tokens) {
                if (!all && T > 1 && s.rows > 100000) continue;
                std::vector<float> x(size_t(T * s.cols)), y(size_t(T * s.rows));
                std::mt19937 rng(1);
                std::normal_distribution<float> nd(0, 1);
                for (auto& v : x) v = nd(rng);
                for (const Isa isa : supported_isas()) {
                    if (!listed(isas, std::string(isa_name(isa)))) continue;
                    if (!all && T > 1 && isa == Isa::Scalar) continue;
                    set_active_isa(isa);
                    for (int nth : threads) {
                        ThreadPool pool(nth);
                        auto measure = [&](const Matrix& m, const std::string& label) {
                            size_t call = 0;
                            matmul(copy_of(m, call++), x.data(), T, y.data(), pool);  // warm-up
                            const int n = reps > 0 ? reps : (T == 1 ? 7 : 3);
                            std::vector<double> times, cpu;
                            for (int r = 0; r < n; ++r) {
                                const Matrix mc = copy_of(m, call++);
                                const double t0 = now_s(), c0 = cpu_s();
                                matmul(mc, x.data(), T, y.data(), pool);
                                times.push_back(now_s() - t0);
                                cpu.push_back(cpu_s() - c0);
                            }
                            std::sort(times.begin(), times.end());
                            std::sort(cpu.begin(), cpu.end());
                            const double med = times[times.size() / 2];
                            const double cpu_med = cpu[cpu.size() / 2] / nth;
                            const double rate = T == 1 ? double(wbytes.size()) / med / 1e9
                                                       : 2.0 * double(s.rows) * double(s.cols) *
                                                             double(T) / med / 1e9;
                            std::printf("%-6s %-7s %5lld %-7s %3d %10.3f %10.2f %10.3f %3d\n",
                                        label.c_str(), s.name, (long long)T,
                                        std::string(isa_name(isa)).c_str(), nth, med * 1e3, rate,
                                        cpu_med * 1e3, n);
                            std::fflush(stdout);
                        };
                        measure(w, std::string(dtype_name(t)));
                        // Q4_0 / Q8_0 / Q5_0 also in the layout models repack them into.
                        if (!packed.empty() && kernel_table(isa).gemm_for(t, wx8.layout).gemm)
                            measure(wx8, wx8.layout == Layout::Q4_0x8    ? "Q4_0x8"
                                         : wx8.layout == Layout::Q8_0x16 ? "Q8_0x16"
                                                                         : "Q5_0x16");
                    }
                }
            }
        }
    }
    return 0;
}
