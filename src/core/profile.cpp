#include "core/profile.h"

namespace ponder::profile {
namespace {

std::atomic<bool> g_enabled{false};
std::array<std::atomic<int64_t>, kStages> g_ns{};

}  // namespace

std::string_view stage_name(Stage s) {
    // In the order of Stage.
    static constexpr std::string_view kNames[kStages] = {
        "embed",   "rms_norm", "qkv",  "rope+kv_store", "attention", "attn_out",
        "gate+up", "swiglu",   "down", "residual",      "logits"};
    return size_t(s) < kStages ? kNames[size_t(s)] : "?";
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
