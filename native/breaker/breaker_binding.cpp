// exports.breaker: the Counters class over a SharedArrayBuffer view or a named POSIX shm segment.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "addon/registry.hpp"
#include "breaker/breaker_counters.hpp"

namespace abi::breaker {
namespace {

std::string shape(uint32_t slots, uint32_t buckets, uint32_t bucket_ms) {
    return "slots=" + std::to_string(slots) + " buckets=" + std::to_string(buckets) +
           " bucketMs=" + std::to_string(bucket_ms);
}

bool valid_shape(Napi::Env env, uint32_t slots, uint32_t buckets, uint32_t bucket_ms) {
    if (slots == 0 || slots > max_slots || buckets == 0 || buckets > max_buckets || bucket_ms == 0) {
        abi::throw_error(env, "ABI_ERR_INVALID_ARG",
                         "breaker counters: invalid shape " + shape(slots, buckets, bucket_ms));
        return false;
    }
    return true;
}

bool view_memory(Napi::Env env, Napi::Value view, uint8_t **data, size_t *bytes) {
    napi_typedarray_type type;
    size_t length = 0, offset = 0;
    napi_value ab;
    void *ptr = nullptr;
    bool is_typed = false;
    napi_is_typedarray(env, view, &is_typed);
    if (!is_typed || napi_get_typedarray_info(env, view, &type, &length, &ptr, &ab, &offset) != napi_ok ||
        type != napi_bigint64_array || offset != 0) {
        abi::throw_error(env, "ABI_ERR_INVALID_ARG",
                         "breaker counters: expected a BigInt64Array at byte offset 0 of the block");
        return false;
    }
    *data = static_cast<uint8_t *>(ptr);
    *bytes = length * 8;
    return true;
}

class counters_object : public Napi::ObjectWrap<counters_object> {
  public:
    static Napi::Function define(Napi::Env env) {
        return DefineClass(env, "Counters",
                           {
                               InstanceMethod("record", &counters_object::record),
                               InstanceMethod("snapshot", &counters_object::snapshot),
                               InstanceMethod("transition", &counters_object::transition),
                               InstanceMethod("tryAcquireProbe", &counters_object::try_acquire_probe),
                               InstanceMethod("releaseProbe", &counters_object::release_probe),
                               InstanceMethod("layout", &counters_object::layout),
                               InstanceMethod("close", &counters_object::close),
                           });
    }

    // new Counters('sab', view) | new Counters('shm', name, slots, buckets, bucketMs)
    explicit counters_object(const Napi::CallbackInfo &info) : Napi::ObjectWrap<counters_object>(info) {
        Napi::Env env = info.Env();
        const std::string kind = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
        if (kind == "sab") {
            attach_view(env, info[1]);
        } else if (kind == "shm") {
            open_shared(env, info[1].As<Napi::String>().Utf8Value(), info[2].As<Napi::Number>().Uint32Value(),
                        info[3].As<Napi::Number>().Uint32Value(), info[4].As<Napi::Number>().Uint32Value());
        } else {
            abi::throw_error(env, "ABI_ERR_INVALID_ARG", "breaker counters: unknown backing '" + kind + "'");
        }
    }

    ~counters_object() override { unmap(); }

  private:
    uint8_t *base_ = nullptr;
    size_t bytes_ = 0;
    bool mapped_ = false;  // base_ is our own shm mapping (munmap on close / finalise)
    Napi::Reference<Napi::Value> view_ref_;

    void attach_view(Napi::Env env, Napi::Value view) {
        uint8_t *data = nullptr;
        size_t bytes = 0;
        if (!view_memory(env, view, &data, &bytes)) return;
        if (!check_header(env, data, bytes, "buffer")) return;
        base_ = data;
        bytes_ = bytes;
        view_ref_ = Napi::Persistent(view);  // the SharedArrayBuffer must outlive our pointer into it
    }

    bool check_header(Napi::Env env, uint8_t *data, size_t bytes, const std::string &what) {
        if (bytes < sizeof(block_header)) {
            abi::throw_error(env, "ABI_ERR_SHM_LAYOUT", "breaker counters: " + what + " is too small for a header");
            return false;
        }
        const block_header &h = *reinterpret_cast<block_header *>(data);
        if (h.magic != block_magic || h.version != block_version) {
            abi::throw_error(env, "ABI_ERR_SHM_LAYOUT",
                             "breaker counters: " + what + " does not hold breaker counters of layout v" +
                                 std::to_string(block_version) + " (magic " + std::to_string(h.magic) + ", version " +
                                 std::to_string(h.version) + ")");
            return false;
        }
        if (h.total_bytes > bytes || h.total_bytes != block_bytes_for(h.slots, h.buckets) ||
            h.slot_stride != slot_stride_for(h.buckets)) {
            abi::throw_error(env, "ABI_ERR_SHM_LAYOUT", "breaker counters: " + what + " header is inconsistent");
            return false;
        }
        return true;
    }

    void open_shared(Napi::Env env, const std::string &name, uint32_t slots, uint32_t buckets, uint32_t bucket_ms) {
        if (!valid_shape(env, slots, buckets, bucket_ms)) return;
        const uint64_t need = block_bytes_for(slots, buckets);
        int fd = shm_open(name.c_str(), O_RDWR | O_CREAT, 0600);
        if (fd < 0) {
            abi::throw_error(env, "ABI_ERR_SHM", "breaker counters: shm_open(" + name + ") failed: " + strerror(errno));
            return;
        }
        struct stat st;
        if (fstat(fd, &st) != 0) {
            ::close(fd);
            abi::throw_error(env, "ABI_ERR_SHM", "breaker counters: fstat(" + name + ") failed: " + strerror(errno));
            return;
        }
        if (st.st_size == 0 && ftruncate(fd, off_t(need)) != 0) {
            ::close(fd);
            abi::throw_error(env, "ABI_ERR_SHM",
                             "breaker counters: ftruncate(" + name + ") failed: " + strerror(errno));
            return;
        }
        if (st.st_size != 0 && uint64_t(st.st_size) != need) {
            ::close(fd);
            abi::throw_error(env, "ABI_ERR_SHM_LAYOUT",
                             "breaker counters: shm segment " + name + " is " + std::to_string(st.st_size) +
                                 " bytes, but " + shape(slots, buckets, bucket_ms) + " needs " + std::to_string(need) +
                                 ": it was created with another shape");
            return;
        }
        void *map = mmap(nullptr, need, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ::close(fd);
        if (map == MAP_FAILED) {
            abi::throw_error(env, "ABI_ERR_SHM", "breaker counters: mmap(" + name + ") failed: " + strerror(errno));
            return;
        }
        base_ = static_cast<uint8_t *>(map);
        bytes_ = need;
        mapped_ = true;
        breaker_block block(base_);
        if (block.try_begin_init()) {
            block.finish_init(slots, buckets, bucket_ms);
        } else {
            // Another process is initialising it right now: its header appears within microseconds.
            for (int i = 0; i < 2000 && block.phase() != init_phase::ready; ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            if (block.phase() != init_phase::ready) {
                unmap();
                abi::throw_error(env, "ABI_ERR_SHM_LAYOUT",
                                 "breaker counters: shm segment " + name + " was never initialised by its creator");
                return;
            }
        }
        if (!check_header(env, base_, bytes_, "shm segment " + name)) {
            unmap();
            return;
        }
        const block_header &h = block.header();
        if (h.slots != slots || h.buckets != buckets || h.bucket_ms != bucket_ms) {
            std::string have = shape(h.slots, h.buckets, h.bucket_ms);
            unmap();
            abi::throw_error(env, "ABI_ERR_SHM_LAYOUT",
                             "breaker counters: shm segment " + name + " has " + have + ", asked for " +
                                 shape(slots, buckets, bucket_ms));
        }
    }

    void unmap() {
        if (mapped_ && base_ != nullptr) munmap(base_, bytes_);
        mapped_ = false;
        base_ = nullptr;
    }

    bool usable_slot(const Napi::CallbackInfo &info, uint32_t *slot) {
        Napi::Env env = info.Env();
        if (base_ == nullptr) {
            abi::throw_error(env, "ABI_ERR_INVALID_ARG", "breaker counters: closed");
            return false;
        }
        const double s = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
        const uint32_t slots = reinterpret_cast<block_header *>(base_)->slots;
        if (!(s >= 0 && s < slots) || s != double(uint32_t(s))) {
            abi::throw_error(env, "ABI_ERR_INVALID_ARG",
                             "breaker counters: slot must be an integer in [0, " + std::to_string(slots) + ")");
            return false;
        }
        *slot = uint32_t(s);
        return true;
    }

    // Milliseconds as int64; anything outside [0, 2^53) (NaN included) is clamped to 0 rather than cast (UB).
    static int64_t ms(const Napi::Value &v) {
        const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : 0;
        return d >= 0 && d < 9007199254740992.0 ? int64_t(d) : 0;
    }

    Napi::Value record(const Napi::CallbackInfo &info) {
        uint32_t slot;
        if (!usable_slot(info, &slot)) return info.Env().Undefined();
        const uint32_t o = info[1].As<Napi::Number>().Uint32Value();
        if (o > 2) return abi::throw_error(info.Env(), "ABI_ERR_INVALID_ARG", "breaker counters: bad outcome");
        breaker_block(base_).record(slot, outcome(o), ms(info[2]));
        return info.Env().Undefined();
    }

    // [state, openedAtMs, openings, consecutiveFailures, probesInFlight, success, failure, timeout]
    Napi::Value snapshot(const Napi::CallbackInfo &info) {
        uint32_t slot;
        if (!usable_slot(info, &slot)) return info.Env().Undefined();
        const slot_snapshot s = breaker_block(base_).snapshot(slot, ms(info[1]));
        Napi::Float64Array out = Napi::Float64Array::New(info.Env(), 8);
        const double values[8] = {
            double(s.st),     double(s.opened_at_ms),   double(s.openings),       double(s.consecutive_failures),
            double(s.probes), double(s.window.success), double(s.window.failure), double(s.window.timeout)};
        std::memcpy(out.Data(), values, sizeof(values));
        return out;
    }

    Napi::Value transition(const Napi::CallbackInfo &info) {
        uint32_t slot;
        if (!usable_slot(info, &slot)) return info.Env().Undefined();
        const uint32_t from = info[1].As<Napi::Number>().Uint32Value();
        const uint32_t to = info[2].As<Napi::Number>().Uint32Value();
        const int64_t now = ms(info[3]);
        if (from > 2 || to > 2 || now < 0 || now >= (int64_t(1) << 47)) {
            return abi::throw_error(info.Env(), "ABI_ERR_INVALID_ARG", "breaker counters: bad transition arguments");
        }
        return Napi::Boolean::New(info.Env(), breaker_block(base_).transition(slot, state(from), state(to), now));
    }

    Napi::Value try_acquire_probe(const Napi::CallbackInfo &info) {
        uint32_t slot;
        if (!usable_slot(info, &slot)) return info.Env().Undefined();
        const double max = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 1;
        if (!(max >= 0 && max <= max_probes)) {
            return abi::throw_error(info.Env(), "ABI_ERR_INVALID_ARG",
                                    "breaker counters: maxProbes must be in [0, " + std::to_string(max_probes) + "]");
        }
        return Napi::Boolean::New(info.Env(), breaker_block(base_).try_acquire_probe(slot, uint32_t(max)));
    }

    Napi::Value release_probe(const Napi::CallbackInfo &info) {
        uint32_t slot;
        if (!usable_slot(info, &slot)) return info.Env().Undefined();
        breaker_block(base_).release_probe(slot);
        return info.Env().Undefined();
    }

    Napi::Value layout(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (base_ == nullptr) return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "breaker counters: closed");
        const block_header &h = *reinterpret_cast<block_header *>(base_);
        Napi::Object o = Napi::Object::New(env);
        o.Set("slots", Napi::Number::New(env, h.slots));
        o.Set("buckets", Napi::Number::New(env, h.buckets));
        o.Set("bucketMs", Napi::Number::New(env, h.bucket_ms));
        o.Set("bytes", Napi::Number::New(env, double(h.total_bytes)));
        return o;
    }

    Napi::Value close(const Napi::CallbackInfo &info) {
        unmap();
        base_ = nullptr;
        if (!view_ref_.IsEmpty()) view_ref_.Reset();
        return info.Env().Undefined();
    }
};

// bytesFor(slots, buckets): size of the block to allocate.
Napi::Value bytes_for(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    const uint32_t slots = info[0].As<Napi::Number>().Uint32Value();
    const uint32_t buckets = info[1].As<Napi::Number>().Uint32Value();
    if (!valid_shape(env, slots, buckets, 1)) return env.Undefined();
    return Napi::Number::New(env, double(block_bytes_for(slots, buckets)));
}

// init(view, slots, buckets, bucketMs): writes the header into a fresh zeroed SharedArrayBuffer.
Napi::Value init_block(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    uint8_t *data = nullptr;
    size_t bytes = 0;
    if (!view_memory(env, info[0], &data, &bytes)) return env.Undefined();
    const uint32_t slots = info[1].As<Napi::Number>().Uint32Value();
    const uint32_t buckets = info[2].As<Napi::Number>().Uint32Value();
    const uint32_t bucket_ms = info[3].As<Napi::Number>().Uint32Value();
    if (!valid_shape(env, slots, buckets, bucket_ms)) return env.Undefined();
    if (bytes < block_bytes_for(slots, buckets)) {
        return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "breaker counters: buffer too small");
    }
    breaker_block(data).init(slots, buckets, bucket_ms);
    return env.Undefined();
}

Napi::Value unlink_shared(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    if (shm_unlink(name.c_str()) == 0) return Napi::Boolean::New(env, true);
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    return abi::throw_error(env, "ABI_ERR_SHM",
                            "breaker counters: shm_unlink(" + name + ") failed: " + strerror(errno));
}

void init(Napi::Env env, Napi::Object exports) {
    Napi::Object breaker = Napi::Object::New(env);
    breaker.Set("Counters", counters_object::define(env));
    breaker.Set("bytesFor", Napi::Function::New(env, bytes_for, "bytesFor"));
    breaker.Set("init", Napi::Function::New(env, init_block, "init"));
    breaker.Set("unlinkShared", Napi::Function::New(env, unlink_shared, "unlinkShared"));
    exports.Set("breaker", breaker);
}

ABI_REGISTER_MODULE(init);

}  // namespace
}  // namespace abi::breaker
