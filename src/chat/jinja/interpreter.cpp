#include "chat/jinja/interpreter.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace ponder::jinja {

struct Interpreter::DepthGuard {
    Interpreter& in;
    explicit DepthGuard(Interpreter& i) : in(i) {
        if (++in.depth_ > in.opt_.limits.max_depth)
            fail("maximum nesting/recursion depth exceeded (limit ", in.opt_.limits.max_depth, ")");
    }
    ~DepthGuard() { --in.depth_; }
};

namespace {

// An error that already carries its template position.
class PositionedError : public Error {
  public:
    using Error::Error;
};

[[noreturn]] void fail_undefined(const Value& v) {
    fail("UndefinedError: ", v.str().empty() ? std::string("value is undefined") : v.str());
}

}  // namespace

Interpreter::Interpreter(std::string name, RenderOptions opt, const Value& globals)
    : name_(std::move(name)), opt_(std::move(opt)) {
    globals_ = std::make_shared<Scope>();
    install_globals(*globals_);
    if (globals.is_dict())
        for (const auto& [k, v] : globals.dict_ref().entries)
            if (k.is_string()) globals_->vars[k.str()] = v;
    // Template-level assignments live in their own scope above the globals.
    scope_ = std::make_shared<Scope>();
    scope_->parent = globals_;
}

Interpreter::~Interpreter() {
    // Break reference cycles through namespaces (ns.x = ns, bound methods stored in them).
    for (auto& ns : namespaces_) ns.dict_ref().entries.clear();
}

std::string Interpreter::render(const Body& body) {
    std::string out;
    try {
        exec_body(body, out);
    } catch (const PositionedError&) {
        throw;
    } catch (const Error& e) {
        fail(name_, ":", line_, ":", col_, ": ", e.what());
    } catch (const std::bad_alloc&) {
        fail(name_, ":", line_, ":", col_, ": out of memory while rendering");
    } catch (const std::exception& e) {
        fail(name_, ":", line_, ":", col_, ": ", e.what());
    }
    return out;
}

void Interpreter::step(int line, int col) {
    line_ = line;
    col_ = col;
    if (++steps_ > opt_.limits.max_steps)
        fail("template evaluation exceeded ", opt_.limits.max_steps, " steps");
}

void Interpreter::check_string(size_t bytes) const {
    if (bytes > opt_.limits.max_output_bytes)
        fail("string of ", bytes, " bytes exceeds the limit of ", opt_.limits.max_output_bytes);
}
void Interpreter::check_list(size_t items) const {
    if (items > opt_.limits.max_list_items)
        fail("list of ", items, " items exceeds the limit of ", opt_.limits.max_list_items);
}

void Interpreter::append(std::string& out, std::string_view s) {
    output_bytes_ += s.size();
    if (output_bytes_ > opt_.limits.max_output_bytes)
        fail("rendered output exceeds the limit of ", opt_.limits.max_output_bytes, " bytes");
    out += s;
}

Value Interpreter::lookup(const std::string& name) const {
    for (const Scope* s = scope_.get(); s; s = s->parent.get()) {
        auto it = s->vars.find(name);
        if (it != s->vars.end()) return it->second;
    }
    return Value::undefined("'" + name + "' is undefined");
}

void Interpreter::assign(const std::string& name, Value v) {
    scope_->vars[name] = std::move(v);
}

// ---- statements --------------------------------------------------------------------------

Interpreter::Flow Interpreter::exec_body(const Body& body, std::string& out) {
    DepthGuard g(*this);
    for (const auto& n : body) {
        Flow f = exec(*n, out);
        if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
}

Interpreter::Flow Interpreter::exec(const Node& n, std::string& out) {
    step(n.line, n.col);
    switch (n.kind) {
        case Node::Kind::Text:
            append(out, n.text);
            break;
        case Node::Kind::Output: {
            Value v = eval(*n.exprs[0]);
            step(n.line, n.col);
            if (!v.is_undefined()) append(out, v.to_str());
            break;
        }
        case Node::Kind::If:
            for (size_t i = 0; i < n.exprs.size(); ++i)
                if (eval(*n.exprs[i]).truthy()) return exec_body(n.bodies[i], out);
            if (n.bodies.size() > n.exprs.size()) return exec_body(n.bodies.back(), out);
            break;
        case Node::Kind::For:
            exec_for(n, out);
            break;
        case Node::Kind::Set:
            exec_set(n);
            break;
        case Node::Kind::SetBlock: {
            std::string buf;
            exec_body(n.bodies[0], buf);
            Value v(std::move(buf));
            if (!n.exprs.empty()) v = apply_filter_chain(*n.exprs[0], v);
            assign(n.names[0], std::move(v));
            break;
        }
        case Node::Kind::Macro:
            exec_macro_def(n);
            break;
        case Node::Kind::CallBlock:
            exec_call_block(n, out);
            break;
        case Node::Kind::FilterBlock: {
            std::string buf;
            exec_body(n.bodies[0], buf);
            Value v = apply_filter_chain(*n.exprs[0], Value(std::move(buf)));
            append(out, v.to_str());
            break;
        }
        case Node::Kind::With: {
            auto inner = std::make_shared<Scope>();
            inner->parent = scope_;
            for (size_t i = 0; i < n.names.size(); ++i) inner->vars[n.names[i]] = eval(*n.exprs[i]);
            auto saved = scope_;
            scope_ = inner;
            Flow f;
            try {
                f = exec_body(n.bodies[0], out);
            } catch (...) {
                scope_ = saved;
                throw;
            }
            scope_ = saved;
            return f;
        }
        case Node::Kind::Break:
            return Flow::Break;
        case Node::Kind::Continue:
            return Flow::Continue;
        case Node::Kind::Do:
            eval(*n.exprs[0]);
            break;
        case Node::Kind::Generation:
            return exec_body(n.bodies[0], out);
    }
    return Flow::Normal;
}

namespace {

// Binds loop targets: one name takes the item, several unpack a list/tuple of that length.
void bind_targets(Scope& s, const std::vector<std::string>& names, const Value& item) {
    if (names.size() == 1) {
        s.vars[names[0]] = item;
        return;
    }
    ValueList parts = iterate(item);
    if (parts.size() != names.size())
        fail("ValueError: cannot unpack ", parts.size(), " values into ", names.size(), " names");
    for (size_t i = 0; i < names.size(); ++i) s.vars[names[i]] = parts[i];
}

}  // namespace

void Interpreter::exec_for(const Node& n, std::string& out) {
    Value seq = eval(*n.exprs[0]);
    if (seq.is_none()) fail("TypeError: 'NoneType' object is not iterable");
    ValueList all = iterate(seq);
    auto saved = scope_;
    struct Restore {
        Interpreter& in;
        std::shared_ptr<Scope> s;
        ~Restore() { in.scope_ = s; }
    } restore{*this, saved};

    // Items passing the `if` filter, evaluated with the targets bound.
    ValueList items;
    if (n.exprs[1]) {
        for (const auto& item : all) {
            step(n.line, n.col);
            auto s = std::make_shared<Scope>();
            s->parent = saved;
            bind_targets(*s, n.names, item);
            scope_ = s;
            if (eval(*n.exprs[1]).truthy()) items.push_back(item);
        }
        scope_ = saved;
    } else {
        items = std::move(all);
    }
    if (items.empty()) {
        if (n.bodies.size() > 1) exec_body(n.bodies[1], out);
        return;
    }
    const int64_t len = int64_t(items.size());
    for (int64_t i = 0; i < len; ++i) {
        step(n.line, n.col);
        auto s = std::make_shared<Scope>();
        s->parent = saved;
        bind_targets(*s, n.names, items[size_t(i)]);
        Value loop = Value::dict();
        auto& d = loop.dict_ref();
        d.set(Value("index"), Value(i + 1));
        d.set(Value("index0"), Value(i));
        d.set(Value("revindex"), Value(len - i));
        d.set(Value("revindex0"), Value(len - i - 1));
        d.set(Value("first"), Value(i == 0));
        d.set(Value("last"), Value(i == len - 1));
        d.set(Value("length"), Value(len));
        d.set(Value("depth"), Value(int64_t(1)));
        d.set(Value("depth0"), Value(int64_t(0)));
        if (i > 0) d.set(Value("previtem"), items[size_t(i - 1)]);
        if (i + 1 < len) d.set(Value("nextitem"), items[size_t(i + 1)]);
        d.set(Value("cycle"), Value::callable(
                                  [i](Interpreter&, CallArgs& a) -> Value {
                                      if (a.args.empty())
                                          fail("TypeError: no items for cycling given");
                                      return a.args[size_t(i) % a.args.size()];
                                  },
                                  "loop.cycle"));
        s->vars["loop"] = std::move(loop);
        scope_ = s;
        Flow f = exec_body(n.bodies[0], out);
        scope_ = saved;
        if (f == Flow::Break) break;
    }
}

void Interpreter::exec_set(const Node& n) {
    Value v = eval(*n.exprs[0]);
    if (!n.attr.empty()) {
        Value ns = lookup(n.names[0]);
        if (!ns.is_namespace())
            fail("TemplateRuntimeError: cannot assign attribute on non-namespace object '",
                 n.names[0], "'");
        ns.dict_ref().set(Value(n.attr), std::move(v));
        return;
    }
    if (n.names.size() == 1) {
        assign(n.names[0], std::move(v));
        return;
    }
    ValueList parts = iterate(v);
    if (parts.size() != n.names.size())
        fail("ValueError: cannot unpack ", parts.size(), " values into ", n.names.size(), " names");
    for (size_t i = 0; i < parts.size(); ++i) assign(n.names[i], parts[i]);
}

Value Interpreter::make_macro(const Node& n, std::shared_ptr<Scope> defining, Value caller) {
    std::weak_ptr<Scope> weak = defining;
    const Node* node = &n;
    std::string name = n.kind == Node::Kind::Macro ? n.names[0] : "caller";
    return Value::callable(
        [node, weak, caller, name](Interpreter& in, CallArgs& a) -> Value {
            DepthGuard g(in);
            auto s = std::make_shared<Scope>();
            s->parent = weak.lock();
            if (!s->parent) s->parent = in.globals_;
            const size_t np = node->params.size();
            ValueList varargs;
            for (size_t i = 0; i < a.args.size(); ++i) {
                if (i < np)
                    s->vars[node->params[i]] = a.args[i];
                else
                    varargs.push_back(a.args[i]);
            }
            Value kwargs = Value::dict();
            for (auto& [k, v] : a.kwargs) {
                bool is_param = false;
                for (size_t i = 0; i < np; ++i)
                    if (node->params[i] == k) {
                        if (i < a.args.size())
                            fail("TypeError: macro '", name, "' got multiple values for argument '",
                                 k, "'");
                        is_param = true;
                    }
                if (is_param)
                    s->vars[k] = v;
                else if (k == "caller")
                    s->vars["caller"] = v;
                else
                    kwargs.dict_ref().set(Value(k), v);
            }
            s->vars["varargs"] = Value::list(std::move(varargs), true);
            s->vars["kwargs"] = kwargs;
            if (!caller.is_undefined()) s->vars["caller"] = caller;
            auto saved = in.scope_;
            in.scope_ = s;
            struct Restore {
                Interpreter& in;
                std::shared_ptr<Scope> s;
                ~Restore() { in.scope_ = s; }
            } restore{in, saved};
            for (size_t i = 0; i < np; ++i)
                if (!s->vars.count(node->params[i])) {
                    if (node->defaults[i])
                        s->vars[node->params[i]] = in.eval(*node->defaults[i]);
                    else
                        s->vars[node->params[i]] = Value::undefined(
                            "parameter '" + node->params[i] + "' was not provided");
                }
            std::string out;
            in.exec_body(node->bodies[0], out);
            return Value(std::move(out));
        },
        name);
}

void Interpreter::exec_macro_def(const Node& n) {
    assign(n.names[0], make_macro(n, scope_, Value()));
}

void Interpreter::exec_call_block(const Node& n, std::string& out) {
    const Expr& call = *n.exprs[0];
    Value callee = eval(*call.children[0]);
    CallArgs args = eval_args(call, 1);
    // `caller` renders the block body in the current scope with the caller's parameters.
    Value caller = make_macro(n, scope_, Value());
    args.kwargs.emplace_back("caller", caller);
    Value r = this->call(callee, args);
    append(out, r.to_str());
}

Value Interpreter::apply_filter_chain(const Expr& chain, Value input) {
    // The chain is nested Filter nodes; the innermost has a null input.
    if (chain.kind != Expr::Kind::Filter) fail("invalid filter chain");
    Value inner = chain.children[0] ? apply_filter_chain(*chain.children[0], input) : input;
    CallArgs args = eval_args(chain, 1);
    step(chain.line, chain.col);
    return apply_filter(*this, chain.name, inner, args);
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
    if (callee.is_undefined()) fail_undefined(callee);
    if (!callee.is_callable()) fail("TypeError: '", callee.type_name(), "' object is not callable");
    return callee.fn()(*this, args);
}

// ---- expressions -------------------------------------------------------------------------

Value Interpreter::eval(const Expr& e) {
    DepthGuard g(*this);
    step(e.line, e.col);
    try {
        Value v = eval_inner(e);
        if (v.is_string())
            check_string(v.str().size());
        else if (v.is_list())
            check_list(v.items().size());
        return v;
    } catch (const PositionedError&) {
        throw;
    } catch (const Error& err) {
        throw PositionedError(cat(name_, ":", e.line, ":", e.col, ": ", err.what()));
    }
}

CallArgs Interpreter::eval_args(const Expr& e, size_t first) {
    CallArgs a;
    for (size_t i = first; i < e.children.size(); ++i) a.args.push_back(eval(*e.children[i]));
    for (const auto& [k, v] : e.kwargs) a.kwargs.emplace_back(k, eval(*v));
    return a;
}

Value Interpreter::eval_inner(const Expr& e) {
    switch (e.kind) {
        case Expr::Kind::Literal:
            return e.literal;
        case Expr::Kind::Name:
            return lookup(e.name);
        case Expr::Kind::List:
        case Expr::Kind::Tuple: {
            ValueList items;
            for (const auto& c : e.children) items.push_back(eval(*c));
            return Value::list(std::move(items), e.kind == Expr::Kind::Tuple);
        }
        case Expr::Kind::Dict: {
            Value d = Value::dict();
            for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
                Value k = eval(*e.children[i]);
                if (k.is_list() && !k.is_tuple()) fail("TypeError: unhashable type: 'list'");
                if (k.is_dict()) fail("TypeError: unhashable type: 'dict'");
                d.dict_ref().set(k, eval(*e.children[i + 1]));
            }
            return d;
        }
        case Expr::Kind::GetAttr:
            return get_attr(eval(*e.children[0]), e.name);
        case Expr::Kind::GetItem:
            return get_item(eval(*e.children[0]), eval(*e.children[1]));
        case Expr::Kind::Slice: {
            Value obj = eval(*e.children[0]);
            if (obj.is_undefined()) fail_undefined(obj);
            Value b[3];
            for (int i = 0; i < 3; ++i)
                b[i] = e.children[size_t(i) + 1] ? eval(*e.children[size_t(i) + 1]) : Value::none();
            return slice_value(obj, b[0], b[1], b[2]);
        }
        case Expr::Kind::Call: {
            Value callee = eval(*e.children[0]);
            CallArgs args = eval_args(e, 1);
            return call(callee, args);
        }
        case Expr::Kind::Filter: {
            Value input = eval(*e.children[0]);
            CallArgs args = eval_args(e, 1);
            return apply_filter(*this, e.name, input, args);
        }
        case Expr::Kind::Test: {
            Value v = eval(*e.children[0]);
            CallArgs args = eval_args(e, 1);
            bool r = apply_test(*this, e.name, v, args);
            return Value(e.negated ? !r : r);
        }
        case Expr::Kind::Unary: {
            Value v = eval(*e.children[0]);
            if (e.name == "not") return Value(!v.truthy());
            if (v.is_undefined()) fail_undefined(v);
            if (!v.is_number())
                fail("TypeError: bad operand type for unary ", e.name, ": '", v.type_name(), "'");
            if (e.name == "+") return v.is_float() ? v : Value(v.as_int());
            if (v.is_float()) return Value(-v.as_double());
            if (v.as_int() == std::numeric_limits<int64_t>::min()) fail("integer overflow");
            return Value(-v.as_int());
        }
        case Expr::Kind::Binary:
            return eval_binary(e);
        case Expr::Kind::Compare:
            return eval_compare(e);
        case Expr::Kind::CondExpr: {
            if (eval(*e.children[0]).truthy()) return eval(*e.children[1]);
            if (e.children[2]) return eval(*e.children[2]);
            return Value::undefined(
                "the inline if-expression evaluated to false and no else "
                "section was defined");
        }
    }
    return Value();
}

Value Interpreter::get_attr(const Value& obj, const std::string& name) {
    if (obj.is_undefined()) fail_undefined(obj);
    if (obj.is_dict()) {
        if (!obj.is_namespace()) {
            Value m = get_method(obj, name);
            if (!m.is_undefined()) return m;
        }
        if (const Value* v = obj.dict_ref().find(name)) return *v;
        return Value::undefined("'" + std::string(obj.is_namespace() ? "Namespace" : "dict") +
                                " object' has no attribute '" + name + "'");
    }
    Value m = get_method(obj, name);
    if (!m.is_undefined()) return m;
    return Value::undefined("'" + obj.type_name() + " object' has no attribute '" + name + "'");
}

Value Interpreter::get_item(const Value& obj, const Value& key) {
    if (obj.is_undefined()) fail_undefined(obj);
    if (obj.is_dict()) {
        if (const Value* v = obj.dict_ref().find(key)) return *v;
        if (key.is_string() && !obj.is_namespace()) {
            Value m = get_method(obj, key.str());
            if (!m.is_undefined()) return m;
        }
        return Value::undefined("'dict object' has no attribute '" + key.to_str() + "'");
    }
    if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
        int64_t i = key.as_int();
        if (obj.is_list()) {
            int64_t n = int64_t(obj.items().size());
            if (i < 0) i += n;
            if (i < 0 || i >= n) return Value::undefined("list index out of range");
            return obj.items()[size_t(i)];
        }
        std::vector<size_t> off = utf8_offsets(obj.str());
        int64_t n = int64_t(off.size()) - 1;
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Value::undefined("string index out of range");
        return Value(obj.str().substr(off[size_t(i)], off[size_t(i) + 1] - off[size_t(i)]));
    }
    if (key.is_string()) return get_attr(obj, key.str());
    return Value::undefined("'" + obj.type_name() + " object' has no item " + key.repr());
}

namespace {

void overflow_if(bool overflow) {
    if (overflow) fail("integer overflow (ponder's Jinja integers are 64-bit)");
}

Value arith(const std::string& op, const Value& a, const Value& b) {
    if (!a.is_number() || !b.is_number())
        fail("TypeError: unsupported operand type(s) for ", op, ": '", a.type_name(), "' and '",
             b.type_name(), "'");
    const bool flt = a.is_float() || b.is_float();
    if (op == "/") {
        if (b.as_double() == 0) fail("ZeroDivisionError: division by zero");
        return Value(a.as_double() / b.as_double());
    }
    if (flt) {
        double x = a.as_double(), y = b.as_double();
        if (op == "+") return Value(x + y);
        if (op == "-") return Value(x - y);
        if (op == "*") return Value(x * y);
        if (op == "**") return Value(std::pow(x, y));
        if (y == 0) fail("ZeroDivisionError: float division by zero");
        if (op == "//") return Value(std::floor(x / y));
        double m = std::fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return Value(m);
    }
    int64_t x = a.as_int(), y = b.as_int(), r = 0;
    if (op == "+") {
        overflow_if(__builtin_add_overflow(x, y, &r));
        return Value(r);
    }
    if (op == "-") {
        overflow_if(__builtin_sub_overflow(x, y, &r));
        return Value(r);
    }
    if (op == "*") {
        overflow_if(__builtin_mul_overflow(x, y, &r));
        return Value(r);
    }
    if (op == "**") {
        if (y < 0) return Value(std::pow(double(x), double(y)));
        int64_t acc = 1;
        for (int64_t base = x; y > 0; y >>= 1) {
            if (y & 1) overflow_if(__builtin_mul_overflow(acc, base, &acc));
            if (y > 1) overflow_if(__builtin_mul_overflow(base, base, &base));
        }
        return Value(acc);
    }
    if (y == 0) fail("ZeroDivisionError: integer division or modulo by zero");
    if (x == std::numeric_limits<int64_t>::min() && y == -1) fail("integer overflow");
    int64_t q = x / y, m = x % y;
    if (m != 0 && ((m < 0) != (y < 0))) {
        q -= 1;
        m += y;
    }
    return Value(op == "//" ? q : m);
}

}  // namespace

Value Interpreter::eval_binary(const Expr& e) {
    const std::string& op = e.name;
    if (op == "and") {
        Value l = eval(*e.children[0]);
        return l.truthy() ? eval(*e.children[1]) : l;
    }
    if (op == "or") {
        Value l = eval(*e.children[0]);
        return l.truthy() ? l : eval(*e.children[1]);
    }
    Value a = eval(*e.children[0]);
    Value b = eval(*e.children[1]);
    if (op == "~") {
        std::string sa = a.to_str(), sb = b.to_str();
        check_string(sa.size() + sb.size());
        return Value(sa + sb);
    }
    if (a.is_undefined()) fail_undefined(a);
    if (b.is_undefined()) fail_undefined(b);
    if (op == "+") {
        if (a.is_string() && b.is_string()) {
            check_string(a.str().size() + b.str().size());
            return Value(a.str() + b.str());
        }
        if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
            check_list(a.items().size() + b.items().size());
            ValueList r = a.items();
            r.insert(r.end(), b.items().begin(), b.items().end());
            return Value::list(std::move(r), a.is_tuple());
        }
        if (a.is_string() || b.is_string())
            fail("TypeError: can only concatenate str (not \"", (a.is_string() ? b : a).type_name(),
                 "\") to str");
        if (a.is_list() || b.is_list())
            fail("TypeError: can only concatenate ", (a.is_list() ? a : b).type_name(), " (not \"",
                 (a.is_list() ? b : a).type_name(), "\") to ", (a.is_list() ? a : b).type_name());
    }
    if (op == "*" && (a.is_string() || a.is_list() || b.is_string() || b.is_list())) {
        const Value& seq = (a.is_string() || a.is_list()) ? a : b;
        const Value& cnt = (a.is_string() || a.is_list()) ? b : a;
        if (!(cnt.is_int() || cnt.is_bool()))
            fail("TypeError: can't multiply sequence by non-int of type '", cnt.type_name(), "'");
        int64_t n = std::max<int64_t>(0, cnt.as_int());
        if (seq.is_string()) {
            if (!seq.str().empty() && uint64_t(n) > opt_.limits.max_output_bytes / seq.str().size())
                check_string(opt_.limits.max_output_bytes + 1);
            std::string r;
            for (int64_t i = 0; i < n && !seq.str().empty(); ++i) r += seq.str();
            return Value(std::move(r));
        }
        if (!seq.items().empty() && uint64_t(n) > opt_.limits.max_list_items / seq.items().size())
            check_list(opt_.limits.max_list_items + 1);
        ValueList r;
        for (int64_t i = 0; i < n && !seq.items().empty(); ++i)
            r.insert(r.end(), seq.items().begin(), seq.items().end());
        return Value::list(std::move(r), seq.is_tuple());
    }
    if (op == "%" && a.is_string())
        fail("TypeError: printf-style string formatting ('%') is not supported");
    return arith(op, a, b);
}

Value Interpreter::eval_compare(const Expr& e) {
    Value left = eval(*e.children[0]);
    for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.children[i + 1]);
        const std::string& op = e.ops[i];
        bool r;
        if (op == "==")
            r = left.equals(right);
        else if (op == "!=")
            r = !left.equals(right);
        else if (op == "in")
            r = contains(right, left);
        else if (op == "not in")
            r = !contains(right, left);
        else {
            if (left.is_undefined()) fail_undefined(left);
            if (right.is_undefined()) fail_undefined(right);
            int c = left.compare(right);
            r = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
        }
        if (!r) return Value(false);
        left = std::move(right);
    }
    return Value(true);
}

std::vector<Value> bind_args(const CallArgs& args, const std::vector<std::string>& params,
                             const std::string& fn) {
    if (args.args.size() > params.size())
        fail("TypeError: ", fn, "() takes at most ", params.size(), " arguments (",
             args.args.size(), " given)");
    std::vector<Value> out(params.size());
    for (size_t i = 0; i < args.args.size(); ++i) out[i] = args.args[i];
    for (const auto& [k, v] : args.kwargs) {
        size_t i = 0;
        while (i < params.size() && params[i] != k) ++i;
        if (i == params.size())
            fail("TypeError: ", fn, "() got an unexpected keyword argument '", k, "'");
        out[i] = v;
    }
    return out;
}

}  // namespace ponder::jinja
