// `ponder info` run as a program on every shared model: what it prints must agree with what
// GgufFile reads directly and with the reference engine's goldens; broken files exit 1 with
// the reader's message.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/paths.h"
#include "core/error.h"
#include "gguf/gguf.h"

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

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

// Runs the built `ponder` with `args`, capturing stdout, stderr and the exit status.
CliRun run_cli(const std::vector<std::string>& args) {
    const std::string err_path =
        test::binary_dir() + "/cli_info_stderr_" + std::to_string(getpid()) + ".txt";
    std::string cmd = quote(test::cli_path());
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
    r.err = slurp(err_path);
    fs::remove(err_path);
    return r;
}

std::vector<std::string> shared_models() {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(test::shared_dir() + "/models"))
        if (e.path().extension() == ".gguf") out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
}

json golden_for(const std::string& model_path) {
    std::ifstream in(test::golden_path("models/" + fs::path(model_path).stem().string() + ".json"));
    return in ? json::parse(in) : json();
}

TEST(CliInfo, JsonAgreesWithTheReaderOnEveryModel) {
    const auto models = shared_models();
    ASSERT_GE(models.size(), 10u);
    size_t golden_vocab_checks = 0, golden_bos_checks = 0;
    for (const auto& path : models) {
        SCOPED_TRACE(path);
        const CliRun r = run_cli({"info", path, "--json"});
        ASSERT_EQ(r.code, 0) << r.err;
        const json j = json::parse(r.out);
        const auto f = GgufFile::open(path);

        const std::string arch(f->get_string("general.architecture"));
        EXPECT_EQ(j["architecture"], arch);
        EXPECT_EQ(j["gguf_version"], f->version());
        EXPECT_EQ(j["file_size"], f->file_size());
        EXPECT_EQ(j["block_count"], f->get_int(arch + ".block_count"));
        EXPECT_EQ(j["head_count"], f->get_int(arch + ".attention.head_count"));
        EXPECT_EQ(j["head_count_kv"], f->get_int(arch + ".attention.head_count_kv"));
        EXPECT_EQ(j["embedding_length"], f->get_int(arch + ".embedding_length"));
        EXPECT_EQ(j["context_length"], f->get_int(arch + ".context_length"));
        const auto& tokens = f->get_array("tokenizer.ggml.tokens");
        EXPECT_EQ(j["vocab"]["size"], tokens.count);
        EXPECT_EQ(j["vocab"]["model"], f->get_string("tokenizer.ggml.model"));
        EXPECT_EQ(j["chat_template"], f->find("tokenizer.chat_template") != nullptr);

        // Parameters and the tensor-type mix, recomputed from the tensor list.
        uint64_t n_params = 0, n_bytes = 0;
        std::map<std::string, std::pair<uint64_t, uint64_t>> mix;  // type -> tensors, params
        for (const auto& t : f->tensors()) {
            n_params += uint64_t(t.n_elements());
            n_bytes += t.nbytes;
            auto& m = mix[std::string(dtype_name(t.type))];
            m.first += 1;
            m.second += uint64_t(t.n_elements());
        }
        EXPECT_EQ(j["n_params"], n_params);
        EXPECT_EQ(j["tensor_bytes"], n_bytes);
        EXPECT_EQ(j["tensor_count"], f->tensors().size());
        ASSERT_EQ(j["tensor_types"].size(), mix.size());
        for (const auto& [type, m] : mix) {
            SCOPED_TRACE(type);
            ASSERT_TRUE(j["tensor_types"].contains(type));
            EXPECT_EQ(j["tensor_types"][type]["tensors"], m.first);
            EXPECT_EQ(j["tensor_types"][type]["params"], m.second);
        }

        // Special tokens carry the id in the file and that token's text.
        const json& specials = j["vocab"]["special_tokens"];
        if (f->find("tokenizer.ggml.bos_token_id")) {
            ASSERT_TRUE(specials.contains("bos"));
            const int64_t bos = f->get_int("tokenizer.ggml.bos_token_id");
            EXPECT_EQ(specials["bos"]["id"], bos);
            EXPECT_EQ(specials["bos"]["text"], tokens.strings.at(size_t(bos)));
        }
        if (f->find("tokenizer.ggml.add_bos_token"))
            EXPECT_EQ(j["vocab"]["add_bos"], f->get_bool("tokenizer.ggml.add_bos_token"));
        else
            EXPECT_TRUE(j["vocab"]["add_bos"].is_null());

        // What the reference engine says about the same files.
        const json g = golden_for(path);
        if (g.is_null()) continue;
        // A SentencePiece ("llama") vocabulary adds BOS unless the file says otherwise.
        const bool add_bos = j["vocab"]["add_bos"].is_boolean() ? j["vocab"]["add_bos"].get<bool>()
                                                                : j["vocab"]["model"] == "llama";
        for (const auto& c : g["cases"]) {
            if (c.contains("first_step_logits")) {
                EXPECT_EQ(j["vocab"]["size"], c["first_step_logits"].size());
                ++golden_vocab_checks;
            }
            if (add_bos) {
                ASSERT_TRUE(specials.contains("bos"));
                ASSERT_FALSE(c["prompt_ids"].empty());
                EXPECT_EQ(specials["bos"]["id"], c["prompt_ids"][0]);
                ++golden_bos_checks;
            }
        }
    }
    EXPECT_GT(golden_vocab_checks, 0u);
    EXPECT_GT(golden_bos_checks, 0u);
}

TEST(CliInfo, TensorsListsEveryTensor) {
    for (const auto& path : shared_models()) {
        SCOPED_TRACE(path);
        const auto f = GgufFile::open(path);
        const CliRun r = run_cli({"info", path, "--json", "--tensors"});
        ASSERT_EQ(r.code, 0) << r.err;
        const json list = json::parse(r.out)["tensors"];
        ASSERT_EQ(list.size(), f->tensors().size());
        for (size_t i = 0; i < list.size(); ++i) {
            const auto& t = f->tensors()[i];
            EXPECT_EQ(list[i]["name"], t.name);
            EXPECT_EQ(list[i]["type"], dtype_name(t.type));
            ASSERT_EQ(list[i]["shape"].size(), t.n_dims);
            for (uint32_t d = 0; d < t.n_dims; ++d) EXPECT_EQ(list[i]["shape"][d], t.ne[d]);
            EXPECT_EQ(list[i]["bytes"], t.nbytes);
            EXPECT_EQ(list[i]["offset"], size_t(t.data - f->bytes()));
        }
        // The text form names every tensor too, one per line.
        const CliRun text = run_cli({"info", path, "--tensors"});
        ASSERT_EQ(text.code, 0) << text.err;
        for (const auto& t : f->tensors())
            EXPECT_NE(text.out.find("\n" + std::string(t.name) + " "), std::string::npos) << t.name;
        // Without --tensors, no tensor list.
        EXPECT_FALSE(json::parse(run_cli({"info", path, "--json"}).out).contains("tensors"));
    }
}

// The message GgufFile::open gives for `path`.
std::string reader_message(const std::string& path) {
    try {
        GgufFile::open(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

void expect_cli_refuses(const std::string& path) {
    const std::string msg = reader_message(path);
    ASSERT_FALSE(msg.empty()) << "the reader accepted " << path;
    for (bool as_json : {false, true}) {
        std::vector<std::string> args = {"info", path};
        if (as_json) args.push_back("--json");
        const CliRun r = run_cli(args);
        EXPECT_EQ(r.code, 1) << r.err;
        EXPECT_EQ(r.err, "ponder: error: " + msg + "\n");
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
}

TEST(CliInfo, NonGgufFileExitsOneWithTheReadersMessage) {
    const std::string path = test::binary_dir() + "/cli_info_not_gguf.txt";
    std::ofstream(path) << "just some text, not a model\n";
    expect_cli_refuses(path);
    fs::remove(path);
}

TEST(CliInfo, TruncatedFileExitsOneWithTheReadersMessage) {
    const std::string model = slurp(test::model_path("stories260K.gguf"));
    ASSERT_GT(model.size(), 4096u);
    const auto f = GgufFile::open(test::model_path("stories260K.gguf"));
    // Cut in the middle of the metadata and in the middle of the tensor data.
    for (size_t cut : {size_t(1000), f->data_offset() + (model.size() - f->data_offset()) / 2}) {
        SCOPED_TRACE(cut);
        const std::string path = test::binary_dir() + "/cli_info_truncated.gguf";
        std::ofstream(path, std::ios::binary).write(model.data(), std::streamsize(cut));
        expect_cli_refuses(path);
        EXPECT_NE(reader_message(path).find("byte offset"), std::string::npos);
        fs::remove(path);
    }
}

// A path that is not there may also name a cached model, so the message is the CLI's own; it
// must still say which path it could not use.
TEST(CliInfo, MissingFileExitsOne) {
    const std::string path = test::binary_dir() + "/no-such-model.gguf";
    const CliRun r = run_cli({"info", path});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_EQ(r.err.rfind("ponder: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace
}  // namespace ponder
