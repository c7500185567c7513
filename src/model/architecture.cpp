#include "model/architecture.h"

#include "core/error.h"

namespace ponder {
namespace {
const Architecture* const* families() {
    static const Architecture* const list[] = {&llama_architecture(), &qwen2_architecture(),
                                               &qwen3_architecture(), nullptr};
    return list;
}
}  // namespace

std::vector<std::string> supported_architectures() {
    std::vector<std::string> out;
    for (auto a = families(); *a; ++a) out.emplace_back((*a)->name());
    return out;
}

const Architecture& find_architecture(std::string_view name) {
    for (auto a = families(); *a; ++a)
        if ((*a)->name() == name) return **a;
    std::string list;
    for (const auto& n : supported_architectures()) list += (list.empty() ? "" : ", ") + n;
    fail("unsupported architecture '", name, "' (supported: ", list, ")");
}

}  // namespace ponder
