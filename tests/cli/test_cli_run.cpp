// `ponder run` and the embedding example against the llama.cpp goldens.
#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <sys/wait.h>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "common/paths.h"
#include "model/golden.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

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

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

TEST(CliRun, GreedyJsonMatchesTheGoldenForStories) {
    const auto g = test::load_golden("stories260K");
    for (const auto& c : g.cases) {
        const auto [out, rc] =
            run_cmd(test::cli_path() + " run -m " + test::model_path(g.model_file) + " -p " +
                    quote(c.prompt) + " -n 32 --temp 0 --json --top-logits 8 2>/dev/null");
        ASSERT_EQ(rc, 0) << out;
        const auto j = nlohmann::json::parse(out);
        EXPECT_EQ(j["prompt_ids"].get<std::vector<int32_t>>(), c.prompt_ids);
        EXPECT_EQ(j["ids"].get<std::vector<int32_t>>(), c.greedy_ids) << c.prompt;
        ASSERT_EQ(j["first_step_top"].size(), c.top8.size());
        for (size_t i = 0; i < c.top8.size(); ++i) {
            EXPECT_EQ(j["first_step_top"][i][0].get<int32_t>(), c.top8[i].first);
            EXPECT_NEAR(j["first_step_top"][i][1].get<float>(), c.top8[i].second, 0.01);
        }
    }
}

TEST(CliRun, StreamsTheGoldenTextAndReportsSpeed) {
    std::ifstream in(test::golden_path("models/stories260K.json"));
    const auto j = nlohmann::json::parse(in);
    const auto& c = j["cases"][0];
    const std::string prompt = c["prompt"];
    const auto [out, rc] =
        run_cmd(test::cli_path() + " run -m " + test::model_path("stories260K.gguf") + " -p " +
                quote(prompt) + " -n 32 --temp 0 2>&1");
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find(prompt + c["greedy_text"].get<std::string>()), std::string::npos) << out;
    EXPECT_NE(out.find("tokens/s"), std::string::npos);
}

TEST(CliRun, StopStringEndsTheCompletionBeforeIt) {
    const auto [out, rc] =
        run_cmd(test::cli_path() + " run -m " + test::model_path("stories260K.gguf") +
                " -p 'Once upon a time' -n 64 --temp 0 --json --stop Lily"
                " 2>/dev/null");
    ASSERT_EQ(rc, 0);
    const auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["finish_reason"], "stop");
    const std::string text = j["text"];
    EXPECT_EQ(text.find("Lily"), std::string::npos);
    EXPECT_FALSE(text.empty());
}

TEST(CliRun, BadInputsFailWithAClearMessage) {
    auto [out, rc] = run_cmd(test::cli_path() + " run -m /nonexistent.gguf -p hi 2>&1");
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("/nonexistent.gguf"), std::string::npos);
    std::tie(out, rc) = run_cmd(test::cli_path() + " run -m " +
                                test::model_path("stories260K.gguf") + " -p hi -c 2 2>&1");
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("context"), std::string::npos) << out;
    std::tie(out, rc) = run_cmd(test::cli_path() + " run -m " +
                                test::model_path("stories260K.gguf") + " -p hi --temp -1 2>&1");
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("temperature"), std::string::npos) << out;
}

TEST(CliRun, KvTypeOption) {
    // A Q8_0 cache on a model with 64-element heads runs; the prompt's ids do not depend on it.
    const std::string llama = test::model_path("tiny-llama-F16.gguf");
    auto [out, rc] = run_cmd(test::cli_path() + " run -m " + llama +
                             " -p 'Hello world' -n 4 --temp 0 --json --kv-type q8_0 2>/dev/null");
    ASSERT_EQ(rc, 0) << out;
    EXPECT_EQ(nlohmann::json::parse(out)["ids"].size(), 4u) << out;
    // Unknown types and heads Q8_0 cannot store fail with a message naming the problem.
    std::tie(out, rc) =
        run_cmd(test::cli_path() + " run -m " + llama + " -p hi --kv-type q4_0 2>&1");
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("f16 or q8_0"), std::string::npos) << out;
    std::tie(out, rc) =
        run_cmd(test::cli_path() + " run -m " + test::model_path("stories260K.gguf") +
                " -p hi --kv-type q8_0 2>&1");
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("head_dim 8"), std::string::npos) << out;
}

TEST(Example, CProgramStreamsTheGoldenText) {
    std::ifstream in(test::golden_path("models/stories260K.json"));
    const auto j = nlohmann::json::parse(in);
    const auto& c = j["cases"][0];
    const std::string prompt = c["prompt"];
    const auto [out, rc] =
        run_cmd(test::binary_dir() + "/example_simple " + test::model_path("stories260K.gguf") +
                " " + quote(prompt) + " 32 2>&1");
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find(prompt + c["greedy_text"].get<std::string>()), std::string::npos) << out;
}

// --max-thinking N: after N thinking tokens the close delimiter is forced, so the ids from
// index N on start with its tokens and the JSON counts N plus those as reasoning tokens.
TEST(CliRun, MaxThinkingForcesTheCloseDelimiter) {
    const std::string model = test::model_path("tiny-qwen3-F16.gguf");
    const std::string prompt =
        "<|im_start|>user\nWhy is the sky blue?<|im_end|>\n<|im_start|>assistant\n<think>\n";
    const auto [out, rc] = run_cmd(test::cli_path() + " run -m " + model + " -p " + quote(prompt) +
                                   " -n 24 --temp 0 --max-thinking 5 --json 2>/dev/null");
    ASSERT_EQ(rc, 0) << out;
    const auto j = nlohmann::json::parse(out);
    auto m = Model::load(model);
    auto tok = Tokenizer::from_gguf(m->file());
    const std::vector<int32_t> close = tok->encode("</think>", false, true);
    ASSERT_FALSE(close.empty());
    const auto ids = j["ids"].get<std::vector<int32_t>>();
    ASSERT_GE(ids.size(), 5 + close.size());
    EXPECT_EQ(std::vector<int32_t>(ids.begin() + 5, ids.begin() + 5 + long(close.size())), close);
    EXPECT_EQ(j["thinking"]["reasoning_tokens"].get<size_t>(), 5 + close.size());
    EXPECT_EQ(j["thinking"]["reasoning_tokens"].get<size_t>() +
                  j["thinking"]["content_tokens"].get<size_t>(),
              ids.size());
}

TEST(CliRun, InconsistentThinkingBudgetsFailBeforeLoading) {
    const auto [out, rc] = run_cmd(test::cli_path() + " run -m /nonexistent.gguf -p hi" +
                                   " --min-thinking 9 --max-thinking 3 2>&1");
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("9"), std::string::npos) << out;
    EXPECT_EQ(out.find("nonexistent"), std::string::npos) << out;
}

}  // namespace
}  // namespace ponder
