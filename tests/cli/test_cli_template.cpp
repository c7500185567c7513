// `ponder template`: renders golden cases byte for byte from a .jinja file and from the
// template inside tiny-qwen3-F16.gguf; template errors print the message and exit 1.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/paths.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

struct Result {
    int rc;
    std::string out, err;
};

// Per-process folder: ctest runs the tests of this file in parallel processes.
fs::path tmp_dir() {
    const fs::path dir =
        fs::path(ponder::test::binary_dir()) / "cli_template_tmp" / std::to_string(::getpid());
    fs::create_directories(dir);
    return dir;
}

Result run_cli(const std::string& args) {
    const fs::path dir = tmp_dir();
    const std::string out = (dir / "out.txt").string(), err = (dir / "err.txt").string();
    const std::string cmd = ponder::test::cli_path() + " " + args + " >" + out + " 2>" + err;
    int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(out), read_file(err)};
}

// Writes cases.json[name] to a file for --case.
std::string case_file(const std::string& name) {
    const ojson cases =
        ojson::parse(read_file(ponder::test::golden_path("chat-templates/cases.json")));
    const fs::path p = tmp_dir() / (name + ".json");
    std::ofstream(p) << cases.at(name).dump();
    return p.string();
}

ojson golden(const std::string& tmpl) {
    return ojson::parse(read_file(ponder::test::golden_path("chat-templates/" + tmpl + ".json")));
}

TEST(CliTemplate, RendersGoldenCasesFromFile) {
    for (const std::string tmpl : {"Qwen-Qwen3-0.6B", "Qwen-Qwen2.5-7B-Instruct"}) {
        const ojson g = golden(tmpl);
        for (const auto& [name, expected] : g["renders"].items()) {
            if (!expected.contains("output")) continue;
            SCOPED_TRACE(tmpl + " / " + name);
            Result r = run_cli("template --template " +
                               ponder::test::golden_path("chat-templates/" + tmpl + ".jinja") +
                               " --case " + case_file(name));
            EXPECT_EQ(r.rc, 0) << r.err;
            EXPECT_EQ(r.out, expected["output"].get<std::string>());
        }
    }
}

TEST(CliTemplate, BosEosOptions) {
    const std::string tmpl = "mistralai-Mistral-Nemo-Instruct-2407";
    const ojson g = golden(tmpl);
    const std::string want = g["renders"]["no_generation_prompt"]["output"].get<std::string>();
    Result r = run_cli("template --template " +
                       ponder::test::golden_path("chat-templates/" + tmpl + ".jinja") + " --case " +
                       case_file("no_generation_prompt") + " --bos '[B]' --eos '[E]'");
    ASSERT_EQ(r.rc, 0) << r.err;
    // The golden output used <s> and </s>; with other texts only those change.
    std::string expect = want;
    for (auto [from, to] : {std::pair<std::string, std::string>{"<s>", "[B]"}, {"</s>", "[E]"}}) {
        for (size_t p = expect.find(from); p != std::string::npos;
             p = expect.find(from, p + to.size()))
            expect.replace(p, from.size(), to);
    }
    EXPECT_EQ(r.out, expect);
}

TEST(CliTemplate, TemplateErrorExitsOne) {
    const std::string tmpl = "google-gemma-2-2b-it";
    const ojson g = golden(tmpl);
    Result r = run_cli("template --template " +
                       ponder::test::golden_path("chat-templates/" + tmpl + ".jinja") + " --case " +
                       case_file("system_user"));
    EXPECT_EQ(r.rc, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find(g["renders"]["system_user"]["error"].get<std::string>()),
              std::string::npos)
        << r.err;
}

TEST(CliTemplate, ModelTemplateIsQwen3AndRendersGolden) {
    const std::string model = ponder::test::model_path("tiny-qwen3-F16.gguf");
    auto f = ponder::GgufFile::open(model);
    const std::string embedded(f->get_string("tokenizer.chat_template"));
    std::string golden_src =
        read_file(ponder::test::golden_path("chat-templates/Qwen-Qwen3-0.6B.jinja"));
    // Compare modulo one trailing newline (Jinja drops it anyway).
    auto chomp = [](std::string s) {
        if (!s.empty() && s.back() == '\n') s.pop_back();
        return s;
    };
    ASSERT_EQ(chomp(embedded), chomp(golden_src));

    const ojson g = golden("Qwen-Qwen3-0.6B");
    for (const auto& [name, expected] : g["renders"].items()) {
        SCOPED_TRACE(name);
        Result r = run_cli("template -m " + model + " --case " + case_file(name));
        if (expected.contains("output")) {
            EXPECT_EQ(r.rc, 0) << r.err;
            EXPECT_EQ(r.out, expected["output"].get<std::string>());
        } else {
            EXPECT_EQ(r.rc, 1);
        }
    }
}

TEST(CliTemplate, ModelBosEosComeFromVocabulary) {
    // A vocabulary-only GGUF whose template prints both tokens: the output must be the
    // texts of the vocabulary entries that bos/eos_token_id name, not the defaults.
    const fs::path p = tmp_dir() / "bos_eos.gguf";
    ponder::GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_array_strings("tokenizer.ggml.tokens", {"<unk>", "<|first|>", "<|last|>", "a"});
    w.set_u32("tokenizer.ggml.bos_token_id", 2);
    w.set_u32("tokenizer.ggml.eos_token_id", 1);
    w.set_string(
        "tokenizer.chat_template",
        "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}");
    w.write(p.string());
    Result r =
        run_cli("template -m " + p.string() + " --case " + case_file("no_generation_prompt"));
    ASSERT_EQ(r.rc, 0) << r.err;
    const ojson cases =
        ojson::parse(read_file(ponder::test::golden_path("chat-templates/cases.json")));
    std::string body;
    for (const auto& m : cases["no_generation_prompt"]["messages"])
        body += m["content"].get<std::string>();
    EXPECT_EQ(r.out, "<|last|>" + body + "<|first|>");
    // --bos / --eos override the vocabulary.
    r = run_cli("template -m " + p.string() + " --case " + case_file("no_generation_prompt") +
                " --bos B --eos E");
    EXPECT_EQ(r.out, "B" + body + "E");
}

TEST(CliTemplate, NeedsExactlyOneSource) {
    Result r = run_cli("template --case " + case_file("system_user"));
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.err.find("exactly one"), std::string::npos);
}

}  // namespace
