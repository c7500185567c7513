// Where the forward pass spends its time, for `ponder bench --profile`: off by default; when
// enabled, the thread that runs a forward pass adds the wall time of each stage (its parallel
// runs included) to process-wide totals. A disabled lap costs one relaxed load.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace ponder::profile {

enum class Stage {
    Embed,      // token embedding lookups and the batch's setup (rope angles, attention jobs)
    Norm,       // RMSNorm (attention, MLP, q/k and output norms)
    Qkv,        // q/k/v projections and their biases
    Rope,       // rotary embedding and storing K/V rows into the cache
    Attention,  // attention over the cache
    AttnOut,    // output projection
    GateUp,     // gate and up projections
    Swiglu,     // SwiGLU
    Down,       // down projection
    Residual,   // residual additions
    Logits,     // output matrix
    Count
};
constexpr size_t kStages = size_t(Stage::Count);

std::string_view stage_name(Stage s);

void set_enabled(bool on);
bool enabled();
// Zeroes the totals.
void reset();
// Seconds spent in each stage since the last reset.
std::array<double, kStages> totals();

// Adds `ns` nanoseconds to stage s.
void add(Stage s, int64_t ns);

// Times consecutive stages of one thread: lap(s) charges the time since the previous lap (or
// construction) to s.
class Laps {
  public:
    Laps() : on_(enabled()) {
        if (on_) last_ = std::chrono::steady_clock::now();
    }
    void lap(Stage s) {
        if (!on_) return;
        const auto now = std::chrono::steady_clock::now();
        add(s, std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_).count());
        last_ = now;
    }

  private:
    bool on_;
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace ponder::profile
