// Thinking control: how long a reasoning model thinks, enforced token by token.
//
// A ThinkingControl follows one generated sequence. It knows whether the sequence is inside its
// thinking block (between the open and close delimiters, or from the start when the prompt
// already opened the block), counts the tokens spent there and on the answer, and steers:
//  - max_tokens N: once N thinking tokens were emitted, the next tokens are forced: the
//    conclusion text (if any), then the close delimiter and a blank line. With no conclusion,
//    the close delimiter's ids sit exactly at thinking index N.
//  - min_tokens N (s1 budget forcing): while fewer than N thinking tokens were emitted, the
//    first token of the close delimiter and every end-of-generation token get a -infinity
//    bias, and when the model's most likely token (its logits plus the caller's static bias)
//    is one of them, the wait text is forced instead, so that the model keeps reasoning.
//    This may repeat any number of times.
// Forced tokens count like sampled ones: inside the block they are thinking tokens. The
// tokens up to and including the one that completes the close delimiter are thinking.
// Delimiters are found in the decoded text, so a delimiter split across tokens is seen.
//
// Usage per step: if (auto f = tc.next_forced()) emit *f; else { id = sample(logits, bias());
// id = tc.steer(id, logits, ...); emit id; } and tc.accept(id) for every emitted id.
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chat/reasoning.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace ponder {

struct ThinkingParams {
    bool track = false;            // follow thinking at all (needs the delimiters below)
    std::string open = "<think>";  // text that opens thinking
    std::string close = "</think>";
    bool starts_inside = false;  // the prompt already opened thinking
    int32_t max_tokens = -1;     // < 0: unlimited
    int32_t min_tokens = 0;
    // Forced when max_tokens is reached: conclusion, then the close delimiter and a blank line.
    std::string conclusion;
    // Forced instead of a premature close while below min_tokens.
    std::string wait_text = "\nWait";
};

// Throws Error for inconsistent parameters (min > max, empty delimiters or wait text).
void validate_thinking_params(const ThinkingParams& p);

class ThinkingControl {
  public:
    // Borrows `tok`, which must outlive the control. Throws Error for bad parameters.
    ThinkingControl(const Tokenizer& tok, const ThinkingParams& p);

    // The next forced token, if forced text is queued (it is removed from the queue).
    std::optional<int32_t> next_forced();
    // Biases for the next sampled token: the close delimiter's first token and the
    // end-of-generation tokens forbidden while below min_tokens; empty otherwise.
    std::span<const LogitBias> bias() const;
    // Given the token sampled from `logits` (with bias() applied), returns the token to emit:
    // `sampled` itself, or the first token of forced text that replaces it (the wait text when
    // the model would end thinking too early, the conclusion and close delimiter when the
    // budget is spent). `static_bias` is the sampler's own logit_bias.
    int32_t steer(int32_t sampled, const float* logits, int32_t n_vocab,
                  std::span<const LogitBias> static_bias = {});
    // Records an emitted token (forced or sampled, not an end-of-generation token that ends
    // the sequence). Its text (special tokens shown) is matched against the delimiters.
    void accept(int32_t id);

    bool in_thinking() const { return in_thinking_; }
    bool forcing() const { return !forced_.empty(); }
    int32_t n_thinking() const { return n_thinking_; }
    int32_t n_content() const { return n_content_; }
    int32_t n_forced() const { return n_forced_; }
    // How many times the wait text and the budget close were forced.
    int32_t n_waits() const { return n_waits_; }
    bool budget_closed() const { return budget_closed_; }

  private:
    bool ends_thinking(int32_t id) const;

    const Tokenizer& tok_;
    ThinkingParams p_;
    std::vector<int32_t> close_ids_, wait_ids_, budget_ids_;
    std::vector<LogitBias> suppress_;  // close's first token and the EOG ids, at -infinity
    std::deque<int32_t> forced_;
    bool in_thinking_ = false;
    bool seen_thinking_ = false;    // a block was opened (no second one is tracked)
    bool content_started_ = false;  // non-whitespace content emitted
    bool budget_closed_ = false;
    std::string tail_;  // decoded text since the last state change (bounded)
    int32_t n_thinking_ = 0, n_content_ = 0, n_forced_ = 0, n_waits_ = 0;
};

// How a chat template expresses thinking.
struct ThinkingTemplate {
    bool thinks = false;      // the template mentions its open or close delimiter
    bool has_switch = false;  // it reads `enable_thinking` (Qwen3 style)
    ReasoningDelimiters delims;
};
ThinkingTemplate thinking_template(std::string_view chat_template_source);

// Thinking off for a template without a switch: the rendered prompt followed by an empty
// thinking block (or, when the prompt already opened the block, by its close), so that the
// model starts with the answer. E.g. "...<think>\n" -> "...<think>\n\n</think>\n\n".
std::string prefill_empty_thinking(std::string_view prompt, const ReasoningDelimiters& d);

}  // namespace ponder
