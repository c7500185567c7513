// Syntax tree of a parsed template. Nodes own their children (unique_ptr); the tree is
// immutable after parsing and may be rendered concurrently.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja/value.h"

namespace ponder::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    enum class Kind {
        Literal,   // literal
        Name,      // name
        List,      // children = items
        Tuple,     // children = items
        Dict,      // children = key0, value0, key1, value1, ...
        GetAttr,   // children[0].name
        GetItem,   // children[0][children[1]]
        Slice,     // children[0][c1:c2:c3]; a null child is an omitted bound
        Call,      // children[0](children[1..], kwargs)
        Filter,    // children[0] | name(children[1..], kwargs)
        Test,      // children[0] is [not] name(children[1..])
        Unary,     // name in {"-", "+", "not"}, children[0]
        Binary,    // children[0] name children[1]; name in + - * / // % ** ~ and or
        Compare,   // children[0] ops[0] children[1] ops[1] children[2] ... (chained)
        CondExpr,  // children[1] if children[0] else children[2] (may be null)
    };
    Kind kind;
    int line = 0, col = 0;
    Value literal;
    std::string name;
    std::vector<ExprPtr> children;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    std::vector<std::string> ops;
    bool negated = false;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
    enum class Kind {
        Text,         // text
        Output,       // {{ exprs[0] }}
        If,           // exprs[i] guards bodies[i]; bodies has one more entry for else if present
        For,          // names = targets; exprs[0] = iterable, exprs[1] = filter (may be null);
                      // bodies[0] = loop body, bodies[1] = else body
        Set,          // names = targets (or names[0] = ns, attr = attribute); exprs[0] = value
        SetBlock,     // names[0] = target; bodies[0]; exprs = filter chain applied to the body
        Macro,        // names[0] = macro name, params / defaults; bodies[0]
        CallBlock,    // exprs[0] = call expression; params / defaults = caller's; bodies[0]
        FilterBlock,  // exprs[0] = filter expression with a placeholder input; bodies[0]
        With,         // names[i] = exprs[i]; bodies[0]
        Break,
        Continue,
        Do,          // exprs[0] evaluated, result discarded
        Generation,  // bodies[0] rendered as is ({% generation %} of transformers)
    };
    Kind kind;
    int line = 0, col = 0;
    std::string text;
    std::string attr;
    std::vector<std::string> names;
    std::vector<ExprPtr> exprs;
    std::vector<Body> bodies;
    std::vector<std::string> params;
    std::vector<ExprPtr> defaults;  // same length as params; null where no default
};

}  // namespace ponder::jinja
