// SentencePiece BPE merging by score.
#include "tokenizer/spm.h"

#include <queue>
#include <string>

#include "tokenizer/unicode.h"

namespace ponder::tok {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581

// True when a U+2581 starts at text[i] and the character before it (if any) is not one.
bool is_cut_point(std::string_view text, size_t i) {
    if (i == 0 || text.compare(i, 3, kSpace) != 0) return false;
    return !(i >= 3 && text.compare(i - 3, 3, kSpace) == 0);
}

}  // namespace

SpmModel::SpmModel(const Vocab& vocab) : vocab_(vocab) {
    // A cut before "▁" is safe when no token holds a "▁" right after a different character:
    // every symbol merging builds is a token, so none can then straddle such a cut.
    chunkable_ = true;
    for (int32_t id = 0; id < vocab.size() && chunkable_; ++id) {
        const std::string_view t = vocab.text(id);
        for (size_t p = t.find(kSpace, 1); p != std::string_view::npos; p = t.find(kSpace, p + 1)) {
            if (is_cut_point(t, p)) {
                chunkable_ = false;
                break;
            }
        }
    }
}

void SpmModel::encode(std::string_view text, std::vector<int32_t>& out) const {
    if (!chunkable_) {
        encode_chunk(text, out);
        return;
    }
    size_t start = 0;
    for (size_t p = text.find(kSpace, 1); p != std::string_view::npos;
         p = text.find(kSpace, p + 1)) {
        if (p > start && is_cut_point(text, p)) {
            encode_chunk(text.substr(start, p - start), out);
            start = p;
        }
    }
    if (start < text.size()) encode_chunk(text.substr(start), out);
}

void SpmModel::encode_chunk(std::string_view text, std::vector<int32_t>& out) const {
    struct Symbol {
        uint32_t start, len;  // bytes of text; len 0 once merged into its left neighbour
        int32_t prev, next;
    };
    struct Cand {
        float score;
        int32_t left, right;
        uint32_t len;  // combined length when proposed: detects stale candidates
        bool operator<(const Cand& o) const {  // max-heap: best score, then leftmost
            return score != o.score ? score < o.score : left > o.left;
        }
    };
    std::vector<Symbol> sym;
    sym.reserve(text.size());
    for (size_t off = 0; off < text.size();) {
        const size_t len =
            std::min(utf8_seq_len(static_cast<uint8_t>(text[off])), text.size() - off);
        const auto idx = static_cast<int32_t>(sym.size());
        sym.push_back({static_cast<uint32_t>(off), static_cast<uint32_t>(len), idx - 1,
                       off + len < text.size() ? idx + 1 : -1});
        off += len;
    }
    std::priority_queue<Cand> heap;
    auto consider = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0) return;
        const uint32_t len = sym[l].len + sym[r].len;
        const int32_t id = vocab_.find(text.substr(sym[l].start, len));
        if (id < 0) return;
        heap.push({vocab_.scores[id], l, r, len});
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) consider(i, i + 1);
    while (!heap.empty()) {
        const Cand c = heap.top();
        heap.pop();
        Symbol& l = sym[c.left];
        Symbol& r = sym[c.right];
        if (l.len == 0 || r.len == 0 || l.next != c.right || l.len + r.len != c.len) continue;
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) sym[r.next].prev = c.left;
        consider(l.prev, c.left);
        consider(c.left, l.next);
    }
    for (int32_t i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next)
        emit_symbol(text.substr(sym[i].start, sym[i].len), out);
}

void SpmModel::emit_symbol(std::string_view s, std::vector<int32_t>& out) const {
    if (const int32_t id = vocab_.find(s); id >= 0) {
        out.push_back(id);
        return;
    }
    // Byte fallback: <0xNN>, else a token that is the single byte, else <unk>.
    for (char c : s) {
        const auto b = static_cast<uint8_t>(c);
        int32_t id = vocab_.byte_tokens[b];
        if (id < 0) id = vocab_.find(std::string_view(&c, 1));
        if (id < 0) id = vocab_.unk;
        if (id >= 0) out.push_back(id);
    }
}

}  // namespace ponder::tok
