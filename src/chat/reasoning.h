// Splits a generated text stream into reasoning ("thinking") and content (the answer).
//
// Conventions (what the unit tests pin down):
//  - Text between the open and close delimiters is reasoning; text elsewhere is content.
//    With starts_in_reasoning (the prompt already opened the block: DeepSeek-R1, QwQ, Qwen3
//    thinking), text before the first close delimiter is reasoning, and a redundant open
//    delimiter at its very start is skipped.
//  - Whitespace is trimmed the way OpenAI-compatible servers present it: reasoning is
//    stripped at both ends; content loses the whitespace right after a close delimiter, and
//    whitespace before an open delimiter at the start of the stream. Other content is exact.
//  - A close delimiter met in content without a preceding open one is dropped from the
//    content (text already streamed cannot be reclassified).
//  - Streaming-safe: a suffix that may be the start of a delimiter, and whitespace whose fate
//    depends on what follows, are held back until decided; finish() flushes them (an
//    unterminated reasoning block stays reasoning).
#pragma once
#include <string>
#include <string_view>

namespace ponder {

struct ReasoningDelimiters {
    std::string open = "<think>", close = "</think>";
};

class ReasoningParser {
  public:
    ReasoningParser(ReasoningDelimiters d, bool starts_in_reasoning);

    struct Delta {
        std::string reasoning, content;
    };
    // Consumes the next piece of generated text; returns what can be decided now.
    Delta push(std::string_view text);
    // End of stream: returns everything still held back.
    Delta finish();
    // Whether the parser is inside a reasoning block (after the text pushed so far).
    bool in_reasoning() const { return in_reasoning_; }

  private:
    void process(Delta& d, bool final);
    void emit_reasoning(Delta& d, std::string_view s);
    void emit_content(Delta& d, std::string_view s);

    ReasoningDelimiters delim_;
    bool in_reasoning_;
    std::string buf_;               // undecided input
    bool reasoning_start_ = true;   // nothing emitted yet in the current reasoning block
    bool skip_open_ = false;        // a redundant open delimiter may start the block
    std::string reasoning_ws_;      // trailing reasoning whitespace, held back
    bool content_lstrip_ = false;   // drop whitespace (right after a close delimiter)
    bool content_started_ = false;  // any content emitted yet
    std::string content_ws_;        // leading content whitespace, held back
};

// Delimiters a chat template uses, found by looking for known pairs in its source:
// <seed:think>/</seed:think>, <|begin_of_thought|>/<|end_of_thought|>, [THINK]/[/THINK],
// <think>/</think> (also the default when none appears).
ReasoningDelimiters detect_reasoning_delimiters(std::string_view chat_template);

// Whether a rendered prompt leaves a reasoning block open for the model (the prompt, trailing
// whitespace aside, ends with the open delimiter).
bool prompt_opens_reasoning(std::string_view rendered_prompt, const ReasoningDelimiters& d);

}  // namespace ponder
