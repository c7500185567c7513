#include "runtime/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/error.h"
#include "model/model.h"
#include "runtime/context.h"

namespace ponder {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Deterministic token ids in [0, n_vocab) (xorshift64*).
class TokenStream {
  public:
    TokenStream(uint64_t seed, int32_t n_vocab) : s_(seed | 1), n_(uint64_t(n_vocab)) {}
    int32_t next() {
        s_ ^= s_ >> 12;
        s_ ^= s_ << 25;
        s_ ^= s_ >> 27;
        return int32_t((s_ * 0x2545f4914f6cdd1dull >> 16) % n_);
    }

  private:
    uint64_t s_, n_;
};

// Decodes n tokens at positions [p0, p0 + n) of sequence 0, in batches of at most n_batch
// (the context splits larger ones); only the last token asks for logits.
void decode_tokens(Context& ctx, TokenStream& ts, int32_t p0, int32_t n) {
    Batch b;
    for (int32_t i = 0; i < n; ++i) b.add(ts.next(), p0 + i, 0, i == n - 1);
    ctx.decode(b);
}

// The untimed context the timed runs follow: cells [0, len) of sequence 0. A deep context is
// decoded once and kept; each run drops only what the run before it added.
class Prefix {
  public:
    Prefix(Context& ctx, TokenStream& ts) : ctx_(ctx), ts_(ts) {}
    // Leaves exactly `len` cells of context (decoding them when the cache holds another one).
    void keep(int32_t len) {
        if (len == len_) {
            ctx_.kv().seq_rm(0, len, -1);
            return;
        }
        ctx_.kv().clear();
        if (len > 0) decode_tokens(ctx_, ts_, 0, len);
        len_ = len;
    }

  private:
    Context& ctx_;
    TokenStream& ts_;
    int32_t len_ = 0;
};

// Times one pp run: n_prompt tokens after `depth` tokens of context. Returns tokens/s.
double run_pp(Context& ctx, TokenStream& ts, Prefix& prefix, int32_t depth, int32_t n_prompt) {
    prefix.keep(depth);
    const auto t0 = Clock::now();
    decode_tokens(ctx, ts, depth, n_prompt);
    return n_prompt / seconds_since(t0);
}

// Times one tg run: n_gen single-token decodes after `prompt` tokens of context (at least one,
// so that the first timed decode has a predecessor like a real generation step). Returns
// tokens/s.
double run_tg(Context& ctx, TokenStream& ts, Prefix& prefix, int32_t prompt, int32_t n_gen) {
    prefix.keep(prompt);
    const auto t0 = Clock::now();
    for (int32_t i = 0; i < n_gen; ++i) decode_tokens(ctx, ts, prompt + i, 1);
    return n_gen / seconds_since(t0);
}

// Sum of the 64-bit words of [p, p + n_words), with independent accumulators so the loop is
// limited by loads, not by an add chain.
uint64_t sum_words(const uint64_t* p, size_t n_words) {
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    size_t i = 0;
    for (; i + 8 <= n_words; i += 8) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
        a4 += p[i + 4];
        a5 += p[i + 5];
        a6 += p[i + 6];
        a7 += p[i + 7];
    }
    for (; i < n_words; ++i) a0 += p[i];
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

uint64_t status_field_kib(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    const size_t len = std::strlen(field);
    while (std::getline(in, line))
        if (line.compare(0, len, field) == 0) return std::stoull(line.substr(len)) * 1024;
    return 0;
}

// Stage timing over the timed runs of one test (pp or tg), when asked for.
class ProfileWindow {
  public:
    explicit ProfileWindow(bool on) : on_(on) {
        if (!on_) return;
        profile::reset();
        profile::set_enabled(true);
    }
    ~ProfileWindow() {
        if (on_) profile::set_enabled(false);
    }
    ProfileWindow(const ProfileWindow&) = delete;
    ProfileWindow& operator=(const ProfileWindow&) = delete;
    // Per-token stage times and the runs' time per token (samples are tokens/s of
    // `tokens`-token runs).
    void finish(const std::vector<double>& samples, int32_t tokens,
                std::array<double, profile::kStages>& stage_s, double& token_s) {
        if (!on_ || samples.empty() || tokens <= 0) return;
        profile::set_enabled(false);
        const double n = double(samples.size()) * double(tokens);
        const auto t = profile::totals();
        for (size_t i = 0; i < t.size(); ++i) stage_s[i] = t[i] / n;
        double total = 0;
        for (double tps : samples) total += tps > 0 ? double(tokens) / tps : 0;
        token_s = total / n;
    }

  private:
    bool on_;
};

}  // namespace

Spread summarize(std::vector<double> v) {
    Spread s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    s.min = v.front();
    s.max = v.back();
    return s;
}

uint64_t peak_rss_bytes() {
    const uint64_t hwm = status_field_kib("VmHWM:");
    if (hwm > 0) return hwm;
    rusage ru{};
    if (getrusage(RUSAGE_SELF, &ru) == 0) return uint64_t(ru.ru_maxrss) * 1024;  // KiB on Linux
    return 0;
}

BandwidthProbe::BandwidthProbe(ThreadPool& pool, int64_t bytes)
    : pool_(pool), n_words_(0), sums_(size_t(pool.size()), 0) {
    if (bytes < int64_t(1) << 20) fail("bench: bandwidth buffer must be at least 1 MiB");
    n_words_ = size_t(bytes) / sizeof(uint64_t);
    buf_.reset(new uint64_t[n_words_]);
    // Touch every page from the thread that will read it (first-touch NUMA placement).
    pool_.run([&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(int64_t(n_words_), ith, nth, b, e);
        for (int64_t i = b; i < e; ++i) buf_[size_t(i)] = uint64_t(i) * 0x9e3779b97f4a7c15ull;
    });
}

double BandwidthProbe::pass() {
    const auto t0 = Clock::now();
    pool_.run([&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(int64_t(n_words_), ith, nth, b, e);
        sums_[size_t(ith)] += sum_words(buf_.get() + b, size_t(e - b));
    });
    const double s = seconds_since(t0);
    uint64_t total = 0;
    for (uint64_t v : sums_) total += v;
    volatile uint64_t sink = total;
    (void)sink;
    return double(n_words_ * sizeof(uint64_t)) / s;
}

double measure_read_bandwidth(ThreadPool& pool, int64_t bytes, int runs) {
    BandwidthProbe probe(pool, bytes);
    double best = 0;
    for (int r = 0; r < std::max(runs, 1); ++r) best = std::max(best, probe.pass());
    return best;
}

BenchResult run_bench(const std::string& path, const BenchParams& p,
                      const BenchProgress& progress) {
    if (p.n_prompt < 0 || p.n_gen < 0 || p.ctx_depth < 0)
        fail("bench: -p, -n and --ctx-depth must not be negative");
    if (p.reps < 1) fail("bench: -r must be at least 1, not ", p.reps);
    if (p.bandwidth_bytes < 0) fail("bench: the bandwidth buffer size must not be negative");
    auto say = [&](const std::string& s) {
        if (progress) progress(s);
    };
    BenchResult r;
    r.model_path = path;
    r.params = p;

    const auto t0 = Clock::now();
    auto model = Model::load(path);
    r.load_s = seconds_since(t0);
    const HParams& hp = model->hparams();
    r.arch = hp.arch;
    r.model_name = std::string(model->file().get_string_or("general.name", ""));
    r.file_bytes = model->file().file_size();
    r.weight_bytes = model->weight_bytes();
    auto elems = [](const kernels::Matrix& m) { return int64_t(m.n_cols) * int64_t(m.n_rows); };
    const ModelWeights& w = model->weights();
    r.n_params = elems(w.token_embd);
    if (model->file().find_tensor("output.weight")) r.n_params += elems(w.output);
    for (const auto& L : w.layers)
        r.n_params += elems(L.wq) + elems(L.wk) + elems(L.wv) + elems(L.wo) + elems(L.w_gate) +
                      elems(L.w_up) + elems(L.w_down);

    const int32_t need = std::max(p.ctx_depth + p.n_prompt, std::max(p.ctx_depth, 1) + p.n_gen);
    if (need > hp.n_ctx_train)
        fail("bench: ", need, " tokens of context exceed the model's training context (",
             hp.n_ctx_train, ")");
    Context ctx(*model,
                {.n_ctx = std::max(need, 16), .n_threads = p.n_threads, .kv_type = p.kv_type});
    r.n_threads = ctx.pool().size();
    TokenStream ts(p.seed, hp.n_vocab);
    Prefix prefix(ctx, ts);
    const std::string at_depth =
        p.ctx_depth > 0 ? " (after " + std::to_string(p.ctx_depth) + " tokens)" : "";

    if (p.n_prompt > 0) {
        if (p.ctx_depth > 0) {
            say("context (" + std::to_string(p.ctx_depth) + " tokens)");
            prefix.keep(p.ctx_depth);
        }
        say("pp warm-up" + at_depth);
        run_pp(ctx, ts, prefix, p.ctx_depth, p.n_prompt);
        ProfileWindow prof(p.profile);
        for (int32_t i = 0; i < p.reps; ++i) {
            say("pp " + std::to_string(i + 1) + "/" + std::to_string(p.reps) + at_depth);
            r.pp_samples.push_back(run_pp(ctx, ts, prefix, p.ctx_depth, p.n_prompt));
        }
        prof.finish(r.pp_samples, p.n_prompt, r.pp_stage_s, r.pp_token_s);
    }
    // The bandwidth passes, best and worst.
    std::unique_ptr<BandwidthProbe> probe;
    auto bandwidth_pass = [&] {
        const double bw = probe->pass() / 1e9;
        r.bandwidth_gbps = std::max(r.bandwidth_gbps, bw);
        r.bandwidth_min_gbps = r.bandwidth_passes == 0 ? bw : std::min(r.bandwidth_min_gbps, bw);
        ++r.bandwidth_passes;
    };
    auto start_probe = [&] {
        r.peak_rss_bytes = peak_rss_bytes();
        if (p.bandwidth_bytes > 0)
            probe = std::make_unique<BandwidthProbe>(ctx.pool(), p.bandwidth_bytes);
    };
    if (p.n_gen > 0) {
        const int32_t prompt = std::max(p.ctx_depth, 1);
        say("context (" + std::to_string(prompt) + (prompt == 1 ? " token)" : " tokens)"));
        prefix.keep(prompt);
        say("tg warm-up" + at_depth);
        run_tg(ctx, ts, prefix, prompt, std::min(p.n_gen, 8));
        start_probe();
        ProfileWindow prof(p.profile);  // stage laps come from the forward pass only
        for (int32_t i = 0; i < p.reps; ++i) {
            say("tg " + std::to_string(i + 1) + "/" + std::to_string(p.reps) + at_depth);
            r.tg_samples.push_back(run_tg(ctx, ts, prefix, prompt, p.n_gen));
            if (probe) {
                say("memory bandwidth");
                bandwidth_pass();
            }
        }
        prof.finish(r.tg_samples, p.n_gen, r.tg_stage_s, r.tg_token_s);
    } else {
        start_probe();
    }
    r.pp = summarize(r.pp_samples);
    r.tg = summarize(r.tg_samples);

    const double mean_ctx = std::max(p.ctx_depth, 1) + p.n_gen / 2.0;
    const double kv_row = double(row_size(ctx.kv().type(), hp.kv_dim()));  // one K or V row
    r.kv_bytes_per_token = uint64_t(mean_ctx * double(hp.n_layer) * 2.0 * kv_row);
    r.bytes_per_token = r.weight_bytes + r.kv_bytes_per_token;
    r.llc_bytes = cpu_features().llc_bytes;
    if (probe) {
        say("memory bandwidth");
        for (int i = 0; i < std::max(p.bandwidth_runs, 1); ++i) bandwidth_pass();
        r.tg_bound_tokens_per_s = r.bandwidth_gbps * 1e9 / double(r.bytes_per_token);
        if (r.tg_bound_tokens_per_s > 0)
            r.tg_bandwidth_pct = 100.0 * r.tg.median / r.tg_bound_tokens_per_s;
    }
    return r;
}

}  // namespace ponder
