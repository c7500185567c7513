#include "server/metrics.h"

#include <cstdio>
#include <cstdlib>

namespace ponder::server {
namespace {

std::string num(double v) {
    // The shortest of 15 or 17 significant digits that reads back as v ("0.025", not
    // "0.025000000000000001").
    char buf[64];
    for (int precision : {15, 17}) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void line(std::string& out, const std::string& name, double v) {
    out += name + ' ' + num(v) + '\n';
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += v;
    ++count_;
}

void Histogram::write(std::string& out, const std::string& name) const {
    uint64_t cum = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
        cum += counts_[i];
        out += name + "_bucket{le=\"" + num(bounds_[i]) + "\"} " + std::to_string(cum) + '\n';
    }
    cum += counts_.back();
    out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cum) + '\n';
    line(out, name + "_sum", sum_);
    out += name + "_count " + std::to_string(count_) + '\n';
}

Metrics::Metrics()
    : ttft_({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      itl_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}) {}

void Metrics::count_request(const std::string& endpoint, int status) {
    std::lock_guard lock(mu_);
    ++requests_[{endpoint, status}];
}

void Metrics::add_tokens(uint64_t prompt, uint64_t cached, uint64_t generated) {
    std::lock_guard lock(mu_);
    prompt_tokens_ += prompt;
    cached_tokens_ += cached;
    generated_tokens_ += generated;
}

void Metrics::observe_ttft(double seconds) {
    std::lock_guard lock(mu_);
    ttft_.observe(seconds);
}

void Metrics::observe_inter_token(double seconds) {
    std::lock_guard lock(mu_);
    itl_.observe(seconds);
}

void Metrics::set_gauges(const EngineGauges& g) {
    std::lock_guard lock(mu_);
    gauges_ = g;
}

std::string Metrics::render() const {
    std::lock_guard lock(mu_);
    std::string out;
    header(out, "ponder_requests_total", "counter", "HTTP requests by endpoint and status.");
    for (const auto& [k, v] : requests_)
        out += "ponder_requests_total{endpoint=\"" + k.first + "\",status=\"" +
               std::to_string(k.second) + "\"} " + std::to_string(v) + '\n';
    header(out, "ponder_prompt_tokens_total", "counter", "Prompt tokens of finished requests.");
    line(out, "ponder_prompt_tokens_total", double(prompt_tokens_));
    header(out, "ponder_prompt_tokens_cached_total", "counter",
           "Prompt tokens reused from the KV cache instead of recomputed.");
    line(out, "ponder_prompt_tokens_cached_total", double(cached_tokens_));
    header(out, "ponder_generated_tokens_total", "counter", "Generated tokens, all choices.");
    line(out, "ponder_generated_tokens_total", double(generated_tokens_));
    header(out, "ponder_generation_tokens_per_second", "gauge",
           "Generated tokens per second over the last few seconds.");
    line(out, "ponder_generation_tokens_per_second", gauges_.tokens_per_second);
    header(out, "ponder_queue_depth", "gauge", "Requests waiting for a free slot.");
    line(out, "ponder_queue_depth", double(gauges_.queued));
    header(out, "ponder_active_sequences", "gauge", "Slots (KV sequences) in use.");
    line(out, "ponder_active_sequences", double(gauges_.active));
    header(out, "ponder_kv_cache_used_cells", "gauge", "KV cache cells holding tokens.");
    line(out, "ponder_kv_cache_used_cells", double(gauges_.kv_used));
    header(out, "ponder_kv_cache_size_cells", "gauge", "KV cache cells in total.");
    line(out, "ponder_kv_cache_size_cells", double(gauges_.kv_size));
    header(out, "ponder_kv_cache_usage_ratio", "gauge", "Used / total KV cache cells.");
    line(out, "ponder_kv_cache_usage_ratio",
         gauges_.kv_size > 0 ? double(gauges_.kv_used) / double(gauges_.kv_size) : 0.0);
    header(out, "ponder_time_to_first_token_seconds", "histogram",
           "Time from a request's arrival to its first generated token.");
    ttft_.write(out, "ponder_time_to_first_token_seconds");
    header(out, "ponder_inter_token_latency_seconds", "histogram",
           "Time between consecutive tokens of one choice.");
    itl_.write(out, "ponder_inter_token_latency_seconds");
    return out;
}

}  // namespace ponder::server
