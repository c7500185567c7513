#include "chat/jinja/lexer.h"

#include <cctype>
#include <cstring>

#include "core/error.h"

namespace ponder::jinja {
namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

void append_utf8(std::string& out, uint32_t cp) {
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

class Lexer {
  public:
    Lexer(std::string_view src, const std::string& name, LexOptions opt) : name_(name), opt_(opt) {
        // Newlines: \r\n and \r read as \n; one trailing newline dropped (Jinja2 defaults).
        src_.reserve(src.size());
        for (size_t i = 0; i < src.size(); ++i) {
            if (src[i] == '\r') {
                src_ += '\n';
                if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
            } else {
                src_ += src[i];
            }
        }
        if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    }

    std::vector<Token> run() {
        bool line_starting = true;
        while (pos_ < src_.size()) {
            size_t open = find_open(pos_);
            std::string text = src_.substr(pos_, open - pos_);
            if (open == src_.size()) {
                emit_text(std::move(text), pos_);
                break;
            }
            const char kind = src_[open + 1];  // '{', '%' or '#'
            size_t after = open + 2;
            char mod = 0;
            if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) {
                mod = src_[after];
                ++after;
            }
            // Whitespace control on the text before the tag.
            if (mod == '-') {
                while (!text.empty() && is_space(text.back())) text.pop_back();
            } else if (opt_.lstrip_blocks && kind != '{' && mod != '+') {
                size_t nl = text.rfind('\n');
                size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
                if (l_pos > 0 || line_starting) {
                    bool only_ws = true;
                    for (size_t i = l_pos; i < text.size(); ++i)
                        if (text[i] != ' ' && text[i] != '\t') only_ws = false;
                    if (only_ws) text.resize(l_pos);
                }
            }
            emit_text(std::move(text), pos_);
            pos_ = after;
            bool ends_newline = false;
            if (kind == '#') {
                ends_newline = lex_comment(open);
            } else if (kind == '%' && try_raw()) {
                ends_newline = last_consumed_newline_;
            } else {
                ends_newline = lex_tag(kind == '%', open);
            }
            line_starting = ends_newline;
        }
        tokens_.push_back({TokenType::End, "", line_, col_});
        pos_to_linecol(src_.size());
        tokens_.back().line = line_;
        tokens_.back().col = col_;
        return std::move(tokens_);
    }

  private:
    [[noreturn]] void error_at(size_t pos, const std::string& msg) {
        pos_to_linecol(pos);
        fail(name_, ":", line_, ":", col_, ": syntax error: ", msg);
    }

    // Line/column of byte offset `pos` (computed incrementally; positions only move forward
    // except for error reports, which recompute from the start).
    void pos_to_linecol(size_t pos) {
        if (pos < lc_pos_) {
            lc_pos_ = 0;
            line_ = 1;
            col_ = 1;
        }
        for (; lc_pos_ < pos && lc_pos_ < src_.size(); ++lc_pos_) {
            if (src_[lc_pos_] == '\n') {
                ++line_;
                col_ = 1;
            } else if ((static_cast<unsigned char>(src_[lc_pos_]) & 0xC0) != 0x80) {
                ++col_;
            }
        }
    }

    void push(TokenType t, std::string v, size_t at) {
        pos_to_linecol(at);
        tokens_.push_back({t, std::move(v), line_, col_});
    }
    void emit_text(std::string text, size_t at) {
        if (!text.empty()) push(TokenType::Text, std::move(text), at);
    }

    size_t find_open(size_t from) const {
        for (size_t i = from; i + 1 < src_.size(); ++i)
            if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#'))
                return i;
        return src_.size();
    }

    // After a closing tag: `-` strips all following whitespace; trim_blocks drops one newline
    // after block and comment tags unless the tag ends with `+`. Returns whether the last
    // consumed character was a newline (Jinja2's "line starting" state for lstrip_blocks).
    bool after_close(char mod, bool block_like) {
        bool nl = false;
        if (mod == '-') {
            while (pos_ < src_.size() && is_space(src_[pos_])) nl = src_[pos_++] == '\n';
        } else if (block_like && opt_.trim_blocks && mod != '+' && pos_ < src_.size() &&
                   src_[pos_] == '\n') {
            ++pos_;
            nl = true;
        }
        return nl;
    }

    bool lex_comment(size_t open) {
        size_t end = src_.find("#}", pos_);
        if (end == std::string::npos) error_at(open, "missing end of comment tag");
        char mod = 0;
        if (end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+')) mod = src_[end - 1];
        pos_ = end + 2;
        return after_close(mod, true);
    }

    // `{% raw %}`: everything up to `{% endraw %}` is text.
    bool try_raw() {
        size_t p = pos_;
        while (p < src_.size() && is_space(src_[p])) ++p;
        if (src_.compare(p, 3, "raw") != 0) return false;
        p += 3;
        while (p < src_.size() && is_space(src_[p])) ++p;
        char mod = 0;
        if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) mod = src_[p++];
        if (src_.compare(p, 2, "%}") != 0) return false;
        size_t start = p + 2;
        pos_ = start;
        if (mod == '-') after_close('-', true);
        start = pos_;
        // Find {%[-+]? endraw [-+]?%}
        size_t search = start;
        while (true) {
            size_t o = src_.find("{%", search);
            if (o == std::string::npos) error_at(start, "missing {% endraw %}");
            size_t q = o + 2;
            char omod = 0;
            if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) omod = src_[q++];
            while (q < src_.size() && is_space(src_[q])) ++q;
            if (src_.compare(q, 6, "endraw") == 0) {
                q += 6;
                while (q < src_.size() && is_space(src_[q])) ++q;
                char cmod = 0;
                if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) cmod = src_[q++];
                if (src_.compare(q, 2, "%}") == 0) {
                    std::string text = src_.substr(start, o - start);
                    if (omod == '-')
                        while (!text.empty() && is_space(text.back())) text.pop_back();
                    emit_text(std::move(text), start);
                    pos_ = q + 2;
                    last_consumed_newline_ = after_close(cmod, true);
                    return true;
                }
            }
            search = o + 2;
        }
    }

    // Expression tokens of a `{{ }}` or `{% %}` tag up to its closing delimiter.
    bool lex_tag(bool block, size_t open) {
        push(block ? TokenType::BlockBegin : TokenType::VarBegin, block ? "{%" : "{{", open);
        const char* close = block ? "%}" : "}}";
        int balance = 0;
        while (true) {
            while (pos_ < src_.size() && is_space(src_[pos_])) ++pos_;
            if (pos_ >= src_.size()) error_at(open, std::string("missing closing '") + close + "'");
            if (balance == 0) {
                char mod = 0;
                size_t p = pos_;
                if (src_[p] == '-' || (block && src_[p] == '+')) mod = src_[p++];
                if (src_.compare(p, 2, close) == 0) {
                    push(block ? TokenType::BlockEnd : TokenType::VarEnd, close, pos_);
                    pos_ = p + 2;
                    return after_close(mod, block);
                }
            }
            const char c = src_[pos_];
            const size_t start = pos_;
            if (is_name_start(c)) {
                while (pos_ < src_.size() && (is_name_start(src_[pos_]) || is_digit(src_[pos_])))
                    ++pos_;
                push(TokenType::Name, src_.substr(start, pos_ - start), start);
            } else if (is_digit(c)) {
                lex_number();
            } else if (c == '\'' || c == '"') {
                lex_string();
            } else {
                static const char* ops2[] = {"//", "**", "==", "!=", "<=", ">="};
                std::string op;
                for (const char* o : ops2)
                    if (src_.compare(pos_, 2, o) == 0) op = o;
                if (op.empty()) {
                    if (!std::strchr("+-*/%~<>=()[]{},.:|;", c) || c == 0)
                        error_at(pos_, std::string("unexpected character '") + c + "'");
                    op = std::string(1, c);
                }
                if (op == "(" || op == "[" || op == "{") ++balance;
                if (op == ")" || op == "]" || op == "}") {
                    if (balance == 0) error_at(pos_, "unexpected '" + op + "'");
                    --balance;
                }
                pos_ += op.size();
                push(TokenType::Op, op, start);
            }
        }
    }

    void lex_number() {
        const size_t start = pos_;
        auto digits = [&] {
            while (pos_ < src_.size() &&
                   (is_digit(src_[pos_]) ||
                    (src_[pos_] == '_' && pos_ + 1 < src_.size() && is_digit(src_[pos_ + 1]))))
                ++pos_;
        };
        digits();
        bool is_float = false;
        // A dot right after a name or closing bracket is attribute access (x.0), not a float.
        bool after_dot = start > 0 && src_[start - 1] == '.';
        if (!after_dot && pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
            ++pos_;
            digits();
            is_float = true;
        }
        if (!after_dot && pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
            size_t p = pos_ + 1;
            if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
            if (p < src_.size() && is_digit(src_[p])) {
                pos_ = p;
                digits();
                is_float = true;
            }
        }
        std::string text;
        for (size_t i = start; i < pos_; ++i)
            if (src_[i] != '_') text += src_[i];
        push(is_float ? TokenType::Float : TokenType::Int, text, start);
    }

    // Python string literal with unicode-escape decoding, as Jinja2 decodes it.
    void lex_string() {
        const size_t start = pos_;
        const char q = src_[pos_++];
        std::string out;
        while (true) {
            if (pos_ >= src_.size()) error_at(start, "unterminated string");
            char c = src_[pos_++];
            if (c == q) break;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= src_.size()) error_at(start, "unterminated string");
            char e = src_[pos_++];
            auto hex = [&](int n) -> uint32_t {
                uint32_t v = 0;
                for (int i = 0; i < n; ++i) {
                    if (pos_ >= src_.size() ||
                        !std::isxdigit(static_cast<unsigned char>(src_[pos_])))
                        error_at(pos_, "truncated \\x, \\u or \\U escape in string");
                    char h = src_[pos_++];
                    v = v * 16 + uint32_t(is_digit(h) ? h - '0' : (std::tolower(h) - 'a' + 10));
                }
                return v;
            };
            switch (e) {
                case 'n':
                    out += '\n';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case '\\':
                    out += '\\';
                    break;
                case '\'':
                    out += '\'';
                    break;
                case '"':
                    out += '"';
                    break;
                case 'a':
                    out += '\a';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'v':
                    out += '\v';
                    break;
                case '\n':
                    break;  // line continuation
                case 'x':
                    append_utf8(out, hex(2));
                    break;
                case 'u':
                    append_utf8(out, hex(4));
                    break;
                case 'U': {
                    uint32_t cp = hex(8);
                    if (cp > 0x10FFFF) error_at(pos_, "\\U escape out of range");
                    append_utf8(out, cp);
                    break;
                }
                default:
                    if (e >= '0' && e <= '7') {
                        uint32_t v = uint32_t(e - '0');
                        for (int i = 0;
                             i < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7';
                             ++i)
                            v = v * 8 + uint32_t(src_[pos_++] - '0');
                        append_utf8(out, v);
                    } else {
                        out += '\\';
                        out += e;
                    }
            }
        }
        push(TokenType::String, std::move(out), start);
    }

    std::string src_;
    const std::string& name_;
    LexOptions opt_;
    size_t pos_ = 0;
    std::vector<Token> tokens_;
    size_t lc_pos_ = 0;
    int line_ = 1, col_ = 1;
    bool last_consumed_newline_ = false;
};

}  // namespace

std::vector<Token> lex(std::string_view source, const std::string& name, LexOptions opt) {
    return Lexer(source, name, opt).run();
}

}  // namespace ponder::jinja
