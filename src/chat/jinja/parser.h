// Jinja parser: tokens -> syntax tree, following Jinja2's grammar and operator precedence
// (conditional < or < and < not < comparisons/in < + - < ~ < * / // % < ** < unary - +,
// with filters `|`, tests `is`, calls, attributes and subscripts binding tightest).
#pragma once
#include <string>
#include <string_view>

#include "chat/jinja/ast.h"
#include "chat/jinja/lexer.h"

namespace ponder::jinja {

// Nesting limit of blocks and expressions; deeper templates are rejected with an Error.
constexpr int kMaxParseDepth = 200;

// Parses a whole template. Throws Error "<name>:<line>:<col>: syntax error: ..." for any
// problem, never crashes.
Body parse_template(std::string_view source, const std::string& name);

}  // namespace ponder::jinja
