// ponder bench -m MODEL: prompt-processing and generation speed, with the bandwidth bound.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "kernels/dispatch.h"
#include "runtime/bench.h"
#include "runtime/context.h"

namespace ponder::cli {
namespace {

struct BenchOptions {
    std::string model;
    BenchParams p;
    int64_t bandwidth_mib = 1024;
    bool json = false;
    std::string kv_type = "f16";
};

nlohmann::json spread_json(const Spread& s) {
    return {{"median", s.median}, {"min", s.min}, {"max", s.max}};
}

void print_json(const BenchResult& r) {
    nlohmann::json j;
    j["model"] = r.model_path;
    j["model_name"] = r.model_name;
    j["arch"] = r.arch;
    j["n_params"] = r.n_params;
    j["file_bytes"] = r.file_bytes;
    j["weight_bytes"] = r.weight_bytes;
    j["n_threads"] = r.n_threads;
    j["kernels"] = kernels::active_kernels_name();
    j["n_prompt"] = r.params.n_prompt;
    j["n_gen"] = r.params.n_gen;
    j["ctx_depth"] = r.params.ctx_depth;
    j["kv_type"] = dtype_name(r.params.kv_type);
    j["reps"] = r.params.reps;
    j["load_s"] = r.load_s;
    j["pp_tokens_per_s"] = r.pp.median;
    j["tg_tokens_per_s"] = r.tg.median;
    j["pp"] = spread_json(r.pp);
    j["tg"] = spread_json(r.tg);
    j["pp_samples"] = r.pp_samples;
    j["tg_samples"] = r.tg_samples;
    j["peak_rss_bytes"] = r.peak_rss_bytes;
    j["bandwidth_gbps"] = r.bandwidth_gbps;
    j["bandwidth_min_gbps"] = r.bandwidth_min_gbps;
    j["bandwidth_passes"] = r.bandwidth_passes;
    j["kv_bytes_per_token"] = r.kv_bytes_per_token;
    j["bytes_per_token"] = r.bytes_per_token;
    j["tg_bound_tokens_per_s"] = r.tg_bound_tokens_per_s;
    j["tg_bandwidth_pct"] = r.tg_bandwidth_pct;
    j["llc_bytes"] = r.llc_bytes;
    if (r.params.profile) {
        // Seconds per token by forward stage; "other" is the rest of the timed runs.
        auto prof = [](const std::array<double, profile::kStages>& st, double token_s) {
            nlohmann::json o;
            double sum = 0;
            for (size_t i = 0; i < st.size(); ++i) {
                o[std::string(profile::stage_name(profile::Stage(i)))] = st[i];
                sum += st[i];
            }
            o["other"] = std::max(0.0, token_s - sum);
            o["total"] = token_s;
            return o;
        };
        if (!r.pp_samples.empty()) j["pp_profile_s_per_token"] = prof(r.pp_stage_s, r.pp_token_s);
        if (!r.tg_samples.empty()) j["tg_profile_s_per_token"] = prof(r.tg_stage_s, r.tg_token_s);
    }
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

void print_table(const BenchResult& r) {
    const double gib = double(1 << 30);
    std::printf("model      %s (%s, %s)\n", r.model_path.c_str(), r.arch.c_str(),
                r.model_name.c_str());
    std::printf("weights    %.2f GiB read per token, %.3f B params; file %.2f GiB\n",
                double(r.weight_bytes) / gib, double(r.n_params) / 1e9, double(r.file_bytes) / gib);
    std::printf("threads    %d   kernels %s   KV %s   load %.3f s   peak RSS %.2f GiB\n",
                r.n_threads, kernels::active_kernels_name().c_str(),
                std::string(dtype_name(r.params.kv_type)).c_str(), r.load_s,
                double(r.peak_rss_bytes) / gib);
    std::printf("\n%-22s %10s %10s %10s\n", "test", "t/s", "min", "max");
    if (!r.pp_samples.empty()) {
        std::string name = "pp" + std::to_string(r.params.n_prompt);
        if (r.params.ctx_depth > 0) name += " @ d" + std::to_string(r.params.ctx_depth);
        std::printf("%-22s %10.2f %10.2f %10.2f\n", name.c_str(), r.pp.median, r.pp.min, r.pp.max);
    }
    if (!r.tg_samples.empty()) {
        std::string name = "tg" + std::to_string(r.params.n_gen);
        if (r.params.ctx_depth > 0) name += " @ d" + std::to_string(r.params.ctx_depth);
        std::printf("%-22s %10.2f %10.2f %10.2f\n", name.c_str(), r.tg.median, r.tg.min, r.tg.max);
    }
    if (r.bandwidth_gbps > 0) {
        // The best pass sets the bound; a wide range means the machine's bandwidth moved
        // during the runs (other processes), and the percentage below is only indicative.
        std::printf(
            "\nmemory read bandwidth  %.1f GB/s (%d threads; best of %d passes%s, worst %.1f)\n",
            r.bandwidth_gbps, r.n_threads, r.bandwidth_passes,
            r.tg_samples.empty() ? "" : " between and after the tg runs", r.bandwidth_min_gbps);
        std::printf("bytes per token        %.1f MB (weights %.1f + KV %.1f)\n",
                    double(r.bytes_per_token) / 1e6, double(r.weight_bytes) / 1e6,
                    double(r.kv_bytes_per_token) / 1e6);
        std::printf("tg bound               %.1f t/s; tg reaches %.1f%% of it\n",
                    r.tg_bound_tokens_per_s, r.tg_bandwidth_pct);
        // The bandwidth test reads a buffer larger than the cache; a model that largely fits
        // in it is read partly from the cache, faster than from memory.
        if (r.llc_bytes > 0 && r.bytes_per_token > 0 &&
            double(r.llc_bytes) >= 0.25 * double(r.bytes_per_token))
            std::printf(
                "note                   the last-level cache (%.0f MiB) is %.0f%% of the bytes per "
                "token: tg can exceed the memory bound\n",
                double(r.llc_bytes) / double(1 << 20),
                100.0 * double(r.llc_bytes) / double(r.bytes_per_token));
    }
}

// The stage table of --profile: time per token and share of each test's timed runs.
void print_profile(const BenchResult& r) {
    const bool pp = !r.pp_samples.empty() && r.pp_token_s > 0;
    const bool tg = !r.tg_samples.empty() && r.tg_token_s > 0;
    if (!pp && !tg) return;
    std::printf("\n%-16s", "profile");
    if (pp)
        std::printf(" %12s %7s", ("pp" + std::to_string(r.params.n_prompt) + " ms/t").c_str(), "%");
    if (tg)
        std::printf(" %12s %7s", ("tg" + std::to_string(r.params.n_gen) + " ms/t").c_str(), "%");
    std::printf("\n");
    auto cell = [](double s, double total) {
        std::printf(" %12.4f %6.1f%%", s * 1e3, 100.0 * s / total);
    };
    double pp_sum = 0, tg_sum = 0;
    for (size_t i = 0; i < profile::kStages; ++i) {
        std::printf("%-16s", std::string(profile::stage_name(profile::Stage(i))).c_str());
        if (pp) cell(r.pp_stage_s[i], r.pp_token_s);
        if (tg) cell(r.tg_stage_s[i], r.tg_token_s);
        std::printf("\n");
        pp_sum += r.pp_stage_s[i];
        tg_sum += r.tg_stage_s[i];
    }
    std::printf("%-16s", "other");
    if (pp) cell(std::max(0.0, r.pp_token_s - pp_sum), r.pp_token_s);
    if (tg) cell(std::max(0.0, r.tg_token_s - tg_sum), r.tg_token_s);
    std::printf("\n");
}

void add_bench(CLI::App& app) {
    auto o = std::make_shared<BenchOptions>();
    auto* cmd = app.add_subcommand(
        "bench", "Measure prompt processing and generation speed against the bandwidth bound");
    cmd->add_option("-m,--model", o->model, "GGUF model")->required();
    cmd->add_option("-p,--n-prompt", o->p.n_prompt, "Prompt tokens per pp run (0: skip pp)")
        ->capture_default_str()
        ->check(CLI::Range(0, 1 << 20));
    cmd->add_option("-n,--n-gen", o->p.n_gen, "Generated tokens per tg run (0: skip tg)")
        ->capture_default_str()
        ->check(CLI::Range(0, 1 << 20));
    cmd->add_option("-r,--repetitions", o->p.reps, "Timed repetitions after one warm-up")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    cmd->add_option("-t,--threads", o->p.n_threads, "Threads (default: all)");
    cmd->add_option("-d,--ctx-depth", o->p.ctx_depth,
                    "Tokens of context (untimed) before pp and tg")
        ->capture_default_str()
        ->check(CLI::Range(0, 1 << 20));
    cmd->add_option("--bandwidth-mib", o->bandwidth_mib,
                    "Buffer for the memory bandwidth test (0: skip it)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
    cmd->add_option("--kv-type", o->kv_type, "KV cache type: f16 or q8_0")->capture_default_str();
    cmd->add_flag("--json", o->json, "Print one JSON object");
    cmd->add_flag("--profile", o->p.profile,
                  "Time each stage of the forward pass (ms per token) in the timed runs");
    cmd->callback([o] {
        o->p.bandwidth_bytes = o->bandwidth_mib << 20;
        o->p.kv_type = parse_kv_type(o->kv_type);
        const BenchResult r = run_bench(o->model, o->p, [](std::string_view phase) {
            std::fprintf(stderr, "bench: %.*s\n", int(phase.size()), phase.data());
        });
        if (o->json)
            print_json(r);
        else {
            print_table(r);
            if (r.params.profile) print_profile(r);
        }
    });
}

const Registrar reg_bench("bench", 60, add_bench);

}  // namespace
}  // namespace ponder::cli
