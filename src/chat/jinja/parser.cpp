#include "chat/jinja/parser.h"

#include <cerrno>
#include <cstdlib>
#include <initializer_list>

#include "core/error.h"

namespace ponder::jinja {
namespace {

bool is_keyword(const std::string& s) {
    return s == "else" || s == "or" || s == "and" || s == "if" || s == "is" || s == "in" ||
           s == "not" || s == "recursive";
}

class Parser {
  public:
    Parser(std::vector<Token> tokens, const std::string& name)
        : toks_(std::move(tokens)), name_(name) {}

    Body parse_all() {
        std::string end;
        Body b = parse_body({}, end);
        return b;
    }

  private:
    // ---- token helpers ---------------------------------------------------------------
    const Token& cur() const { return toks_[pos_]; }
    const Token& peek(size_t k = 1) const { return toks_[std::min(pos_ + k, toks_.size() - 1)]; }
    void next() {
        if (pos_ + 1 < toks_.size()) ++pos_;
    }
    bool is_op(const char* op) const { return cur().type == TokenType::Op && cur().value == op; }
    bool is_name(const char* n) const { return cur().type == TokenType::Name && cur().value == n; }
    bool skip_op(const char* op) {
        if (!is_op(op)) return false;
        next();
        return true;
    }
    bool skip_name(const char* n) {
        if (!is_name(n)) return false;
        next();
        return true;
    }
    [[noreturn]] void error(const std::string& msg) const {
        fail(name_, ":", cur().line, ":", cur().col, ": syntax error: ", msg);
    }
    std::string describe(const Token& t) const {
        switch (t.type) {
            case TokenType::End:
                return "end of template";
            case TokenType::Text:
                return "text";
            case TokenType::VarEnd:
                return "'}}'";
            case TokenType::BlockEnd:
                return "'%}'";
            case TokenType::VarBegin:
                return "'{{'";
            case TokenType::BlockBegin:
                return "'{%'";
            case TokenType::String:
                return "string";
            default:
                return "'" + t.value + "'";
        }
    }
    void expect_op(const char* op) {
        if (!skip_op(op)) error(std::string("expected '") + op + "', got " + describe(cur()));
    }
    std::string expect_name() {
        if (cur().type != TokenType::Name) error("expected a name, got " + describe(cur()));
        std::string n = cur().value;
        next();
        return n;
    }
    void expect_block_end() {
        if (cur().type != TokenType::BlockEnd) error("expected '%}', got " + describe(cur()));
        next();
    }

    struct DepthGuard {
        Parser& p;
        explicit DepthGuard(Parser& parser) : p(parser) {
            if (++p.depth_ > kMaxParseDepth)
                p.error("template nested too deeply (limit " + std::to_string(kMaxParseDepth) +
                        ")");
        }
        ~DepthGuard() { --p.depth_; }
    };

    ExprPtr make(Expr::Kind k, const Token& at) {
        auto e = std::make_unique<Expr>();
        e->kind = k;
        e->line = at.line;
        e->col = at.col;
        return e;
    }
    NodePtr make_node(Node::Kind k, const Token& at) {
        auto n = std::make_unique<Node>();
        n->kind = k;
        n->line = at.line;
        n->col = at.col;
        return n;
    }

    // ---- statements ------------------------------------------------------------------
    // Parses nodes until `{% <one of ends> ...`; leaves the position on that end keyword and
    // stores it in `found`. With no ends, parses to the end of the template.
    Body parse_body(std::initializer_list<const char*> ends, std::string& found) {
        DepthGuard g(*this);
        Body body;
        while (true) {
            const Token& t = cur();
            if (t.type == TokenType::End) {
                if (ends.size() == 0) return body;
                std::string want;
                for (const char* e : ends)
                    want += (want.empty() ? "'" : " or '") + std::string(e) + "'";
                error("unexpected end of template, expected " + want);
            }
            if (t.type == TokenType::Text) {
                auto n = make_node(Node::Kind::Text, t);
                n->text = t.value;
                body.push_back(std::move(n));
                next();
            } else if (t.type == TokenType::VarBegin) {
                auto n = make_node(Node::Kind::Output, t);
                next();
                n->exprs.push_back(parse_tuple());
                if (cur().type != TokenType::VarEnd) error("expected '}}', got " + describe(cur()));
                next();
                body.push_back(std::move(n));
            } else if (t.type == TokenType::BlockBegin) {
                const Token& kw = peek();
                if (kw.type == TokenType::Name)
                    for (const char* e : ends)
                        if (kw.value == e) {
                            next();  // onto the keyword
                            found = kw.value;
                            return body;
                        }
                next();
                body.push_back(parse_statement());
            } else {
                error("unexpected " + describe(t));
            }
        }
    }

    // Consumes `{% end... %}` after parse_body stopped on `endname`.
    void end_block() {
        next();
        expect_block_end();
    }

    NodePtr parse_statement() {
        const Token at = cur();
        if (at.type != TokenType::Name) error("expected a statement name, got " + describe(at));
        const std::string kw = at.value;
        next();
        if (kw == "if") return parse_if(at);
        if (kw == "for") return parse_for(at);
        if (kw == "set") return parse_set(at);
        if (kw == "macro") return parse_macro(at);
        if (kw == "call") return parse_call_block(at);
        if (kw == "filter") return parse_filter_block(at);
        if (kw == "with") return parse_with(at);
        if (kw == "generation") {
            auto n = make_node(Node::Kind::Generation, at);
            expect_block_end();
            std::string f;
            n->bodies.push_back(parse_body({"endgeneration"}, f));
            end_block();
            return n;
        }
        if (kw == "break" || kw == "continue") {
            if (loop_depth_ == 0) error("'" + kw + "' outside of a loop");
            auto n = make_node(kw == "break" ? Node::Kind::Break : Node::Kind::Continue, at);
            expect_block_end();
            return n;
        }
        if (kw == "do") {
            auto n = make_node(Node::Kind::Do, at);
            n->exprs.push_back(parse_tuple());
            expect_block_end();
            return n;
        }
        pos_ -= 1;
        error("unknown or unsupported tag '" + kw + "'");
    }

    NodePtr parse_if(const Token& at) {
        auto n = make_node(Node::Kind::If, at);
        n->exprs.push_back(parse_tuple(false));
        expect_block_end();
        while (true) {
            std::string f;
            n->bodies.push_back(parse_body({"elif", "else", "endif"}, f));
            if (f == "elif") {
                next();
                n->exprs.push_back(parse_tuple(false));
                expect_block_end();
            } else if (f == "else") {
                next();
                expect_block_end();
                n->bodies.push_back(parse_body({"endif"}, f));
                end_block();
                return n;
            } else {
                end_block();
                return n;
            }
        }
    }

    // Assignment targets: `a`, `a, b`, `(a, b)`.
    std::vector<std::string> parse_targets() {
        std::vector<std::string> names;
        bool paren = skip_op("(");
        names.push_back(expect_name());
        while (skip_op(",")) {
            if (cur().type != TokenType::Name || is_name("in")) break;
            names.push_back(expect_name());
        }
        if (paren) expect_op(")");
        return names;
    }

    NodePtr parse_for(const Token& at) {
        auto n = make_node(Node::Kind::For, at);
        n->names = parse_targets();
        if (!skip_name("in")) error("expected 'in' in for loop, got " + describe(cur()));
        n->exprs.push_back(parse_tuple(false));
        if (skip_name("if"))
            n->exprs.push_back(parse_expression());
        else
            n->exprs.push_back(nullptr);
        if (is_name("recursive")) error("recursive for loops are not supported");
        expect_block_end();
        ++loop_depth_;
        std::string f;
        n->bodies.push_back(parse_body({"else", "endfor"}, f));
        --loop_depth_;
        if (f == "else") {
            next();
            expect_block_end();
            // `loop` controls in the else body refer to an outer loop, if any.
            n->bodies.push_back(parse_body({"endfor"}, f));
        } else {
            n->bodies.emplace_back();
        }
        end_block();
        return n;
    }

    // Filter chain for `{% set x | f %}` and `{% filter f | g %}`: nested Filter nodes whose
    // innermost input is null (the rendered body is substituted).
    ExprPtr parse_filter_chain() {
        ExprPtr e;
        do {
            e = parse_filter(std::move(e));
        } while (skip_op("|"));
        return e;
    }

    NodePtr parse_set(const Token& at) {
        std::string first = expect_name();
        if (skip_op(".")) {
            auto n = make_node(Node::Kind::Set, at);
            n->names.push_back(first);
            n->attr = expect_name();
            expect_op("=");
            n->exprs.push_back(parse_tuple());
            expect_block_end();
            return n;
        }
        std::vector<std::string> names{first};
        while (skip_op(",")) names.push_back(expect_name());
        if (skip_op("=")) {
            auto n = make_node(Node::Kind::Set, at);
            n->names = std::move(names);
            n->exprs.push_back(parse_tuple());
            expect_block_end();
            return n;
        }
        if (names.size() != 1) error("expected '=' after assignment targets");
        auto n = make_node(Node::Kind::SetBlock, at);
        n->names = std::move(names);
        if (skip_op("|")) n->exprs.push_back(parse_filter_chain());
        expect_block_end();
        std::string f;
        n->bodies.push_back(parse_body({"endset"}, f));
        end_block();
        return n;
    }

    void parse_params(Node& n) {
        expect_op("(");
        bool need_default = false;
        while (!is_op(")")) {
            if (!n.params.empty()) expect_op(",");
            if (is_op(")")) break;
            n.params.push_back(expect_name());
            if (skip_op("=")) {
                n.defaults.push_back(parse_expression());
                need_default = true;
            } else {
                if (need_default) error("non-default argument follows default argument");
                n.defaults.push_back(nullptr);
            }
        }
        next();
    }

    NodePtr parse_macro(const Token& at) {
        auto n = make_node(Node::Kind::Macro, at);
        n->names.push_back(expect_name());
        parse_params(*n);
        expect_block_end();
        int saved = loop_depth_;
        loop_depth_ = 0;
        std::string f;
        n->bodies.push_back(parse_body({"endmacro"}, f));
        loop_depth_ = saved;
        end_block();
        return n;
    }

    NodePtr parse_call_block(const Token& at) {
        auto n = make_node(Node::Kind::CallBlock, at);
        if (is_op("(")) parse_params(*n);
        ExprPtr call = parse_expression();
        if (call->kind != Expr::Kind::Call) error("{% call %} expects a macro call");
        n->exprs.push_back(std::move(call));
        expect_block_end();
        std::string f;
        n->bodies.push_back(parse_body({"endcall"}, f));
        end_block();
        return n;
    }

    NodePtr parse_filter_block(const Token& at) {
        auto n = make_node(Node::Kind::FilterBlock, at);
        n->exprs.push_back(parse_filter_chain());
        expect_block_end();
        std::string f;
        n->bodies.push_back(parse_body({"endfilter"}, f));
        end_block();
        return n;
    }

    NodePtr parse_with(const Token& at) {
        auto n = make_node(Node::Kind::With, at);
        while (cur().type != TokenType::BlockEnd) {
            if (!n->names.empty()) expect_op(",");
            n->names.push_back(expect_name());
            expect_op("=");
            n->exprs.push_back(parse_expression());
        }
        expect_block_end();
        std::string f;
        n->bodies.push_back(parse_body({"endwith"}, f));
        end_block();
        return n;
    }

    // ---- expressions -----------------------------------------------------------------
    // expression [, expression]* -> a tuple when there is a comma.
    ExprPtr parse_tuple(bool with_condexpr = true) {
        const Token at = cur();
        ExprPtr first = with_condexpr ? parse_expression() : parse_or();
        if (!is_op(",")) return first;
        auto t = make(Expr::Kind::Tuple, at);
        t->children.push_back(std::move(first));
        while (skip_op(",")) {
            if (cur().type == TokenType::BlockEnd || cur().type == TokenType::VarEnd || is_op(")"))
                break;
            t->children.push_back(with_condexpr ? parse_expression() : parse_or());
        }
        return t;
    }

    ExprPtr parse_expression() {
        DepthGuard g(*this);
        const Token at = cur();
        ExprPtr e = parse_or();
        while (skip_name("if")) {
            auto c = make(Expr::Kind::CondExpr, at);
            c->children.push_back(parse_or());
            c->children.push_back(std::move(e));
            c->children.push_back(skip_name("else") ? parse_expression() : nullptr);
            e = std::move(c);
        }
        return e;
    }

    ExprPtr binary(const Token& at, std::string op, ExprPtr l, ExprPtr r) {
        auto b = make(Expr::Kind::Binary, at);
        b->name = std::move(op);
        b->children.push_back(std::move(l));
        b->children.push_back(std::move(r));
        return b;
    }

    ExprPtr parse_or() {
        const Token at = cur();
        ExprPtr l = parse_and();
        while (skip_name("or")) l = binary(at, "or", std::move(l), parse_and());
        return l;
    }
    ExprPtr parse_and() {
        const Token at = cur();
        ExprPtr l = parse_not();
        while (skip_name("and")) l = binary(at, "and", std::move(l), parse_not());
        return l;
    }
    ExprPtr parse_not() {
        DepthGuard g(*this);
        const Token at = cur();
        if (skip_name("not")) {
            auto u = make(Expr::Kind::Unary, at);
            u->name = "not";
            u->children.push_back(parse_not());
            return u;
        }
        return parse_compare();
    }
    ExprPtr parse_compare() {
        const Token at = cur();
        ExprPtr first = parse_math1();
        ExprPtr cmp;
        while (true) {
            std::string op;
            if (cur().type == TokenType::Op &&
                (cur().value == "==" || cur().value == "!=" || cur().value == "<" ||
                 cur().value == "<=" || cur().value == ">" || cur().value == ">=")) {
                op = cur().value;
                next();
            } else if (skip_name("in")) {
                op = "in";
            } else if (is_name("not") && peek().type == TokenType::Name && peek().value == "in") {
                next();
                next();
                op = "not in";
            } else {
                break;
            }
            if (!cmp) {
                cmp = make(Expr::Kind::Compare, at);
                cmp->children.push_back(std::move(first));
            }
            cmp->ops.push_back(op);
            cmp->children.push_back(parse_math1());
        }
        return cmp ? std::move(cmp) : std::move(first);
    }
    ExprPtr parse_math1() {
        const Token at = cur();
        ExprPtr l = parse_concat();
        while (is_op("+") || is_op("-")) {
            std::string op = cur().value;
            next();
            l = binary(at, op, std::move(l), parse_concat());
        }
        return l;
    }
    ExprPtr parse_concat() {
        const Token at = cur();
        ExprPtr l = parse_math2();
        while (skip_op("~")) l = binary(at, "~", std::move(l), parse_math2());
        return l;
    }
    ExprPtr parse_math2() {
        const Token at = cur();
        ExprPtr l = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            std::string op = cur().value;
            next();
            l = binary(at, op, std::move(l), parse_pow());
        }
        return l;
    }
    ExprPtr parse_pow() {
        const Token at = cur();
        ExprPtr l = parse_unary();
        while (skip_op("**")) l = binary(at, "**", std::move(l), parse_unary());
        return l;
    }
    ExprPtr parse_unary(bool with_filter = true) {
        DepthGuard g(*this);
        const Token at = cur();
        ExprPtr e;
        if (is_op("-") || is_op("+")) {
            e = make(Expr::Kind::Unary, at);
            e->name = cur().value;
            next();
            e->children.push_back(parse_unary(false));
        } else {
            e = parse_primary();
        }
        e = parse_postfix(std::move(e));
        if (with_filter) e = parse_filter_expr(std::move(e));
        return e;
    }

    ExprPtr parse_primary() {
        const Token at = cur();
        switch (at.type) {
            case TokenType::Name: {
                next();
                auto e = make(Expr::Kind::Literal, at);
                if (at.value == "true" || at.value == "True")
                    e->literal = Value(true);
                else if (at.value == "false" || at.value == "False")
                    e->literal = Value(false);
                else if (at.value == "none" || at.value == "None")
                    e->literal = Value::none();
                else {
                    e->kind = Expr::Kind::Name;
                    e->name = at.value;
                }
                return e;
            }
            case TokenType::String: {
                std::string s;
                while (cur().type == TokenType::String) {
                    s += cur().value;
                    next();
                }
                auto e = make(Expr::Kind::Literal, at);
                e->literal = Value(std::move(s));
                return e;
            }
            case TokenType::Int: {
                next();
                errno = 0;
                char* endp = nullptr;
                long long v = std::strtoll(at.value.c_str(), &endp, 10);
                auto e = make(Expr::Kind::Literal, at);
                if (errno == ERANGE)
                    e->literal = Value(std::strtod(at.value.c_str(), nullptr));
                else
                    e->literal = Value(int64_t(v));
                return e;
            }
            case TokenType::Float: {
                next();
                auto e = make(Expr::Kind::Literal, at);
                e->literal = Value(std::strtod(at.value.c_str(), nullptr));
                return e;
            }
            case TokenType::Op:
                if (at.value == "(") {
                    next();
                    if (skip_op(")")) return make(Expr::Kind::Tuple, at);
                    ExprPtr e = parse_expression();
                    if (is_op(",")) {
                        auto t = make(Expr::Kind::Tuple, at);
                        t->children.push_back(std::move(e));
                        while (skip_op(",")) {
                            if (is_op(")")) break;
                            t->children.push_back(parse_expression());
                        }
                        e = std::move(t);
                    }
                    expect_op(")");
                    return e;
                }
                if (at.value == "[") {
                    next();
                    auto l = make(Expr::Kind::List, at);
                    while (!is_op("]")) {
                        if (!l->children.empty()) expect_op(",");
                        if (is_op("]")) break;
                        l->children.push_back(parse_expression());
                    }
                    next();
                    return l;
                }
                if (at.value == "{") {
                    next();
                    auto d = make(Expr::Kind::Dict, at);
                    while (!is_op("}")) {
                        if (!d->children.empty()) expect_op(",");
                        if (is_op("}")) break;
                        d->children.push_back(parse_expression());
                        expect_op(":");
                        d->children.push_back(parse_expression());
                    }
                    next();
                    return d;
                }
                break;
            default:
                break;
        }
        error("unexpected " + describe(at));
    }

    void parse_call_args(Expr& call) {
        expect_op("(");
        bool first = true;
        while (!is_op(")")) {
            if (!first) expect_op(",");
            first = false;
            if (is_op(")")) break;
            if (is_op("*") || is_op("**")) error("*args and **kwargs in calls are not supported");
            if (cur().type == TokenType::Name && peek().type == TokenType::Op &&
                peek().value == "=") {
                std::string k = cur().value;
                next();
                next();
                call.kwargs.emplace_back(k, parse_expression());
            } else {
                if (!call.kwargs.empty()) error("positional argument follows keyword argument");
                call.children.push_back(parse_expression());
            }
        }
        next();
    }

    ExprPtr parse_postfix(ExprPtr e) {
        while (true) {
            const Token at = cur();
            if (skip_op(".")) {
                if (cur().type == TokenType::Name) {
                    auto g = make(Expr::Kind::GetAttr, at);
                    g->name = cur().value;
                    next();
                    g->children.push_back(std::move(e));
                    e = std::move(g);
                } else if (cur().type == TokenType::Int) {
                    auto g = make(Expr::Kind::GetItem, at);
                    g->children.push_back(std::move(e));
                    auto k = make(Expr::Kind::Literal, cur());
                    k->literal = Value(int64_t(std::strtoll(cur().value.c_str(), nullptr, 10)));
                    next();
                    g->children.push_back(std::move(k));
                    e = std::move(g);
                } else {
                    error("expected an attribute name after '.', got " + describe(cur()));
                }
            } else if (is_op("[")) {
                next();
                e = parse_subscript(std::move(e), at);
            } else if (is_op("(")) {
                auto c = make(Expr::Kind::Call, at);
                c->children.push_back(std::move(e));
                parse_call_args(*c);
                e = std::move(c);
            } else {
                return e;
            }
        }
    }

    ExprPtr parse_subscript(ExprPtr obj, const Token& at) {
        ExprPtr parts[3];
        int n = 0;
        bool slice = false;
        while (true) {
            if (is_op(":")) {
                slice = true;
                next();
                if (++n > 2) error("too many ':' in slice");
                continue;
            }
            if (is_op("]")) break;
            if (parts[n]) error("expected ':' or ']' in subscript");
            parts[n] = parse_expression();
        }
        next();
        if (!slice) {
            if (!parts[0]) error("empty subscript");
            auto g = make(Expr::Kind::GetItem, at);
            g->children.push_back(std::move(obj));
            g->children.push_back(std::move(parts[0]));
            return g;
        }
        auto s = make(Expr::Kind::Slice, at);
        s->children.push_back(std::move(obj));
        for (auto& p : parts) s->children.push_back(std::move(p));
        return s;
    }

    // `| name[.name](args)` applied to `input` (null for filter blocks).
    ExprPtr parse_filter(ExprPtr input) {
        const Token at = cur();
        auto f = make(Expr::Kind::Filter, at);
        f->name = expect_name();
        while (skip_op(".")) f->name += "." + expect_name();
        f->children.push_back(std::move(input));
        if (is_op("(")) parse_call_args(*f);
        return f;
    }

    ExprPtr parse_filter_expr(ExprPtr e) {
        while (true) {
            if (skip_op("|")) {
                e = parse_filter(std::move(e));
            } else if (is_name("is")) {
                const Token at = cur();
                next();
                auto t = make(Expr::Kind::Test, at);
                t->negated = skip_name("not");
                t->name = expect_name();
                while (skip_op(".")) t->name += "." + expect_name();
                t->children.push_back(std::move(e));
                const Token& c = cur();
                if (is_op("(")) {
                    parse_call_args(*t);
                } else if ((c.type == TokenType::Name && !is_keyword(c.value)) ||
                           c.type == TokenType::String || c.type == TokenType::Int ||
                           c.type == TokenType::Float || is_op("[") || is_op("{")) {
                    t->children.push_back(parse_postfix(parse_primary()));
                }
                e = std::move(t);
            } else if (is_op("(")) {
                const Token at = cur();
                auto c = make(Expr::Kind::Call, at);
                c->children.push_back(std::move(e));
                parse_call_args(*c);
                e = std::move(c);
            } else {
                return e;
            }
        }
    }

    std::vector<Token> toks_;
    const std::string& name_;
    size_t pos_ = 0;
    int depth_ = 0;
    int loop_depth_ = 0;
};

}  // namespace

Body parse_template(std::string_view source, const std::string& name) {
    Parser p(lex(source, name), name);
    return p.parse_all();
}

}  // namespace ponder::jinja
