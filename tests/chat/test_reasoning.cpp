// Reasoning parser over scripted streams: every split position, missing open tag, text
// around the block, whitespace convention, unterminated reasoning, other delimiters.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"
#include "chat/reasoning.h"
#include "common/paths.h"

namespace {

using ponder::ReasoningDelimiters;
using ponder::ReasoningParser;

struct Split {
    std::string reasoning, content;
    bool in_reasoning_at_end = false;
};

Split run(const std::vector<std::string>& pieces, bool starts_in_reasoning,
          ReasoningDelimiters d = {}) {
    ReasoningParser p(d, starts_in_reasoning);
    Split s;
    for (const auto& piece : pieces) {
        auto delta = p.push(piece);
        s.reasoning += delta.reasoning;
        s.content += delta.content;
    }
    s.in_reasoning_at_end = p.in_reasoning();
    auto delta = p.finish();
    s.reasoning += delta.reasoning;
    s.content += delta.content;
    return s;
}

// The same text pushed whole, one byte at a time, and split in two at every position must
// give the same result.
void expect_all_splits(const std::string& text, bool starts, const std::string& reasoning,
                       const std::string& content, ReasoningDelimiters d = {}) {
    SCOPED_TRACE(text);
    Split whole = run({text}, starts, d);
    EXPECT_EQ(whole.reasoning, reasoning);
    EXPECT_EQ(whole.content, content);
    std::vector<std::string> bytes;
    for (char c : text) bytes.emplace_back(1, c);
    Split each = run(bytes, starts, d);
    EXPECT_EQ(each.reasoning, reasoning);
    EXPECT_EQ(each.content, content);
    for (size_t i = 0; i <= text.size(); ++i) {
        Split two = run({text.substr(0, i), text.substr(i)}, starts, d);
        EXPECT_EQ(two.reasoning, reasoning) << "split at " << i;
        EXPECT_EQ(two.content, content) << "split at " << i;
    }
}

TEST(ReasoningParser, TagsSplitAtEveryPosition) {
    expect_all_splits("<think>\nLet me add 2 and 2.\n</think>\n\nThe answer is 4.", false,
                      "Let me add 2 and 2.", "The answer is 4.");
}

TEST(ReasoningParser, MissingOpeningTagWhenPromptOpenedIt) {
    expect_all_splits("\nThe user wants 3*8.\n</think>\n\n24", true, "The user wants 3*8.", "24");
}

TEST(ReasoningParser, RedundantOpenTagAfterPromptOpenedIt) {
    expect_all_splits("<think>\nhmm\n</think>ok", true, "hmm", "ok");
}

TEST(ReasoningParser, TextBeforeOpenTagIsContent) {
    expect_all_splits("Sure. <think>check</think> Done.", false, "check", "Sure. Done.");
}

TEST(ReasoningParser, LeadingWhitespaceBeforeOpenTagDropped) {
    expect_all_splits("\n\n<think>a</think>b", false, "a", "b");
}

TEST(ReasoningParser, PlainTextIsContentExactly) {
    expect_all_splits("  Hello <b>world</b>  \n", false, "", "  Hello <b>world</b>  \n");
}

TEST(ReasoningParser, PartialTagThatIsNotATagIsFlushed) {
    expect_all_splits("a < b and c <thi", false, "", "a < b and c <thi");
}

TEST(ReasoningParser, StrayCloseTagIsDropped) {
    expect_all_splits("abc</think>def", false, "", "abcdef");
}

TEST(ReasoningParser, UnterminatedReasoningAtFinish) {
    Split s = run({"<think>still ", "thinking about it\n", "</th"}, false);
    EXPECT_TRUE(s.in_reasoning_at_end);
    EXPECT_EQ(s.reasoning, "still thinking about it\n</th");
    EXPECT_EQ(s.content, "");
}

TEST(ReasoningParser, HoldsBackOnlyWhatIsUndecided) {
    ReasoningParser p({}, false);
    auto d1 = p.push("<think>abc </");
    EXPECT_EQ(d1.reasoning, "abc");  // " " and "</" are held back
    EXPECT_TRUE(p.in_reasoning());
    auto d2 = p.push("think>  x");
    EXPECT_EQ(d2.reasoning, "");
    EXPECT_EQ(d2.content, "x");
    EXPECT_FALSE(p.in_reasoning());
}

TEST(ReasoningParser, OtherDelimiters) {
    expect_all_splits("[THINK]plan[/THINK]answer", false, "plan", "answer",
                      {"[THINK]", "[/THINK]"});
    expect_all_splits("<|begin_of_thought|>x<|end_of_thought|>\ny", false, "x", "y",
                      {"<|begin_of_thought|>", "<|end_of_thought|>"});
}

TEST(ReasoningParser, SecondThinkingBlock) {
    expect_all_splits("<think>a</think>b<think>c</think>d", false, "ac", "bd");
}

TEST(ReasoningDetect, KnownDelimiterPairs) {
    EXPECT_EQ(ponder::detect_reasoning_delimiters("{{ '[THINK]' }}").open, "[THINK]");
    EXPECT_EQ(ponder::detect_reasoning_delimiters("x <seed:think> y").close, "</seed:think>");
    EXPECT_EQ(ponder::detect_reasoning_delimiters("<|end_of_thought|>").open,
              "<|begin_of_thought|>");
    EXPECT_EQ(ponder::detect_reasoning_delimiters("no reasoning here").open, "<think>");
}

std::string read_golden_template(const std::string& name) {
    std::ifstream f(ponder::test::golden_path("chat-templates/" + name), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// The rendered generation prompt decides the initial state: DeepSeek-R1 opens <think> when
// thinking is on; Qwen3 leaves it to the model; Qwen3 with thinking off closes it.
TEST(ReasoningDetect, PromptOpensReasoningFromRealTemplates) {
    ponder::ChatRenderInput in;
    in.messages = nlohmann::ordered_json::parse(R"([{"role":"user","content":"2+2?"}])");
    in.add_generation_prompt = true;

    const std::string ds_src =
        read_golden_template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja");
    ponder::ChatTemplate ds(ds_src, "deepseek");
    const auto ds_delims = ponder::detect_reasoning_delimiters(ds_src);
    EXPECT_EQ(ds_delims.open, "<think>");
    in.extra = {{"enable_thinking", true}};
    EXPECT_TRUE(ponder::prompt_opens_reasoning(ds.render(in), ds_delims));

    const std::string qw_src = read_golden_template("Qwen-Qwen3-0.6B.jinja");
    ponder::ChatTemplate qw(qw_src, "qwen3");
    in.extra = nullptr;
    EXPECT_FALSE(
        ponder::prompt_opens_reasoning(qw.render(in), ponder::detect_reasoning_delimiters(qw_src)));
    in.extra = {{"enable_thinking", false}};
    EXPECT_FALSE(
        ponder::prompt_opens_reasoning(qw.render(in), ponder::detect_reasoning_delimiters(qw_src)));
}

}  // namespace
