#include "runtime/thinking.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace ponder {
namespace {

constexpr size_t kTailBytes = 128;  // decoded text kept to spot a delimiter split across tokens

bool is_space(char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

std::string_view lstrip(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    return s;
}

}  // namespace

void validate_thinking_params(const ThinkingParams& p) {
    if (!p.track) return;
    if (p.open.empty() || p.close.empty())
        fail("thinking control needs non-empty open and close delimiters");
    if (p.min_tokens < 0) fail("min_thinking_tokens must be >= 0, got ", p.min_tokens);
    if (p.max_tokens >= 0 && p.min_tokens > p.max_tokens)
        fail("min_thinking_tokens (", p.min_tokens, ") exceeds max_thinking_tokens (", p.max_tokens,
             ")");
    if (p.min_tokens > 0 && p.wait_text.empty())
        fail("min_thinking_tokens needs a non-empty wait text");
}

ThinkingControl::ThinkingControl(const Tokenizer& tok, const ThinkingParams& p) : tok_(tok), p_(p) {
    validate_thinking_params(p_);
    if (!p_.track) return;
    in_thinking_ = p_.starts_inside;
    seen_thinking_ = p_.starts_inside;
    close_ids_ = tok_.encode(p_.close, false, true);
    wait_ids_ = tok_.encode(p_.wait_text, false, true);
    budget_ids_ = tok_.encode(p_.conclusion + p_.close + "\n\n", false, true);
    if (!close_ids_.empty()) suppress_.push_back({close_ids_.front(), -INFINITY});
    for (int32_t id : tok_.eog_ids())
        if (close_ids_.empty() || id != close_ids_.front()) suppress_.push_back({id, -INFINITY});
}

std::optional<int32_t> ThinkingControl::next_forced() {
    if (forced_.empty() && p_.track && in_thinking_ && !budget_closed_ && p_.max_tokens >= 0 &&
        n_thinking_ >= p_.max_tokens) {
        budget_closed_ = true;
        forced_.assign(budget_ids_.begin(), budget_ids_.end());
    }
    if (forced_.empty()) return std::nullopt;
    const int32_t id = forced_.front();
    forced_.pop_front();
    ++n_forced_;
    return id;
}

std::span<const LogitBias> ThinkingControl::bias() const {
    if (p_.track && in_thinking_ && n_thinking_ < p_.min_tokens) return suppress_;
    return {};
}

bool ThinkingControl::ends_thinking(int32_t id) const {
    return (!close_ids_.empty() && id == close_ids_.front()) || tok_.is_eog(id);
}

int32_t ThinkingControl::steer(int32_t sampled, const float* logits, int32_t n_vocab,
                               std::span<const LogitBias> static_bias) {
    if (!p_.track || !in_thinking_ || n_thinking_ >= p_.min_tokens || wait_ids_.empty())
        return sampled;
    // What the model would pick with only the caller's own bias: does it want to stop?
    int32_t best = sampled;
    if (logits && n_vocab > 0) {
        std::vector<float> add;
        if (!static_bias.empty()) {
            add.assign(size_t(n_vocab), 0.0f);
            for (const auto& b : static_bias)
                if (b.id >= 0 && b.id < n_vocab) add[size_t(b.id)] += b.bias;
        }
        float best_l = -INFINITY;
        for (int32_t i = 0; i < n_vocab; ++i) {
            const float l = logits[i] + (add.empty() ? 0.0f : add[size_t(i)]);
            if (l > best_l) best_l = l, best = i;
        }
    }
    if (!ends_thinking(best) && !ends_thinking(sampled)) return sampled;
    ++n_waits_;
    forced_.assign(wait_ids_.begin(), wait_ids_.end());
    const int32_t id = forced_.front();
    forced_.pop_front();
    ++n_forced_;
    return id;
}

void ThinkingControl::accept(int32_t id) {
    if (!p_.track) {
        ++n_content_;
        return;
    }
    tail_ += tok_.token_to_piece(id, true);
    if (in_thinking_) {
        ++n_thinking_;
        if (const size_t at = tail_.find(p_.close); at != std::string::npos) {
            in_thinking_ = false;
            tail_.erase(0, at + p_.close.size());
            if (!lstrip(tail_).empty()) content_started_ = true;
        }
    } else if (!seen_thinking_ && !content_started_ && tail_.find(p_.open) != std::string::npos) {
        // A block opened at the start of the output: what came before it was whitespace
        // (or the delimiter's own first pieces), so every token so far is thinking.
        in_thinking_ = seen_thinking_ = true;
        n_thinking_ += n_content_ + 1;
        n_content_ = 0;
        tail_.erase(0, tail_.find(p_.open) + p_.open.size());
        if (const size_t at = tail_.find(p_.close); at != std::string::npos) {
            in_thinking_ = false;
            tail_.erase(0, at + p_.close.size());
        }
    } else if (!seen_thinking_ && tail_.find(p_.close) != std::string::npos) {
        // A close without an open: the block was open from the start (the template opened it
        // without saying so). The text is already out; the counts are corrected.
        seen_thinking_ = true;
        n_thinking_ += n_content_ + 1;
        n_content_ = 0;
        tail_.erase(0, tail_.find(p_.close) + p_.close.size());
        content_started_ = !lstrip(tail_).empty();
    } else {
        ++n_content_;
        if (!content_started_) {
            const std::string_view t = lstrip(tail_);
            // Still possibly the open delimiter arriving in pieces?
            if (!t.empty() && !(t.size() < p_.open.size() && p_.open.starts_with(t)))
                content_started_ = true;
        }
    }
    if (tail_.size() > kTailBytes && (content_started_ || in_thinking_ || seen_thinking_))
        tail_.erase(0, tail_.size() - kTailBytes);
}

ThinkingTemplate thinking_template(std::string_view source) {
    ThinkingTemplate t;
    t.delims = detect_reasoning_delimiters(source);
    t.thinks = source.find(t.delims.open) != std::string_view::npos ||
               source.find(t.delims.close) != std::string_view::npos;
    t.has_switch = source.find("enable_thinking") != std::string_view::npos;
    return t;
}

std::string prefill_empty_thinking(std::string_view prompt, const ReasoningDelimiters& d) {
    std::string out(prompt);
    if (!prompt_opens_reasoning(prompt, d)) out += d.open;
    if (out.empty() || out.back() != '\n') out += '\n';
    out += "\n" + d.close + "\n\n";
    return out;
}

}  // namespace ponder
