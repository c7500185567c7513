// Server metrics in the Prometheus text exposition format (version 0.0.4).
// Thread-safe: HTTP threads count requests, the scheduler thread records tokens and latencies.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace ponder::server {

// A cumulative histogram with fixed upper bounds (seconds).
class Histogram {
  public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double v);
    // Appends the _bucket, _sum and _count lines of `name`.
    void write(std::string& out, const std::string& name) const;

  private:
    std::vector<double> bounds_;
    std::vector<uint64_t> counts_;  // per bound, not cumulative; the last is +Inf
    double sum_ = 0;
    uint64_t count_ = 0;
};

// Gauges the scheduler refreshes after each step.
struct EngineGauges {
    int64_t queued = 0, active = 0, kv_used = 0, kv_size = 0;
    double tokens_per_second = 0;  // generated tokens over the last few seconds
};

class Metrics {
  public:
    Metrics();
    void count_request(const std::string& endpoint, int status);
    void add_tokens(uint64_t prompt, uint64_t cached, uint64_t generated);
    void observe_ttft(double seconds);
    void observe_inter_token(double seconds);
    void set_gauges(const EngineGauges& g);
    std::string render() const;

  private:
    mutable std::mutex mu_;
    std::map<std::pair<std::string, int>, uint64_t> requests_;
    uint64_t prompt_tokens_ = 0, cached_tokens_ = 0, generated_tokens_ = 0;
    Histogram ttft_, itl_;
    EngineGauges gauges_;
};

}  // namespace ponder::server
