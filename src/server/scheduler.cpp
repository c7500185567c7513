#include "server/scheduler.h"

#include <algorithm>

#include "core/error.h"

namespace ponder::server {

Channel::State Channel::wait_started() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return state_ != State::Pending; });
    return state_;
}

Channel::State Channel::take(std::vector<Event>& out, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (events_.empty() && state_ != State::Finished && state_ != State::Rejected)
        cv_.wait_for(lock, timeout, [&] {
            return !events_.empty() || state_ == State::Finished || state_ == State::Rejected;
        });
    while (!events_.empty()) {
        out.push_back(std::move(events_.front()));
        events_.pop_front();
    }
    return state_;
}

Usage Channel::usage() const {
    std::lock_guard lock(mu_);
    return usage_;
}

Scheduler::Scheduler(Context& ctx, const Tokenizer& tok, const EngineParams& params,
                     Metrics& metrics)
    : engine_(ctx, tok, params),
      metrics_(metrics),
      slot_ctx_(engine_.slot_ctx()),
      n_slots_(std::max(1, params.n_slots)) {
    update_gauges();
    thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
        cancel_all_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

std::shared_ptr<Channel> Scheduler::submit(Request req) {
    auto ch = std::make_shared<Channel>();
    ch->req_ = std::move(req);
    bool rejected = false;
    {
        std::lock_guard lock(mu_);
        if (stop_)
            rejected = true;
        else
            pending_.push_back(ch);
    }
    if (rejected) {
        std::lock_guard lock(ch->mu_);
        ch->state_ = Channel::State::Rejected;
        ch->reject_reason_ = "the server is shutting down";
    }
    cv_.notify_all();
    return ch;
}

void Scheduler::cancel(const std::shared_ptr<Channel>& ch) {
    {
        std::lock_guard lock(mu_);
        cancels_.push_back(ch);
    }
    cv_.notify_all();
}

void Scheduler::cancel_all() {
    {
        std::lock_guard lock(mu_);
        cancel_all_ = true;
    }
    cv_.notify_all();
}

EventSink Scheduler::make_sink(std::shared_ptr<Channel> ch) {
    return [this, ch](const Event& e, const Usage& u) {
        const auto now = Channel::Clock::now();
        if (e.kind == Event::Kind::Token && e.token >= 0) {
            if (!ch->first_token_seen_) {
                ch->first_token_seen_ = true;
                metrics_.observe_ttft(std::chrono::duration<double>(now - ch->arrival).count());
            }
            const auto c = size_t(e.choice);
            if (ch->last_token_.size() <= c) ch->last_token_.resize(c + 1);
            if (ch->last_token_[c] != Channel::Clock::time_point{})
                metrics_.observe_inter_token(
                    std::chrono::duration<double>(now - ch->last_token_[c]).count());
            ch->last_token_[c] = now;
        }
        if (e.kind == Event::Kind::RequestDone)
            metrics_.add_tokens(uint64_t(u.prompt_tokens), uint64_t(u.cached_prompt_tokens),
                                uint64_t(u.completion_tokens));
        {
            std::lock_guard lock(ch->mu_);
            ch->events_.push_back(e);
            ch->usage_ = u;
            if (e.kind == Event::Kind::RequestDone) ch->state_ = Channel::State::Finished;
        }
        ch->cv_.notify_all();
    };
}

void Scheduler::update_gauges() {
    const EngineStats s = engine_.stats();
    const auto now = Channel::Clock::now();
    rate_.emplace_back(now, s.generated_tokens);
    while (rate_.size() > 2 && now - rate_.front().first > std::chrono::seconds(5))
        rate_.pop_front();
    EngineGauges g;
    g.queued = s.queued;
    g.active = s.active_slots;
    g.kv_used = s.kv_used;
    g.kv_size = s.kv_size;
    const double dt = std::chrono::duration<double>(now - rate_.front().first).count();
    g.tokens_per_second = dt > 0 ? double(s.generated_tokens - rate_.front().second) / dt : 0;
    metrics_.set_gauges(g);
}

void Scheduler::loop() {
    for (;;) {
        std::vector<std::shared_ptr<Channel>> subs, cancels;
        bool cancel_all = false;
        {
            std::unique_lock lock(mu_);
            // Idle: sleep until work arrives (a second's timeout keeps the gauges fresh).
            if (engine_.idle() && pending_.empty() && cancels_.empty() && !stop_)
                cv_.wait_for(lock, std::chrono::seconds(1), [&] {
                    return !pending_.empty() || !cancels_.empty() || stop_ || cancel_all_;
                });
            if (stop_ && engine_.idle() && pending_.empty()) break;
            subs.swap(pending_);
            cancels.swap(cancels_);
            cancel_all = cancel_all_;
            cancel_all_ = false;
        }
        for (auto& ch : subs) {
            try {
                const auto n = size_t(std::max(1, ch->req_.n_choices));
                ch->last_token_.assign(n, Channel::Clock::time_point{});
                const int64_t id = engine_.submit(std::move(ch->req_), make_sink(ch));
                ch->engine_id_ = id;
                live_.push_back(ch);
                std::lock_guard lock(ch->mu_);
                if (ch->state_ == Channel::State::Pending) ch->state_ = Channel::State::Running;
            } catch (const Error& e) {
                std::lock_guard lock(ch->mu_);
                ch->state_ = Channel::State::Rejected;
                ch->reject_reason_ = e.what();
            }
            ch->cv_.notify_all();
        }
        for (auto& ch : cancels)
            if (ch->engine_id_ >= 0) engine_.cancel(ch->engine_id_);
        live_.erase(std::remove_if(live_.begin(), live_.end(),
                                   [](const std::weak_ptr<Channel>& w) {
                                       auto ch = w.lock();
                                       if (!ch) return true;
                                       std::lock_guard lock(ch->mu_);
                                       return ch->state_ == Channel::State::Finished;
                                   }),
                    live_.end());
        if (cancel_all)
            for (auto& w : live_)
                if (auto ch = w.lock()) engine_.cancel(ch->engine_id_);
        engine_.step();
        update_gauges();
    }
    update_gauges();
}

}  // namespace ponder::server
