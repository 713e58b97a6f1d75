// exports.secure: the Arena class (opaque slots over a secure_arena), constantTimeEqual,
// disableCoreDumps, and one test-only reader of disposed regions.
#include <sys/prctl.h>
#include <sys/resource.h>

#include <memory>
#include <vector>

#include "addon/registry.hpp"
#include "secure/secure_arena.hpp"

namespace abi::secure {
namespace {

struct slot_entry {
    size_t offset = 0;        // block offset in the arena
    size_t length = 0;        // secret bytes
    size_t reserved = 0;      // bytes allocated for it (length, or length + 1 for a NUL-terminated string)
    uint32_t generation = 0;  // bumped on dispose so stale JS handles cannot reach a reused slot
    bool live = false;
};

class arena_object : public Napi::ObjectWrap<arena_object> {
  public:
    static Napi::Function define(Napi::Env env) {
        return DefineClass(env, "Arena",
                           {
                               InstanceMethod("info", &arena_object::info),
                               InstanceMethod("storeBytes", &arena_object::store_bytes),
                               InstanceMethod("storeString", &arena_object::store_string),
                               InstanceMethod("revealBuffer", &arena_object::reveal_buffer),
                               InstanceMethod("revealString", &arena_object::reveal_string),
                               InstanceMethod("equalsBytes", &arena_object::equals_bytes),
                               InstanceMethod("equalsSlot", &arena_object::equals_slot),
                               InstanceMethod("disposeSlot", &arena_object::dispose_slot),
                               InstanceMethod("dispose", &arena_object::dispose),
                               InstanceMethod("testOnlyReadDisposedRegion", &arena_object::test_only_read),
                           });
    }

    explicit arena_object(const Napi::CallbackInfo &info) : Napi::ObjectWrap<arena_object>(info) {
        Napi::Env env = info.Env();
        const double bytes = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 65536;
        if (!(bytes >= 1 && bytes <= double(1ull << 40))) {
            abi::throw_error(env, "ABI_ERR_INVALID_ARG", "secure arena: bytes must be between 1 and 2^40");
            return;
        }
        std::string error;
        arena_.reset(secure_arena::create(size_t(bytes), &error));
        if (!arena_) abi::throw_error(env, "ABI_ERR_SECURE_MEMORY", "secure arena: " + error);
    }

  private:
    // Finalisation (GC of the JS object) runs ~arena_object -> ~secure_arena, which zeroes and unmaps.
    std::unique_ptr<secure_arena> arena_;
    std::vector<slot_entry> slots_;
    std::vector<uint32_t> free_slots_;

    bool check_alive(Napi::Env env) {
        if (arena_ && !arena_->disposed()) return true;
        abi::throw_error(env, "ABI_ERR_SECRET_DISPOSED", "secure arena: the arena was disposed");
        return false;
    }

    slot_entry *slot_from(const Napi::CallbackInfo &info, size_t at) {
        Napi::Env env = info.Env();
        if (!check_alive(env)) return nullptr;
        const uint32_t slot = info[at].As<Napi::Number>().Uint32Value();
        const uint32_t gen = info[at + 1].As<Napi::Number>().Uint32Value();
        if (slot >= slots_.size() || !slots_[slot].live || slots_[slot].generation != gen) {
            abi::throw_error(env, "ABI_ERR_SECRET_DISPOSED", "secure memory: the secret was disposed");
            return nullptr;
        }
        return &slots_[slot];
    }

    // [slot, generation, length] for a new block of `length` bytes (reserving `block` bytes), or undefined + throw.
    Napi::Value new_slot(Napi::Env env, size_t length, size_t block, size_t *offset_out) {
        if (block == 0) block = 1;
        const size_t offset = arena_->allocate(block);
        if (offset == SIZE_MAX) {
            return abi::throw_error(env, "ABI_ERR_ARENA_FULL",
                                    "secure arena: no free block of " + std::to_string(block) + " bytes (capacity " +
                                        std::to_string(arena_->capacity()) + ", used " +
                                        std::to_string(arena_->used()) + ")");
        }
        uint32_t slot;
        if (!free_slots_.empty()) {
            slot = free_slots_.back();
            free_slots_.pop_back();
        } else {
            slot = uint32_t(slots_.size());
            slots_.emplace_back();
        }
        slot_entry &e = slots_[slot];
        e.offset = offset;
        e.length = length;
        e.reserved = block;
        e.live = true;
        *offset_out = offset;
        Napi::Array out = Napi::Array::New(env, 3);
        out.Set(0u, Napi::Number::New(env, slot));
        out.Set(1u, Napi::Number::New(env, e.generation));
        out.Set(2u, Napi::Number::New(env, double(length)));
        return out;
    }

    Napi::Value info(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        Napi::Object o = Napi::Object::New(env);
        const bool alive = arena_ && !arena_->disposed();
        o.Set("locked", Napi::Boolean::New(env, alive && arena_->locked()));
        o.Set("excludedFromDumps", Napi::Boolean::New(env, alive && arena_->excluded_from_dumps()));
        o.Set("capacity", Napi::Number::New(env, double(arena_ ? arena_->capacity() : 0)));
        o.Set("used", Napi::Number::New(env, double(alive ? arena_->used() : 0)));
        o.Set("disposed", Napi::Boolean::New(env, !alive));
        return o;
    }

    Napi::Value store_bytes(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (!check_alive(env)) return env.Undefined();
        if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
            return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "secure arena: store expects a Uint8Array");
        }
        auto src = info[0].As<Napi::Uint8Array>();
        size_t offset = 0;
        Napi::Value slot = new_slot(env, src.ByteLength(), src.ByteLength(), &offset);
        if (env.IsExceptionPending()) return env.Undefined();
        if (src.ByteLength() > 0) std::memcpy(arena_->at(offset), src.Data(), src.ByteLength());
        return slot;
    }

    // UTF-8 encodes straight from V8 into the arena: no intermediate plaintext Buffer.
    Napi::Value store_string(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (!check_alive(env)) return env.Undefined();
        if (!info[0].IsString()) return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "secure arena: expected a string");
        size_t len = 0;
        napi_get_value_string_utf8(env, info[0], nullptr, 0, &len);
        size_t offset = 0;
        Napi::Value slot = new_slot(env, len, len + 1, &offset);  // +1: napi writes a NUL terminator
        if (env.IsExceptionPending()) return env.Undefined();
        size_t written = 0;
        napi_get_value_string_utf8(env, info[0], reinterpret_cast<char *>(arena_->at(offset)), len + 1, &written);
        return slot;
    }

    Napi::Value reveal_buffer(const Napi::CallbackInfo &info) {
        slot_entry *e = slot_from(info, 0);
        if (!e) return info.Env().Undefined();
        return Napi::Buffer<uint8_t>::Copy(info.Env(), arena_->at(e->offset), e->length);
    }

    Napi::Value reveal_string(const Napi::CallbackInfo &info) {
        slot_entry *e = slot_from(info, 0);
        if (!e) return info.Env().Undefined();
        return Napi::String::New(info.Env(), reinterpret_cast<const char *>(arena_->at(e->offset)), e->length);
    }

    Napi::Value equals_bytes(const Napi::CallbackInfo &info) {
        slot_entry *e = slot_from(info, 0);
        if (!e) return info.Env().Undefined();
        auto other = info[2].As<Napi::Uint8Array>();
        const bool same =
            other.ByteLength() == e->length && constant_time_equal(arena_->at(e->offset), other.Data(), e->length);
        return Napi::Boolean::New(info.Env(), same);
    }

    // equalsSlot(slot, gen, otherArena, otherSlot, otherGen)
    Napi::Value equals_slot(const Napi::CallbackInfo &info) {
        slot_entry *e = slot_from(info, 0);
        if (!e) return info.Env().Undefined();
        arena_object *other = Napi::ObjectWrap<arena_object>::Unwrap(info[2].As<Napi::Object>());
        slot_entry *o = other->slot_from(info, 3);
        if (!o) return info.Env().Undefined();
        const bool same = o->length == e->length &&
                          constant_time_equal(arena_->at(e->offset), other->arena_->at(o->offset), e->length);
        return Napi::Boolean::New(info.Env(), same);
    }

    Napi::Value dispose_slot(const Napi::CallbackInfo &info) {
        slot_entry *e = slot_from(info, 0);
        if (!e) return info.Env().Undefined();
        arena_->release(e->offset, e->reserved);
        e->live = false;
        e->generation++;
        free_slots_.push_back(uint32_t(e - slots_.data()));
        return info.Env().Undefined();
    }

    Napi::Value dispose(const Napi::CallbackInfo &info) {
        if (arena_) arena_->dispose();
        for (auto &e : slots_) {
            if (e.live) e.generation++;
            e.live = false;
        }
        return info.Env().Undefined();
    }

    // TEST ONLY: the raw bytes where a disposed slot's secret used to be, so a test can prove that
    // dispose zeroed them. Refuses live slots: it is not a way around revealBuffer().
    Napi::Value test_only_read(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (!check_alive(env)) return env.Undefined();
        const uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
        if (slot >= slots_.size() || slots_[slot].live) {
            return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "testOnlyReadDisposedRegion: slot is live or unknown");
        }
        const slot_entry &e = slots_[slot];
        return Napi::Buffer<uint8_t>::Copy(env, arena_->at(e.offset), e.length);
    }
};

Napi::Value constant_time_equal_js(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    for (int i = 0; i < 2; ++i) {
        if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
            return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "constantTimeEqual expects two Uint8Arrays");
        }
    }
    auto a = info[0].As<Napi::Uint8Array>();
    auto b = info[1].As<Napi::Uint8Array>();
    // Length is not secret (it shows in every response size anyway); only the content comparison is.
    if (a.ByteLength() != b.ByteLength()) return Napi::Boolean::New(env, false);
    return Napi::Boolean::New(env, constant_time_equal(a.Data(), b.Data(), a.ByteLength()));
}

// Process-wide: no core file (RLIMIT_CORE 0) and not dumpable (also blocks same-uid ptrace and
// /proc/<pid>/mem readers). Explicit because it changes the whole process, not just the arena.
Napi::Value disable_core_dumps(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    struct rlimit none = {0, 0};
    const bool rlimit_ok = setrlimit(RLIMIT_CORE, &none) == 0;
    const bool prctl_ok = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0;
    Napi::Object o = Napi::Object::New(env);
    o.Set("coreLimitZero", Napi::Boolean::New(env, rlimit_ok));
    o.Set("dumpable", Napi::Boolean::New(env, prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0));
    o.Set("ok", Napi::Boolean::New(env, rlimit_ok && prctl_ok));
    return o;
}

void init(Napi::Env env, Napi::Object exports) {
    Napi::Object secure = Napi::Object::New(env);
    secure.Set("Arena", arena_object::define(env));
    secure.Set("constantTimeEqual", Napi::Function::New(env, constant_time_equal_js, "constantTimeEqual"));
    secure.Set("disableCoreDumps", Napi::Function::New(env, disable_core_dumps, "disableCoreDumps"));
    exports.Set("secure", secure);
}

ABI_REGISTER_MODULE(init);

}  // namespace
}  // namespace abi::secure
