// Tokenizer::Impl: the vocabulary, the family's model and the piece table (internal).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/spm.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace ponder {

struct Tokenizer::Impl {
    tok::Vocab vocab;
    const tok::PreTokenizerSpec* pre = nullptr;  // byte-level BPE only
    std::unique_ptr<tok::BpeModel> bpe;
    std::unique_ptr<tok::SpmModel> spm;
    std::vector<std::string> pieces;  // [n_vocab] bytes of each token as shown with specials

    void check_id(int32_t id) const;
    // The bytes of `id` (empty for hidden specials and unused tokens); valid while *this is.
    std::string_view piece(int32_t id, bool show_special) const;
    // Appends the piece of `id` to `out`, applying the SentencePiece leading-space rule:
    // `strip_pending` starts as vocab.add_space_prefix; a leading BOS keeps it pending.
    void append_decoded(int32_t id, bool show_special, bool first, bool& strip_pending,
                        std::string& out) const;
};

}  // namespace ponder
