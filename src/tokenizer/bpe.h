// Byte-level BPE (GPT-2 family): pre-tokenize, map bytes to the byte-level alphabet, merge
// by rank within each word (internal).
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab.h"

namespace ponder {
class GgufFile;
}

namespace ponder::tok {

class BpeModel {
  public:
    // Reads tokenizer.ggml.merges from `f`; borrows `vocab`, which must outlive the model.
    // Throws Error naming the file and key when merges are missing or malformed.
    BpeModel(const Vocab& vocab, const GgufFile& f, const PreTokenizerSpec& spec);

    // Appends the ids of `text`, which holds no special tokens (any bytes; see Tokenizer).
    void encode(std::string_view text, std::vector<int32_t>& out) const;

    size_t n_merges() const { return merges_.size(); }

  private:
    struct Merge {
        uint32_t rank;
        int32_t id;  // the merged token
    };
    // Merges one pre-tokenized word (raw bytes) into ids; O(n log n) in the word's length.
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;
    void merge_word(std::string_view word, std::vector<int32_t>& out) const;
    const Merge* find_merge(int32_t a, int32_t b) const {
        auto it = merges_.find((static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
                               static_cast<uint32_t>(b));
        return it == merges_.end() ? nullptr : &it->second;
    }

    const Vocab& vocab_;
    PreTokenizer pre_;
    std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> merge
    std::array<int32_t, 256> byte_ids_{};         // id of each byte's single-character token
    std::array<std::string, 256> byte_text_;      // UTF-8 of each byte's alphabet character

    // Word -> ids cache: words up to kCacheWordMax bytes, at most kCacheEntries entries
    // (cleared when full), so memory stays bounded whatever the input.
    static constexpr size_t kCacheWordMax = 64;
    static constexpr size_t kCacheEntries = 1 << 15;
    mutable std::mutex cache_mu_;
    mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace ponder::tok
