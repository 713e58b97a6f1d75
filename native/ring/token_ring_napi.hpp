#pragma once
// Glue for native producers (the local engine's generation thread): build a token_ring_writer from the
// Int32Array view JS passes over the ring's SharedArrayBuffer, with a coalesced thread-safe-function wake.
//
//   auto producer = abi::ring::native_producer::create(env, info[0]);   // on the JS thread
//   if (!producer) return env.Undefined();                              // a JS error is pending
//   std::thread([p = std::move(producer)] { p->writer().push(...); p->writer().close(...); }).detach();
//
// The producer keeps the view (and so the SharedArrayBuffer) alive until it is destroyed, which may
// happen on any thread. Its thread-safe function also keeps the event loop alive meanwhile, as a running
// native producer should: destroy the producer when generation ends.
#include <napi.h>

#include <memory>

#include "ring/token_ring.hpp"

namespace abi::ring {

// Resolves JS Atomics.waitAsync waiters from a native thread by hopping to the JS thread through a
// thread-safe function whose only job is `Atomics.notify(view, NOTIFY_LANE)`.
class tsfn_waker final : public ring_waker {
  public:
    // Call on the JS thread; `view` must be an Int32Array starting at byte 0 of the ring's buffer.
    // Returns nullptr with a pending JS exception on failure.
    static std::unique_ptr<tsfn_waker> create(Napi::Env env, Napi::Value view);
    ~tsfn_waker() override;
    void wake() override;

  private:
    tsfn_waker() = default;
    napi_threadsafe_function tsfn_ = nullptr;
};

class native_producer {
  public:
    // Validates the view and the ring header; nullptr with a pending JS exception on failure.
    static std::unique_ptr<native_producer> create(Napi::Env env, Napi::Value view);
    token_ring_writer &writer() { return writer_; }

  private:
    native_producer(void *base, size_t bytes, std::unique_ptr<tsfn_waker> waker)
        : waker_(std::move(waker)), writer_(base, bytes, waker_.get()) {}
    std::unique_ptr<tsfn_waker> waker_;
    token_ring_writer writer_;
};

// Data pointer and byte length of an Int32Array over a ring buffer (offset 0), or false with a pending
// ABI_ERR_INVALID_ARG exception. Works for SharedArrayBuffer-backed views on Node 20.
bool ring_view_memory(Napi::Env env, Napi::Value view, void **data, size_t *bytes);

}  // namespace abi::ring
