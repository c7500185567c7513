// UTF-8 helpers, the byte-level alphabet and NFC.
#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <vector>

namespace ponder::tok {

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

namespace {

// Decodes the well-formed sequence at s[i], returning its length, or 0 if it is not one.
size_t decode_strict(std::string_view s, size_t i, uint32_t& cp) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data()) + i;
    const size_t left = s.size() - i;
    const uint8_t b0 = p[0];
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    auto cont = [&](size_t k) { return k < left && (p[k] & 0xC0) == 0x80; };
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        if (!cont(1)) return 0;
        cp = ((b0 & 0x1Fu) << 6) | (p[1] & 0x3Fu);
        return 2;
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (!cont(1) || !cont(2)) return 0;
        cp = ((b0 & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
        if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3)) return 0;
        cp = ((b0 & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
        if (cp < 0x10000 || cp > 0x10FFFF) return 0;
        return 4;
    }
    return 0;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
    size_t i = 0;
    const size_t n = s.size();
    while (i < n) {
        // ASCII fast path, 8 bytes at a time.
        while (i + 8 <= n) {
            uint64_t w;
            std::copy_n(s.data() + i, 8, reinterpret_cast<char*>(&w));
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        uint32_t cp;
        const size_t len = decode_strict(s, i, cp);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

std::string sanitize_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 8);
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    size_t i = 0;
    while (i < s.size()) {
        const uint8_t b0 = p[i];
        if (b0 < 0x80) {
            out += static_cast<char>(b0);
            ++i;
            continue;
        }
        // llama.cpp's reading: a continuation byte or 0xF8.. cannot lead; a lead byte needs
        // its continuation bytes to be present and of the form 10xxxxxx.
        size_t len = 0;
        uint32_t cp = 0;
        if ((b0 & 0xE0) == 0xC0) {
            len = 2;
            cp = b0 & 0x1Fu;
        } else if ((b0 & 0xF0) == 0xE0) {
            len = 3;
            cp = b0 & 0x0Fu;
        } else if ((b0 & 0xF8) == 0xF0) {
            len = 4;
            cp = b0 & 0x07u;
        }
        bool ok = len != 0 && i + len <= s.size();
        for (size_t k = 1; ok && k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) ok = false;
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if (!ok) {
            append_utf8(out, 0xFFFD);
            ++i;
            continue;
        }
        if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
        append_utf8(out, cp);
        i += len;
    }
    return out;
}

size_t utf8_emittable_prefix(std::string_view s) {
    const size_t n = s.size();
    // An incomplete sequence can only be the last 1..3 bytes: find the last lead byte there.
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        const auto b = static_cast<uint8_t>(s[n - back]);
        if ((b & 0xC0) == 0x80) continue;    // continuation byte: keep looking for the lead
        if (b < 0xC2 || b > 0xF4) return n;  // ASCII or a byte that never leads: complete
        const size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
        return back < need ? n - back : n;
    }
    return n;
}

namespace {

struct ByteMap {
    std::array<uint32_t, 256> to_cp{};
    std::array<int16_t, 324> from_cp{};  // code points used are < 324
    ByteMap() {
        from_cp.fill(-1);
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable =
                (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            to_cp[b] = printable ? static_cast<uint32_t>(b) : next++;
            from_cp[to_cp[b]] = static_cast<int16_t>(b);
        }
    }
};
const ByteMap& byte_map() {
    static const ByteMap m;
    return m;
}

}  // namespace

uint32_t byte_to_cp(uint8_t b) {
    return byte_map().to_cp[b];
}
int cp_to_byte(uint32_t cp) {
    return cp < 324 ? byte_map().from_cp[cp] : -1;
}

// ---- NFC ------------------------------------------------------------------------------------

namespace {

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount;
constexpr uint32_t kSCount = kLCount * kNCount;

uint32_t ccc_of(uint32_t cp) {
    if (cp < 0x300) return 0;
    using nfc_data::kCcc;
    const auto* end = kCcc + nfc_data::kCccCount;
    const auto* it =
        std::lower_bound(kCcc, end, cp, [](const auto& e, uint32_t c) { return e.cp < c; });
    return it != end && it->cp == cp ? it->ccc : 0;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
    if (cp >= kSBase && cp < kSBase + kSCount) {
        const uint32_t s = cp - kSBase;
        out.push_back(kLBase + s / kNCount);
        out.push_back(kVBase + (s % kNCount) / kTCount);
        if (s % kTCount) out.push_back(kTBase + s % kTCount);
        return;
    }
    if (cp >= 0xC0) {
        using nfc_data::kDecomp;
        const auto* end = kDecomp + nfc_data::kDecompCount;
        const auto* it =
            std::lower_bound(kDecomp, end, cp, [](const auto& e, uint32_t c) { return e.cp < c; });
        if (it != end && it->cp == cp) {
            out.insert(out.end(), nfc_data::kDecompPool + it->start,
                       nfc_data::kDecompPool + it->start + it->len);
            return;
        }
    }
    out.push_back(cp);
}

// The primary composite of (a, b), or 0.
uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
        return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
        b < kTBase + kTCount)
        return a + (b - kTBase);
    using nfc_data::kComp;
    const auto* end = kComp + nfc_data::kCompCount;
    const auto* it = std::lower_bound(kComp, end, std::pair{a, b}, [](const auto& e, auto key) {
        return e.first != key.first ? e.first < key.first : e.second < key.second;
    });
    return it != end && it->first == a && it->second == b ? it->composite : 0;
}

}  // namespace

bool nfc_may_change(std::string_view s) {
    // Every code point >= U+0300 is encoded with a lead byte >= 0xCC.
    for (char c : s)
        if (static_cast<uint8_t>(c) >= 0xCC) return true;
    return false;
}

std::string nfc(std::string_view s) {
    if (!nfc_may_change(s)) return std::string(s);
    // 1. Full canonical decomposition.
    std::vector<uint32_t> cps;
    cps.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        uint32_t cp = 0xFFFD;
        size_t len = decode_strict(s, i, cp);
        if (len == 0) len = 1;  // callers pass valid UTF-8; be safe anyway
        decompose(cp, cps);
        i += len;
    }
    // 2. Canonical ordering: stable sort each run of non-starters by combining class.
    for (size_t i = 0; i < cps.size();) {
        if (ccc_of(cps[i]) == 0) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < cps.size() && ccc_of(cps[j]) != 0) ++j;
        std::stable_sort(cps.begin() + static_cast<std::ptrdiff_t>(i),
                         cps.begin() + static_cast<std::ptrdiff_t>(j),
                         [](uint32_t a, uint32_t b) { return ccc_of(a) < ccc_of(b); });
        i = j;
    }
    // 3. Canonical composition.
    std::vector<uint32_t> out;
    out.reserve(cps.size());
    size_t starter = SIZE_MAX;  // index in `out` of the last starter
    uint32_t last_ccc = 0;
    for (uint32_t cp : cps) {
        const uint32_t c = ccc_of(cp);
        if (starter != SIZE_MAX) {
            // cp may join the starter unless a character between them blocks it (one with
            // combining class 0 or >= cp's); last_ccc is the class of the last kept one.
            const bool adjacent = out.size() - 1 == starter;
            if (adjacent || last_ccc < c) {
                if (uint32_t comp = compose(out[starter], cp)) {
                    out[starter] = comp;
                    continue;
                }
            }
        }
        if (c == 0) starter = out.size();
        last_ccc = c;
        out.push_back(cp);
    }
    std::string r;
    r.reserve(s.size());
    for (uint32_t cp : out) append_utf8(r, cp);
    return r;
}

}  // namespace ponder::tok
