#include "chat/jinja/strings.h"

#include "core/error.h"

namespace ponder::jinja {

std::vector<uint32_t> decode_utf8(std::string_view s) {
    std::vector<uint32_t> out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        const int n = c < 0x80         ? 0
                      : (c >> 5) == 6  ? 1
                      : (c >> 4) == 14 ? 2
                      : (c >> 3) == 30 ? 3
                                       : -1;
        bool ok = n > 0 && i + size_t(n) < s.size();
        uint32_t cp = c;
        if (ok) {
            cp = c & (0x3Fu >> n);
            for (int k = 1; k <= n; ++k) {
                const unsigned char cc = static_cast<unsigned char>(s[i + size_t(k)]);
                if ((cc & 0xC0) != 0x80) ok = false;
                cp = (cp << 6) | (cc & 0x3Fu);
            }
        }
        if (ok) {
            out.push_back(cp);
            i += size_t(n) + 1;
        } else {
            out.push_back(c);
            ++i;
        }
    }
    return out;
}

std::string encode_utf8(const std::vector<uint32_t>& cps) {
    std::string out;
    for (uint32_t cp : cps) {
        if (cp < 0x80) {
            out += char(cp);
        } else if (cp < 0x800) {
            out += char(0xC0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += char(0xE0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        } else {
            out += char(0xF0 | (cp >> 18));
            out += char(0x80 | ((cp >> 12) & 0x3F));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        }
    }
    return out;
}

bool py_isspace(uint32_t cp) {
    return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F) || cp == 0x85 ||
           cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string py_strip(std::string_view s, const std::string* chars, StripSide side) {
    std::vector<uint32_t> cps = decode_utf8(s);
    std::vector<uint32_t> set;
    if (chars) set = decode_utf8(*chars);
    auto strip_it = [&](uint32_t cp) {
        if (!chars) return py_isspace(cp);
        for (uint32_t c : set)
            if (c == cp) return true;
        return false;
    };
    size_t b = 0, e = cps.size();
    if (side != StripSide::Right)
        while (b < e && strip_it(cps[b])) ++b;
    if (side != StripSide::Left)
        while (e > b && strip_it(cps[e - 1])) --e;
    return encode_utf8(std::vector<uint32_t>(cps.begin() + long(b), cps.begin() + long(e)));
}

std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit) {
    std::vector<std::string> out;
    if (sep) {
        if (sep->empty()) fail("ValueError: empty separator");
        size_t pos = 0;
        while (maxsplit < 0 || int64_t(out.size()) < maxsplit) {
            size_t f = s.find(*sep, pos);
            if (f == std::string_view::npos) break;
            out.emplace_back(s.substr(pos, f - pos));
            pos = f + sep->size();
        }
        out.emplace_back(s.substr(pos));
        return out;
    }
    std::vector<uint32_t> cps = decode_utf8(s);
    size_t i = 0;
    while (true) {
        while (i < cps.size() && py_isspace(cps[i])) ++i;
        if (i >= cps.size()) break;
        if (maxsplit >= 0 && int64_t(out.size()) >= maxsplit) {
            size_t e = cps.size();
            while (e > i && py_isspace(cps[e - 1])) --e;
            out.push_back(
                encode_utf8(std::vector<uint32_t>(cps.begin() + long(i), cps.begin() + long(e))));
            break;
        }
        size_t j = i;
        while (j < cps.size() && !py_isspace(cps[j])) ++j;
        out.push_back(
            encode_utf8(std::vector<uint32_t>(cps.begin() + long(i), cps.begin() + long(j))));
        i = j;
    }
    return out;
}

std::string py_replace(std::string_view s, std::string_view from, std::string_view to,
                       int64_t count, size_t limit) {
    std::string out;
    auto add = [&](std::string_view piece) {
        if (out.size() + piece.size() > limit)
            fail("string of more than ", limit, " bytes exceeds the limit");
        out += piece;
    };
    if (from.empty()) {
        // Python inserts `to` before every code point and at the end.
        std::vector<size_t> off;
        for (size_t i = 0; i < s.size(); ++i)
            if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) off.push_back(i);
        off.push_back(s.size());
        int64_t done = 0;
        for (size_t k = 0; k + 1 < off.size(); ++k) {
            if (count < 0 || done < count) {
                add(to);
                ++done;
            }
            add(s.substr(off[k], off[k + 1] - off[k]));
        }
        if (count < 0 || done < count) add(to);
        return out;
    }
    size_t pos = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
        size_t f = s.find(from, pos);
        if (f == std::string_view::npos) break;
        add(s.substr(pos, f - pos));
        add(to);
        pos = f + from.size();
        ++done;
    }
    add(s.substr(pos));
    return out;
}

namespace {
// Case mapping for ASCII, Latin-1, Greek and Cyrillic basic letters.
uint32_t to_upper_cp(uint32_t c) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 32;
    if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    return c;
}
uint32_t to_lower_cp(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}
bool is_cased(uint32_t c) {
    return to_upper_cp(c) != c || to_lower_cp(c) != c;
}
}  // namespace

std::string py_upper(std::string_view s) {
    auto cps = decode_utf8(s);
    for (auto& c : cps) c = to_upper_cp(c);
    return encode_utf8(cps);
}
std::string py_lower(std::string_view s) {
    auto cps = decode_utf8(s);
    for (auto& c : cps) c = to_lower_cp(c);
    return encode_utf8(cps);
}
std::string py_capitalize(std::string_view s) {
    auto cps = decode_utf8(s);
    for (size_t i = 0; i < cps.size(); ++i)
        cps[i] = i == 0 ? to_upper_cp(cps[i]) : to_lower_cp(cps[i]);
    return encode_utf8(cps);
}
std::string py_title(std::string_view s) {
    auto cps = decode_utf8(s);
    bool prev_cased = false;
    for (auto& c : cps) {
        bool cased = is_cased(c);
        c = prev_cased ? to_lower_cp(c) : to_upper_cp(c);
        prev_cased = cased;
    }
    return encode_utf8(cps);
}

}  // namespace ponder::jinja
