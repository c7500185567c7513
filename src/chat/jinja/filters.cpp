// Jinja2 built-in filters (the ones chat templates use), plus transformers' `tojson`.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "chat/jinja/interpreter.h"
#include "chat/jinja/strings.h"
#include "core/error.h"

namespace ponder::jinja {
namespace {

[[noreturn]] void undefined_error(const Value& v) {
    fail("UndefinedError: ", v.str().empty() ? "value is undefined" : v.str());
}

// Attribute lookup as filters do it (`attribute='a.b'` or an integer index): item first.
Value lookup_path(const Value& v, const Value& attr) {
    if (attr.is_int()) {
        if (v.is_list()) {
            int64_t i = attr.as_int(), n = int64_t(v.items().size());
            if (i < 0) i += n;
            if (i >= 0 && i < n) return v.items()[size_t(i)];
        }
        return Value();
    }
    Value cur = v;
    std::string path = attr.to_str();
    size_t pos = 0;
    while (true) {
        size_t dot = path.find('.', pos);
        std::string part =
            path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
        if (cur.is_dict()) {
            const Value* x = cur.dict_ref().find(part);
            cur = x ? *x : Value::undefined("'dict object' has no attribute '" + part + "'");
        } else if (cur.is_list() && !part.empty() &&
                   part.find_first_not_of("0123456789") == std::string::npos) {
            size_t i = std::stoul(part.substr(0, 9));
            cur = i < cur.items().size() ? cur.items()[i] : Value();
        } else {
            return Value::undefined("'" + cur.type_name() + " object' has no attribute '" + part +
                                    "'");
        }
        if (dot == std::string::npos) return cur;
        pos = dot + 1;
    }
}

std::string to_text(const Value& v) {
    return v.to_str();
}

Value do_select(Interpreter& in, const Value& seq, CallArgs& a, bool attr_mode, bool keep,
                const std::string& fname) {
    size_t first = 0;
    Value attr;
    if (attr_mode) {
        if (a.args.empty()) fail("TypeError: ", fname, "() missing the attribute argument");
        attr = a.args[0];
        first = 1;
    }
    std::string test;
    CallArgs targs;
    if (a.args.size() > first) {
        test = a.args[first].to_str();
        targs.args.assign(a.args.begin() + long(first) + 1, a.args.end());
    }
    ValueList out;
    for (const auto& item : iterate(seq)) {
        Value x = attr_mode ? lookup_path(item, attr) : item;
        bool r = test.empty() ? x.truthy() : apply_test(in, test, x, targs);
        if (r == keep) out.push_back(item);
    }
    return Value::list(std::move(out));
}

Value sort_key(const Value& v, const Value& attr, bool case_sensitive) {
    Value k = attr.is_undefined() || attr.is_none() ? v : lookup_path(v, attr);
    if (!case_sensitive && k.is_string()) return Value(py_lower(k.str()));
    return k;
}

std::string do_indent(const std::string& s, const Value& width, bool first, bool blank) {
    std::string ind =
        width.is_string()
            ? width.str()
            : std::string(
                  size_t(std::clamp<int64_t>(width.is_undefined() ? 4 : width.as_int(), 0, 1024)),
                  ' ');
    std::string out;
    size_t pos = 0;
    bool first_line = true;
    while (true) {
        size_t nl = s.find('\n', pos);
        std::string line = s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        bool is_blank = py_strip(line, nullptr, StripSide::Both).empty();
        if (first_line ? first : (blank || !is_blank)) out += ind;
        out += line;
        if (nl == std::string::npos) break;
        out += '\n';
        pos = nl + 1;
        first_line = false;
    }
    return out;
}

}  // namespace

Value apply_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& a) {
    const Value& v = input;
    auto p = [&](std::vector<std::string> params) { return bind_args(a, params, name); };
    auto need_defined = [&] {
        if (v.is_undefined()) undefined_error(v);
    };

    if (name == "tojson") {
        auto q = p({"indent", "ensure_ascii", "separators", "sort_keys"});
        int indent = -1;
        if (!q[0].is_undefined() && !q[0].is_none()) {
            if (!(q[0].is_int())) fail("TypeError: tojson indent must be an integer");
            indent = int(std::clamp<int64_t>(q[0].as_int(), 0, 64));
        }
        if (v.is_undefined()) fail("TypeError: Object of type Undefined is not JSON serializable");
        if (v.is_namespace()) fail("TypeError: Object of type Namespace is not JSON serializable");
        std::string s = to_json(v, indent, q[3].truthy());
        in.check_string(s.size());
        return Value(std::move(s));
    }
    if (name == "trim" || name == "strip") {
        auto q = p({"chars"});
        const std::string* chars = q[0].is_string() ? &q[0].str() : nullptr;
        return Value(py_strip(to_text(v), chars, StripSide::Both));
    }
    if (name == "length" || name == "count") {
        p({});
        return Value(v.length());
    }
    if (name == "string") {
        p({});
        return Value(to_text(v));
    }
    if (name == "safe" || name == "e" || name == "escape" || name == "forceescape") {
        p({});
        if (name == "safe") return v.is_undefined() ? Value(std::string()) : v;
        std::string s = to_text(v), out;
        for (char c : s) {
            switch (c) {
                case '&':
                    out += "&amp;";
                    break;
                case '<':
                    out += "&lt;";
                    break;
                case '>':
                    out += "&gt;";
                    break;
                case '"':
                    out += "&#34;";
                    break;
                case '\'':
                    out += "&#39;";
                    break;
                default:
                    out += c;
            }
        }
        return Value(std::move(out));
    }
    if (name == "upper" || name == "lower" || name == "capitalize") {
        p({});
        std::string s = to_text(v);
        if (name == "upper") return Value(py_upper(s));
        if (name == "lower") return Value(py_lower(s));
        return Value(py_capitalize(s));
    }
    if (name == "title") {
        p({});
        // Jinja2: words start after whitespace, '-', and opening brackets.
        std::vector<uint32_t> cps = decode_utf8(to_text(v));
        bool start = true;
        for (auto& c : cps) {
            bool sep = py_isspace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
            std::string one = encode_utf8({c});
            if (!sep) c = decode_utf8(start ? py_upper(one) : py_lower(one))[0];
            start = sep;
        }
        return Value(encode_utf8(cps));
    }
    if (name == "replace") {
        auto q = p({"old", "new", "count"});
        int64_t count = q[2].is_undefined() || q[2].is_none() ? -1 : q[2].as_int();
        return Value(py_replace(to_text(v), to_text(q[0]), to_text(q[1]), count,
                                in.options().limits.max_output_bytes));
    }
    if (name == "default" || name == "d") {
        auto q = p({"default_value", "boolean"});
        Value def = q[0].is_undefined() ? Value(std::string()) : q[0];
        if (v.is_undefined() || (q[1].truthy() && !v.truthy())) return def;
        return v;
    }
    if (name == "first" || name == "last") {
        p({});
        need_defined();
        ValueList items = iterate(v);
        if (items.empty()) return Value::undefined("No " + name + " item, sequence was empty.");
        return name == "first" ? items.front() : items.back();
    }
    if (name == "list") {
        p({});
        return Value::list(iterate(v));
    }
    if (name == "items") {
        p({});
        if (v.is_undefined()) return Value::list();
        if (!v.is_dict()) fail("TypeError: can only get item pairs from a mapping");
        ValueList out;
        for (const auto& [k, x] : v.dict_ref().entries) out.push_back(Value::list({k, x}, true));
        return Value::list(std::move(out));
    }
    if (name == "join") {
        auto q = p({"d", "attribute"});
        std::string sep = q[0].is_undefined() ? std::string() : to_text(q[0]);
        std::string out;
        bool first = true;
        for (const auto& item : iterate(v)) {
            if (!first) out += sep;
            first = false;
            out += to_text(q[1].is_undefined() ? item : lookup_path(item, q[1]));
            in.check_string(out.size());
        }
        return Value(std::move(out));
    }
    if (name == "map") {
        ValueList out;
        Value attr, def;
        for (const auto& [k, x] : a.kwargs) {
            if (k == "attribute")
                attr = x;
            else if (k == "default")
                def = x;
            else if (!a.args.empty())
                continue;
            else
                fail("TypeError: map() got an unexpected keyword argument '", k, "'");
        }
        if (!attr.is_undefined()) {
            for (const auto& item : iterate(v)) {
                Value x = lookup_path(item, attr);
                out.push_back(x.is_undefined() && !def.is_undefined() ? def : x);
            }
            return Value::list(std::move(out));
        }
        if (a.args.empty()) fail("TypeError: map() needs a filter name or attribute=");
        std::string fname = a.args[0].to_str();
        CallArgs fargs;
        fargs.args.assign(a.args.begin() + 1, a.args.end());
        fargs.kwargs = a.kwargs;
        for (const auto& item : iterate(v)) {
            CallArgs copy = fargs;
            out.push_back(apply_filter(in, fname, item, copy));
        }
        return Value::list(std::move(out));
    }
    if (name == "select") return do_select(in, v, a, false, true, name);
    if (name == "reject") return do_select(in, v, a, false, false, name);
    if (name == "selectattr") return do_select(in, v, a, true, true, name);
    if (name == "rejectattr") return do_select(in, v, a, true, false, name);
    if (name == "unique") {
        auto q = p({"case_sensitive", "attribute"});
        ValueList out, keys;
        for (const auto& item : iterate(v)) {
            Value k = sort_key(item, q[1], q[0].truthy());
            bool seen = false;
            for (const auto& x : keys)
                if (x.equals(k)) seen = true;
            if (!seen) {
                keys.push_back(k);
                out.push_back(item);
            }
        }
        return Value::list(std::move(out));
    }
    if (name == "sort") {
        auto q = p({"reverse", "case_sensitive", "attribute"});
        ValueList items = iterate(v);
        const bool cs = q[1].truthy();
        std::vector<std::pair<Value, Value>> keyed;
        for (auto& x : items) keyed.emplace_back(sort_key(x, q[2], cs), x);
        std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
            return q[0].truthy() ? y.first.compare(x.first) < 0 : x.first.compare(y.first) < 0;
        });
        ValueList out;
        for (auto& kv : keyed) out.push_back(kv.second);
        return Value::list(std::move(out));
    }
    if (name == "dictsort") {
        auto q = p({"case_sensitive", "by", "reverse"});
        if (!v.is_dict()) fail("TypeError: dictsort expects a mapping");
        const bool by_value = q[1].is_string() && q[1].str() == "value";
        auto entries = v.dict_ref().entries;
        auto key = [&](const std::pair<Value, Value>& e) {
            const Value& k = by_value ? e.second : e.first;
            return (!q[0].truthy() && k.is_string()) ? Value(py_lower(k.str())) : k;
        };
        std::stable_sort(entries.begin(), entries.end(), [&](const auto& x, const auto& y) {
            int c = key(x).compare(key(y));
            return q[2].truthy() ? c > 0 : c < 0;
        });
        ValueList out;
        for (auto& [k, x] : entries) out.push_back(Value::list({k, x}, true));
        return Value::list(std::move(out));
    }
    if (name == "reverse") {
        p({});
        need_defined();
        if (v.is_string()) {
            std::vector<uint32_t> cps = decode_utf8(v.str());
            std::reverse(cps.begin(), cps.end());
            return Value(encode_utf8(cps));
        }
        ValueList items = iterate(v);
        std::reverse(items.begin(), items.end());
        return Value::list(std::move(items));
    }
    if (name == "sum") {
        auto q = p({"attribute", "start"});
        Value acc = q[1].is_undefined() ? Value(int64_t(0)) : q[1];
        for (const auto& item : iterate(v)) {
            Value x = q[0].is_undefined() ? item : lookup_path(item, q[0]);
            if (!x.is_number() || !acc.is_number())
                fail("TypeError: unsupported operand type(s) for +: '", acc.type_name(), "' and '",
                     x.type_name(), "'");
            if (acc.is_float() || x.is_float())
                acc = Value(acc.as_double() + x.as_double());
            else {
                int64_t r;
                if (__builtin_add_overflow(acc.as_int(), x.as_int(), &r)) fail("integer overflow");
                acc = Value(r);
            }
        }
        return acc;
    }
    if (name == "min" || name == "max") {
        auto q = p({"case_sensitive", "attribute"});
        ValueList items = iterate(v);
        if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
        size_t best = 0;
        for (size_t i = 1; i < items.size(); ++i) {
            int c = sort_key(items[i], q[1], q[0].truthy())
                        .compare(sort_key(items[best], q[1], q[0].truthy()));
            if (name == "min" ? c < 0 : c > 0) best = i;
        }
        return items[best];
    }
    if (name == "abs") {
        p({});
        need_defined();
        if (!v.is_number()) fail("TypeError: bad operand type for abs(): '", v.type_name(), "'");
        if (v.is_float()) return Value(std::fabs(v.as_double()));
        if (v.as_int() == INT64_MIN) fail("integer overflow");
        return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
    }
    if (name == "round") {
        auto q = p({"precision", "method"});
        need_defined();
        if (!v.is_number()) fail("TypeError: round() needs a number");
        int64_t prec = q[0].is_undefined() ? 0 : std::clamp<int64_t>(q[0].as_int(), -20, 20);
        std::string method = q[1].is_undefined() ? "common" : q[1].to_str();
        double f = std::pow(10.0, double(prec));
        double x = v.as_double() * f;
        if (method == "common")
            x = std::nearbyint(x);  // Python rounds half to even
        else if (method == "ceil")
            x = std::ceil(x);
        else if (method == "floor")
            x = std::floor(x);
        else
            fail("FilterArgumentError: method must be common, ceil or floor");
        return Value(x / f);
    }
    if (name == "int") {
        auto q = p({"default", "base"});
        Value def = q[0].is_undefined() ? Value(int64_t(0)) : q[0];
        if (v.is_int() || v.is_bool()) return Value(v.as_int());
        if (v.is_float()) {
            double d = v.as_double();
            if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return def;
            return Value(int64_t(d));
        }
        if (v.is_string()) {
            std::string s = py_strip(v.str(), nullptr, StripSide::Both);
            std::string digits;
            for (char c : s)
                if (c != '_') digits += c;
            char* end = nullptr;
            errno = 0;
            long long r = std::strtoll(digits.c_str(), &end, 10);
            if (!digits.empty() && end && *end == 0 && errno == 0) return Value(int64_t(r));
            double d = std::strtod(digits.c_str(), &end);
            if (!digits.empty() && end && *end == 0 && std::isfinite(d) && std::fabs(d) < 9.2e18)
                return Value(int64_t(d));
        }
        return def;
    }
    if (name == "float") {
        auto q = p({"default"});
        Value def = q[0].is_undefined() ? Value(0.0) : q[0];
        if (v.is_number()) return Value(v.as_double());
        if (v.is_string()) {
            std::string s = py_strip(v.str(), nullptr, StripSide::Both);
            char* end = nullptr;
            double d = std::strtod(s.c_str(), &end);
            if (!s.empty() && end && *end == 0) return Value(d);
        }
        return def;
    }
    if (name == "indent") {
        auto q = p({"width", "first", "blank"});
        std::string s = do_indent(to_text(v), q[0], q[1].truthy(), q[2].truthy());
        in.check_string(s.size());
        return Value(std::move(s));
    }
    if (name == "center") {
        auto q = p({"width"});
        std::string s = to_text(v);
        int64_t w = std::clamp<int64_t>(q[0].is_undefined() ? 80 : q[0].as_int(), 0, 1 << 20);
        int64_t len = Value(s).length();
        if (w <= len) return Value(s);
        int64_t total = w - len, left = total / 2 + (total & w & 1);
        return Value(std::string(size_t(left), ' ') + s + std::string(size_t(total - left), ' '));
    }
    if (name == "wordcount") {
        p({});
        return Value(int64_t(py_split(to_text(v), nullptr, -1).size()));
    }
    if (name == "attr") {
        auto q = p({"name"});
        need_defined();
        if (v.is_dict()) {
            const Value* x = v.dict_ref().is_namespace ? v.dict_ref().find(q[0]) : nullptr;
            return x ? *x : Value();
        }
        return get_method(v, q[0].to_str());
    }
    if (name == "batch") {
        auto q = p({"linecount", "fill_with"});
        int64_t n = q[0].is_undefined() ? 0 : q[0].as_int();
        if (n <= 0) fail("ValueError: batch size must be positive");
        ValueList out, cur;
        for (const auto& x : iterate(v)) {
            cur.push_back(x);
            if (int64_t(cur.size()) == n) {
                out.push_back(Value::list(std::move(cur)));
                cur.clear();
            }
        }
        if (!cur.empty()) {
            if (!q[1].is_undefined())
                while (int64_t(cur.size()) < n) cur.push_back(q[1]);
            out.push_back(Value::list(std::move(cur)));
        }
        return Value::list(std::move(out));
    }
    fail("TemplateAssertionError: no filter named '", name, "'");
}

}  // namespace ponder::jinja
