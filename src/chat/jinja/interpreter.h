// Renders a parsed template: scopes, statements, expressions. Python Jinja2 semantics under
// transformers' conventions; every failure is a ponder::Error with template name, line and
// column, and all resources (nesting depth, steps, string and list sizes, output) are bounded.
#pragma once
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/jinja/ast.h"
#include "chat/jinja/value.h"

namespace ponder::jinja {

struct RenderLimits {
    size_t max_output_bytes = size_t(16) << 20;  // rendered text, and any single string
    size_t max_list_items = size_t(1) << 20;     // any single list (range(), list * n, ...)
    int max_depth = 300;                         // nested expressions + blocks + macro calls
    uint64_t max_steps = 20'000'000;             // evaluated nodes
};

struct RenderOptions {
    // Time used by strftime_now(); empty = the local time of the machine.
    std::function<std::tm()> clock;
    RenderLimits limits;
};

struct Scope {
    std::unordered_map<std::string, Value> vars;
    std::shared_ptr<Scope> parent;
};

class Interpreter {
  public:
    // `globals` is a dict of variables visible to the whole template (messages, bos_token...).
    Interpreter(std::string name, RenderOptions opt, const Value& globals);
    ~Interpreter();
    Interpreter(const Interpreter&) = delete;
    Interpreter& operator=(const Interpreter&) = delete;

    // Renders `body`; throws Error "<name>:<line>:<col>: <message>".
    std::string render(const Body& body);

    // For builtins: call a callable value, check sizes, access options.
    Value call(const Value& callee, CallArgs& args);
    void check_string(size_t bytes) const;
    void check_list(size_t items) const;
    const RenderOptions& options() const { return opt_; }
    const std::string& name() const { return name_; }
    // Registers a namespace so that reference cycles through it are broken after rendering.
    void track_namespace(const Value& ns) { namespaces_.push_back(ns); }

  private:
    enum class Flow { Normal, Break, Continue };
    struct DepthGuard;

    Flow exec_body(const Body& body, std::string& out);
    Flow exec(const Node& n, std::string& out);
    void exec_for(const Node& n, std::string& out);
    void exec_set(const Node& n);
    void exec_macro_def(const Node& n);
    void exec_call_block(const Node& n, std::string& out);
    Value apply_filter_chain(const Expr& chain, Value input);

    Value eval(const Expr& e);
    Value eval_inner(const Expr& e);
    Value eval_binary(const Expr& e);
    Value eval_compare(const Expr& e);
    Value get_attr(const Value& obj, const std::string& name);
    Value get_item(const Value& obj, const Value& key);
    CallArgs eval_args(const Expr& e, size_t first);
    Value make_macro(const Node& n, std::shared_ptr<Scope> defining, Value caller);

    Value lookup(const std::string& name) const;
    void assign(const std::string& name, Value v);
    void append(std::string& out, std::string_view s);
    void step(int line, int col);

    std::string name_;
    RenderOptions opt_;
    std::shared_ptr<Scope> globals_;
    std::shared_ptr<Scope> scope_;
    std::vector<Value> namespaces_;
    size_t output_bytes_ = 0;
    uint64_t steps_ = 0;
    int depth_ = 0;
    int line_ = 1, col_ = 1;
};

// Binds call arguments to named parameters (positional first, then keywords); missing ones
// are Undefined. Throws Error naming `fn` on unknown keywords or too many positionals.
std::vector<Value> bind_args(const CallArgs& args, const std::vector<std::string>& params,
                             const std::string& fn);

// Builtins (builtins.cpp, filters.cpp).
Value apply_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& args);
bool apply_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& args);
bool has_test(const std::string& name);
// A bound method of a str/dict/list, or Undefined when `obj` has no such method.
Value get_method(const Value& obj, const std::string& name);
// Adds range, namespace, dict, raise_exception, strftime_now to `scope`.
void install_globals(Scope& scope);
// Iterates a value the way a for loop does: list items, dict keys, string characters;
// Undefined is empty. Throws for other kinds.
ValueList iterate(const Value& v);
// Python `in`.
bool contains(const Value& container, const Value& item);
// Python slicing [start:stop:step] of a list or string (strings by code point).
Value slice_value(const Value& v, const Value& start, const Value& stop, const Value& step);

}  // namespace ponder::jinja
