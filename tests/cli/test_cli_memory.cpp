// Weights stay memory-mapped: the peak RSS of `ponder run` on a model with real Qwen2.5-0.5B
// shapes stays within file size + KV cache + 64 MiB (issue 4's rule). A copy of the weights, a
// second logits-sized buffer per token or a leak in the decode loop would break it.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "common/paths.h"
#include "gguf/gguf.h"
#include "hub/temp_dir.h"
#include "model/synth.h"

namespace ponder {
namespace {

constexpr int64_t kMiB = 1 << 20;

// Runs a command to completion (its stdout discarded); returns the exit status.
int run_quiet(const std::string& cmd) {
    FILE* p = popen((cmd + " >/dev/null 2>&1").c_str(), "r");
    if (!p) return -1;
    std::array<char, 256> buf;
    while (fread(buf.data(), 1, buf.size(), p) > 0) {
    }
    return WEXITSTATUS(pclose(p));
}

// The largest resident set of any child process waited for so far, in bytes.
int64_t children_peak_rss() {
    rusage ru{};
    getrusage(RUSAGE_CHILDREN, &ru);
    return int64_t(ru.ru_maxrss) * 1024;
}

TEST(CliMemory, RunStaysWithinFilePlusKvPlus64MiB) {
    test::TempDir dir;
    SynthOptions o;
    o.like = "qwen2.5-0.5b";  // the real vocabulary size: a 136 M-parameter embedding
    o.type = "Q4_0";
    o.n_layers = 6;
    o.n_threads = 2;
    o.vocab_path = test::model_path("tiny-qwen2-F16.gguf");
    const std::string path = dir / "qwen2.5-0.5b-6l-Q4_0.gguf";
    synth_model_file(o, path);
    const int64_t file_bytes = int64_t(std::filesystem::file_size(path));

    auto f = GgufFile::open(path);
    const int64_t n_layer = f->get_int("qwen2.block_count");
    const int64_t n_head = f->get_int("qwen2.attention.head_count");
    const int64_t n_head_kv = f->get_int("qwen2.attention.head_count_kv");
    const int64_t head_dim = f->get_int("qwen2.embedding_length") / n_head;
    const int64_t n_ctx = 2048;
    const int64_t kv_bytes = 2 * n_layer * n_ctx * n_head_kv * head_dim * 2;  // K and V, F16

    ASSERT_EQ(run_quiet(test::cli_path() + " run -m " + path +
                        " -p 'Once upon a time' -n 16 -c 2048 -t 2 --temp 0"),
              0);
    const int64_t rss = children_peak_rss();
    const int64_t limit = file_bytes + kv_bytes + 64 * kMiB;
    std::printf("peak RSS %.1f MiB; file %.1f MiB + KV %.1f MiB + 64 MiB = %.1f MiB\n",
                double(rss) / kMiB, double(file_bytes) / kMiB, double(kv_bytes) / kMiB,
                double(limit) / kMiB);
    EXPECT_LE(rss, limit);
    // The weights were really read (all of them are touched by one decode step).
    EXPECT_GE(rss, file_bytes / 2);
}

}  // namespace
}  // namespace ponder
