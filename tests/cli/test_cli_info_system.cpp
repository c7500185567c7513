// `ponder info --system` run as a program: what it reports must agree with the library's CPU
// detection and kernel dispatch, PONDER_ISA must show as the active level, and a bad
// PONDER_ISA must fail with a message.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/paths.h"
#include "core/cpu_features.h"
#include "kernels/dispatch.h"

namespace ponder {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct CliRun {
    int code = -1;  // exit status, -1 when killed by a signal
    std::string out, err;
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// Runs the built `ponder` with `args` under `env` (e.g. "PONDER_ISA=scalar", or "" for none;
// PONDER_ISA is removed from the inherited environment first).
CliRun run_cli(const std::string& env, const std::vector<std::string>& args) {
    const std::string err_path =
        test::binary_dir() + "/cli_info_system_stderr_" + std::to_string(getpid()) + ".txt";
    std::string cmd = "env -u PONDER_ISA " + env + " " + quote(test::cli_path());
    for (const auto& a : args) cmd += " " + quote(a);
    cmd += " 2>" + quote(err_path);
    CliRun r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_path);
    r.err.assign(std::istreambuf_iterator<char>(in), {});
    fs::remove(err_path);
    return r;
}

TEST(CliInfoSystem, JsonAgreesWithTheLibrary) {
    const CliRun r = run_cli("", {"info", "--system", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    const json j = json::parse(r.out);
    const CpuFeatures& f = cpu_features();
    EXPECT_EQ(j["cpu"], f.brand);
    EXPECT_EQ(j["vendor"], f.vendor);
    const auto has = [&](const char* name) {
        for (const auto& x : j["features"])
            if (x == name) return true;
        return false;
    };
    EXPECT_EQ(has("avx2"), f.avx2);
    EXPECT_EQ(has("fma"), f.fma);
    EXPECT_EQ(has("avx512f"), f.avx512f);
    EXPECT_EQ(has("avx512vnni"), f.avx512vnni);
    EXPECT_EQ(has("avx512bf16"), f.avx512bf16);
    EXPECT_EQ(has("neon"), f.neon);
    EXPECT_EQ(has("amx-int8"), f.amx_int8);
    EXPECT_EQ(j["amx"], kernels::amx_enabled());
    EXPECT_EQ(j["best_isa"], std::string(kernels::isa_name(kernels::best_isa())));
    EXPECT_EQ(j["active_isa"], j["best_isa"]);
    EXPECT_TRUE(j["ponder_isa_env"].is_null());
    EXPECT_EQ(j["threads"], int(std::max(1u, std::thread::hardware_concurrency())));
    // The last-level cache: what the library read from sysfs, and at least an L1's worth where
    // Linux describes CPU 0's caches (where it does not, 0).
    EXPECT_EQ(j["llc_bytes"].get<uint64_t>(), f.llc_bytes);
    if (fs::exists("/sys/devices/system/cpu/cpu0/cache/index0/size"))
        EXPECT_GE(f.llc_bytes, uint64_t(16) << 10);
    else
        EXPECT_EQ(f.llc_bytes, 0u);
}

TEST(CliInfoSystem, TextNamesTheLevels) {
    const CliRun r = run_cli("", {"info", "--system"});
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string best(kernels::isa_name(kernels::best_isa()));
    EXPECT_NE(r.out.find("best level       " + best + "\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("active level     " + best + "\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("features"), std::string::npos);
    EXPECT_NE(r.out.find("threads"), std::string::npos);
}

TEST(CliInfoSystem, PonderIsaSelectsTheActiveLevel) {
    const CliRun r = run_cli("PONDER_ISA=scalar", {"info", "--system", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["active_isa"], "scalar");
    EXPECT_EQ(j["ponder_isa_env"], "scalar");
    EXPECT_EQ(j["best_isa"], std::string(kernels::isa_name(kernels::best_isa())));
    const CliRun t = run_cli("PONDER_ISA=scalar", {"info", "--system"});
    EXPECT_NE(t.out.find("active level     scalar (PONDER_ISA=scalar)"), std::string::npos)
        << t.out;
}

// PONDER_AMX=0 keeps the AMX kernels off; on a CPU with AMX the text says so.
TEST(CliInfoSystem, PonderAmxZeroTurnsAmxOff) {
    const CliRun r = run_cli("PONDER_AMX=0", {"info", "--system", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["amx"], false);
    const CliRun t = run_cli("PONDER_AMX=0", {"info", "--system"});
    ASSERT_EQ(t.code, 0) << t.err;
    if (cpu_features().amx_int8)
        EXPECT_NE(t.out.find("amx              off (PONDER_AMX=0"), std::string::npos) << t.out;
    else
        EXPECT_EQ(t.out.find("amx "), std::string::npos) << t.out;
}

TEST(CliInfoSystem, UnknownPonderIsaFails) {
    const CliRun r = run_cli("PONDER_ISA=avx9000", {"info", "--system"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("PONDER_ISA=avx9000"), std::string::npos) << r.err;
}

TEST(CliInfoSystem, ModelIsRequiredWithoutSystem) {
    const CliRun r = run_cli("", {"info"});
    EXPECT_NE(r.code, 0);
    EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliInfoSystem, ModelAndSystemPrintsBoth) {
    const std::string model = test::model_path("stories260K.gguf");
    const CliRun r = run_cli("", {"info", model, "--system", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["architecture"], "llama");
    ASSERT_TRUE(j.contains("system"));
    EXPECT_EQ(j["system"]["best_isa"], std::string(kernels::isa_name(kernels::best_isa())));
    const CliRun t = run_cli("", {"info", model, "--system"});
    ASSERT_EQ(t.code, 0) << t.err;
    EXPECT_NE(t.out.find("architecture"), std::string::npos);
    EXPECT_NE(t.out.find("best level"), std::string::npos);
}

}  // namespace
}  // namespace ponder
