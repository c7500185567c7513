// Python str semantics on UTF-8 strings, shared by the string methods and the filters.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ponder::jinja {

// Decoded code points (invalid bytes decode as themselves, U+0080..U+00FF range).
std::vector<uint32_t> decode_utf8(std::string_view s);
std::string encode_utf8(const std::vector<uint32_t>& cps);
bool py_isspace(uint32_t cp);

enum class StripSide { Both, Left, Right };
// str.strip([chars]): chars = nullptr strips whitespace.
std::string py_strip(std::string_view s, const std::string* chars, StripSide side);
// str.split(sep=None, maxsplit=-1); throws Error for an empty separator.
std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit);
// str.replace(old, new, count=-1); `limit` bounds the result size (Error beyond it).
std::string py_replace(std::string_view s, std::string_view from, std::string_view to,
                       int64_t count, size_t limit);
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_capitalize(std::string_view s);
std::string py_title(std::string_view s);  // str.title()

}  // namespace ponder::jinja
