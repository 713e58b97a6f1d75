// exports.ring: the native producer path for JS callers (push / pushString / close) and
// produceOnThread, which runs a real native producer thread against a ring (tests and benchmarks use
// it to exercise exactly the path the local engine's generation thread takes).
#include <dlfcn.h>

#include <mutex>
#include <thread>
#include <vector>

#include "addon/registry.hpp"
#include "ring/token_ring_napi.hpp"

namespace abi::ring {
namespace {

Napi::Value push_result_value(Napi::Env env, push_result r, int64_t seq, uint32_t len, uint32_t max) {
    if (r == push_result::too_large) {
        return abi::throw_error(
            env, "ABI_ERR_INVALID_ARG",
            "token ring: record of " + std::to_string(len) + " bytes exceeds maxRecordBytes " + std::to_string(max));
    }
    return Napi::Number::New(env, double(seq));
}

bool writer_from(Napi::Env env, Napi::Value view, token_ring_writer *out) {
    void *data = nullptr;
    size_t bytes = 0;
    if (!ring_view_memory(env, view, &data, &bytes)) return false;
    *out = token_ring_writer(data, bytes);
    if (!out->valid()) {
        abi::throw_error(env, "ABI_ERR_INVALID_ARG", "token ring: the buffer does not hold a token ring (layout v1)");
        return false;
    }
    return true;
}

// push(view: Int32Array, bytes: Uint8Array): number
Napi::Value push(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    token_ring_writer writer(nullptr, 0);
    if (!writer_from(env, info[0], &writer)) return env.Undefined();
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "token ring: push expects a Uint8Array");
    }
    auto bytes = info[1].As<Napi::Uint8Array>();
    int64_t seq = 0;
    auto r = writer.push(bytes.Data(), uint32_t(bytes.ByteLength()), &seq);
    return push_result_value(env, r, seq, uint32_t(bytes.ByteLength()), writer.max_record());
}

// pushString(view: Int32Array, text: string): number. UTF-8 encodes straight from V8 into a stack buffer.
Napi::Value push_string(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    token_ring_writer writer(nullptr, 0);
    if (!writer_from(env, info[0], &writer)) return env.Undefined();
    if (!info[1].IsString()) return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "token ring: expected a string");
    char small[256];
    size_t len = 0;
    napi_get_value_string_utf8(env, info[1], nullptr, 0, &len);
    std::vector<char> large;
    char *buf = small;
    if (len + 1 > sizeof(small)) {
        large.resize(len + 1);
        buf = large.data();
    }
    napi_get_value_string_utf8(env, info[1], buf, len + 1, &len);
    int64_t seq = 0;
    auto r = writer.push(reinterpret_cast<const uint8_t *>(buf), uint32_t(len), &seq);
    return push_result_value(env, r, seq, uint32_t(len), writer.max_record());
}

// close(view: Int32Array, status: 1 done | 2 error): void
Napi::Value close(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    token_ring_writer writer(nullptr, 0);
    if (!writer_from(env, info[0], &writer)) return env.Undefined();
    int32_t status = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 1;
    writer.close(status == 2 ? ring_status::error : ring_status::done);
    return env.Undefined();
}

// bytesAhead(view, afterSeq): number, and aboveHighWater(view): boolean, from the C++ writer's side, so
// tests can hold the native backpressure view against the JS one.
Napi::Value bytes_ahead(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    token_ring_writer writer(nullptr, 0);
    if (!writer_from(env, info[0], &writer)) return env.Undefined();
    const int64_t after = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : -1;
    return Napi::Number::New(env, writer.bytes_ahead(after));
}

Napi::Value above_high_water(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    token_ring_writer writer(nullptr, 0);
    if (!writer_from(env, info[0], &writer)) return env.Undefined();
    return Napi::Boolean::New(env, writer.above_high_water());
}

struct thread_job {
    std::unique_ptr<native_producer> producer;
    std::vector<uint8_t> payload;
    std::vector<uint32_t> lengths;
    uint32_t repeat = 1;
    int32_t close_status = 0;
    int64_t pushed = 0;
    bool too_large = false;
    napi_deferred deferred = nullptr;
    napi_threadsafe_function done = nullptr;
};

void resolve_job(napi_env env, napi_value, void *, void *data) {
    std::unique_ptr<thread_job> job(static_cast<thread_job *>(data));
    if (env == nullptr) return;
    napi_value result;
    if (job->too_large) {
        Napi::Error err = Napi::Error::New(env, "token ring: a record exceeds maxRecordBytes");
        err.Set("code", Napi::String::New(env, "ABI_ERR_INVALID_ARG"));
        napi_reject_deferred(env, job->deferred, err.Value());
        return;
    }
    napi_create_double(env, double(job->pushed), &result);
    napi_resolve_deferred(env, job->deferred, result);
}

void fence_on_finalize(napi_env, void *data, void *) {
    auto *lifetime = static_cast<std::shared_ptr<producer_lifetime> *>(data);
    fence_off(**lifetime);
    delete lifetime;
}

// produceOnThread(view, payload: Uint8Array, lengths: Uint32Array, repeat: number, closeStatus: 0|1|2)
//   -> Promise<number>: a std::thread pushes the records (payload split by lengths) `repeat` times,
//   then closes the ring when closeStatus != 0. Resolves with the number of records pushed.
Napi::Value produce_on_thread(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        !info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
        return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "produceOnThread(view, Uint8Array, Uint32Array, ...)");
    }
    auto job = std::make_unique<thread_job>();
    job->producer = native_producer::create(env, info[0]);
    if (!job->producer) return env.Undefined();
    auto payload = info[1].As<Napi::Uint8Array>();
    auto lengths = info[2].As<Napi::Uint32Array>();
    job->payload.assign(payload.Data(), payload.Data() + payload.ByteLength());
    job->lengths.assign(lengths.Data(), lengths.Data() + lengths.ElementLength());
    uint64_t total = 0;
    for (uint32_t l : job->lengths) total += l;
    if (total > job->payload.size()) {
        return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "produceOnThread: lengths exceed the payload");
    }
    job->repeat = info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 1;
    job->close_status = info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value() : 0;
    napi_value promise, name;
    napi_create_promise(env, &job->deferred, &promise);
    napi_create_string_utf8(env, "abi-ring-producer-done", NAPI_AUTO_LENGTH, &name);
    // Finalising this TSFN (also at environment teardown) fences the thread off it, like the waker's.
    auto *fence = new std::shared_ptr<producer_lifetime>(job->producer->writer().lifetime());
    if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, fence, fence_on_finalize, nullptr,
                                        resolve_job, &job->done) != napi_ok) {
        delete fence;
        return abi::throw_error(env, "ABI_ERR_NATIVE", "produceOnThread: could not create a thread-safe function");
    }
    std::thread([j = job.release()] {
        auto &writer = j->producer->writer();
        const std::shared_ptr<producer_lifetime> lifetime = writer.lifetime();
        for (uint32_t r = 0; r < j->repeat && !j->too_large && writer.alive(); ++r) {
            size_t off = 0;
            for (uint32_t len : j->lengths) {
                const push_result r = writer.push(j->payload.data() + off, len);
                if (r == push_result::gone) break;
                if (r != push_result::ok) {
                    j->too_large = true;
                    break;
                }
                off += len;
                ++j->pushed;
            }
        }
        if (j->close_status != 0) writer.close(j->close_status == 2 ? ring_status::error : ring_status::done);
        napi_threadsafe_function done = j->done;
        lifetime_scope scope(*lifetime);
        if (!scope.entered) {
            delete j;  // the environment that asked is gone, and its TSFNs with it: nobody resolves the job
            return;
        }
        if (napi_call_threadsafe_function(done, j, napi_tsfn_blocking) != napi_ok) delete j;
        napi_release_threadsafe_function(done, napi_tsfn_release);
    }).detach();
    return Napi::Value(env, promise);
}

// A worker_thread that loaded the addon dlcloses it when it exits; a native producer thread still
// running would then execute unmapped code. Marking the addon RTLD_NODELETE keeps it mapped for the
// life of the process (it is never unloaded from the main thread anyway).
void pin_addon_in_memory() {
    static std::once_flag once;
    std::call_once(once, [] {
        Dl_info self;
        if (dladdr(reinterpret_cast<void *>(&pin_addon_in_memory), &self) != 0 && self.dli_fname != nullptr) {
            dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
        }
    });
}

void init(Napi::Env env, Napi::Object exports) {
    pin_addon_in_memory();
    Napi::Object ring = Napi::Object::New(env);
    ring.Set("push", Napi::Function::New(env, push, "push"));
    ring.Set("pushString", Napi::Function::New(env, push_string, "pushString"));
    ring.Set("close", Napi::Function::New(env, close, "close"));
    ring.Set("bytesAhead", Napi::Function::New(env, bytes_ahead, "bytesAhead"));
    ring.Set("aboveHighWater", Napi::Function::New(env, above_high_water, "aboveHighWater"));
    ring.Set("produceOnThread", Napi::Function::New(env, produce_on_thread, "produceOnThread"));
    ring.Set("layoutVersion", Napi::Number::New(env, ring_version));
    ring.Set("headerBytes", Napi::Number::New(env, header_bytes));
    exports.Set("ring", ring);
}

ABI_REGISTER_MODULE(init);

}  // namespace
}  // namespace abi::ring
