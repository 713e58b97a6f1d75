#pragma once
// Fixed pool of compute threads for one model context. run() hands the same job to every thread
// (the caller is thread 0) and returns when all have finished; jobs split their work by thread
// index. Between jobs the workers spin briefly (a decode step issues dozens of jobs a few
// microseconds apart) and then sleep on an atomic wait, so an idle model costs no CPU.
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace abi::engine {

class thread_pool {
  public:
    // n_threads >= 1 compute threads in total, including the calling thread.
    explicit thread_pool(int n_threads);
    ~thread_pool();
    thread_pool(const thread_pool &) = delete;
    thread_pool &operator=(const thread_pool &) = delete;

    int size() const { return n_threads_; }

    // Runs job(thread_index, n_threads) on every thread; returns when all have returned.
    // Not re-entrant: one run() at a time per pool.
    void run(const std::function<void(int, int)> &job);

    // Splits [0, n) into n_threads contiguous ranges, each a multiple of `grain` except the last.
    static void split(int64_t n, int64_t grain, int thread, int n_threads, int64_t *begin, int64_t *end);

  private:
    void worker_loop(int index);

    int n_threads_;                                       // threads including the caller
    std::vector<std::thread> workers_;                    // n_threads_ - 1 workers
    const std::function<void(int, int)> *job_ = nullptr;  // current job, valid while a run() is active
    std::atomic<uint32_t> generation_{0};                 // bumped to start a job
    std::atomic<int> pending_{0};                         // workers still running the current job
    std::atomic<bool> stop_{false};                       // set once, on destruction
};

// Physical CPU cores (distinct core ids across packages), falling back to the logical count.
int physical_core_count();

}  // namespace abi::engine
