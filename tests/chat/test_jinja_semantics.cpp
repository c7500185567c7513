// Jinja engine semantics: each case is a small template and the text Python Jinja2 (with
// transformers' settings: trim_blocks, lstrip_blocks, loop controls, its tojson) renders for
// it. These are language examples written for this test, not outputs of the golden files.
#include <gtest/gtest.h>

#include "chat/jinja/template.h"
#include "core/error.h"

namespace {

using ponder::jinja::Template;
using ponder::jinja::Value;

Value test_vars() {
    return Value::from_json(nlohmann::ordered_json::parse(R"J({"s": "Hello World", "n": 7,
        "f": 2.5, "l": [3, 1, 2], "d": {"b": 1, "a": 2},
        "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                 {"role": "user", "content": "bye"}],
        "u": "héllo wörld", "e": "", "nn": null, "t": true})J"));
}

struct Case {
    const char* src;
    const char* want;
};

const Case kCases[] = {
    {R"J(a {{ 1 }} b)J", R"J(a 1 b)J"},
    {R"J(a  {{- 1 -}}  b)J", R"J(a1b)J"},
    {R"J(a
{% if t %}
x
{% endif %}
b)J",
     R"J(a
x
b)J"},
    {R"J(a
    {% if t %}
    x
    {% endif %}
b)J",
     R"J(a
    x
b)J"},
    {R"J(a
  {%+ if t %}x{% endif +%}
b)J",
     R"J(a
  x
b)J"},
    {R"J(a{# comment #}b
{# c2 #}
c)J",
     R"J(ab
c)J"},
    {R"J(line
)J",
     R"J(line)J"},
    {R"J({% raw %}{{ not rendered }}{% endraw %})J", R"J({{ not rendered }})J"},
    {R"J({{ 1.0 }} {{ 0.1 }} {{ 1e20 }} {{ 1.5e-7 }} {{ 10 / 4 }} {{ 3 / 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }})J",
     R"J(1.0 0.1 1e+20 1.5e-07 2.5 1.0 1024 0.5)J"},
    {R"J({{ none }} {{ true }} {{ False }} {{ [1, 'a', none] }} {{ {'k': 'v'} }} {{ (1,) }} {{ () }})J",
     R"J(None True False [1, 'a', None] {'k': 'v'} (1,) ())J"},
    {R"J({{ "it's" }} {{ ['it\'s', "q\""] }})J", R"J(it's ["it's", 'q"'])J"},
    {R"J({{ 'a\tb\n' }}|{{ '\u00e9\x41' }})J",
     R"J(a	b
|éA)J"},
    {R"J({{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 3 ** 2 }})J",
     R"J(7 9 3 -4 2 -2 64)J"},
    {R"J({{ 1 ~ 2 ~ 'x' }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'ab' * 3 }} {{ -n }} {{ not t }})J",
     R"J(12x ab [1, 2] ababab -7 False)J"},
    {R"J({{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }} {{ [1,2] == [1,2] }})J",
     R"J(True False True True True True)J"},
    {R"J({{ 'ell' in s }} {{ 3 in l }} {{ 'a' in d }} {{ 'z' not in d }} {{ not 'x' in s }})J",
     R"J(True True True True True)J"},
    {R"J({{ t and 'yes' }} {{ e or 'empty' }} {{ nn or 0 }} {{ 0 and x }})J", R"J(yes empty 0 0)J"},
    {R"J({{ 'a' if t else 'b' }} {{ 'a' if not t else 'b' }} [{{ 'a' if false }}])J",
     R"J(a b [])J"},
    {R"J({{ -2 ** 2 }} {{ s|length + 1 }} {{ 'x' ~ n|string }})J", R"J(4 12 x7)J"},
    {R"J({{ d.a }} {{ d['b'] }} {{ l[0] }} {{ l[-1] }} {{ l.1 }} {{ s[0] }} {{ s[-5:] }} {{ s[::2] }})J",
     R"J(2 1 3 2 1 H World HloWrd)J"},
    {R"J({{ l[::-1] }} {{ l[1:] }} {{ l[:-1] }} {{ l[5:9] }} {{ u[1:4] }} {{ u[::-1] }})J",
     R"J([2, 1, 3] [1, 2] [3, 1] [] éll dlröw olléh)J"},
    {R"J([{{ d.missing }}][{{ l[10] }}][{{ nn.x }}])J", R"J([][][])J"},
    {R"J({{ msgs[0].role }} {{ msgs[-1]['content'] }} {{ (msgs|last).content }})J",
     R"J(user bye bye)J"},
    {R"J({{ x is defined }} {{ n is defined }} {{ x is undefined }} {{ nn is none }} {{ n is number }} {{ f is float }} {{ n is integer }})J",
     R"J(False True True True True True True)J"},
    {R"J({{ s is string }} {{ d is mapping }} {{ l is iterable }} {{ l is sequence }} {{ t is boolean }} {{ t is true }} {{ false is false }} {{ 0 is false }})J",
     R"J(True True True True True True True False)J"},
    {R"J({{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ 'a' is equalto 'a' }} {{ 1 is eq 2 }} {{ n is not none }})J",
     R"J(True True True False True False True)J"},
    {R"J({{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 2 is gt 1 }} {{ 2 is lt 1 }} {{ 3 is in l }} {{ nn is sameas none }})J",
     R"J(True True True False True True)J"},
    {R"J({{ '  x  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ s|upper }}|{{ s|lower }}|{{ 'hello world'|title }}|{{ 'hELLO'|capitalize }})J",
     R"J(x|hi|HELLO WORLD|hello world|Hello World|Hello)J"},
    {R"J({{ l|length }} {{ d|count }} {{ u|length }} {{ l|join(', ') }} {{ l|join }} {{ msgs|map(attribute='role')|join('/') }})J",
     R"J(3 2 11 3, 1, 2 312 user/assistant/user)J"},
    {R"J({{ s|replace('o', '0') }} {{ s|replace('o', '0', 1) }} {{ x|default('def') }} {{ e|default('def') }} {{ e|default('def', true) }} {{ nn|d('z') }})J",
     R"J(Hell0 W0rld Hell0 World def  def None)J"},
    {R"J({{ l|first }} {{ l|last }} {{ l|sort }} {{ l|sort(reverse=true) }} {{ l|reverse|list }} {{ l|sum }} {{ l|min }} {{ l|max }})J",
     R"J(3 2 [1, 2, 3] [3, 2, 1] [2, 1, 3] 6 1 3)J"},
    {R"J({{ d|items|list }} {{ d.items()|list }} {{ d.keys()|list }} {{ d.values()|list }} {{ d|dictsort }} {{ d|list }})J",
     R"J([('b', 1), ('a', 2)] [('b', 1), ('a', 2)] ['b', 'a'] [1, 2] [('a', 2), ('b', 1)] ['b', 'a'])J"},
    {R"J({{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ msgs|rejectattr('role', 'eq', 'user')|list|length }})J",
     R"J(['hi', 'bye'] 1)J"},
    {R"J({{ [1,2,3,4]|select('odd')|list }} {{ [1,2,3,4]|reject('even')|list }} {{ ['a','b']|map('upper')|list }} {{ [1,1,2]|unique|list }})J",
     R"J([1, 3] [1, 3] ['A', 'B'] [1, 2])J"},
    {R"J({{ '42'|int + 1 }} {{ '3.9'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ 3|float }} {{ '2.5'|float }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ -3|abs }})J",
     R"J(43 3 0 5 3.0 2.5 2.57 2.0 3)J"},
    {R"J({{ 'a\nb\n\nc'|indent }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent(2, blank=true) }})J",
     R"J(a
    b

    c|  a
  b|a
  
  b)J"},
    {R"J({{ d|tojson }} {{ l|tojson }} {{ 'é"\n'|tojson }} {{ {'a': [1, {'b': none}], 'c': 1.5, 'e': {}}|tojson(indent=2) }})J",
     R"J({"b": 1, "a": 2} [3, 1, 2] "é\"\n" {
  "a": [
    1,
    {
      "b": null
    }
  ],
  "c": 1.5,
  "e": {}
})J"},
    {R"J({{ [true, false, none, 1.0, 'x']|tojson }} {{ {'z': 1, 'a': 2}|tojson(sort_keys=true) }})J",
     R"J([true, false, null, 1.0, "x"] {"a": 2, "z": 1})J"},
    {R"J({{ 1|string ~ 2.0|string }} {{ [1,2]|string }} {{ 'one two  three'|wordcount }} {{ l|batch(2)|list }})J",
     R"J(12.0 [1, 2] 3 [[3, 1], [2]])J"},
    {R"J({{ s.startswith('Hell') }} {{ s.endswith('x') }} {{ s.startswith(('x', 'H')) }} {{ s.split(' ') }} {{ '  a  b '.split() }} {{ 'a,b,c'.split(',', 1) }})J",
     R"J(True False True ['Hello', 'World'] ['a', 'b'] ['a', 'b,c'])J"},
    {R"J({{ '  x  '.strip() }}|{{ '\n\nx\n'.lstrip('\n') }}|{{ 'x..'.rstrip('.') }}|{{ s.lower() }}|{{ s.upper() }}|{{ 'ab cd'.title() }}|{{ s.replace('l', 'L') }})J",
     R"J(x|x
|x|hello world|HELLO WORLD|Ab Cd|HeLLo WorLd)J"},
    {R"J({{ s.find('o') }} {{ s.rfind('o') }} {{ s.count('l') }} {{ '-'.join(['a', 'b']) }} {{ 'a<b>'.split('<')[-1] }} {{ u.upper() }})J",
     R"J(4 7 3 a-b b> HÉLLO WÖRLD)J"},
    {R"J({{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 9) }} {{ l.index(2) }} {{ l.count(3) }})J",
     R"J(2 None 9 2 1)J"},
    {R"J({% if n > 10 %}big{% elif n > 5 %}mid{% else %}small{% endif %})J", R"J(mid)J"},
    {R"J({% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %})J",
     R"J(1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;)J"},
    {R"J({% for x in l %}{{ loop.previtem }}-{{ loop.nextitem }}|{% endfor %})J",
     R"J(-1|3-2|1-|)J"},
    {R"J({% for x in l %}{{ loop.cycle('odd', 'even') }} {% endfor %})J", R"J(odd even odd )J"},
    {R"J({% for x in [] %}x{% else %}empty{% endfor %}{% for x in l if x > 1 %}{{ x }}{{ loop.length }}{% else %}none{% endfor %})J",
     R"J(empty3222)J"},
    {R"J({% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %})J",
     R"J(0134)J"},
    {R"J({% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}{% for c in 'ab' %}[{{ c }}]{% endfor %})J",
     R"J(b=1;a=2;ba[a][b])J"},
    {R"J({% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %})J",
     R"J(1x1 1y2 1|2x1 2y2 2|)J"},
    {R"J({% set x = 1 %}{% for i in l %}{% set x = i %}{% endfor %}{{ x }})J", R"J(1)J"},
    {R"J({% set ns = namespace(total=0, items=[]) %}{% for i in l %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }})J",
     R"J(6)J"},
    {R"J({% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = [3, 4] %}{% set p, q = c %}{{ p + q }})J",
     R"J(127)J"},
    {R"J({% set block %}inner {{ n }}{% endset %}[{{ block }}]{% set up | upper %}shout{% endset %}{{ up }})J",
     R"J([inner 7]SHOUT)J"},
    {R"J({% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', '?') }} {{ greet(punct='.', name='Cy') }})J",
     R"J(Hi Ann! Hi Bob? Hi Cy.)J"},
    {R"J({% macro m(a) %}{{ a }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k=4) }})J",
     R"J(1|(2, 3)|{'k': 4})J"},
    {R"J({% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ n }}{% endcall %})J",
     R"J(<b>bold 7</b>)J"},
    {R"J({% macro lst(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) lst([1, 2]) %}<{{ x }}>{% endcall %})J",
     R"J(<1><2>)J"},
    {R"J({% filter upper %}shout {{ s }}{% endfilter %})J", R"J(SHOUT HELLO WORLD)J"},
    {R"J({% with a = 5, b = n %}{{ a + b }}{% endwith %}[{{ a }}])J", R"J(12[])J"},
    {R"J({{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(3, 0, -1)|list }} {{ dict(a=1, b='x') }})J",
     R"J([0, 1, 2] [1, 3, 5] [3, 2, 1] {'a': 1, 'b': 'x'})J"},
    {R"J({{ x }}|{{ x|length }}|{{ x|list }}|{{ x|trim }}|{% for i in x %}no{% endfor %}|{{ not x }})J",
     R"J(|0|[]|||True)J"},
    {R"J({{ 'x' ~ x ~ 'y' }})J", R"J(xy)J"},
    {R"J({% if x %}yes{% else %}no{% endif %}{% if x is defined and x.y %}z{% endif %})J",
     R"J(no)J"},
};

TEST(JinjaSemantics, RendersLikeJinja2) {
    const Value vars = test_vars();
    int i = 0;
    for (const auto& c : kCases) {
        SCOPED_TRACE(c.src);
        try {
            Template t(c.src, "case" + std::to_string(i++));
            EXPECT_EQ(t.render(vars), c.want);
        } catch (const ponder::Error& e) {
            ADD_FAILURE() << "error: " << e.what();
        }
    }
}

struct ErrorCase {
    const char* src;
    const char* message_part;
};

const ErrorCase kErrors[] = {
    {R"J({{ raise_exception('bad role') }})J", R"J(TemplateError: bad role)J"},
    {R"J({{ x.y }})J", R"J('x' is undefined)J"},
    {R"J({{ d.missing.z }})J", R"J(has no attribute 'missing')J"},
    {R"J({{ x + 1 }})J", R"J('x' is undefined)J"},
    {R"J({{ 'a' + 1 }})J", R"J(can only concatenate str)J"},
    {R"J({{ 1 / 0 }})J", R"J(division by zero)J"},
    {R"J({{ 1 < 'a' }})J", R"J(not supported between)J"},
    {R"J({{ x|tojson }})J", R"J(not JSON serializable)J"},
    {R"J({{ nn() }})J", R"J(not callable)J"},
};

TEST(JinjaSemantics, RuntimeErrorsLikeJinja2) {
    const Value vars = test_vars();
    for (const auto& c : kErrors) {
        SCOPED_TRACE(c.src);
        Template t(c.src, "errcase");
        try {
            std::string out = t.render(vars);
            ADD_FAILURE() << "no error, rendered: " << out;
        } catch (const ponder::Error& e) {
            const std::string msg = e.what();
            EXPECT_NE(msg.find(c.message_part), std::string::npos) << msg;
            EXPECT_EQ(msg.rfind("errcase:1:", 0), 0u) << "no template position: " << msg;
        }
    }
}

}  // namespace
