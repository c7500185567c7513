// Fuzz target: arbitrary request bodies for both completion endpoints. Any input must either
// parse or throw server::ApiError (a 400); never crash, hang or throw anything else.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/openai.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string body(reinterpret_cast<const char*>(data), size);
    for (auto ep : {ponder::server::Endpoint::Chat, ponder::server::Endpoint::Completion}) {
        try {
            (void)ponder::server::parse_completion_request(body, ep);
        } catch (const ponder::server::ApiError& e) {
            if (e.status() != 400) __builtin_trap();
        }
    }
    return 0;
}
