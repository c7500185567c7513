#include "chat/reasoning.h"

#include <algorithm>

namespace ponder {
namespace {

bool is_ws(char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

// Length of the longest proper suffix of `s` that is a prefix of `tag`.
size_t partial_suffix(std::string_view s, std::string_view tag) {
    for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n)
        if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
    return 0;
}

}  // namespace

ReasoningParser::ReasoningParser(ReasoningDelimiters d, bool starts_in_reasoning)
    : delim_(std::move(d)), in_reasoning_(starts_in_reasoning), skip_open_(starts_in_reasoning) {
    if (delim_.open.empty()) delim_.open = "<think>";
    if (delim_.close.empty()) delim_.close = "</think>";
}

ReasoningParser::Delta ReasoningParser::push(std::string_view text) {
    Delta d;
    buf_.append(text);
    process(d, false);
    return d;
}

ReasoningParser::Delta ReasoningParser::finish() {
    Delta d;
    process(d, true);
    // Held-back whitespace: trailing reasoning whitespace is stripped; leading content
    // whitespace with nothing after it is content.
    reasoning_ws_.clear();
    if (!content_lstrip_ && !content_ws_.empty()) d.content += content_ws_;
    content_ws_.clear();
    return d;
}

void ReasoningParser::emit_reasoning(Delta& d, std::string_view s) {
    for (char c : s) {
        if (reasoning_start_ && is_ws(c)) continue;
        reasoning_start_ = false;
        if (is_ws(c)) {
            reasoning_ws_ += c;
        } else {
            d.reasoning += reasoning_ws_;
            reasoning_ws_.clear();
            d.reasoning += c;
        }
    }
}

void ReasoningParser::emit_content(Delta& d, std::string_view s) {
    for (char c : s) {
        if (is_ws(c) && (content_lstrip_ || !content_started_)) {
            if (!content_lstrip_) content_ws_ += c;
            continue;
        }
        content_lstrip_ = false;
        if (!content_started_) {
            d.content += content_ws_;
            content_ws_.clear();
            content_started_ = true;
        }
        d.content += c;
    }
}

void ReasoningParser::process(Delta& d, bool final) {
    while (!buf_.empty()) {
        if (in_reasoning_) {
            if (skip_open_) {
                // A redundant open delimiter at the start of a block the prompt opened.
                size_t p = 0;
                while (p < buf_.size() && is_ws(buf_[p])) ++p;
                std::string_view rest = std::string_view(buf_).substr(p);
                if (rest.size() >= delim_.open.size()) {
                    if (rest.substr(0, delim_.open.size()) == delim_.open)
                        buf_.erase(0, p + delim_.open.size());
                    skip_open_ = false;
                } else if (std::string_view(delim_.open).substr(0, rest.size()) == rest && !final) {
                    return;  // undecided: may still become the open delimiter
                } else {
                    skip_open_ = false;
                }
                continue;
            }
            size_t pos = buf_.find(delim_.close);
            if (pos != std::string::npos) {
                emit_reasoning(d, std::string_view(buf_).substr(0, pos));
                buf_.erase(0, pos + delim_.close.size());
                in_reasoning_ = false;
                reasoning_ws_.clear();
                content_lstrip_ = true;
                content_ws_.clear();
                continue;
            }
            size_t keep = final ? 0 : partial_suffix(buf_, delim_.close);
            emit_reasoning(d, std::string_view(buf_).substr(0, buf_.size() - keep));
            buf_.erase(0, buf_.size() - keep);
            return;
        }
        size_t open = buf_.find(delim_.open);
        size_t close = buf_.find(delim_.close);
        if (close != std::string::npos && (open == std::string::npos || close < open)) {
            // A close delimiter without an open one: dropped, the text before stays content.
            emit_content(d, std::string_view(buf_).substr(0, close));
            buf_.erase(0, close + delim_.close.size());
            continue;
        }
        if (open != std::string::npos) {
            emit_content(d, std::string_view(buf_).substr(0, open));
            if (!content_started_) content_ws_.clear();  // whitespace before <think> dropped
            buf_.erase(0, open + delim_.open.size());
            in_reasoning_ = true;
            reasoning_start_ = true;
            reasoning_ws_.clear();
            continue;
        }
        size_t keep =
            final ? 0
                  : std::max(partial_suffix(buf_, delim_.open), partial_suffix(buf_, delim_.close));
        emit_content(d, std::string_view(buf_).substr(0, buf_.size() - keep));
        buf_.erase(0, buf_.size() - keep);
        return;
    }
}

ReasoningDelimiters detect_reasoning_delimiters(std::string_view chat_template) {
    static const ReasoningDelimiters known[] = {
        {"<seed:think>", "</seed:think>"},
        {"<|begin_of_thought|>", "<|end_of_thought|>"},
        {"[THINK]", "[/THINK]"},
        {"<think>", "</think>"},
    };
    for (const auto& d : known)
        if (chat_template.find(d.open) != std::string_view::npos ||
            chat_template.find(d.close) != std::string_view::npos)
            return d;
    return {};
}

bool prompt_opens_reasoning(std::string_view rendered_prompt, const ReasoningDelimiters& d) {
    std::string_view p = rendered_prompt;
    while (!p.empty() && is_ws(p.back())) p.remove_suffix(1);
    return !d.open.empty() && p.size() >= d.open.size() &&
           p.substr(p.size() - d.open.size()) == d.open;
}

}  // namespace ponder
