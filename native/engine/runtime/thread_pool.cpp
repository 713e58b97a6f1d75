#include "engine/runtime/thread_pool.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ABI_CPU_RELAX() _mm_pause()
#else
#define ABI_CPU_RELAX() ((void)0)
#endif

namespace abi::engine {

namespace {
// About 50 µs of spinning before a worker sleeps: long enough to bridge the gaps between the
// jobs of one forward pass, short enough that a finished request stops burning a core at once.
constexpr int spin_iterations = 20000;
}  // namespace

thread_pool::thread_pool(int n_threads) : n_threads_(std::max(1, n_threads)) {
    workers_.reserve(n_threads_ - 1);
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

thread_pool::~thread_pool() {
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    for (auto &w : workers_) w.join();
}

void thread_pool::run(const std::function<void(int, int)> &job) {
    if (n_threads_ == 1) {
        job(0, 1);
        return;
    }
    job_ = &job;
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    job(0, n_threads_);
    int spins = 0;
    while (pending_.load(std::memory_order_acquire) != 0) {
        if (++spins < spin_iterations) {
            ABI_CPU_RELAX();
        } else {
            std::this_thread::yield();
        }
    }
    job_ = nullptr;
}

void thread_pool::worker_loop(int index) {
    // Start from the generation the pool was created with, not whatever it is when this thread first
    // runs: a job published before the thread got scheduled must still be seen as new.
    uint32_t seen = 0;
    for (;;) {
        int spins = 0;
        uint32_t now;
        while ((now = generation_.load(std::memory_order_acquire)) == seen) {
            if (++spins < spin_iterations) {
                ABI_CPU_RELAX();
            } else {
                generation_.wait(seen, std::memory_order_acquire);
            }
        }
        seen = now;
        if (stop_.load(std::memory_order_acquire)) return;
        (*job_)(index, n_threads_);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void thread_pool::split(int64_t n, int64_t grain, int thread, int n_threads, int64_t *begin, int64_t *end) {
    const int64_t chunks = (n + grain - 1) / grain;
    const int64_t per = chunks / n_threads;
    const int64_t extra = chunks % n_threads;
    const int64_t first = thread * per + std::min<int64_t>(thread, extra);
    const int64_t count = per + (thread < extra ? 1 : 0);
    *begin = std::min(n, first * grain);
    *end = std::min(n, (first + count) * grain);
}

int physical_core_count() {
    std::set<std::pair<std::string, std::string>> cores;
    const unsigned logical = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned cpu = 0; cpu < logical; ++cpu) {
        const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
        std::ifstream pkg(base + "physical_package_id");
        std::ifstream core(base + "core_id");
        std::string p, c;
        if (!(pkg >> p) || !(core >> c)) return static_cast<int>(logical);
        cores.emplace(p, c);
    }
    return cores.empty() ? static_cast<int>(logical) : static_cast<int>(cores.size());
}

}  // namespace abi::engine
