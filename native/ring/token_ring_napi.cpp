#include "ring/token_ring_napi.hpp"

#include "addon/registry.hpp"

namespace abi::ring {

namespace {

constexpr uint32_t notify_lane = offsetof(ring_header, notify) / sizeof(int32_t);

struct wake_context {
    napi_ref view = nullptr;
};

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

void finalize_context(napi_env env, void *data, void *) {
    auto *ctx = static_cast<wake_context *>(data);
    if (env != nullptr && ctx->view != nullptr) napi_delete_reference(env, ctx->view);
    delete ctx;
}

}  // namespace

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

std::unique_ptr<tsfn_waker> tsfn_waker::create(Napi::Env env, Napi::Value view) {
    auto *ctx = new wake_context();
    napi_create_reference(env, view, 1, &ctx->view);
    std::unique_ptr<tsfn_waker> waker(new tsfn_waker());
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
    return waker;
}

tsfn_waker::~tsfn_waker() {
    if (tsfn_ != nullptr) napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
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
    auto waker = tsfn_waker::create(env, view);
    if (!waker) return nullptr;
    return std::unique_ptr<native_producer>(new native_producer(data, bytes, std::move(waker)));
}

}  // namespace abi::ring
