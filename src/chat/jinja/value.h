// Values of the Jinja engine: Python-like dynamic values with Python semantics for printing,
// truthiness, equality and ordering (what Jinja2 inherits from Python).
//
// Lists and dicts have reference semantics (copies of a Value share the container), like
// Python objects; namespaces are dicts whose attributes can be assigned with `set ns.x = v`.
// Dicts keep insertion order. Strings are UTF-8; lengths and indices count code points.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ponder::jinja {

class Value;
class Interpreter;

using ValueList = std::vector<Value>;

// Arguments of a call: positional values then keyword (name, value) pairs.
struct CallArgs {
    std::vector<Value> args;
    std::vector<std::pair<std::string, Value>> kwargs;
};

// A callable value (macro, global function, bound method). It may throw Error; `interp`
// renders macro bodies and reports positions.
using NativeFn = std::function<Value(Interpreter& interp, CallArgs& args)>;

struct ValueDict;

class Value {
  public:
    enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Callable };

    Value() = default;  // Undefined
    static Value undefined(std::string hint = {});
    static Value none();
    Value(bool b);
    Value(int64_t i);
    Value(int i) : Value(int64_t(i)) {}
    Value(double f);
    Value(std::string s);
    Value(const char* s) : Value(std::string(s)) {}
    static Value list(ValueList items = {}, bool tuple = false);
    static Value dict();
    static Value namespace_object();
    static Value callable(NativeFn fn, std::string name);

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::Undefined; }
    bool is_none() const { return kind_ == Kind::None; }
    bool is_bool() const { return kind_ == Kind::Bool; }
    bool is_int() const { return kind_ == Kind::Int; }
    bool is_float() const { return kind_ == Kind::Float; }
    bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || is_bool(); }
    bool is_string() const { return kind_ == Kind::String; }
    bool is_list() const { return kind_ == Kind::List; }
    bool is_tuple() const { return kind_ == Kind::List && tuple_; }
    bool is_dict() const { return kind_ == Kind::Dict; }
    bool is_namespace() const;
    bool is_callable() const { return kind_ == Kind::Callable; }

    bool as_bool() const { return b_; }
    int64_t as_int() const;                         // Bool and Int
    double as_double() const;                       // Bool, Int and Float
    const std::string& str() const { return s_; }   // String (also: the Undefined hint)
    ValueList& items() const { return *list_; }     // List
    ValueDict& dict_ref() const { return *dict_; }  // Dict
    const NativeFn& fn() const { return *fn_; }     // Callable
    const std::string& callable_name() const { return s_; }

    bool truthy() const;
    // Python str(): what `{{ v }}` prints. Undefined prints as "".
    std::string to_str() const;
    // Python repr(): how the value prints inside a list or dict.
    std::string repr() const;
    // Python type name for messages ("str", "int", "dict", ...).
    std::string type_name() const;
    // Number of code points / items / keys; throws Error for other kinds.
    int64_t length() const;

    // Python ==, across int/float/bool; deep for lists and dicts.
    bool equals(const Value& o) const;
    // Python <: -1, 0, 1; throws Error when the kinds cannot be ordered.
    int compare(const Value& o) const;

    static Value from_json(const nlohmann::ordered_json& j);

  private:
    Kind kind_ = Kind::Undefined;
    bool b_ = false;
    bool tuple_ = false;
    int64_t i_ = 0;
    double f_ = 0;
    std::string s_;
    std::shared_ptr<ValueList> list_;
    std::shared_ptr<ValueDict> dict_;
    std::shared_ptr<NativeFn> fn_;
};

// Insertion-ordered mapping. Keys are hashable values (strings, numbers, none, bools).
struct ValueDict {
    std::vector<std::pair<Value, Value>> entries;
    bool is_namespace = false;

    const Value* find(const Value& key) const;
    const Value* find(std::string_view key) const;
    const Value* find(const std::string& key) const { return find(std::string_view(key)); }
    const Value* find(const char* key) const { return find(std::string_view(key)); }
    void set(const Value& key, Value v);
};

// Python float repr: shortest round-trip digits, "1.0", "1e+20", "inf", "nan".
std::string format_float(double d);
// Python string repr with the same quote choice as CPython.
std::string py_repr_string(std::string_view s);
// json.dumps(v, ensure_ascii=False, indent=indent, separators=..., sort_keys=...), as
// transformers' `tojson` filter does. indent < 0 means None. Throws Error for values that
// are not JSON serializable (undefined, callables).
std::string to_json(const Value& v, int indent, bool sort_keys = false);

// UTF-8 helpers: code point boundaries (byte offsets of each code point, plus the end).
std::vector<size_t> utf8_offsets(std::string_view s);
bool is_ascii(std::string_view s);

}  // namespace ponder::jinja
