// The scheduler thread: the only thread that touches the Engine (and so the model and its KV
// cache). HTTP threads hand it typed Requests and read typed Events back through a Channel;
// no JSON crosses this boundary (DESIGN rule 7).
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/engine.h"
#include "server/metrics.h"

namespace ponder::server {

// One request's mailbox. The scheduler thread pushes events; one HTTP thread pops them.
class Channel {
  public:
    enum class State { Pending, Running, Rejected, Finished };

    // HTTP side: waits until the scheduler accepted or rejected the request.
    State wait_started();
    const std::string& reject_reason() const { return reject_reason_; }
    // HTTP side: moves out the events that arrived, waiting up to `timeout` when there are
    // none. Returns the state after the wait (Finished once RequestDone was delivered).
    State take(std::vector<Event>& out, std::chrono::milliseconds timeout);
    Usage usage() const;

    using Clock = std::chrono::steady_clock;
    const Clock::time_point arrival = Clock::now();

  private:
    friend class Scheduler;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    State state_ = State::Pending;
    std::string reject_reason_;
    std::deque<Event> events_;
    Usage usage_;
    Request req_;                                // moved into the engine at submission
    int64_t engine_id_ = -1;                     // scheduler thread only
    std::vector<Clock::time_point> last_token_;  // per choice, for inter-token latency
    bool first_token_seen_ = false;
};

class Scheduler {
  public:
    // Starts the thread. `ctx` and `tok` must outlive the scheduler.
    Scheduler(Context& ctx, const Tokenizer& tok, const EngineParams& params, Metrics& metrics);
    ~Scheduler();  // cancels everything still running and joins the thread

    // Thread-safe. The channel reports Rejected (with the engine's reason) or Running.
    std::shared_ptr<Channel> submit(Request req);
    // Thread-safe. The request finishes with ChoiceDone(Cancelled) events within one step.
    void cancel(const std::shared_ptr<Channel>& ch);
    void cancel_all();

    int32_t slot_ctx() const { return slot_ctx_; }
    int32_t n_slots() const { return n_slots_; }

  private:
    void loop();
    EventSink make_sink(std::shared_ptr<Channel> ch);
    void update_gauges();

    Engine engine_;
    Metrics& metrics_;
    int32_t slot_ctx_, n_slots_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::shared_ptr<Channel>> pending_, cancels_;
    std::vector<std::weak_ptr<Channel>> live_;  // scheduler thread only
    bool cancel_all_ = false, stop_ = false;
    // Generated-token samples for the tokens/s gauge (scheduler thread only).
    std::deque<std::pair<Channel::Clock::time_point, uint64_t>> rate_;
    std::thread thread_;
};

}  // namespace ponder::server
