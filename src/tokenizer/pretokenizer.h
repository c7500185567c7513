// Byte-level BPE pre-tokenizers: the regex cascade chosen by `tokenizer.ggml.pre` (internal).
//
// As in llama.cpp, a pre-tokenizer is a list of regexes applied in turn: regex k splits every
// piece that regex k-1 produced into its matches and the gaps between them (gaps are pieces
// too), and each regex sees only its piece (so `\z` and `(?!\S)` stop at the piece's end).
// Regexes are PCRE2 with UTF, Unicode properties (UCP) and JIT.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ponder::tok {

struct PreTokenizerSpec {
    std::string_view name;
    std::vector<std::string_view> regexes;
    bool nfc = false;            // normalize text to NFC first (Qwen2's tokenizer does)
    bool ignore_merges = false;  // a word that is a whole token is emitted as is (Llama 3)
    bool adds_bos = false;       // default for add_bos when the file does not say
};

// The spec for a `tokenizer.ggml.pre` value ("" means "default"), or nullptr if unknown.
const PreTokenizerSpec* find_pre_tokenizer(std::string_view name);
// Comma-separated list of the known names, for error messages.
std::string known_pre_tokenizers();

class PreTokenizer {
  public:
    // Compiles the spec's regexes; throws Error (naming `path`) if PCRE2 rejects one.
    PreTokenizer(const PreTokenizerSpec& spec, const std::string& path);
    ~PreTokenizer();
    PreTokenizer(const PreTokenizer&) = delete;
    PreTokenizer& operator=(const PreTokenizer&) = delete;

    const PreTokenizerSpec& spec() const { return spec_; }

    // Splits well-formed UTF-8 `text` into non-empty words, calling emit(word) for each in
    // order; the words concatenate to `text`. Thread-safe. Throws Error if PCRE2 fails.
    template <typename F>
    void split(std::string_view text, F&& emit) const {
        Sink sink{&emit, [](void* f, std::string_view w) { (*static_cast<F*>(f))(w); }};
        split_level(text, 0, sink);
    }

  private:
    struct Sink {
        void* ctx;
        void (*fn)(void*, std::string_view);
    };
    struct Compiled;
    void split_level(std::string_view text, size_t level, const Sink& sink) const;

    const PreTokenizerSpec& spec_;
    std::string path_;
    std::vector<std::unique_ptr<Compiled>> regexes_;
};

}  // namespace ponder::tok
