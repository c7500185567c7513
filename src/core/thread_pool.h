// A persistent pool of worker threads for data-parallel kernels.
//
// run(fn) calls fn(ith, nth) once on each of the nth threads (the caller is thread 0) and
// returns when all have finished. Workers spin briefly between jobs before sleeping, so the
// hand-off between the many small operations of a decode step costs microseconds, not a
// thread creation or a futex round trip each.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ponder {

class ThreadPool {
  public:
    // n_threads <= 0 picks the number of hardware threads.
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }
    // Runs fn(ith, nth) on every thread; fn must not throw (it is called on worker threads).
    void run(const std::function<void(int ith, int nth)>& fn);
    // Same, but on the calling thread alone (nth = 1) when `work` (a rough count of
    // multiply-adds or bytes touched) is below kMinParallelWork: waking workers costs more.
    void run(const std::function<void(int ith, int nth)>& fn, int64_t work) {
        if (work < kMinParallelWork || n_threads_ == 1)
            fn(0, 1);
        else
            run(fn);
    }
    static constexpr int64_t kMinParallelWork = 1 << 15;

    // Splits [0, n) into nth nearly equal contiguous ranges; returns thread ith's range.
    static void split(int64_t n, int ith, int nth, int64_t& begin, int64_t& end) {
        const int64_t per = n / nth, rem = n % nth;
        begin = ith * per + std::min<int64_t>(ith, rem);
        end = begin + per + (ith < rem ? 1 : 0);
    }

  private:
    void worker(int ith);

    int n_threads_;
    std::vector<std::thread> threads_;
    const std::function<void(int, int)>* job_ = nullptr;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
    std::atomic<int> sleepers_{0};
    std::mutex mu_;
    std::condition_variable cv_;
};

}  // namespace ponder
