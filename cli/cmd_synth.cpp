// ponder synth --like NAME --type TYPE -o FILE: a random-weight GGUF with a real model's shapes.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/dtype.h"
#include "core/error.h"
#include "model/quantize.h"
#include "model/synth.h"

namespace ponder::cli {
namespace {

struct SynthCliOptions {
    SynthOptions o;
    std::string out, vocab;
};

// Where a checkout keeps the real vocabularies: `../shared` beside it (see shared/README.md).
std::string family_vocab_file(SynthVocab v) {
    switch (v) {
        case SynthVocab::Llama3:
            return "golden/tokenizer/vocab/ggml-vocab-llama3.gguf";
        case SynthVocab::Qwen2:
            return "models/tiny-qwen2-F16.gguf";
        case SynthVocab::Smollm:
            break;
    }
    return {};  // none shared: synthesized
}

// The family's real vocabulary, searched in $PONDER_SHARED_DIR, ./shared, ../shared and the
// shared/ beside the checkout the running binary was built in; empty if none exists.
std::string find_family_vocab(SynthVocab v) {
    namespace fs = std::filesystem;
    std::vector<fs::path> dirs;
    if (const char* env = std::getenv("PONDER_SHARED_DIR")) dirs.emplace_back(env);
    dirs.emplace_back("shared");
    dirs.emplace_back("../shared");
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        dirs.push_back(exe.parent_path().parent_path().parent_path() / "shared");
        dirs.push_back(exe.parent_path().parent_path() / "shared");
    }
    const std::string file = family_vocab_file(v);
    if (file.empty()) return {};
    for (const auto& d : dirs) {
        const fs::path p = d / file;
        if (fs::is_regular_file(p, ec)) return p.string();
    }
    return {};
}

void run_synth(SynthCliOptions& c) {
    const SynthShape& shape = find_synth_shape(c.o.like);
    if (c.vocab == "none") {
        c.o.vocab_path.clear();
    } else if (!c.vocab.empty()) {
        c.o.vocab_path = c.vocab;
    } else {
        c.o.vocab_path = find_family_vocab(shape.vocab);
    }
    if (c.o.vocab_path.empty())
        std::fprintf(stderr,
                     "synth: no vocabulary file; synthesizing a byte-level one (%d tokens)\n",
                     shape.n_vocab);
    else
        std::fprintf(stderr, "synth: vocabulary from %s (padded to %d tokens)\n",
                     c.o.vocab_path.c_str(), shape.n_vocab);
    const auto t0 = std::chrono::steady_clock::now();
    size_t written = 0;
    synth_model_file(
        c.o, c.out, [&](size_t i, size_t n, std::string_view name, DType type, size_t bytes) {
            written += bytes;
            const double s =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::fprintf(stderr, "[%4zu/%zu] %-32.*s %-5s %9.1f MiB  (%.1f s)\n", i + 1, n,
                         int(name.size()), name.data(), std::string(dtype_name(type)).c_str(),
                         double(bytes) / (1 << 20), s);
        });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "wrote %s: %.2f GiB of tensors in %.1f s\n", c.out.c_str(),
                 double(written) / (1 << 30), s);
}

void add_synth(CLI::App& app) {
    auto c = std::make_shared<SynthCliOptions>();
    auto* cmd = app.add_subcommand(
        "synth", "Write a random-weight GGUF with the exact shapes of a real model (benchmarks)");
    cmd->add_option("--like", c->o.like, "Model whose shapes to copy: " + synth_shape_names())
        ->required();
    cmd->add_option("--type", c->o.type, "Tensor type: " + quant_target_names())->required();
    cmd->add_option("-o,--output", c->out, "GGUF file to write")->required();
    cmd->add_option("--seed", c->o.seed, "Random seed (default 0)");
    cmd->add_option("--layers", c->o.n_layers, "Override the layer count")
        ->check(CLI::Range(1, 1024));
    cmd->add_option("--vocab", c->vocab,
                    "GGUF whose tokenizer.* keys to copy; 'none' synthesizes a byte-level "
                    "vocabulary (default: the family's real one from ../shared if found)");
    cmd->add_option("-t,--threads", c->o.n_threads, "Threads (default: all)");
    cmd->callback([c] { run_synth(*c); });
}

const Registrar reg_synth("synth", 96, add_synth);

}  // namespace
}  // namespace ponder::cli
