// Tests (`is ...`), methods of str/dict/list, global functions, iteration, `in`, slicing.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "chat/jinja/interpreter.h"
#include "chat/jinja/strings.h"
#include "core/error.h"

namespace ponder::jinja {

ValueList iterate(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::Undefined:
            return {};
        case Value::Kind::List:
            return v.items();
        case Value::Kind::Dict: {
            ValueList keys;
            for (const auto& e : v.dict_ref().entries) keys.push_back(e.first);
            return keys;
        }
        case Value::Kind::String: {
            ValueList chars;
            std::vector<size_t> off = utf8_offsets(v.str());
            for (size_t i = 0; i + 1 < off.size(); ++i)
                chars.emplace_back(v.str().substr(off[i], off[i + 1] - off[i]));
            return chars;
        }
        default:
            fail("TypeError: '", v.type_name(), "' object is not iterable");
    }
}

bool contains(const Value& container, const Value& item) {
    switch (container.kind()) {
        case Value::Kind::Undefined:
            return false;
        case Value::Kind::String:
            if (!item.is_string())
                fail("TypeError: 'in <string>' requires string as left operand, not ",
                     item.type_name());
            return container.str().find(item.str()) != std::string::npos;
        case Value::Kind::List:
            for (const auto& x : container.items())
                if (x.equals(item)) return true;
            return false;
        case Value::Kind::Dict:
            return container.dict_ref().find(item) != nullptr;
        default:
            fail("TypeError: argument of type '", container.type_name(), "' is not iterable");
    }
}

Value slice_value(const Value& v, const Value& start, const Value& stop, const Value& step) {
    auto as_index = [](const Value& x, const char* what) -> std::optional<int64_t> {
        if (x.is_none() || x.is_undefined()) return std::nullopt;
        if (!x.is_int() && !x.is_bool())
            fail("TypeError: slice ", what, " must be an integer or None, not ", x.type_name());
        return x.as_int();
    };
    int64_t st = as_index(step, "step").value_or(1);
    if (st == 0) fail("ValueError: slice step cannot be zero");
    const bool is_str = v.is_string();
    if (!is_str && !v.is_list())
        fail("TypeError: '", v.type_name(), "' object is not subscriptable");
    std::vector<size_t> off;
    int64_t n;
    if (is_str) {
        off = utf8_offsets(v.str());
        n = int64_t(off.size()) - 1;
    } else {
        n = int64_t(v.items().size());
    }
    // Python's PySlice_AdjustIndices.
    auto adjust = [&](std::optional<int64_t> x, int64_t def_pos, int64_t def_neg) {
        if (!x) return st > 0 ? def_pos : def_neg;
        int64_t i = *x;
        if (i < 0) {
            i += n;
            if (i < 0) i = st < 0 ? -1 : 0;
        } else if (i >= n) {
            i = st < 0 ? n - 1 : n;
        }
        return i;
    };
    int64_t b = adjust(as_index(start, "start"), 0, n - 1);
    int64_t e = adjust(as_index(stop, "stop"), n, -1);
    std::vector<int64_t> idx;
    if (st > 0)
        for (int64_t i = b; i < e; i += st) idx.push_back(i);
    else
        for (int64_t i = b; i > e; i += st) idx.push_back(i);
    if (is_str) {
        std::string out;
        for (int64_t i : idx)
            out += v.str().substr(off[size_t(i)], off[size_t(i) + 1] - off[size_t(i)]);
        return Value(std::move(out));
    }
    ValueList out;
    for (int64_t i : idx) out.push_back(v.items()[size_t(i)]);
    return Value::list(std::move(out), v.is_tuple());
}

// ---- tests -------------------------------------------------------------------------------

namespace {

const char* const kTests[] = {
    "defined", "undefined", "none",   "boolean", "false",       "true",        "integer",
    "float",   "number",    "string", "mapping", "iterable",    "sequence",    "callable",
    "sameas",  "escaped",   "in",     "even",    "odd",         "divisibleby", "equalto",
    "eq",      "==",        "ne",     "!=",      "lt",          "<",           "lessthan",
    "le",      "<=",        "gt",     ">",       "greaterthan", "ge",          ">=",
    "lower",   "upper",     "filter", "test"};

}  // namespace

bool has_test(const std::string& name) {
    for (const char* t : kTests)
        if (name == t) return true;
    return false;
}

bool apply_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& args) {
    (void)in;
    auto arg = [&](size_t i) -> const Value& {
        if (args.args.size() <= i)
            fail("TypeError: test '", name, "' expects ", i + 1, " argument(s)");
        return args.args[i];
    };
    auto need_undef_ok = [&] {
        if (v.is_undefined())
            fail("UndefinedError: ", v.str().empty() ? "value is undefined" : v.str());
    };
    if (name == "defined") return !v.is_undefined();
    if (name == "undefined") return v.is_undefined();
    if (name == "none") return v.is_none();
    if (name == "boolean") return v.is_bool();
    if (name == "false") return v.is_bool() && !v.as_bool();
    if (name == "true") return v.is_bool() && v.as_bool();
    if (name == "integer") return v.is_int();
    if (name == "float") return v.is_float();
    if (name == "number") return v.is_number();
    if (name == "string") return v.is_string();
    if (name == "mapping") return v.is_dict() && !v.is_namespace();
    if (name == "iterable" || name == "sequence")
        return v.is_undefined() || v.is_string() || v.is_list() ||
               (v.is_dict() && !v.is_namespace());
    if (name == "callable") return v.is_callable();
    if (name == "escaped") return false;
    if (name == "sameas") {
        const Value& o = arg(0);
        if (v.kind() != o.kind()) return false;
        if (v.is_none() || v.is_undefined()) return true;
        if (v.is_bool()) return v.as_bool() == o.as_bool();
        if (v.is_list() || v.is_dict() || v.is_callable())
            return v.equals(o) && v.repr() == o.repr();
        return v.equals(o);
    }
    if (name == "in") return contains(arg(0), v);
    if (name == "even" || name == "odd" || name == "divisibleby") {
        need_undef_ok();
        if (!(v.is_int() || v.is_bool()))
            fail("TypeError: test '", name, "' needs an integer, got ", v.type_name());
        if (name == "even") return v.as_int() % 2 == 0;
        if (name == "odd") return v.as_int() % 2 != 0;
        const Value& d = arg(0);
        if (!(d.is_int() || d.is_bool()) || d.as_int() == 0)
            fail("TypeError: divisibleby needs a non-zero integer");
        return v.as_int() % d.as_int() == 0;
    }
    if (name == "equalto" || name == "eq" || name == "==") return v.equals(arg(0));
    if (name == "ne" || name == "!=") return !v.equals(arg(0));
    if (name == "lt" || name == "<" || name == "lessthan" || name == "le" || name == "<=" ||
        name == "gt" || name == ">" || name == "greaterthan" || name == "ge" || name == ">=") {
        need_undef_ok();
        if (arg(0).is_undefined()) fail("UndefinedError: ", arg(0).str());
        int c = v.compare(arg(0));
        if (name == "lt" || name == "<" || name == "lessthan") return c < 0;
        if (name == "le" || name == "<=") return c <= 0;
        if (name == "gt" || name == ">" || name == "greaterthan") return c > 0;
        return c >= 0;
    }
    if (name == "lower" || name == "upper") {
        std::string s = v.to_str();
        bool cased = false;
        for (unsigned char c : s) {
            if (std::isalpha(c)) cased = true;
            if (name == "lower" && std::isupper(c)) return false;
            if (name == "upper" && std::islower(c)) return false;
        }
        return cased;
    }
    if (name == "filter" || name == "test") {
        static const char* const kFilters[] = {
            "abs",      "attr",   "capitalize", "center",     "count",      "d",        "default",
            "dictsort", "e",      "escape",     "first",      "float",      "format",   "indent",
            "int",      "items",  "join",       "last",       "length",     "list",     "lower",
            "map",      "max",    "min",        "reject",     "rejectattr", "replace",  "reverse",
            "round",    "safe",   "select",     "selectattr", "sort",       "string",   "sum",
            "title",    "tojson", "trim",       "unique",     "upper",      "wordcount"};
        if (!v.is_string()) return false;
        if (name == "test") return has_test(v.str());
        for (const char* f : kFilters)
            if (v.str() == f) return true;
        return false;
    }
    fail("TemplateAssertionError: no test named '", name, "'");
}

// ---- methods -----------------------------------------------------------------------------

namespace {

Value method(Value self, std::string name,
             std::function<Value(Interpreter&, const Value&, CallArgs&)> body) {
    std::string label = self.type_name() + "." + name;
    return Value::callable([self = std::move(self), body = std::move(body)](
                               Interpreter& in, CallArgs& a) { return body(in, self, a); },
                           label);
}

const std::string* opt_str(const Value& v, const char* what) {
    if (v.is_undefined() || v.is_none()) return nullptr;
    if (!v.is_string()) fail("TypeError: ", what, " arg must be None or str");
    return &v.str();
}

int64_t opt_int(const Value& v, int64_t def) {
    if (v.is_undefined() || v.is_none()) return def;
    if (!(v.is_int() || v.is_bool())) fail("TypeError: expected an integer, got ", v.type_name());
    return v.as_int();
}

bool affix_match(const Value& self, const Value& arg, bool prefix) {
    auto one = [&](const Value& p) {
        if (!p.is_string())
            fail("TypeError: ", prefix ? "startswith" : "endswith",
                 " first arg must be str or a tuple of str, not ", p.type_name());
        const std::string& s = self.str();
        const std::string& x = p.str();
        if (x.size() > s.size()) return false;
        return prefix ? s.compare(0, x.size(), x) == 0
                      : s.compare(s.size() - x.size(), x.size(), x) == 0;
    };
    if (arg.is_list()) {
        for (const auto& p : arg.items())
            if (one(p)) return true;
        return false;
    }
    return one(arg);
}

Value string_method(const Value& s, const std::string& name) {
    auto strip = [&](StripSide side) {
        return method(s, name, [side](Interpreter&, const Value& self, CallArgs& a) {
            auto p = bind_args(a, {"chars"}, "strip");
            return Value(py_strip(self.str(), opt_str(p[0], "strip"), side));
        });
    };
    if (name == "strip") return strip(StripSide::Both);
    if (name == "lstrip") return strip(StripSide::Left);
    if (name == "rstrip") return strip(StripSide::Right);
    if (name == "split")
        return method(s, name, [](Interpreter&, const Value& self, CallArgs& a) {
            auto p = bind_args(a, {"sep", "maxsplit"}, "split");
            ValueList out;
            for (auto& part : py_split(self.str(), opt_str(p[0], "split"), opt_int(p[1], -1)))
                out.emplace_back(std::move(part));
            return Value::list(std::move(out));
        });
    if (name == "splitlines")
        return method(s, name, [](Interpreter&, const Value& self, CallArgs& a) {
            auto p = bind_args(a, {"keepends"}, "splitlines");
            const bool keep = p[0].truthy();
            ValueList out;
            const std::string& str = self.str();
            size_t b = 0;
            for (size_t i = 0; i < str.size(); ++i) {
                if (str[i] != '\n' && str[i] != '\r') continue;
                size_t e = i;
                if (str[i] == '\r' && i + 1 < str.size() && str[i + 1] == '\n') ++i;
                out.emplace_back(str.substr(b, (keep ? i + 1 : e) - b));
                b = i + 1;
            }
            if (b < str.size()) out.emplace_back(str.substr(b));
            return Value::list(std::move(out));
        });
    if (name == "startswith" || name == "endswith") {
        const bool prefix = name == "startswith";
        return method(s, name, [prefix](Interpreter&, const Value& self, CallArgs& a) {
            auto p = bind_args(a, {"prefix"}, prefix ? "startswith" : "endswith");
            return Value(affix_match(self, p[0], prefix));
        });
    }
    if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
        return method(s, name, [name](Interpreter&, const Value& self, CallArgs& a) {
            bind_args(a, {}, name);
            if (name == "upper") return Value(py_upper(self.str()));
            if (name == "lower") return Value(py_lower(self.str()));
            if (name == "title") return Value(py_title(self.str()));
            return Value(py_capitalize(self.str()));
        });
    }
    if (name == "replace")
        return method(s, name, [](Interpreter& in, const Value& self, CallArgs& a) {
            auto p = bind_args(a, {"old", "new", "count"}, "replace");
            if (!p[0].is_string() || !p[1].is_string())
                fail("TypeError: replace() arguments must be str");
            return Value(py_replace(self.str(), p[0].str(), p[1].str(), opt_int(p[2], -1),
                                    in.options().limits.max_output_bytes));
        });
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count")
        return method(s, name, [name](Interpreter&, const Value& self, CallArgs& a) {
            auto p = bind_args(a, {"sub"}, name);
            if (!p[0].is_string()) fail("TypeError: ", name, "() argument must be str");
            const std::string& str = self.str();
            const std::string& sub = p[0].str();
            if (name == "count") {
                if (sub.empty()) return Value(Value(str).length() + 1);
                int64_t n = 0;
                for (size_t f = str.find(sub); f != std::string::npos;
                     f = str.find(sub, f + sub.size()))
                    ++n;
                return Value(n);
            }
            size_t f = (name == "find" || name == "index") ? str.find(sub) : str.rfind(sub);
            if (f == std::string::npos) {
                if (name == "index" || name == "rindex") fail("ValueError: substring not found");
                return Value(int64_t(-1));
            }
            return Value(Value(str.substr(0, f)).length());
        });
    if (name == "join")
        return method(s, name, [](Interpreter& in, const Value& self, CallArgs& a) {
            auto p = bind_args(a, {"iterable"}, "join");
            std::string out;
            bool first = true;
            for (const auto& x : iterate(p[0])) {
                if (!x.is_string())
                    fail("TypeError: sequence item: expected str instance, ", x.type_name(),
                         " found");
                if (!first) out += self.str();
                first = false;
                out += x.str();
                in.check_string(out.size());
            }
            return Value(std::move(out));
        });
    if (name == "removeprefix" || name == "removesuffix")
        return method(s, name, [name](Interpreter&, const Value& self, CallArgs& a) {
            auto p = bind_args(a, {"affix"}, name);
            if (!p[0].is_string()) fail("TypeError: ", name, "() argument must be str");
            const bool prefix = name == "removeprefix";
            if (!affix_match(self, p[0], prefix)) return self;
            const size_t n = p[0].str().size();
            return Value(prefix ? self.str().substr(n)
                                : self.str().substr(0, self.str().size() - n));
        });
    if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" ||
        name == "islower" || name == "isupper")
        return method(s, name, [name](Interpreter&, const Value& self, CallArgs& a) {
            bind_args(a, {}, name);
            const std::string& str = self.str();
            if (str.empty()) return Value(false);
            if (name == "islower" || name == "isupper") {
                bool cased = false;
                for (unsigned char c : str) {
                    if (std::isalpha(c)) cased = true;
                    if (name == "islower" ? std::isupper(c) : std::islower(c)) return Value(false);
                }
                return Value(cased);
            }
            for (uint32_t c : decode_utf8(str)) {
                bool ok = name == "isdigit"   ? (c >= '0' && c <= '9')
                          : name == "isspace" ? py_isspace(c)
                          : name == "isalpha" ? (c >= 0x80 || std::isalpha(int(c)))
                                              : (c >= 0x80 || std::isalnum(int(c)));
                if (!ok) return Value(false);
            }
            return Value(true);
        });
    return Value();
}

Value dict_method(const Value& d, const std::string& name) {
    if (name == "items" || name == "keys" || name == "values")
        return method(d, name, [name](Interpreter&, const Value& self, CallArgs& a) {
            bind_args(a, {}, name);
            ValueList out;
            for (const auto& [k, v] : self.dict_ref().entries) {
                if (name == "items")
                    out.push_back(Value::list({k, v}, true));
                else
                    out.push_back(name == "keys" ? k : v);
            }
            return Value::list(std::move(out));
        });
    if (name == "get")
        return method(d, name, [](Interpreter&, const Value& self, CallArgs& a) {
            auto p = bind_args(a, {"key", "default"}, "get");
            if (const Value* v = self.dict_ref().find(p[0])) return *v;
            return p[1].is_undefined() ? Value::none() : p[1];
        });
    if (name == "copy")
        return method(d, name, [](Interpreter&, const Value& self, CallArgs& a) {
            bind_args(a, {}, "copy");
            Value c = Value::dict();
            c.dict_ref().entries = self.dict_ref().entries;
            return c;
        });
    return Value();
}

Value list_method(const Value& l, const std::string& name) {
    if (name == "index" || name == "count")
        return method(l, name, [name](Interpreter&, const Value& self, CallArgs& a) {
            auto p = bind_args(a, {"value"}, name);
            int64_t n = 0;
            for (size_t i = 0; i < self.items().size(); ++i)
                if (self.items()[i].equals(p[0])) {
                    if (name == "index") return Value(int64_t(i));
                    ++n;
                }
            if (name == "index") fail("ValueError: ", p[0].repr(), " is not in list");
            return Value(n);
        });
    return Value();
}

}  // namespace

Value get_method(const Value& obj, const std::string& name) {
    if (obj.is_string()) return string_method(obj, name);
    if (obj.is_dict() && !obj.is_namespace()) return dict_method(obj, name);
    if (obj.is_list()) return list_method(obj, name);
    return Value();
}

// ---- globals -----------------------------------------------------------------------------

void install_globals(Scope& scope) {
    scope.vars["range"] = Value::callable(
        [](Interpreter& in, CallArgs& a) {
            if (!a.kwargs.empty()) fail("TypeError: range() takes no keyword arguments");
            if (a.args.empty() || a.args.size() > 3)
                fail("TypeError: range expected 1 to 3 arguments, got ", a.args.size());
            for (const auto& x : a.args)
                if (!(x.is_int() || x.is_bool()))
                    fail("TypeError: '", x.type_name(),
                         "' object cannot be interpreted as an integer");
            int64_t start = 0, stop, step = 1;
            if (a.args.size() == 1) {
                stop = a.args[0].as_int();
            } else {
                start = a.args[0].as_int();
                stop = a.args[1].as_int();
                if (a.args.size() == 3) step = a.args[2].as_int();
            }
            if (step == 0) fail("ValueError: range() arg 3 must not be zero");
            double count = std::ceil((double(stop) - double(start)) / double(step));
            if (count > double(in.options().limits.max_list_items))
                in.check_list(in.options().limits.max_list_items + 1);
            ValueList out;
            for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
                out.emplace_back(i);
                if (__builtin_add_overflow(i, step, &i)) break;
                i -= step;
            }
            return Value::list(std::move(out));
        },
        "range");
    scope.vars["namespace"] = Value::callable(
        [](Interpreter& in, CallArgs& a) {
            Value ns = Value::namespace_object();
            for (const auto& x : a.args) {
                if (!x.is_dict()) fail("TypeError: namespace() positional arguments must be dicts");
                for (const auto& [k, v] : x.dict_ref().entries) ns.dict_ref().set(k, v);
            }
            for (auto& [k, v] : a.kwargs) ns.dict_ref().set(Value(k), v);
            in.track_namespace(ns);
            return ns;
        },
        "namespace");
    scope.vars["dict"] = Value::callable(
        [](Interpreter&, CallArgs& a) {
            Value d = Value::dict();
            for (const auto& x : a.args) {
                if (!x.is_dict()) fail("TypeError: dict() positional argument must be a dict");
                for (const auto& [k, v] : x.dict_ref().entries) d.dict_ref().set(k, v);
            }
            for (auto& [k, v] : a.kwargs) d.dict_ref().set(Value(k), v);
            return d;
        },
        "dict");
    scope.vars["raise_exception"] = Value::callable(
        [](Interpreter&, CallArgs& a) -> Value {
            auto p = bind_args(a, {"message"}, "raise_exception");
            fail("TemplateError: ", p[0].to_str());
        },
        "raise_exception");
    scope.vars["strftime_now"] = Value::callable(
        [](Interpreter& in, CallArgs& a) {
            auto p = bind_args(a, {"format"}, "strftime_now");
            if (!p[0].is_string()) fail("TypeError: strftime_now() format must be a string");
            if (p[0].str().size() > 256) fail("strftime_now(): format longer than 256 bytes");
            std::tm t{};
            if (in.options().clock) {
                t = in.options().clock();
            } else {
                std::time_t now = std::time(nullptr);
                localtime_r(&now, &t);
            }
            if (p[0].str().empty()) return Value(std::string());
            char buf[4096];
            size_t n = std::strftime(buf, sizeof buf, p[0].str().c_str(), &t);
            return Value(std::string(buf, n));
        },
        "strftime_now");
}

}  // namespace ponder::jinja
