#include "runtime/chat_session.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace ponder {
namespace {

using ojson = nlohmann::ordered_json;

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    const size_t n = std::min(a.size(), b.size());
    size_t i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return i;
}

// Reads settings[key] into `out` when present; throws Error naming the field otherwise typed.
template <typename T>
void read_field(const ojson& s, const char* key, T& out) {
    auto it = s.find(key);
    if (it == s.end() || it->is_null()) return;
    try {
        out = it->get<T>();
    } catch (const nlohmann::json::exception&) {
        fail("settings.", key, " has the wrong type (", it->type_name(), ")");
    }
}

}  // namespace

const char* chatml_template() {
    return "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
           "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt "
           "%}{{ '<|im_start|>assistant\\n' }}{% endif %}";
}

ChatTemplate model_chat_template(const Model& model, const std::string& model_name) {
    if (model.file().find("tokenizer.chat_template"))
        return ChatTemplate(std::string(model.file().get_string("tokenizer.chat_template")),
                            model_name + ":tokenizer.chat_template");
    return ChatTemplate(chatml_template(), "<built-in ChatML>");
}

ChatSession::ChatSession(Context& ctx, const Tokenizer& tok, ChatTemplate tmpl,
                         ChatSettings settings, int32_t seq)
    : ctx_(ctx), tok_(tok), tmpl_(std::move(tmpl)), settings_(std::move(settings)), seq_(seq) {
    think_ = ponder::thinking_template(tmpl_.source());
    bos_text_ = tok_.bos_id() >= 0 ? tok_.token_to_piece(tok_.bos_id(), true) : "";
    eos_text_ = tok_.eos_id() >= 0 ? tok_.token_to_piece(tok_.eos_id(), true) : "";
    ctx_.kv().seq_rm(seq_, 0, -1);
}

ojson ChatSession::conversation(const std::string* user_text) const {
    ojson msgs = ojson::array();
    if (!settings_.system.empty())
        msgs.push_back({{"role", "system"}, {"content", settings_.system}});
    for (const auto& m : messages_) msgs.push_back(m);
    if (user_text) msgs.push_back({{"role", "user"}, {"content", *user_text}});
    return msgs;
}

std::string ChatSession::render(const std::string& user_text) const {
    ChatRenderInput in;
    in.messages = conversation(&user_text);
    in.add_generation_prompt = true;
    in.bos_token = bos_text_;
    in.eos_token = eos_text_;
    if (think_.has_switch) in.extra = {{"enable_thinking", settings_.thinking}};
    std::string text = tmpl_.render(in);
    if (!settings_.thinking && think_.thinks && !think_.has_switch)
        text = prefill_empty_thinking(text, think_.delims);
    return text;
}

ChatTurn ChatSession::send(const std::string& user_text, const ChatStream& on_delta) {
    const std::string text = render(user_text);
    std::vector<int32_t> ids = tok_.encode(text, false, true);
    if (tok_.add_bos() && tok_.bos_id() >= 0 && (ids.empty() || ids[0] != tok_.bos_id()))
        ids.insert(ids.begin(), tok_.bos_id());
    if (ids.empty()) fail("the rendered prompt is empty");
    if (int64_t(ids.size()) >= int64_t(ctx_.n_ctx()))
        fail("the conversation has ", ids.size(), " tokens but the context holds ", ctx_.n_ctx(),
             " (use /reset, or a larger -c)");

    // Keep the cached prefix the new prompt shares; drop the rest of the sequence.
    ChatTurn turn;
    const size_t reuse = std::min(common_prefix(cached_, ids), ids.size() - 1);
    ctx_.kv().seq_rm(seq_, int32_t(reuse), -1);
    cached_.resize(reuse);
    turn.n_reused = int32_t(reuse);
    turn.n_prompt_total = int32_t(ids.size());

    GenerateParams gp;
    gp.seq = seq_;
    gp.n_past = int32_t(reuse);
    gp.max_tokens = settings_.max_tokens;
    ThinkingParams& th = gp.thinking;
    const bool starts_inside = think_.thinks && prompt_opens_reasoning(text, think_.delims);
    if (think_.thinks || settings_.max_thinking >= 0 || settings_.min_thinking > 0) {
        th.track = true;
        th.open = think_.delims.open;
        th.close = think_.delims.close;
        th.starts_inside = starts_inside;
        // Thinking off: a block the model opens anyway is closed at once.
        th.max_tokens = settings_.thinking ? settings_.max_thinking : 0;
        th.min_tokens = settings_.thinking ? settings_.min_thinking : 0;
        th.wait_text = settings_.wait_text;
        th.conclusion = settings_.conclusion;
    }
    ReasoningParser parser(think_.delims, starts_inside);
    auto deliver = [&](ReasoningParser::Delta d) {
        turn.reasoning += d.reasoning;
        turn.content += d.content;
        if (on_delta && (!d.reasoning.empty() || !d.content.empty())) return on_delta(d);
        return true;
    };
    Sampler sampler(settings_.sampling);
    try {
        turn.gen = generate(ctx_, tok_, sampler, ids, gp,
                            [&](std::string_view piece) { return deliver(parser.push(piece)); });
    } catch (...) {
        // The cache may hold part of the prompt: forget what we cannot vouch for.
        ctx_.kv().seq_rm(seq_, int32_t(reuse), -1);
        throw;
    }
    deliver(parser.finish());

    // What the cache holds now: the prompt and the generated ids that were fed back.
    std::vector<int32_t> all = ids;
    all.insert(all.end(), turn.gen.ids.begin(), turn.gen.ids.end());
    const int32_t held = ctx_.kv().pos_max(seq_) + 1;
    all.resize(std::min(all.size(), size_t(std::max(0, held))));
    cached_ = std::move(all);
    last_prompt_ = std::move(ids);

    messages_.push_back({{"role", "user"}, {"content", user_text}});
    ojson answer = {{"role", "assistant"}, {"content", turn.content}};
    if (!turn.reasoning.empty()) answer["reasoning_content"] = turn.reasoning;
    messages_.push_back(std::move(answer));
    return turn;
}

void ChatSession::reset() {
    messages_ = ojson::array();
}

ojson ChatSession::to_json() const {
    const ChatSettings& s = settings_;
    ojson j;
    j["messages"] = messages_;
    j["settings"] = {{"system", s.system},
                     {"thinking", s.thinking},
                     {"max_thinking_tokens", s.max_thinking},
                     {"min_thinking_tokens", s.min_thinking},
                     {"wait_text", s.wait_text},
                     {"conclusion", s.conclusion},
                     {"max_tokens", s.max_tokens},
                     {"temperature", s.sampling.temperature},
                     {"top_k", s.sampling.top_k},
                     {"top_p", s.sampling.top_p},
                     {"min_p", s.sampling.min_p},
                     {"seed", s.sampling.seed}};
    return j;
}

void ChatSession::from_json(const ojson& j) {
    if (!j.is_object()) fail("a saved chat must be a JSON object, got ", j.type_name());
    auto mit = j.find("messages");
    if (mit == j.end() || !mit->is_array()) fail("a saved chat needs a \"messages\" array");
    for (size_t i = 0; i < mit->size(); ++i) {
        const auto& m = (*mit)[i];
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string() ||
            !m.contains("content") || !m["content"].is_string())
            fail("messages[", i, "] needs string \"role\" and \"content\"");
    }
    ChatSettings s = settings_;
    if (auto sit = j.find("settings"); sit != j.end() && !sit->is_null()) {
        if (!sit->is_object()) fail("\"settings\" must be an object");
        read_field(*sit, "system", s.system);
        read_field(*sit, "thinking", s.thinking);
        read_field(*sit, "max_thinking_tokens", s.max_thinking);
        read_field(*sit, "min_thinking_tokens", s.min_thinking);
        read_field(*sit, "wait_text", s.wait_text);
        read_field(*sit, "conclusion", s.conclusion);
        read_field(*sit, "max_tokens", s.max_tokens);
        read_field(*sit, "temperature", s.sampling.temperature);
        read_field(*sit, "top_k", s.sampling.top_k);
        read_field(*sit, "top_p", s.sampling.top_p);
        read_field(*sit, "min_p", s.sampling.min_p);
        read_field(*sit, "seed", s.sampling.seed);
    }
    ThinkingParams check;
    check.track = true;
    check.max_tokens = s.max_thinking;
    check.min_tokens = s.min_thinking;
    check.wait_text = s.wait_text;
    validate_thinking_params(check);
    Sampler validate(s.sampling);
    settings_ = std::move(s);
    messages_ = *mit;
}

void ChatSession::save(const std::string& path) const {
    std::ofstream out(path, std::ios::binary);
    if (!out) fail("cannot write ", path);
    out << to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!out) fail("cannot write ", path);
}

void ChatSession::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot read ", path);
    std::stringstream ss;
    ss << in.rdbuf();
    ojson j;
    try {
        j = ojson::parse(ss.str());
    } catch (const nlohmann::json::parse_error& e) {
        fail(path, ": not valid JSON: ", e.what());
    }
    try {
        from_json(j);
    } catch (const Error& e) {
        fail(path, ": ", e.what());
    }
}

}  // namespace ponder
