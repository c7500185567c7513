// Jinja engine robustness: syntax errors with line and column, bounded recursion, steps,
// output and sizes, the injectable clock, and lexer/parser corner cases.
#include <gtest/gtest.h>

#include "chat/jinja/template.h"
#include "core/error.h"

namespace {

using ponder::jinja::RenderOptions;
using ponder::jinja::Template;
using ponder::jinja::Value;

std::string error_of(const std::string& src, const RenderOptions& opt = {}) {
    try {
        Template t(src, "t.jinja");
        t.render(Value::dict(), opt);
    } catch (const ponder::Error& e) {
        return e.what();
    }
    return "";
}

TEST(JinjaErrors, SyntaxErrorsCarryLineAndColumn) {
    EXPECT_EQ(error_of("ok\n{% if x %}\nno end").rfind("t.jinja:", 0), 0u);
    EXPECT_NE(error_of("ok\n{% if x %}\nno end").find("endif"), std::string::npos);
    EXPECT_NE(error_of("line1\n  {{ 1 + }}").find("t.jinja:2:"), std::string::npos);
    EXPECT_NE(error_of("{{ 'unterminated }}").find("unterminated string"), std::string::npos);
    EXPECT_NE(error_of("{% foo %}").find("unknown or unsupported tag 'foo'"), std::string::npos);
    EXPECT_NE(error_of("{{ x").find("missing closing"), std::string::npos);
    EXPECT_NE(error_of("{# never closed").find("comment"), std::string::npos);
    EXPECT_NE(error_of("{% break %}").find("outside of a loop"), std::string::npos);
    EXPECT_NE(error_of("{{ a ]] }}").find("t.jinja:1:"), std::string::npos);
    EXPECT_NE(error_of("{% endfor %}").find("t.jinja:1:"), std::string::npos);
}

TEST(JinjaErrors, RuntimeErrorsCarryLineAndColumn) {
    const std::string e = error_of("a\nb\n  {{ raise_exception('boom') }}");
    EXPECT_NE(e.find("t.jinja:3:"), std::string::npos) << e;
    EXPECT_NE(e.find("TemplateError: boom"), std::string::npos) << e;
}

std::string render(const std::string& src) {
    Template t(src, "t.jinja");
    return t.render(Value::dict(), {});
}

// Found by the fuzzer: namespaces that point at each other made repr() exponential.
TEST(JinjaLimits, CyclicValuesPrintInLinearTime) {
    const std::string a = render(
        "{% set a = namespace(x=1) %}{% set b = namespace(y=a) %}{% set a.z = b %}"
        "{% set a.w = b %}{% set b.v = a %}{{ a }}");
    EXPECT_NE(a.find("{...}"), std::string::npos) << a;
    EXPECT_LT(a.size(), 1000u) << a;
}

TEST(JinjaLimits, ExponentialSharedValuesAreAnErrorNotAHang) {
    const std::string e = error_of(
        "{% set ns = namespace(v=[1]) %}{% for i in range(80) %}"
        "{% set ns.v = [ns.v, ns.v] %}{% endfor %}{{ ns.v }}");
    EXPECT_NE(e.find("too large"), std::string::npos) << e;
}

TEST(JinjaLimits, DeepNestingIsRejectedNotCrashing) {
    std::string deep(5000, '(');
    EXPECT_NE(
        error_of("{{ " + deep + "1" + std::string(5000, ')') + " }}").find("nested too deeply"),
        std::string::npos);
    std::string blocks;
    for (int i = 0; i < 2000; ++i) blocks += "{% if true %}";
    EXPECT_NE(error_of(blocks).find("nested too deeply"), std::string::npos);
    std::string nots = "{{ " + std::string(3000 * 4, ' ') + " }}";
    for (int i = 0; i < 3000; ++i) nots.replace(size_t(3 + i * 4), 4, "not ");
    EXPECT_FALSE(error_of(nots).empty());
}

TEST(JinjaLimits, RecursiveMacroIsBounded) {
    const std::string e = error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
    EXPECT_NE(e.find("depth"), std::string::npos) << e;
}

TEST(JinjaLimits, OutputAndStringSizesAreBounded) {
    RenderOptions opt;
    opt.limits.max_output_bytes = 1000;
    EXPECT_NE(error_of("{% for i in range(100) %}0123456789ab{% endfor %}", opt).find("limit"),
              std::string::npos);
    EXPECT_NE(error_of("{{ 'x' * 100000 }}", opt).find("limit"), std::string::npos);
    EXPECT_NE(error_of("{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
                       "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                       opt)
                  .find("limit"),
              std::string::npos);
    EXPECT_NE(error_of("{{ range(100000000)|length }}").find("limit"), std::string::npos);
}

TEST(JinjaLimits, StepsAreBounded) {
    RenderOptions opt;
    opt.limits.max_steps = 10000;
    EXPECT_NE(
        error_of("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
                 opt)
            .find("steps"),
        std::string::npos);
}

TEST(JinjaLimits, IntegerOverflowIsAnError) {
    EXPECT_NE(error_of("{{ 9223372036854775807 + 1 }}").find("overflow"), std::string::npos);
    EXPECT_NE(error_of("{{ 2 ** 64 }}").find("overflow"), std::string::npos);
}

TEST(JinjaLimits, NamespaceCyclesDoNotCrash) {
    Template t("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns.self.self is defined }}",
               "cycle");
    EXPECT_EQ(t.render(Value::dict()), "True");
}

TEST(JinjaClock, StrftimeNowUsesInjectedClock) {
    RenderOptions opt;
    opt.clock = [] {
        std::tm t{};
        t.tm_year = 2024 - 1900;
        t.tm_mon = 6;
        t.tm_mday = 26;
        return t;
    };
    Template t("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d') }}", "clock");
    EXPECT_EQ(t.render(Value::dict(), opt), "26 Jul 2024|2024-07-26");
}

TEST(JinjaLexer, NewlinesAndTrailingNewline) {
    Template crlf("a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n", "crlf");
    EXPECT_EQ(crlf.render(Value::dict()), "a\nb\n");
    Template two("x\n\n", "two");
    EXPECT_EQ(two.render(Value::dict()), "x\n");
}

TEST(JinjaLexer, DelimitersInsideStringsAndDicts) {
    Template t("{{ '}}' ~ \"%}\" }}{% set d = {'a': {'b': 1}} %}{{ d.a.b }}", "delims");
    EXPECT_EQ(t.render(Value::dict()), "}}%}1");
}

}  // namespace
