// `ponder bench`: prompt-processing and generation speed of a model, set against the machine's
// measured memory read bandwidth (generation on a CPU is bounded by reading every weight once
// per token).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/profile.h"
#include "core/thread_pool.h"

namespace ponder {

struct BenchParams {
    int32_t n_prompt = 512;  // pp: tokens decoded as one batch after the context (0: skip)
    int32_t n_gen = 128;     // tg: single-token decodes (0: skip)
    int32_t reps = 5;        // timed repetitions of each, after one untimed warm-up
    int32_t n_threads = 0;   // 0: all hardware threads
    int32_t ctx_depth = 0;   // tokens in the cache (an untimed prompt) before pp and tg
    int64_t bandwidth_bytes = int64_t(1) << 30;  // buffer read by the bandwidth test (0: skip)
    int32_t bandwidth_runs = 5;  // passes after the runs (plus one after each tg run); best counts
    uint64_t seed = 1234;        // for the random token ids
    DType kv_type = DType::F16;  // KV cache storage (F16 or Q8_0)
    bool profile = false;  // time the forward pass's stages (core/profile.h) in the timed runs
};

// Median and range of the repetitions (tokens per second).
struct Spread {
    double median = 0, min = 0, max = 0;
};
// The statistics of `samples` (all zero when empty).
Spread summarize(std::vector<double> samples);

struct BenchResult {
    std::string model_path, arch, model_name;
    int64_t n_params = 0;       // elements of every weight matrix (token_embd included once)
    uint64_t weight_bytes = 0;  // Model::weight_bytes(): read per generated token
    uint64_t file_bytes = 0;
    int32_t n_threads = 0;
    BenchParams params;
    double load_s = 0;  // Model::load (mapping, validation, binding)
    Spread pp, tg;      // tokens/s
    std::vector<double> pp_samples, tg_samples;
    // VmHWM before the bandwidth buffer is allocated (after the pp runs and the tg warm-up,
    // which touched everything tg uses).
    uint64_t peak_rss_bytes = 0;
    // Multi-threaded read bandwidth, 1e9 bytes/s: the best and the worst pass. A pass follows
    // each tg run (on a shared machine the bandwidth a process gets moves within seconds), then
    // params.bandwidth_runs more.
    double bandwidth_gbps = 0, bandwidth_min_gbps = 0;
    int32_t bandwidth_passes = 0;
    // Bytes read per generated token: weights plus the KV cache at the mean tg context
    // (ctx_depth + n_gen / 2 tokens, every layer's K and V rows).
    uint64_t kv_bytes_per_token = 0;
    uint64_t bytes_per_token = 0;
    double tg_bound_tokens_per_s = 0;  // bandwidth / bytes_per_token
    double tg_bandwidth_pct = 0;       // tg median as a percentage of that bound
    // The CPU's last-level cache (cpu_features().llc_bytes; 0: unknown). Where it holds a good
    // part of the bytes read per token, generation can beat the memory bound.
    uint64_t llc_bytes = 0;
    // With params.profile: seconds per token in each forward stage over the timed runs, and
    // the time per token of those runs in all (the rest: sampling, scheduling, the bench loop).
    std::array<double, profile::kStages> pp_stage_s{}, tg_stage_s{};
    double pp_token_s = 0, tg_token_s = 0;
};

// Called with a short description of each phase ("warm-up", "pp 2/5", ...), for progress.
using BenchProgress = std::function<void(std::string_view)>;

// Loads the model at `path` and measures it as described on BenchParams. Throws Error for a
// model that cannot be loaded or parameters out of range (negative counts, reps < 1, a
// context deeper than the model's training context).
BenchResult run_bench(const std::string& path, const BenchParams& params,
                      const BenchProgress& progress = {});

// A buffer of `bytes` (at least 1 MiB; Error otherwise), touched by the threads of `pool` that
// read it; pass() sums it with every thread, each streaming its own contiguous part, and
// returns the read bandwidth in bytes/s.
class BandwidthProbe {
  public:
    BandwidthProbe(ThreadPool& pool, int64_t bytes);
    double pass();

  private:
    ThreadPool& pool_;
    size_t n_words_;
    std::unique_ptr<uint64_t[]> buf_;
    std::vector<uint64_t> sums_;  // per thread, kept so the reads cannot be optimized away
};

// Best-of-`runs` BandwidthProbe passes (bytes/s).
double measure_read_bandwidth(ThreadPool& pool, int64_t bytes, int runs);

// Peak resident set size of this process (VmHWM from /proc/self/status; getrusage's
// ru_maxrss where that is unavailable), in bytes.
uint64_t peak_rss_bytes();

}  // namespace ponder
