#include "chat/chat_template.h"

#include "chat/jinja/template.h"
#include "core/error.h"

namespace ponder {

ChatTemplate::ChatTemplate(std::string source, std::string name)
    : source_(std::move(source)),
      name_(std::move(name)),
      tmpl_(std::make_unique<jinja::Template>(source_, name_)) {}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const ChatRenderInput& in) const {
    using jinja::Value;
    Value g = Value::dict();
    auto& d = g.dict_ref();
    d.set(Value("messages"), Value::from_json(in.messages));
    d.set(Value("tools"), Value::from_json(in.tools));
    d.set(Value("add_generation_prompt"), Value(in.add_generation_prompt));
    d.set(Value("bos_token"), Value(in.bos_token));
    d.set(Value("eos_token"), Value(in.eos_token));
    if (in.extra.is_object())
        for (const auto& [k, v] : in.extra.items()) d.set(Value(k), Value::from_json(v));
    else if (!in.extra.is_null())
        fail("chat template ", name_, ": extra variables must be a JSON object");
    jinja::RenderOptions opt;
    opt.clock = in.clock;
    return tmpl_->render(g, opt);
}

void chat_input_from_json(const nlohmann::ordered_json& j, ChatRenderInput& in,
                          const std::string& what) {
    if (!j.is_object()) fail(what, ": expected a JSON object");
    if (!j.contains("messages") || !j["messages"].is_array())
        fail(what, ": field 'messages' must be an array");
    in.messages = j["messages"];
    if (j.contains("add_generation_prompt")) {
        if (!j["add_generation_prompt"].is_boolean())
            fail(what, ": field 'add_generation_prompt' must be a boolean");
        in.add_generation_prompt = j["add_generation_prompt"].get<bool>();
    }
    in.tools = j.contains("tools") ? j["tools"] : nlohmann::ordered_json();
    if (!in.tools.is_null() && !in.tools.is_array()) fail(what, ": field 'tools' must be an array");
    in.extra = j.contains("extra") ? j["extra"] : nlohmann::ordered_json();
    if (!in.extra.is_null() && !in.extra.is_object())
        fail(what, ": field 'extra' must be an object");
}

}  // namespace ponder
