// SentencePiece BPE (llama family): merge the adjacent pair whose union is the best-scored
// token, then fall back to <0xNN> byte tokens for what is left (internal).
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace ponder::tok {

class SpmModel {
  public:
    // Borrows `vocab`, which must outlive the model.
    explicit SpmModel(const Vocab& vocab);

    // Appends the ids of `text`, whose spaces are already written as U+2581 (and prefixed
    // with one when the caller wants the leading-space convention). Any bytes are accepted.
    // Merging runs per chunk: the text is cut before each U+2581 that follows another
    // character when no token could span such a cut, which gives the same ids as merging
    // the whole text at once and keeps memory proportional to the longest chunk.
    void encode(std::string_view text, std::vector<int32_t>& out) const;

  private:
    void encode_chunk(std::string_view text, std::vector<int32_t>& out) const;
    void emit_symbol(std::string_view s, std::vector<int32_t>& out) const;

    const Vocab& vocab_;
    bool chunkable_ = false;
};

}  // namespace ponder::tok
