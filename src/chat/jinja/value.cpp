#include "chat/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace ponder::jinja {

Value Value::undefined(std::string hint) {
    Value v;
    v.s_ = std::move(hint);
    return v;
}
Value Value::none() {
    Value v;
    v.kind_ = Kind::None;
    return v;
}
Value::Value(bool b) : kind_(Kind::Bool), b_(b) {}
Value::Value(int64_t i) : kind_(Kind::Int), i_(i) {}
Value::Value(double f) : kind_(Kind::Float), f_(f) {}
Value::Value(std::string s) : kind_(Kind::String), s_(std::move(s)) {}

Value Value::list(ValueList items, bool tuple) {
    Value v;
    v.kind_ = Kind::List;
    v.tuple_ = tuple;
    v.list_ = std::make_shared<ValueList>(std::move(items));
    return v;
}
Value Value::dict() {
    Value v;
    v.kind_ = Kind::Dict;
    v.dict_ = std::make_shared<ValueDict>();
    return v;
}
Value Value::namespace_object() {
    Value v = dict();
    v.dict_->is_namespace = true;
    return v;
}
Value Value::callable(NativeFn fn, std::string name) {
    Value v;
    v.kind_ = Kind::Callable;
    v.fn_ = std::make_shared<NativeFn>(std::move(fn));
    v.s_ = std::move(name);
    return v;
}

bool Value::is_namespace() const {
    return kind_ == Kind::Dict && dict_->is_namespace;
}

int64_t Value::as_int() const {
    return kind_ == Kind::Bool ? int64_t(b_) : i_;
}
double Value::as_double() const {
    if (kind_ == Kind::Float) return f_;
    return double(as_int());
}

bool Value::truthy() const {
    switch (kind_) {
        case Kind::Undefined:
        case Kind::None:
            return false;
        case Kind::Bool:
            return b_;
        case Kind::Int:
            return i_ != 0;
        case Kind::Float:
            return f_ != 0.0;
        case Kind::String:
            return !s_.empty();
        case Kind::List:
            return !list_->empty();
        case Kind::Dict:
            return !dict_->entries.empty();
        case Kind::Callable:
            return true;
    }
    return false;
}

std::string format_float(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
    // Shortest round-trip digits in scientific form, then laid out the way Python's repr does:
    // positional when -4 <= exponent < 16, else d.ddde+XX.
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    std::string sci(buf, r.ptr);
    bool neg = sci[0] == '-';
    if (neg) sci.erase(0, 1);
    size_t e = sci.find('e');
    int exp = std::atoi(sci.c_str() + e + 1);
    std::string digits;
    for (size_t i = 0; i < e; ++i)
        if (sci[i] != '.') digits += sci[i];
    std::string out;
    if (exp >= -5 + 1 && exp < 16) {
        if (exp >= 0) {
            if (digits.size() <= size_t(exp) + 1) {
                out = digits + std::string(size_t(exp) + 1 - digits.size(), '0') + ".0";
            } else {
                out = digits.substr(0, size_t(exp) + 1) + "." + digits.substr(size_t(exp) + 1);
            }
        } else {
            out = "0." + std::string(size_t(-exp - 1), '0') + digits;
        }
    } else {
        out = digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char eb[16];
        std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        out += eb;
    }
    return neg ? "-" + out : out;
}

std::string py_repr_string(std::string_view s) {
    char q = '\'';
    if (s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos) q = '"';
    std::string out(1, q);
    for (unsigned char c : s) {
        if (c == '\\')
            out += "\\\\";
        else if (c == q)
            out += std::string("\\") + char(c);
        else if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else if (c == '\t')
            out += "\\t";
        else if (c < 0x20 || c == 0x7f) {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            out += b;
        } else
            out += char(c);
    }
    out += q;
    return out;
}

std::string Value::to_str() const {
    switch (kind_) {
        case Kind::Undefined:
            return "";
        case Kind::None:
            return "None";
        case Kind::Bool:
            return b_ ? "True" : "False";
        case Kind::Int:
            return std::to_string(i_);
        case Kind::Float:
            return format_float(f_);
        case Kind::String:
            return s_;
        default:
            return repr();
    }
}

namespace {
// The containers whose repr() is in progress on this thread. As in Python, a container met
// again inside itself (ns.x = ns, or two namespaces pointing at each other) prints as
// "[...]" / "{...}", so cycles cost linear time instead of recursing or blowing up.
thread_local std::vector<const void*> repr_stack;
constexpr size_t kMaxReprDepth = 100;
// Shared (acyclic) references can still double the text per level; past this size a repr
// is an error rather than gigabytes of output.
constexpr size_t kMaxReprBytes = size_t(4) << 20;

void check_repr_size(const std::string& out) {
    if (out.size() > kMaxReprBytes)
        fail("value too large to print (over ", kMaxReprBytes, " bytes)");
}
}  // namespace

std::string Value::repr() const {
    const void* self = kind_ == Kind::List   ? static_cast<const void*>(list_.get())
                       : kind_ == Kind::Dict ? static_cast<const void*>(dict_.get())
                                             : nullptr;
    if (self && (repr_stack.size() >= kMaxReprDepth ||
                 std::find(repr_stack.begin(), repr_stack.end(), self) != repr_stack.end()))
        return kind_ == Kind::List ? "[...]" : dict_->is_namespace ? "<Namespace {...}>" : "{...}";
    struct Enter {
        bool on;
        Enter(const void* p) : on(p != nullptr) {
            if (on) repr_stack.push_back(p);
        }
        ~Enter() {
            if (on) repr_stack.pop_back();
        }
    } enter(self);
    switch (kind_) {
        case Kind::String:
            return py_repr_string(s_);
        case Kind::List: {
            std::string out = tuple_ ? "(" : "[";
            for (size_t i = 0; i < list_->size(); ++i) {
                if (i) out += ", ";
                out += (*list_)[i].repr();
                check_repr_size(out);
            }
            if (tuple_ && list_->size() == 1) out += ",";
            out += tuple_ ? ")" : "]";
            return out;
        }
        case Kind::Dict: {
            std::string out = dict_->is_namespace ? "<Namespace {" : "{";
            bool first = true;
            for (const auto& [k, v] : dict_->entries) {
                if (!first) out += ", ";
                first = false;
                out += k.repr() + ": " + v.repr();
                check_repr_size(out);
            }
            return out + (dict_->is_namespace ? "}>" : "}");
        }
        case Kind::Callable:
            return "<function " + s_ + ">";
        case Kind::Undefined:
            return "Undefined";
        default:
            return to_str();
    }
}

std::string Value::type_name() const {
    switch (kind_) {
        case Kind::Undefined:
            return "Undefined";
        case Kind::None:
            return "NoneType";
        case Kind::Bool:
            return "bool";
        case Kind::Int:
            return "int";
        case Kind::Float:
            return "float";
        case Kind::String:
            return "str";
        case Kind::List:
            return tuple_ ? "tuple" : "list";
        case Kind::Dict:
            return dict_->is_namespace ? "Namespace" : "dict";
        case Kind::Callable:
            return "function";
    }
    return "?";
}

bool is_ascii(std::string_view s) {
    for (unsigned char c : s)
        if (c >= 0x80) return false;
    return true;
}

std::vector<size_t> utf8_offsets(std::string_view s) {
    std::vector<size_t> off;
    off.reserve(s.size() + 1);
    for (size_t i = 0; i < s.size(); ++i)
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) off.push_back(i);
    off.push_back(s.size());
    return off;
}

int64_t Value::length() const {
    switch (kind_) {
        case Kind::String: {
            int64_t n = 0;
            for (unsigned char c : s_)
                if ((c & 0xC0) != 0x80) ++n;
            return n;
        }
        case Kind::List:
            return int64_t(list_->size());
        case Kind::Dict:
            return int64_t(dict_->entries.size());
        case Kind::Undefined:
            return 0;
        default:
            fail("object of type '", type_name(), "' has no len()");
    }
}

bool Value::equals(const Value& o) const {
    if (is_number() && o.is_number()) {
        if (kind_ == Kind::Float || o.kind_ == Kind::Float) return as_double() == o.as_double();
        return as_int() == o.as_int();
    }
    if (kind_ != o.kind_) return false;
    switch (kind_) {
        case Kind::Undefined:
        case Kind::None:
            return true;
        case Kind::String:
            return s_ == o.s_;
        case Kind::List: {
            if (list_ == o.list_) return true;
            if (tuple_ != o.tuple_ || list_->size() != o.list_->size()) return false;
            for (size_t i = 0; i < list_->size(); ++i)
                if (!(*list_)[i].equals((*o.list_)[i])) return false;
            return true;
        }
        case Kind::Dict: {
            if (dict_ == o.dict_) return true;
            if (dict_->is_namespace || o.dict_->is_namespace) return false;
            if (dict_->entries.size() != o.dict_->entries.size()) return false;
            for (const auto& [k, v] : dict_->entries) {
                const Value* ov = o.dict_->find(k);
                if (!ov || !v.equals(*ov)) return false;
            }
            return true;
        }
        case Kind::Callable:
            return fn_ == o.fn_;
        default:
            return false;
    }
}

int Value::compare(const Value& o) const {
    if (is_number() && o.is_number()) {
        if (kind_ == Kind::Float || o.kind_ == Kind::Float) {
            double a = as_double(), b = o.as_double();
            return a < b ? -1 : (a > b ? 1 : 0);
        }
        int64_t a = as_int(), b = o.as_int();
        return a < b ? -1 : (a > b ? 1 : 0);
    }
    if (is_string() && o.is_string()) {
        int c = s_.compare(o.s_);  // byte order of UTF-8 == code point order
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (is_list() && o.is_list() && tuple_ == o.tuple_) {
        size_t n = std::min(list_->size(), o.list_->size());
        for (size_t i = 0; i < n; ++i) {
            if ((*list_)[i].equals((*o.list_)[i])) continue;
            return (*list_)[i].compare((*o.list_)[i]);
        }
        return list_->size() < o.list_->size() ? -1 : (list_->size() > o.list_->size() ? 1 : 0);
    }
    fail("'<' not supported between instances of '", type_name(), "' and '", o.type_name(), "'");
}

const Value* ValueDict::find(const Value& key) const {
    for (const auto& e : entries)
        if (e.first.equals(key)) return &e.second;
    return nullptr;
}
const Value* ValueDict::find(std::string_view key) const {
    for (const auto& e : entries)
        if (e.first.is_string() && e.first.str() == key) return &e.second;
    return nullptr;
}
void ValueDict::set(const Value& key, Value v) {
    for (auto& e : entries)
        if (e.first.equals(key)) {
            e.second = std::move(v);
            return;
        }
    entries.emplace_back(key, std::move(v));
}

Value Value::from_json(const nlohmann::ordered_json& j) {
    using T = nlohmann::ordered_json::value_t;
    switch (j.type()) {
        case T::null:
            return none();
        case T::boolean:
            return Value(j.get<bool>());
        case T::number_integer:
            return Value(j.get<int64_t>());
        case T::number_unsigned: {
            uint64_t u = j.get<uint64_t>();
            if (u > uint64_t(INT64_MAX)) return Value(double(u));
            return Value(int64_t(u));
        }
        case T::number_float:
            return Value(j.get<double>());
        case T::string:
            return Value(j.get<std::string>());
        case T::array: {
            ValueList items;
            for (const auto& e : j) items.push_back(from_json(e));
            return list(std::move(items));
        }
        case T::object: {
            Value d = dict();
            for (const auto& [k, v] : j.items())
                d.dict_->entries.emplace_back(Value(k), from_json(v));
            return d;
        }
        default:
            return none();
    }
}

namespace {

void json_string(std::string& out, std::string_view s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:
                if (c < 0x20) {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\u%04x", c);
                    out += b;
                } else {
                    out += char(c);
                }
        }
    }
    out += '"';
}

std::string json_key(const Value& k) {
    if (k.is_string()) return k.str();
    if (k.is_bool()) return k.as_bool() ? "true" : "false";
    if (k.is_none()) return "null";
    if (k.is_int() || k.is_float()) return k.to_str();
    fail("keys must be str, int, float, bool or None, not ", k.type_name());
}

void json_dump(std::string& out, const Value& v, int indent, bool sort_keys, int level) {
    if (level > 500) fail("tojson: value nested too deeply");
    auto newline = [&](int lv) {
        out += '\n';
        out.append(size_t(indent) * size_t(lv), ' ');
    };
    switch (v.kind()) {
        case Value::Kind::None:
            out += "null";
            return;
        case Value::Kind::Bool:
            out += v.as_bool() ? "true" : "false";
            return;
        case Value::Kind::Int:
            out += std::to_string(v.as_int());
            return;
        case Value::Kind::Float: {
            double d = v.as_double();
            if (std::isnan(d))
                out += "NaN";
            else if (std::isinf(d))
                out += d > 0 ? "Infinity" : "-Infinity";
            else
                out += format_float(d);
            return;
        }
        case Value::Kind::String:
            json_string(out, v.str());
            return;
        case Value::Kind::List: {
            const auto& items = v.items();
            if (items.empty()) {
                out += "[]";
                return;
            }
            out += '[';
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) out += indent >= 0 ? "," : ", ";
                if (indent >= 0) newline(level + 1);
                json_dump(out, items[i], indent, sort_keys, level + 1);
            }
            if (indent >= 0) newline(level);
            out += ']';
            return;
        }
        case Value::Kind::Dict: {
            std::vector<std::pair<std::string, const Value*>> entries;
            for (const auto& [k, val] : v.dict_ref().entries)
                entries.emplace_back(json_key(k), &val);
            if (sort_keys)
                std::stable_sort(entries.begin(), entries.end(),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
            if (entries.empty()) {
                out += "{}";
                return;
            }
            out += '{';
            for (size_t i = 0; i < entries.size(); ++i) {
                if (i) out += indent >= 0 ? "," : ", ";
                if (indent >= 0) newline(level + 1);
                json_string(out, entries[i].first);
                out += ": ";
                json_dump(out, *entries[i].second, indent, sort_keys, level + 1);
            }
            if (indent >= 0) newline(level);
            out += '}';
            return;
        }
        default:
            fail("Object of type ", v.type_name(), " is not JSON serializable");
    }
}

}  // namespace

std::string to_json(const Value& v, int indent, bool sort_keys) {
    std::string out;
    json_dump(out, v, indent, sort_keys, 0);
    return out;
}

}  // namespace ponder::jinja
