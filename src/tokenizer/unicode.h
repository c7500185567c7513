// UTF-8 helpers, the GPT-2 byte <-> code point map and NFC normalization (internal).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ponder::tok {

// Length of the UTF-8 sequence a lead byte announces, by its high nibble as llama.cpp reads
// it: 1 for ASCII and stray continuation bytes, 2 for 0xC_/0xD_, 3 for 0xE_, 4 for 0xF_.
inline size_t utf8_seq_len(uint8_t lead) {
    static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLen[lead >> 4];
}

// Appends the UTF-8 encoding of code point `cp` (must be <= 0x10FFFF).
void append_utf8(std::string& out, uint32_t cp);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Well-formed UTF-8 read from arbitrary bytes the way llama.cpp's byte-level BPE reads them:
// a byte that does not start a complete sequence becomes U+FFFD; a complete sequence is
// decoded without range checks and re-encoded (so an overlong form becomes its shortest
// form); a decoded surrogate or a value past U+10FFFF (which llama.cpp cannot encode either)
// becomes U+FFFD.
std::string sanitize_utf8(std::string_view s);

// Length of the longest prefix of `s` that does not end inside an incomplete-but-so-far-valid
// UTF-8 sequence: what a streaming decoder may emit now. Invalid bytes count as complete.
size_t utf8_emittable_prefix(std::string_view s);

// GPT-2's byte-level alphabet: byte b is written as the code point byte_to_cp(b).
uint32_t byte_to_cp(uint8_t b);
// Inverse of byte_to_cp; -1 for code points outside the alphabet.
int cp_to_byte(uint32_t cp);

// Unicode Normalization Form C of well-formed UTF-8 `s`. Text with no code point >= U+0300
// is returned unchanged without work.
std::string nfc(std::string_view s);
bool nfc_may_change(std::string_view s);  // false when no code point >= U+0300

namespace nfc_data {
struct DecompEntry {
    uint32_t cp;
    uint32_t start;  // into kDecompPool
    uint32_t len;
};
struct CccEntry {
    uint32_t cp;
    uint32_t ccc;
};
struct CompEntry {
    uint32_t first, second, composite;
};
extern const DecompEntry kDecomp[];
extern const size_t kDecompCount;
extern const uint32_t kDecompPool[];
extern const CccEntry kCcc[];
extern const size_t kCccCount;
extern const CompEntry kComp[];
extern const size_t kCompCount;
}  // namespace nfc_data

}  // namespace ponder::tok
