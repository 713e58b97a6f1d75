#include "ring/token_ring_napi.hpp"

#include <thread>

#include "addon/registry.hpp"

namespace abi::ring {

namespace {

constexpr uint32_t notify_lane = offsetof(ring_header, notify) / sizeof(int32_t);

struct wake_context {
    napi_env env = nullptr;
    napi_ref view = nullptr;
    std::shared_ptr<producer_lifetime> lifetime;
    bool cleanup_ran = false;  // the environment cleanup hook has run (JS thread only)
};

// Environment teardown (worker exit): the SharedArrayBuffer may be freed right after, so stop the
// producer from touching it first.
void on_env_cleanup(void *arg) {
    auto *ctx = static_cast<wake_context *>(arg);
    ctx->cleanup_ran = true;
    fence_off(*ctx->lifetime);
}

void call_notify(napi_env env, napi_value, void *context, void *) {
    if (env == nullptr) return;  // environment is shutting down
    auto *ctx = static_cast<wake_context *>(context);
    napi_value view, global, atomics, notify, lane, result;
    if (napi_get_reference_value(env, ctx->view, &view) != napi_ok || view == nullptr) return;
    napi_get_global(env, &global);
    napi_get_named_property(env, global, "Atomics", &atomics);
    napi_get_named_property(env, atomics, "notify", &notify);
    napi_create_uint32(env, notify_lane, &lane);
    napi_value args[2] = {view, lane};
    napi_call_function(env, atomics, notify, 2, args, &result);
}

// Runs on the JS thread when the producer released the TSFN, or during environment teardown.
void finalize_context(napi_env env, void *data, void *) {
    auto *ctx = static_cast<wake_context *>(data);
    fence_off(*ctx->lifetime);  // no-op after a normal release: the producer is already destroyed
    if (!ctx->cleanup_ran) napi_remove_env_cleanup_hook(ctx->env, on_env_cleanup, ctx);
    if (env != nullptr && ctx->view != nullptr) napi_delete_reference(env, ctx->view);
    delete ctx;
}

}  // namespace

void fence_off(producer_lifetime &lt) {
    lt.alive.store(false);
    while (lt.inside.load() != 0) std::this_thread::yield();
}

bool ring_view_memory(Napi::Env env, Napi::Value view, void **data, size_t *bytes) {
    bool is_typed = false;
    napi_is_typedarray(env, view, &is_typed);
    if (!is_typed) {
        abi::throw_error(env, "ABI_ERR_INVALID_ARG", "token ring: expected an Int32Array view over the ring buffer");
        return false;
    }
    napi_typedarray_type type;
    size_t length = 0, offset = 0;
    napi_value arraybuffer;
    if (napi_get_typedarray_info(env, view, &type, &length, data, &arraybuffer, &offset) != napi_ok ||
        type != napi_int32_array || offset != 0) {
        abi::throw_error(env, "ABI_ERR_INVALID_ARG", "token ring: the view must be an Int32Array at byte offset 0");
        return false;
    }
    *bytes = length * sizeof(int32_t);
    return true;
}

std::unique_ptr<tsfn_waker> tsfn_waker::create(Napi::Env env, Napi::Value view,
                                               std::shared_ptr<producer_lifetime> lifetime) {
    auto *ctx = new wake_context();
    ctx->env = env;
    ctx->lifetime = std::move(lifetime);
    napi_create_reference(env, view, 1, &ctx->view);
    std::unique_ptr<tsfn_waker> waker(new tsfn_waker());
    waker->lifetime_ = ctx->lifetime;
    napi_value name;
    napi_create_string_utf8(env, "abi-ring-wake", NAPI_AUTO_LENGTH, &name);
    napi_status st = napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, ctx, finalize_context, ctx,
                                                     call_notify, &waker->tsfn_);
    if (st != napi_ok) {
        napi_delete_reference(env, ctx->view);
        delete ctx;
        abi::throw_error(env, "ABI_ERR_NATIVE", "token ring: could not create the wake-up thread-safe function");
        return nullptr;
    }
    // Registered after the TSFN, so (hooks run last-in first-out) it runs before the TSFN's own teardown.
    napi_add_env_cleanup_hook(env, on_env_cleanup, ctx);
    return waker;
}

tsfn_waker::~tsfn_waker() {
    // Once the environment tore the TSFN down, it is freed memory: release only while fenced in.
    lifetime_scope s(*lifetime_);
    if (s.entered && tsfn_ != nullptr) napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
}

void tsfn_waker::wake() {
    napi_call_threadsafe_function(tsfn_, nullptr, napi_tsfn_nonblocking);
}

std::unique_ptr<native_producer> native_producer::create(Napi::Env env, Napi::Value view) {
    void *data = nullptr;
    size_t bytes = 0;
    if (!ring_view_memory(env, view, &data, &bytes)) return nullptr;
    if (!token_ring_writer(data, bytes).valid()) {
        abi::throw_error(env, "ABI_ERR_INVALID_ARG", "token ring: the buffer does not hold a token ring (layout v1)");
        return nullptr;
    }
    auto lifetime = std::make_shared<producer_lifetime>();
    auto waker = tsfn_waker::create(env, view, lifetime);
    if (!waker) return nullptr;
    return std::unique_ptr<native_producer>(new native_producer(data, bytes, std::move(waker), std::move(lifetime)));
}

}  // namespace abi::ring
