// Jinja lexer: splits a template into text and tag tokens with Jinja2's whitespace rules as
// Hugging Face transformers configures them (trim_blocks, lstrip_blocks, `-`/`+` markers,
// one trailing newline of the source dropped, \r\n and \r read as \n).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ponder::jinja {

enum class TokenType {
    Text,        // literal output (whitespace control already applied)
    VarBegin,    // {{
    VarEnd,      // }}
    BlockBegin,  // {%
    BlockEnd,    // %}
    Name,
    String,  // value: the decoded literal
    Int,
    Float,
    Op,  // value: the operator text: + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |
    End,
};

struct Token {
    TokenType type;
    std::string value;
    int line = 1, col = 1;  // 1-based position in the (newline-normalized) source
};

struct LexOptions {
    bool trim_blocks = true;
    bool lstrip_blocks = true;
};

// Tokenizes `source`; throws Error "<name>:<line>:<col>: ..." on unterminated tags, strings or
// unknown characters. `{% raw %}...{% endraw %}` becomes one Text token.
std::vector<Token> lex(std::string_view source, const std::string& name, LexOptions opt = {});

}  // namespace ponder::jinja
