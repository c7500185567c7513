// Byte-level BPE merging.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <queue>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/unicode.h"

namespace ponder::tok {

BpeModel::BpeModel(const Vocab& vocab, const GgufFile& f, const PreTokenizerSpec& spec)
    : vocab_(vocab), pre_(spec, f.path()) {
    for (int b = 0; b < 256; ++b) {
        append_utf8(byte_text_[b], byte_to_cp(static_cast<uint8_t>(b)));
        byte_ids_[b] = vocab.find(byte_text_[b]);
    }
    const GgufValue* mv = f.find("tokenizer.ggml.merges");
    if (!mv) fail(f.path(), ": tokenizer.ggml.merges is missing (required for model 'gpt2')");
    if (mv->type != GgufType::ARRAY || mv->elem_type != GgufType::STRING)
        fail(f.path(), ": tokenizer.ggml.merges must be an array of strings");
    merges_.reserve(mv->strings.size());
    std::string joined;
    for (size_t i = 0; i < mv->strings.size(); ++i) {
        const std::string_view m = mv->strings[i];
        const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
        if (sp == std::string_view::npos)
            fail(f.path(), ": tokenizer.ggml.merges[", i, "] = '", m, "' has no separating space");
        const std::string_view a = m.substr(0, sp), b = m.substr(sp + 1);
        const int32_t ia = vocab.find(a), ib = vocab.find(b);
        joined.assign(a);
        joined += b;
        const int32_t im = vocab.find(joined);
        // A merge whose parts or result are not tokens can never apply to token sequences.
        if (ia < 0 || ib < 0 || im < 0) continue;
        const uint64_t key =
            (static_cast<uint64_t>(static_cast<uint32_t>(ia)) << 32) | static_cast<uint32_t>(ib);
        merges_.emplace(key, Merge{static_cast<uint32_t>(i), im});  // first rank wins
    }
}

void BpeModel::encode(std::string_view text, std::vector<int32_t>& out) const {
    std::string fixed;
    if (!is_valid_utf8(text)) {
        fixed = sanitize_utf8(text);
        text = fixed;
    }
    std::string normalized;
    if (pre_.spec().nfc && nfc_may_change(text)) {
        normalized = nfc(text);
        text = normalized;
    }
    pre_.split(text, [&](std::string_view word) { encode_word(word, out); });
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (word.size() == 1) {
        const int32_t id = byte_ids_[static_cast<uint8_t>(word[0])];
        if (id >= 0) out.push_back(id);
        return;
    }
    const bool cacheable = word.size() <= kCacheWordMax;
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mu_);
        auto it = cache_.find(std::string(word));
        if (it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t start = out.size();
    bool done = false;
    if (pre_.spec().ignore_merges) {
        std::string mapped;
        mapped.reserve(word.size() * 2);
        for (char c : word) mapped += byte_text_[static_cast<uint8_t>(c)];
        if (const int32_t id = vocab_.find(mapped); id >= 0) {
            out.push_back(id);
            done = true;
        }
    }
    if (!done) merge_word(word, out);
    if (cacheable) {
        std::vector<int32_t> ids(out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
        std::lock_guard<std::mutex> lock(cache_mu_);
        if (cache_.size() >= kCacheEntries) cache_.clear();
        cache_.emplace(std::string(word), std::move(ids));
    }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
    // One symbol per byte (each byte is one character of the byte-level alphabet), linked
    // in a list; candidate merges sit in a min-heap by (rank, left position) and are checked
    // against the current symbols when popped, as the list changes under them.
    struct Symbol {
        int32_t id;
        int32_t prev, next;
    };
    struct Cand {
        uint32_t rank;
        int32_t left, right;
        int32_t left_id, right_id;
        bool operator>(const Cand& o) const {
            return rank != o.rank ? rank > o.rank : left > o.left;
        }
    };
    const int32_t n = static_cast<int32_t>(word.size());
    std::vector<Symbol> sym(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i)
        sym[i] = {byte_ids_[static_cast<uint8_t>(word[i])], i - 1, i + 1 < n ? i + 1 : -1};

    std::vector<Cand> heap_storage;
    heap_storage.reserve(static_cast<size_t>(n));
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap(std::greater<Cand>{},
                                                                          std::move(heap_storage));
    auto consider = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0 || sym[l].id < 0 || sym[r].id < 0) return;
        if (const Merge* m = find_merge(sym[l].id, sym[r].id))
            heap.push({m->rank, l, r, sym[l].id, sym[r].id});
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i, i + 1);
    while (!heap.empty()) {
        const Cand c = heap.top();
        heap.pop();
        Symbol& l = sym[c.left];
        if (l.id != c.left_id || l.next != c.right || sym[c.right].id != c.right_id) continue;
        Symbol& r = sym[c.right];
        l.id = find_merge(c.left_id, c.right_id)->id;
        l.next = r.next;
        if (r.next >= 0) sym[r.next].prev = c.left;
        r.id = -2;  // dead
        r.prev = r.next = -1;
        consider(l.prev, c.left);
        consider(c.left, l.next);
    }
    for (int32_t i = 0; i >= 0 && i < n; i = sym[i].next)
        if (sym[i].id >= 0) out.push_back(sym[i].id);
}

}  // namespace ponder::tok
