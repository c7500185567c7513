// Chat formatting: renders a model's chat template (Jinja) for a conversation the way
// Hugging Face transformers' apply_chat_template does.
#pragma once
#include <ctime>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace ponder {

namespace jinja {
class Template;
}

struct ChatRenderInput {
    // ordered_json keeps the key order of the caller's JSON, which `tojson` must reproduce.
    nlohmann::ordered_json messages;  // [{"role":..., "content": string | [parts]}, ...]
    bool add_generation_prompt = true;
    nlohmann::ordered_json tools;  // null or array
    nlohmann::ordered_json extra;  // more variables, e.g. {"enable_thinking": false}
    std::string bos_token = "<s>", eos_token = "</s>";
    // Time seen by strftime_now(); empty = the machine's local time.
    std::function<std::tm()> clock;
};

class ChatTemplate {
  public:
    // Parses the template; throws Error "<name>:<line>:<col>: syntax error: ...".
    ChatTemplate(std::string source, std::string name);
    ~ChatTemplate();
    ChatTemplate(ChatTemplate&&) noexcept;
    ChatTemplate& operator=(ChatTemplate&&) noexcept;

    // Renders the prompt. Variables: messages, tools (none when null), add_generation_prompt,
    // bos_token, eos_token, then every key of `extra`. Throws Error with the template name,
    // line, column and message (raise_exception: "TemplateError: <message>").
    std::string render(const ChatRenderInput& in) const;

    const std::string& source() const { return source_; }
    const std::string& name() const { return name_; }

  private:
    std::string source_;
    std::string name_;
    std::unique_ptr<jinja::Template> tmpl_;
};

// Reads a case file ({"messages", "add_generation_prompt", "tools", "extra"}) into `in`
// (bos/eos and clock untouched). Throws Error naming `what` for missing or mistyped fields.
void chat_input_from_json(const nlohmann::ordered_json& j, ChatRenderInput& in,
                          const std::string& what);

}  // namespace ponder
