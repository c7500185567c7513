#include "core/profile.h"

namespace ponder::profile {
namespace {

std::atomic<bool> g_enabled{false};
std::array<std::atomic<int64_t>, kStages> g_ns{};

}  // namespace

std::string_view stage_name(Stage s) {
    switch (s) {
        case Stage::Embed:
            return "embed";
        case Stage::Norm:
            return "rms_norm";
        case Stage::Qkv:
            return "qkv";
        case Stage::Rope:
            return "rope+kv_store";
        case Stage::Attention:
            return "attention";
        case Stage::AttnOut:
            return "attn_out";
        case Stage::GateUp:
            return "gate+up";
        case Stage::Swiglu:
            return "swiglu";
        case Stage::Down:
            return "down";
        case Stage::Residual:
            return "residual";
        case Stage::Logits:
            return "logits";
        case Stage::Count:
            break;
    }
    return "?";
}

void set_enabled(bool on) {
    g_enabled.store(on, std::memory_order_relaxed);
}

bool enabled() {
    return g_enabled.load(std::memory_order_relaxed);
}

void reset() {
    for (auto& n : g_ns) n.store(0, std::memory_order_relaxed);
}

std::array<double, kStages> totals() {
    std::array<double, kStages> out{};
    for (size_t i = 0; i < kStages; ++i)
        out[i] = double(g_ns[i].load(std::memory_order_relaxed)) * 1e-9;
    return out;
}

void add(Stage s, int64_t ns) {
    g_ns[size_t(s)].fetch_add(ns, std::memory_order_relaxed);
}

}  // namespace ponder::profile
