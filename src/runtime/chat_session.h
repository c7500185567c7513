// A conversation with one model over one KV sequence: the model's chat template, thinking
// control, and prefix reuse between turns.
//
// The session remembers which token ids the cache holds for its sequence. Each turn renders
// the whole conversation again, keeps the cached tokens it shares with the new prompt, removes
// the rest of the cache, and decodes only the new suffix (usually the previous answer as the
// template writes it, and the new user message).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/reasoning.h"
#include "runtime/generate.h"
#include "runtime/thinking.h"

namespace ponder {

struct ChatSettings {
    std::string system;         // system message; empty: none
    bool thinking = true;       // false: enable_thinking=false, or an empty block pre-filled
    int32_t max_thinking = -1;  // < 0: unlimited
    int32_t min_thinking = 0;   // s1 budget forcing below this
    std::string wait_text = "\nWait";
    std::string conclusion;   // forced before the close when max_thinking is reached
    int32_t max_tokens = -1;  // per answer, thinking included; < 0: until the end
    SamplerParams sampling;
};

struct ChatTurn {
    std::string reasoning, content;  // the answer split by the reasoning parser
    GenerateResult gen;              // counts (n_prompt: tokens decoded now), timings, finish
    int32_t n_reused = 0;            // prompt tokens kept from the cache
    int32_t n_prompt_total = 0;      // the whole rendered prompt in tokens
};

// Receives reasoning and content as they are generated; return false to stop the answer.
using ChatStream = std::function<bool(const ReasoningParser::Delta&)>;

class ChatSession {
  public:
    // Borrows ctx and tok (they must outlive the session); uses KV sequence `seq` alone.
    ChatSession(Context& ctx, const Tokenizer& tok, ChatTemplate tmpl, ChatSettings settings,
                int32_t seq = 0);

    // Adds the user message, answers it and adds the answer (also a cancelled, partial one).
    // Throws Error (the conversation unchanged) when the prompt does not fit the context or
    // the template rejects the messages.
    ChatTurn send(const std::string& user_text, const ChatStream& on_delta = {});

    // Forgets the messages (the settings and the cache stay: a common prefix is reused).
    void reset();
    ChatSettings& settings() { return settings_; }
    const ChatSettings& settings() const { return settings_; }
    const nlohmann::ordered_json& messages() const { return messages_; }
    const ThinkingTemplate& thinking_template() const { return think_; }

    // {"messages": [...], "settings": {...}}; from_json throws Error naming the bad field and
    // leaves the session unchanged.
    nlohmann::ordered_json to_json() const;
    void from_json(const nlohmann::ordered_json& j);
    void save(const std::string& path) const;
    void load(const std::string& path);

    // Token ids the cache holds for the sequence (positions 0..), and the last turn's prompt.
    const std::vector<int32_t>& cached() const { return cached_; }
    const std::vector<int32_t>& last_prompt() const { return last_prompt_; }
    // The prompt text the next turn would render for `user_text` (for inspection and tests).
    std::string render(const std::string& user_text) const;

  private:
    nlohmann::ordered_json conversation(const std::string* user_text) const;

    Context& ctx_;
    const Tokenizer& tok_;
    ChatTemplate tmpl_;
    ChatSettings settings_;
    int32_t seq_;
    ThinkingTemplate think_;
    std::string bos_text_, eos_text_;
    nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
    std::vector<int32_t> cached_, last_prompt_;
};

// A ChatML template for models that carry none (e.g. base models).
const char* chatml_template();

// A model's template: tokenizer.chat_template, else ChatML. `model_name` names it in errors.
ChatTemplate model_chat_template(const Model& model, const std::string& model_name);

}  // namespace ponder
