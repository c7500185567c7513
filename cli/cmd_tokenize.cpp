// ponder tokenize -m MODEL [--add-special] [--parse-special] [--json] [--file F | TEXT]
// ponder detokenize -m MODEL [--show-special] IDS...
#include <charconv>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "hub/model_ref.h"
#include "tokenizer/tokenizer.h"

namespace ponder::cli {
namespace {

struct TokenizeOptions {
    std::string model;
    std::string file;
    std::string text;
    bool add_special = false;
    bool parse_special = false;
    bool json = false;
};

struct DetokenizeOptions {
    std::string model;
    std::vector<std::string> ids;
    bool show_special = false;
};

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open '", path, "' for reading");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) fail("error reading '", path, "'");
    return ss.str();
}

// Ids from arguments such as "1 2 3", "1,2,3" or "[1, 2, 3]" (a pasted JSON array).
std::vector<int32_t> parse_ids(const std::vector<std::string>& args, int32_t n_vocab) {
    std::vector<int32_t> ids;
    for (const auto& a : args) {
        size_t i = 0;
        while (i < a.size()) {
            const char c = a[i];
            if (c == ' ' || c == ',' || c == '[' || c == ']' || c == '\t' || c == '\n') {
                ++i;
                continue;
            }
            int64_t v = 0;
            auto [p, ec] = std::from_chars(a.data() + i, a.data() + a.size(), v);
            if (ec != std::errc() || p == a.data() + i)
                fail("'", a, "' is not a list of token ids (at character ", i + 1, ")");
            if (v < 0 || v >= n_vocab)
                fail("token id ", v, " is outside the vocabulary [0, ", n_vocab, ")");
            ids.push_back(static_cast<int32_t>(v));
            i = static_cast<size_t>(p - a.data());
        }
    }
    return ids;
}

void add_tokenize(CLI::App& app) {
    auto opt = std::make_shared<TokenizeOptions>();
    auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text");
    cmd->add_option("-m,--model", opt->model, "GGUF model or vocabulary file, or cached model name")
        ->required();
    cmd->add_flag("--add-special", opt->add_special, "Add BOS/EOS as the model's metadata says");
    cmd->add_flag("--parse-special", opt->parse_special,
                  "Recognise special-token text such as <|im_start|>");
    cmd->add_flag("--json", opt->json, "Print a JSON array");
    auto* file = cmd->add_option("-f,--file", opt->file, "Tokenize this file's exact bytes");
    auto* text = cmd->add_option("text", opt->text, "Text to tokenize");
    file->excludes(text);
    cmd->callback([opt, file, text] {
        if (file->count() == 0 && text->count() == 0) fail("tokenize: give TEXT or --file F");
        const std::string input = file->count() ? read_all(opt->file) : opt->text;
        auto f = GgufFile::open(resolve_model_path(opt->model));
        auto tok = Tokenizer::from_gguf(*f);
        const auto ids = tok->encode(input, opt->add_special, opt->parse_special);
        if (opt->json) {
            std::printf("%s\n", nlohmann::json(ids).dump().c_str());
        } else {
            std::string line;
            for (size_t i = 0; i < ids.size(); ++i) {
                if (i) line += ' ';
                line += std::to_string(ids[i]);
            }
            std::printf("%s\n", line.c_str());
        }
    });
}

void add_detokenize(CLI::App& app) {
    auto opt = std::make_shared<DetokenizeOptions>();
    auto* cmd = app.add_subcommand("detokenize",
                                   "Print the text of token ids (exact bytes, no newline added)");
    cmd->add_option("-m,--model", opt->model, "GGUF model or vocabulary file, or cached model name")
        ->required();
    cmd->add_flag("--show-special", opt->show_special, "Print control tokens' text");
    cmd->add_option("ids", opt->ids, "Token ids (space/comma separated or a JSON array)")
        ->required();
    cmd->callback([opt] {
        auto f = GgufFile::open(resolve_model_path(opt->model));
        auto tok = Tokenizer::from_gguf(*f);
        const auto ids = parse_ids(opt->ids, tok->n_vocab());
        const std::string text = tok->decode(ids, opt->show_special);
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
    });
}

const Registrar reg_tokenize("tokenize", 60, add_tokenize);
const Registrar reg_detokenize("detokenize", 61, add_detokenize);

}  // namespace
}  // namespace ponder::cli
