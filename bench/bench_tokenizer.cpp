// Byte-level BPE throughput: MB/s of English text through the Qwen2 vocabulary, one thread.
//
// Usage: bench_tokenizer [VOCAB.gguf] [MB]
//   VOCAB defaults to ../shared/golden/tokenizer/vocab/ggml-vocab-qwen2.gguf (from the
//   checkout or its build folder). The text is the licence texts under
//   /usr/share/common-licenses, repeated with a counter between copies up to MB megabytes
//   (default 4). Each of 5 runs uses a fresh tokenizer (cold word cache); prints every run
//   and the median.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;

static std::string english_text(size_t bytes) {
    std::string base;
    const fs::path dir = "/usr/share/common-licenses";
    std::vector<fs::path> files;
    if (fs::is_directory(dir))
        for (const auto& e : fs::directory_iterator(dir))
            if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& p : files) {
        std::ifstream in(p, std::ios::binary);
        std::ostringstream ss;
        ss << in.rdbuf();
        base += ss.str();
    }
    if (base.empty()) base = "The quick brown fox jumps over the lazy dog. ";
    std::string out;
    out.reserve(bytes + base.size());
    for (size_t i = 0; out.size() < bytes; ++i) out += base + "\n" + std::to_string(i) + "\n";
    out.resize(bytes);
    // Cut back to a character boundary.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    return out;
}

int main(int argc, char** argv) {
    std::string vocab = argc > 1 ? argv[1] : "";
    if (vocab.empty()) {
        for (const char* c : {"../shared/golden/tokenizer/vocab/ggml-vocab-qwen2.gguf",
                              "../../shared/golden/tokenizer/vocab/ggml-vocab-qwen2.gguf"})
            if (fs::exists(c)) vocab = c;
    }
    if (vocab.empty() || !fs::exists(vocab)) {
        std::fprintf(stderr, "bench_tokenizer: vocabulary not found; pass its path\n");
        return 1;
    }
    const double mb = argc > 2 ? std::atof(argv[2]) : 4.0;
    const std::string text = english_text(static_cast<size_t>(mb * 1e6));
    auto f = ponder::GgufFile::open(vocab);

    std::vector<double> rates;
    size_t n_ids = 0;
    for (int run = 0; run < 5; ++run) {
        auto tok = ponder::Tokenizer::from_gguf(*f);
        const auto t0 = std::chrono::steady_clock::now();
        const auto ids = tok->encode(text, false, false);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        n_ids = ids.size();
        rates.push_back(static_cast<double>(text.size()) / 1e6 / s);
        std::printf("run %d: %.2f MB in %.3f s = %.2f MB/s (%zu ids)\n", run + 1,
                    static_cast<double>(text.size()) / 1e6, s, rates.back(), n_ids);
    }
    std::sort(rates.begin(), rates.end());
    std::printf("median: %.2f MB/s  (%s, %.2f MB English text, %.2f bytes/token)\n", rates[2],
                vocab.c_str(), static_cast<double>(text.size()) / 1e6,
                static_cast<double>(text.size()) / static_cast<double>(n_ids));
    return 0;
}
