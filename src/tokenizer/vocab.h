// The vocabulary read from a GGUF file's tokenizer.ggml.* keys (internal to src/tokenizer).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ponder {
class GgufFile;
}

namespace ponder::tok {

enum class ModelKind { SentencePiece, ByteLevelBpe };

// Owns every token's text in one arena; `index` keys are views into that arena, so a Vocab is
// built once by load_vocab() and then only moved (moving a std::vector keeps its buffer).
struct Vocab {
    std::string path;  // for error messages
    ModelKind kind = ModelKind::SentencePiece;
    std::string model_name;  // tokenizer.ggml.model
    std::string pre_name;    // tokenizer.ggml.pre ("" when absent)

    std::vector<char> arena;
    std::vector<uint32_t> offsets;                        // [n_vocab + 1] byte offsets into arena
    std::vector<float> scores;                            // [n_vocab], 0 when the file has none
    std::vector<TokenAttr> attrs;                         // [n_vocab]
    std::unordered_map<std::string_view, int32_t> index;  // text -> id (last duplicate wins)

    int32_t bos = -1, eos = -1, unk = -1, eot = -1, eom = -1, pad = -1;
    bool add_bos = false, add_eos = false;
    bool add_space_prefix = false;  // SentencePiece: prefix a space to text after a special

    // Control, user-defined and unknown tokens with non-empty text, longest text first
    // (ties by ascending id): the order in which encode() splits them out of the input.
    std::vector<int32_t> specials;
    std::vector<int32_t> eog;  // sorted ascending
    // SentencePiece: id of "<0xNN>" for each byte, -1 when absent.
    std::array<int32_t, 256> byte_tokens{};

    int32_t size() const { return static_cast<int32_t>(attrs.size()); }
    std::string_view text(int32_t id) const {
        return {arena.data() + offsets[id], offsets[id + 1] - offsets[id]};
    }
    int32_t find(std::string_view s) const {
        auto it = index.find(s);
        return it == index.end() ? -1 : it->second;
    }
};

// Reads tokens, scores, token types, BOS/EOS/UNK/EOT/EOM/PAD ids, add_bos/add_eos with the
// llama.cpp defaults for each family, the end-of-generation set and the special-token list.
// Throws Error naming the file and key. `pre_adds_bos`: the pre-tokenizer's default for
// add_bos (Llama 3 style), used when the file has no add_bos_token key.
Vocab load_vocab(const GgufFile& f, bool pre_adds_bos);

}  // namespace ponder::tok
