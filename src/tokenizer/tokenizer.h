// Text <-> token ids for the vocabularies of small open models, exact against llama.cpp (and,
// for Qwen2 / Llama 3, the Hugging Face tokenizers).
//
// Families: `tokenizer.ggml.model = llama` (SentencePiece BPE by scores with <0xNN> byte
// fallback) and `gpt2` (byte-level BPE by merge rank, pre-tokenized by PCRE2 regexes chosen by
// `tokenizer.ggml.pre`). A Tokenizer is immutable after from_gguf() except for an internal,
// size-bounded word cache guarded by a mutex, so one instance may be shared by threads.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ponder {

class GgufFile;

// Per-token kind from `tokenizer.ggml.token_type` (llama.cpp may promote end-of-turn and FIM
// tokens to Control, as it does).
enum class TokenAttr : uint8_t { Normal, Control, UserDefined, Unused, Byte, Unknown };

class Tokenizer {
  public:
    struct Impl;

    // Builds from the tokenizer.ggml.* keys; throws Error naming the file and key on problems
    // (unknown model or pre-tokenizer: the message lists the known ones). The result copies
    // what it needs: it does not keep `f` alive.
    static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& f);
    ~Tokenizer();
    Tokenizer(const Tokenizer&) = delete;
    Tokenizer& operator=(const Tokenizer&) = delete;

    // add_special: BOS/EOS per the file's add_bos/add_eos flags. parse_special: recognise
    // control token text in `text` (longest token first). User-defined tokens are always
    // recognised, as in llama.cpp and Hugging Face. Any bytes are accepted: invalid UTF-8 is
    // tokenized as llama.cpp does (SentencePiece: byte fallback; byte-level BPE: each invalid
    // byte is read as U+FFFD). Memory is linear in the input.
    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

    // Bytes of one token (byte tokens -> the byte, U+2581 -> space for SentencePiece,
    // byte-level BPE unmapped); control and unknown tokens give their text only when
    // show_special, unused tokens give nothing. Out-of-range ids throw Error.
    std::string token_to_piece(int32_t id, bool show_special) const;
    // Concatenated pieces. SentencePiece: the space the encoder prefixed is removed from the
    // first piece, or from the piece after a leading BOS that is not shown, so that
    // decode(encode(x)) == x; a shown BOS keeps the space after it ("<s> Hello").
    std::string decode(std::span<const int32_t> ids, bool show_special) const;

    int32_t n_vocab() const;
    int32_t bos_id() const;  // -1 when none
    int32_t eos_id() const;  // -1 when none
    bool add_bos() const;
    bool add_eos() const;
    // End-of-generation ids: EOS, EOT, EOM and tokens such as <|im_end|>, <|eot_id|>,
    // <|endoftext|>, <end_of_turn> present in the vocabulary. Sorted ascending.
    bool is_eog(int32_t id) const;
    const std::vector<int32_t>& eog_ids() const;
    TokenAttr attr(int32_t id) const;  // throws Error when out of range
    std::string_view token_text(
        int32_t id) const;  // raw vocabulary entry; throws when out of range
    std::optional<int32_t> find_token(std::string_view text) const;  // exact vocabulary entry

    // "llama" or "gpt2", and the pre-tokenizer name ("" for SentencePiece).
    std::string_view model_name() const;
    std::string_view pre_name() const;

    // Internal: the decoder state machine shared by decode() and StreamDecoder.
    const Impl& impl() const { return *impl_; }

  private:
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Streaming detokenizer: push ids one at a time, get back only complete UTF-8 sequences.
// The concatenation of every push() and the final flush() equals decode() of the same ids.
// Borrows `t`, which must outlive it.
class StreamDecoder {
  public:
    StreamDecoder(const Tokenizer& t, bool show_special);
    std::string push(int32_t id);
    // Whatever is left: an incomplete trailing UTF-8 sequence, returned as its raw bytes (not
    // replaced by U+FFFD), so that nothing is lost. Resets the decoder for a new sequence.
    std::string flush();

  private:
    const Tokenizer& tok_;
    bool show_special_;
    bool first_ = true;
    bool strip_pending_ = false;
    std::string pending_;  // bytes of an incomplete UTF-8 sequence (at most 3)
};

}  // namespace ponder
