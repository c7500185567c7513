// `ponder bench` and `ponder synth` end to end: fields present and sane (no speed assertions).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "common/paths.h"
#include "gguf/gguf.h"
#include "hub/temp_dir.h"
#include "kernels/dispatch.h"

namespace ponder {
namespace {

// Runs a command, returns its stdout and exit status.
std::pair<std::string, int> run_cmd(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return {"", -1};
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    const int st = pclose(p);
    return {out, WEXITSTATUS(st)};
}

// Checks a {median, min, max} spread of positive finite rates.
void expect_spread(const nlohmann::json& s, double median) {
    ASSERT_TRUE(s.is_object());
    const double lo = s["min"], mid = s["median"], hi = s["max"];
    EXPECT_TRUE(std::isfinite(lo) && std::isfinite(hi));
    EXPECT_GT(lo, 0);
    EXPECT_LE(lo, mid);
    EXPECT_LE(mid, hi);
    EXPECT_DOUBLE_EQ(mid, median);
}

nlohmann::json bench_json(const std::string& model, const std::string& extra) {
    const auto [out, rc] = run_cmd(test::cli_path() + " bench -m " + model +
                                   " -p 16 -n 8 -r 2 -t 2 --json " + extra + " 2>/dev/null");
    EXPECT_EQ(rc, 0) << out;
    return nlohmann::json::parse(out);
}

// PONDER_ISA=scalar shows in the report as the kernels that ran.
TEST(CliBench, ReportsTheKernelsThatRan) {
    const std::string model = test::model_path("tiny-llama-Q4_0.gguf");
    const auto [out, rc] = run_cmd("PONDER_ISA=scalar " + test::cli_path() + " bench -m " + model +
                                   " -p 16 -n 4 -r 1 -t 2 --bandwidth-mib 0 2>/dev/null");
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("kernels scalar"), std::string::npos) << out;
}

TEST(CliBench, JsonHasEveryFieldAndTheyAreSane) {
    const auto j = bench_json(test::model_path("tiny-llama-Q4_0.gguf"), "--bandwidth-mib 64");
    for (const char* k :
         {"pp_tokens_per_s", "tg_tokens_per_s", "load_s", "peak_rss_bytes", "bandwidth_gbps",
          "tg_bandwidth_pct", "pp", "tg", "pp_samples", "tg_samples", "weight_bytes",
          "bytes_per_token", "kv_bytes_per_token", "tg_bound_tokens_per_s", "n_threads"})
        EXPECT_TRUE(j.contains(k)) << k;
    const double pp = j["pp_tokens_per_s"], tg = j["tg_tokens_per_s"];
    EXPECT_GT(pp, 0);
    EXPECT_GT(tg, 0);
    expect_spread(j["pp"], pp);
    expect_spread(j["tg"], tg);
    EXPECT_EQ(j["pp_samples"].size(), 2u);
    EXPECT_EQ(j["tg_samples"].size(), 2u);
    EXPECT_EQ(j["n_threads"].get<int>(), 2);
    // The kernels that ran: the active level, "+amx" where its prompts use AMX.
    const kernels::Isa isa = kernels::active_isa();
    EXPECT_EQ(j["kernels"],
              std::string(kernels::isa_name(isa)) +
                  (isa == kernels::Isa::Avx512 && kernels::amx_enabled() ? "+amx" : ""));
    const double load_s = j["load_s"];
    EXPECT_GE(load_s, 0);
    EXPECT_LT(load_s, 60);
    EXPECT_GT(j["peak_rss_bytes"].get<uint64_t>(), uint64_t(1) << 20);
    const double bw = j["bandwidth_gbps"];
    EXPECT_GT(bw, 0.1);  // any machine reads faster than 100 MB/s
    EXPECT_LT(bw, 1e4);  // and slower than 10 TB/s
    // One pass after each of the 2 tg runs, then 5 more (BenchParams::bandwidth_runs).
    EXPECT_EQ(j["bandwidth_passes"].get<int>(), 2 + 5);
    const double bw_min = j["bandwidth_min_gbps"];
    EXPECT_GT(bw_min, 0.1);
    EXPECT_LE(bw_min, bw);
    // Weight bytes match the file's matrices: at most the file, more than half of it.
    auto f = GgufFile::open(test::model_path("tiny-llama-Q4_0.gguf"));
    const uint64_t wb = j["weight_bytes"];
    EXPECT_LE(wb, f->file_size());
    EXPECT_GT(wb, f->file_size() / 2);
    EXPECT_EQ(j["bytes_per_token"].get<uint64_t>(), wb + j["kv_bytes_per_token"].get<uint64_t>());
    const double bound = j["tg_bound_tokens_per_s"], pct = j["tg_bandwidth_pct"];
    EXPECT_NEAR(bound, bw * 1e9 / double(j["bytes_per_token"].get<uint64_t>()), bound * 1e-6);
    EXPECT_NEAR(pct, 100.0 * tg / bound, pct * 1e-6);
}

TEST(CliBench, ContextDepthAddsKvBytesAndTableOutput) {
    const std::string m = test::model_path("stories260K.gguf");
    const auto shallow = bench_json(m, "--bandwidth-mib 0");
    const auto deep = bench_json(m, "--bandwidth-mib 0 --ctx-depth 64");
    EXPECT_EQ(deep["ctx_depth"].get<int>(), 64);
    EXPECT_GT(deep["kv_bytes_per_token"].get<uint64_t>(),
              shallow["kv_bytes_per_token"].get<uint64_t>());
    EXPECT_GT(deep["tg_tokens_per_s"].get<double>(), 0);
    EXPECT_EQ(shallow["bandwidth_gbps"].get<double>(), 0);  // skipped
    EXPECT_EQ(shallow["bandwidth_passes"].get<int>(), 0);

    const auto [out, rc] = run_cmd(test::cli_path() + " bench -m " + m +
                                   " -p 8 -n 4 -r 1 -t 1 --bandwidth-mib 16 2>/dev/null");
    EXPECT_EQ(rc, 0);
    for (const char* s : {"pp8", "tg4", "memory read bandwidth", "best of 6 passes", "peak RSS"})
        EXPECT_NE(out.find(s), std::string::npos) << s << "\n" << out;
    // With a context, pp runs after it too (its prompt at positions 64..), and both are named so.
    EXPECT_GT(deep["pp_tokens_per_s"].get<double>(), 0);
    const auto [out_d, rc_d] = run_cmd(test::cli_path() + " bench -m " + m +
                                       " -p 8 -n 4 -r 1 -t 1 -d 64 --bandwidth-mib 0 2>&1");
    EXPECT_EQ(rc_d, 0) << out_d;
    for (const char* s : {"pp8 @ d64", "tg4 @ d64", "context (64 tokens)", "pp 1/1 (after 64"})
        EXPECT_NE(out_d.find(s), std::string::npos) << s << "\n" << out_d;
}

// --profile: every stage of the forward pass timed in the timed runs of pp and tg, the stages
// inside the runs' time per token, and the matrices taking time (a stage never reached would
// stay at zero); the table names the stages.
TEST(CliBench, ProfileTimesEveryStage) {
    const std::string m = test::model_path("tiny-llama-Q4_0.gguf");
    const auto j = bench_json(m, "--bandwidth-mib 0 --profile");
    for (const char* test : {"pp_profile_s_per_token", "tg_profile_s_per_token"}) {
        SCOPED_TRACE(test);
        ASSERT_TRUE(j.contains(test));
        const auto& p = j[test];
        double sum = 0;
        for (const char* k : {"embed", "rms_norm", "qkv", "rope+kv_store", "attention", "attn_out",
                              "gate+up", "swiglu", "down", "residual", "logits"}) {
            ASSERT_TRUE(p.contains(k)) << k;
            EXPECT_GE(p[k].get<double>(), 0.0) << k;
            sum += p[k].get<double>();
        }
        const double total = p["total"];
        EXPECT_GT(p["gate+up"].get<double>(), 0.0);
        EXPECT_GT(p["logits"].get<double>(), 0.0);
        EXPECT_LE(sum, total * 1.001);
        EXPECT_NEAR(p["other"].get<double>(), total - sum, total * 1e-6);
    }
    EXPECT_FALSE(bench_json(m, "--bandwidth-mib 0").contains("pp_profile_s_per_token"));
    const auto [out, rc] = run_cmd(test::cli_path() + " bench -m " + m +
                                   " -p 8 -n 4 -r 1 -t 1 --bandwidth-mib 0 --profile 2>/dev/null");
    EXPECT_EQ(rc, 0);
    for (const char* s : {"profile", "pp8 ms/t", "tg4 ms/t", "gate+up", "attention", "other"})
        EXPECT_NE(out.find(s), std::string::npos) << s << "\n" << out;
}

TEST(CliBench, BadArgumentsFailCleanly) {
    const std::string base = test::cli_path() + " bench -m ";
    EXPECT_NE(run_cmd(base + test::model_path("stories260K.gguf") + " -r 0 2>&1").second, 0);
    const auto [out, rc] = run_cmd(base + "/nonexistent/model.gguf 2>&1");
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("ponder: error:"), std::string::npos) << out;
    // More context than the model was trained for (stories260K: 2048 positions).
    const auto [out2, rc2] =
        run_cmd(base + test::model_path("stories260K.gguf") + " -p 8 -n 8 -d 100000 2>&1");
    EXPECT_EQ(rc2, 1);
    EXPECT_NE(out2.find("training context"), std::string::npos) << out2;
    // The context and the prompt together: 1900 + 200 > 2048, though each alone fits.
    const auto [out3, rc3] =
        run_cmd(base + test::model_path("stories260K.gguf") + " -p 200 -n 8 -d 1900 2>&1");
    EXPECT_EQ(rc3, 1);
    EXPECT_NE(out3.find("2100 tokens of context exceed"), std::string::npos) << out3;
}

TEST(CliSynth, WritesAFileThatRunsAndBenches) {
    test::TempDir dir;
    const std::string out = dir / "q.gguf";
    const auto [log, rc] =
        run_cmd(test::cli_path() + " synth --like qwen2.5-0.5b --type Q8_0 --layers 1 -t 2 -o " +
                out + " 2>&1");
    ASSERT_EQ(rc, 0) << log;
    EXPECT_NE(log.find("token_embd.weight"), std::string::npos) << log;  // progress
    EXPECT_NE(log.find("vocabulary from"), std::string::npos) << log;    // the real Qwen2 one
    const auto [text, rc2] = run_cmd(test::cli_path() + " run -m " + out +
                                     " -p 'Hello' -n 4 --temp 0 -t 2 --json " + "2>/dev/null");
    ASSERT_EQ(rc2, 0) << text;
    EXPECT_EQ(nlohmann::json::parse(text)["ids"].size(), 4u);
    const auto j = bench_json(out, "--bandwidth-mib 0");
    EXPECT_GT(j["tg_tokens_per_s"].get<double>(), 0);

    const auto [err, rc3] = run_cmd(test::cli_path() + " synth --like gpt-5 --type Q4_0 -o " +
                                    (dir / "x.gguf") + " 2>&1");
    EXPECT_EQ(rc3, 1);
    EXPECT_NE(err.find("qwen2.5-0.5b"), std::string::npos) << err;  // lists the known names
}

}  // namespace
}  // namespace ponder
