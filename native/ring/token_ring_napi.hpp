#pragma once
// Glue for native producers (the local engine's generation thread): a token_ring_writer over the
// Int32Array view JS passes over the ring's SharedArrayBuffer, with a coalesced thread-safe-function wake.
//
//   auto producer = abi::ring::native_producer::create(env, info[0]);   // on the JS thread
//   if (!producer) return env.Undefined();                              // a JS error is pending
//   std::thread([p = std::move(producer)] { p->writer().push(...); p->writer().close(...); }).detach();
//
// The producer keeps the view (and so the SharedArrayBuffer) alive until it is destroyed, which may
// happen on any thread. Its thread-safe function also keeps the event loop alive meanwhile, as a running
// native producer should: destroy the producer when generation ends.
//
// If the JS environment goes away first (its worker_thread exits or is terminated), the memory and the
// thread-safe functions go with it. An environment cleanup hook and the TSFN finalizer then fence the
// producer off: writer() calls return push_result::gone / do nothing, and the fence waits for a call
// already inside to leave. Other TSFNs a producer thread calls need the same guard (see lifetime_scope and
// produceOnThread in ring_binding.cpp).
#include <napi.h>

#include <atomic>
#include <memory>

#include "ring/token_ring.hpp"

namespace abi::ring {

// Shared by the producer thread and the JS environment's cleanup hook.
struct producer_lifetime {
    std::atomic<bool> alive{true};   // false once the environment that owns the memory is being torn down
    std::atomic<int32_t> inside{0};  // producer calls currently touching the ring memory or its TSFNs
};

// Brackets a producer-thread call that touches the ring memory or a thread-safe function of the
// environment. Dekker pairing with fence_off(): announce, then check alive (both seq_cst); fence_off
// clears alive, then waits for `inside` to drain. Enter only if `entered`.
struct lifetime_scope {
    producer_lifetime &lt;
    bool entered;
    explicit lifetime_scope(producer_lifetime &l) : lt(l) {
        lt.inside.fetch_add(1);
        entered = lt.alive.load();
    }
    ~lifetime_scope() { lt.inside.fetch_sub(1); }
    lifetime_scope(const lifetime_scope &) = delete;
    lifetime_scope &operator=(const lifetime_scope &) = delete;
};

// On the JS thread, before the environment frees the ring memory or a thread-safe function: no producer
// call is inside either once this returns, and none enters afterwards.
void fence_off(producer_lifetime &lt);

// Resolves JS Atomics.waitAsync waiters from a native thread by hopping to the JS thread through a
// thread-safe function whose only job is `Atomics.notify(view, NOTIFY_LANE)`.
class tsfn_waker final : public ring_waker {
  public:
    // Call on the JS thread; `view` must be an Int32Array starting at byte 0 of the ring's buffer.
    // Returns nullptr with a pending JS exception on failure.
    static std::unique_ptr<tsfn_waker> create(Napi::Env env, Napi::Value view,
                                              std::shared_ptr<producer_lifetime> lifetime);
    ~tsfn_waker() override;
    void wake() override;

  private:
    tsfn_waker() = default;
    napi_threadsafe_function tsfn_ = nullptr;
    std::shared_ptr<producer_lifetime> lifetime_;
};

// token_ring_writer's producer calls, each entered only while the owning environment is alive.
class guarded_writer {
  public:
    guarded_writer(void *base, size_t bytes, ring_waker *waker, std::shared_ptr<producer_lifetime> lifetime)
        : writer_(base, bytes, waker), lifetime_(std::move(lifetime)), max_record_(writer_.max_record()) {}

    push_result push(const uint8_t *bytes, uint32_t len, int64_t *seq_out = nullptr) {
        lifetime_scope s(*lifetime_);
        return s.entered ? writer_.push(bytes, len, seq_out) : push_result::gone;
    }
    void close(ring_status status) {
        lifetime_scope s(*lifetime_);
        if (s.entered) writer_.close(status);
    }
    uint32_t bytes_ahead(int64_t after_seq) const {
        lifetime_scope s(*lifetime_);
        return s.entered ? writer_.bytes_ahead(after_seq) : 0;
    }
    bool above_high_water() const {
        lifetime_scope s(*lifetime_);
        return s.entered && writer_.above_high_water();
    }
    uint32_t max_record() const { return max_record_; }
    // False once the environment that owns the ring is gone.
    bool alive() const { return lifetime_->alive.load(); }
    const std::shared_ptr<producer_lifetime> &lifetime() const { return lifetime_; }

  private:
    token_ring_writer writer_;
    std::shared_ptr<producer_lifetime> lifetime_;
    uint32_t max_record_;
};

class native_producer {
  public:
    // Validates the view and the ring header; nullptr with a pending JS exception on failure.
    static std::unique_ptr<native_producer> create(Napi::Env env, Napi::Value view);
    guarded_writer &writer() { return writer_; }

  private:
    native_producer(void *base, size_t bytes, std::unique_ptr<tsfn_waker> waker,
                    std::shared_ptr<producer_lifetime> lifetime)
        : waker_(std::move(waker)), writer_(base, bytes, waker_.get(), std::move(lifetime)) {}
    std::unique_ptr<tsfn_waker> waker_;
    guarded_writer writer_;
};

// Data pointer and byte length of an Int32Array over a ring buffer (offset 0), or false with a pending
// ABI_ERR_INVALID_ARG exception. Works for SharedArrayBuffer-backed views on Node 20.
bool ring_view_memory(Napi::Env env, Napi::Value view, void **data, size_t *bytes);

}  // namespace abi::ring
