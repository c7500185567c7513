// ChatSession: prefix reuse between turns (only the new suffix is decoded), thinking budgets
// and thinking off through the model's own template, save/load round trip.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "common/paths.h"
#include "core/error.h"
#include "runtime/chat_session.h"

namespace ponder {
namespace {

struct Loaded {
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tok;
    std::unique_ptr<Context> ctx;
    explicit Loaded(const std::string& file, int32_t n_ctx = 1024) {
        model = Model::load(test::model_path(file));
        tok = Tokenizer::from_gguf(model->file());
        ctx = std::make_unique<Context>(*model, ContextParams{.n_ctx = n_ctx, .n_threads = 2});
    }
    ChatSession session(ChatSettings s) {
        s.sampling.temperature = 0;
        return ChatSession(*ctx, *tok, model_chat_template(*model, "test"), std::move(s));
    }
};

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    return i;
}

TEST(ChatSession, SecondTurnDecodesOnlyTheNewSuffix) {
    Loaded m("tiny-qwen3-F16.gguf");
    ChatSettings s;
    s.system = "You are terse.";
    s.max_tokens = 12;
    s.max_thinking = 4;
    ChatSession chat = m.session(s);
    const ChatTurn t1 = chat.send("Hello there");
    EXPECT_EQ(t1.n_reused, 0);
    EXPECT_EQ(t1.gen.n_prompt, int32_t(chat.last_prompt().size()));
    const std::vector<int32_t> p1 = chat.last_prompt();
    const std::vector<int32_t> cached = chat.cached();
    // The cache holds the prompt and the generated ids that were fed back.
    EXPECT_EQ(m.ctx->kv().pos_max(0) + 1, int32_t(cached.size()));
    EXPECT_TRUE(std::equal(p1.begin(), p1.end(), cached.begin()));

    const ChatTurn t2 = chat.send("And now?");
    const auto& p2 = chat.last_prompt();
    const size_t shared = std::min(common_prefix(cached, p2), p2.size() - 1);
    EXPECT_GE(shared, p1.size()) << "the whole first prompt is a prefix of the second";
    EXPECT_EQ(t2.n_reused, int32_t(shared));
    EXPECT_EQ(t2.gen.n_prompt, int32_t(p2.size() - shared));
    EXPECT_LT(t2.gen.n_prompt, int32_t(p2.size()));
    EXPECT_EQ(chat.messages().size(), 4u);

    // The same conversation from scratch gives the same answer: reuse changes nothing.
    Loaded fresh("tiny-qwen3-F16.gguf");
    ChatSession again = fresh.session(s);
    again.send("Hello there");
    const ChatTurn t2b = again.send("And now?");
    EXPECT_EQ(t2b.gen.ids, t2.gen.ids);
}

TEST(ChatSession, ThinkingOffUsesTheTemplateSwitch) {
    Loaded m("tiny-qwen3-F16.gguf");
    ChatSettings s;
    s.thinking = false;
    s.max_tokens = 4;
    ChatSession chat = m.session(s);
    ASSERT_TRUE(chat.thinking_template().has_switch);
    // Qwen3 with enable_thinking=false writes the empty block itself.
    ChatRenderInput in;
    in.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Hi"}}});
    in.extra = {{"enable_thinking", false}};
    in.bos_token = "";
    in.eos_token = m.tok->token_to_piece(m.tok->eos_id(), true);
    const std::string expected = model_chat_template(*m.model, "test").render(in);
    EXPECT_EQ(chat.render("Hi"), expected);
    EXPECT_NE(expected.find("</think>"), std::string::npos);
    const ChatTurn t = chat.send("Hi");
    EXPECT_EQ(t.gen.n_reasoning_tokens, 0);
}

TEST(ChatSession, ThinkingOffPrefillsWhenTheTemplateHasNoSwitch) {
    Loaded m("tiny-qwen3-F16.gguf");
    // A DeepSeek-R1-like template: opens the block itself, no enable_thinking.
    const std::string src =
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}";
    ChatSettings s;
    s.max_tokens = 6;
    s.sampling.temperature = 0;
    ChatSession on(*m.ctx, *m.tok, ChatTemplate(src, "r1-like"), s);
    EXPECT_FALSE(on.thinking_template().has_switch);
    const std::string opened = on.render("Hi");
    s.thinking = false;
    ChatSession off(*m.ctx, *m.tok, ChatTemplate(src, "r1-like"), s);
    EXPECT_EQ(off.render("Hi"), prefill_empty_thinking(opened, off.thinking_template().delims));
    EXPECT_EQ(off.render("Hi"), opened + "\n</think>\n\n");
    // Thinking on: the block is open from the start, so the budget counts from token 0.
    s.thinking = true;
    s.max_thinking = 2;
    ChatSession budget(*m.ctx, *m.tok, ChatTemplate(src, "r1-like"), s);
    const ChatTurn t = budget.send("Hi");
    const auto forced = m.tok->encode("</think>\n\n", false, true);
    ASSERT_GE(t.gen.ids.size(), 2 + forced.size());
    EXPECT_TRUE(std::equal(forced.begin(), forced.end(), t.gen.ids.begin() + 2));
    EXPECT_EQ(t.gen.n_reasoning_tokens, 2 + int32_t(m.tok->encode("</think>", false, true).size()));
}

TEST(ChatSession, SaveLoadRoundTrip) {
    Loaded m("stories260K.gguf", 512);
    ChatSettings s;
    s.system = "Tell stories.";
    s.max_tokens = 8;
    s.max_thinking = 30;
    s.min_thinking = 3;
    s.wait_text = "\nHmm";
    ChatSession a = m.session(s);
    a.send("Once upon a time");
    const std::string path = test::binary_dir() + "/chat_session_roundtrip.json";
    a.save(path);
    ChatSession b = m.session(ChatSettings{});
    b.load(path);
    EXPECT_EQ(b.to_json(), a.to_json());
    EXPECT_EQ(b.settings().min_thinking, 3);
    EXPECT_EQ(b.settings().wait_text, "\nHmm");
    EXPECT_EQ(b.render("Next"), a.render("Next"));
    std::remove(path.c_str());
}

TEST(ChatSession, BadSavedChatsAreRejectedWithTheField) {
    Loaded m("stories260K.gguf", 512);
    ChatSession c = m.session(ChatSettings{});
    using J = nlohmann::ordered_json;
    auto msg = [&](const J& j) {
        try {
            c.from_json(j);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(msg(J::array()).find("object"), std::string::npos);
    EXPECT_NE(msg(J{{"messages", 3}}).find("messages"), std::string::npos);
    EXPECT_NE(msg(J{{"messages", J::array({J{{"role", "user"}}})}}).find("messages[0]"),
              std::string::npos);
    EXPECT_NE(msg(J{{"messages", J::array()}, {"settings", {{"thinking", "yes"}}}})
                  .find("settings.thinking"),
              std::string::npos);
    EXPECT_NE(msg(J{{"messages", J::array()},
                    {"settings", {{"min_thinking_tokens", 9}, {"max_thinking_tokens", 2}}}})
                  .find("exceeds"),
              std::string::npos);
    EXPECT_THROW(c.load("/nonexistent/chat.json"), Error);
    EXPECT_TRUE(c.messages().empty());
}

TEST(ChatSession, APromptLongerThanTheContextFailsAndKeepsTheConversation) {
    Loaded m("stories260K.gguf", 64);
    ChatSettings s;
    s.max_tokens = 4;
    ChatSession c = m.session(s);
    std::string big;
    for (int i = 0; i < 100; ++i) big += "word ";
    EXPECT_THROW(c.send(big), Error);
    EXPECT_TRUE(c.messages().empty());
    c.send("Hi");
    EXPECT_EQ(c.messages().size(), 2u);
}

}  // namespace
}  // namespace ponder
