// `ponder tokenize` / `ponder detokenize` against the golden tokenizer files.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../tokenizer/tokenizer_fixtures.h"

namespace ponder::test {
namespace {

struct RunResult {
    int status;
    std::string out;  // stdout and stderr
};

// Runs the built `ponder` with `args` (already shell-quoted).
RunResult run_cli(const std::string& args) {
    const std::string cmd = "'" + cli_path() + "' " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return {-1, ""};
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// (vocabulary, stride): every stride-th corpus case goes through the program; loading the
// 151k-token Qwen2 vocabulary once per run makes every case too slow for a unit test, and
// the library is checked on every case by test_tokenizer_golden.
class CliTokenize : public ::testing::TestWithParam<std::pair<std::string, size_t>> {};

TEST_P(CliTokenize, GoldenIdsAndRoundTrip) {
    const auto [name, stride] = GetParam();
    const std::string model = vocab_path(name);
    const auto golden = golden_cases(golden_path("tokenizer/" + name + ".jsonl"));
    ASSERT_FALSE(golden.empty());
    const std::string tmp =
        (std::filesystem::path(binary_dir()) / ("cli_tokenize_" + name + ".txt")).string();
    for (size_t i = 0; i < golden.size(); i += stride) {
        {
            std::ofstream o(tmp, std::ios::binary);
            o << golden[i].text;
        }
        auto r = run_cli("tokenize -m " + quote(model) + " --json --file " + quote(tmp));
        ASSERT_EQ(r.status, 0) << r.out;
        EXPECT_EQ(nlohmann::json::parse(r.out).get<std::vector<int32_t>>(), golden[i].ids)
            << name << " case " << i;
        r = run_cli("tokenize -m " + quote(model) + " --json --add-special --parse-special -f " +
                    quote(tmp));
        ASSERT_EQ(r.status, 0) << r.out;
        EXPECT_EQ(nlohmann::json::parse(r.out).get<std::vector<int32_t>>(),
                  golden[i].ids_with_specials)
            << name << " case " << i;

        std::string ids;
        for (int32_t id : golden[i].ids) ids += " " + std::to_string(id);
        if (ids.empty()) continue;
        r = run_cli("detokenize -m " + quote(model) + ids);
        ASSERT_EQ(r.status, 0) << r.out;
        EXPECT_EQ(r.out, golden[i].text) << name << " case " << i;
    }
    std::filesystem::remove(tmp);
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, CliTokenize,
                         ::testing::Values(std::pair<std::string, size_t>{"ggml-vocab-qwen2", 3},
                                           std::pair<std::string, size_t>{"ggml-vocab-llama-spm",
                                                                          1}));

TEST(CliTokenizeText, PlainOutputAndTextArgument) {
    const std::string model = vocab_path("ggml-vocab-gpt-2");
    const auto golden = golden_cases(golden_path("tokenizer/ggml-vocab-gpt-2.jsonl"));
    ASSERT_FALSE(golden.empty());
    auto r = run_cli("tokenize -m " + quote(model) + " " + quote(golden[0].text));
    ASSERT_EQ(r.status, 0) << r.out;
    std::string expect;
    for (size_t i = 0; i < golden[0].ids.size(); ++i)
        expect += (i ? " " : "") + std::to_string(golden[0].ids[i]);
    EXPECT_EQ(r.out, expect + "\n");
}

TEST(CliTokenizeText, ShowSpecialAndErrors) {
    const std::string model = vocab_path("ggml-vocab-qwen2");
    const auto golden = golden_cases(golden_path("tokenizer/ggml-vocab-qwen2.jsonl"));
    // The case with chat-format specials: shown with --show-special, hidden without.
    for (const auto& c : golden) {
        if (c.text.find("<|im_start|>") == std::string::npos) continue;
        std::string ids = "'[";
        for (size_t i = 0; i < c.ids_with_specials.size(); ++i)
            ids += (i ? ", " : "") + std::to_string(c.ids_with_specials[i]);
        ids += "]'";
        auto r = run_cli("detokenize -m " + quote(model) + " --show-special " + ids);
        ASSERT_EQ(r.status, 0) << r.out;
        EXPECT_EQ(r.out, c.text);
        r = run_cli("detokenize -m " + quote(model) + " " + ids);
        EXPECT_EQ(r.out.find("<|im_start|>"), std::string::npos);
    }
    auto r = run_cli("detokenize -m " + quote(model) + " 999999999");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("ponder: error:"), std::string::npos) << r.out;
    r = run_cli("detokenize -m " + quote(model) + " 12x");
    EXPECT_EQ(r.status, 1) << r.out;
    r = run_cli("tokenize -m " + quote(model) + " --file /nonexistent/file.txt");
    EXPECT_EQ(r.status, 1) << r.out;
    r = run_cli("tokenize -m /nonexistent/model.gguf hello");
    EXPECT_EQ(r.status, 1) << r.out;
}

}  // namespace
}  // namespace ponder::test
