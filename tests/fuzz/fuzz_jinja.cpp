// Fuzz target: arbitrary template source, fixed conversation -> parse and render.
// Any input must either render or throw ponder::Error; never crash, hang or exhaust memory.
#include <cstddef>
#include <cstdint>
#include <string>

#include "chat/chat_template.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Hi <think> \"q\" ü"},
        {"role": "assistant", "content": "<think>\nx\n</think>\n\nHello", "tool_calls": [
            {"id": "call_12345", "type": "function",
             "function": {"name": "f", "arguments": {"a": [1, 2.5, null, true]}}}]},
        {"role": "tool", "content": "{\"ok\": 1}"},
        {"role": "user", "content": [{"type": "text", "text": "part"}]}])");
    static const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(
        R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])");
    try {
        ponder::ChatTemplate t(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
        ponder::ChatRenderInput in;
        in.messages = messages;
        in.tools = tools;
        in.extra = {{"enable_thinking", false}};
        in.clock = [] { return std::tm{}; };
        (void)t.render(in);
    } catch (const ponder::Error&) {
    }
    return 0;
}
