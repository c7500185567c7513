// Shared helpers for the tokenizer tests: the golden corpus, its expectations and a cache of
// loaded vocabularies.
#pragma once
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/paths.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace ponder::test {

inline std::string read_file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// corpus.txt: cases separated by a line "__case__"; the file's final newline ends the last
// case and is not part of it.
inline std::vector<std::string> corpus_cases() {
    std::string all = read_file_bytes(golden_path("tokenizer/corpus.txt"));
    if (!all.empty() && all.back() == '\n') all.pop_back();
    std::vector<std::string> cases;
    const std::string sep = "\n__case__\n";
    size_t pos = 0;
    for (size_t m = all.find(sep); m != std::string::npos; m = all.find(sep, pos)) {
        cases.push_back(all.substr(pos, m - pos));
        pos = m + sep.size();
    }
    cases.push_back(all.substr(pos));
    return cases;
}

struct GoldenCase {
    std::string text;
    std::vector<int32_t> ids;
    std::vector<int32_t> ids_with_specials;
};

inline std::vector<GoldenCase> golden_cases(const std::string& jsonl_path) {
    std::vector<GoldenCase> out;
    std::ifstream in(jsonl_path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto j = nlohmann::json::parse(line);
        out.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<int32_t>>(),
                       j.at("ids_with_specials").get<std::vector<int32_t>>()});
    }
    return out;
}

// Every vocab-only GGUF in golden/tokenizer/vocab, sorted by name (stem without .gguf).
inline std::vector<std::string> golden_vocab_names() {
    std::vector<std::string> names;
    const std::string dir = golden_path("tokenizer/vocab");
    if (!std::filesystem::is_directory(dir)) return names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().extension() == ".gguf") names.push_back(e.path().stem().string());
    std::sort(names.begin(), names.end());
    return names;
}

// Loads (once per process) the tokenizer of a golden vocabulary or of a model file.
inline const Tokenizer& tokenizer_for(const std::string& path) {
    static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
    auto it = cache.find(path);
    if (it == cache.end()) {
        auto f = GgufFile::open(path);
        it = cache.emplace(path, Tokenizer::from_gguf(*f)).first;
    }
    return *it->second;
}

inline std::string vocab_path(const std::string& name) {
    return golden_path("tokenizer/vocab/" + name + ".gguf");
}

}  // namespace ponder::test
