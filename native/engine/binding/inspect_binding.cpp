// exports.engine.inspect(path): the GGUF header as plain JS values, for `abi model info` and tests.
#include "engine/binding/engine_exports.hpp"
#include "engine/gguf/ggml_type_table.hpp"
#include "engine/gguf/gguf_reader.hpp"

namespace abi::engine {

namespace {

using gguf::value;
using gguf::value_type;

// 64-bit integers become a Number while exact, a BigInt beyond 2^53.
Napi::Value js_u64(Napi::Env env, uint64_t v) {
    if (v <= (1ull << 53)) return Napi::Number::New(env, static_cast<double>(v));
    return Napi::BigInt::New(env, v);
}

Napi::Value js_i64(Napi::Env env, int64_t v) {
    if (v <= (1ll << 53) && v >= -(1ll << 53)) return Napi::Number::New(env, static_cast<double>(v));
    return Napi::BigInt::New(env, v);
}

Napi::Value js_element(Napi::Env env, value_type type, const uint8_t *p) {
    switch (type) {
        case value_type::u8:
            return Napi::Number::New(env, *p);
        case value_type::i8:
            return Napi::Number::New(env, static_cast<int8_t>(*p));
        case value_type::boolean:
            return Napi::Boolean::New(env, *p != 0);
        case value_type::u16: {
            uint16_t v;
            std::memcpy(&v, p, 2);
            return Napi::Number::New(env, v);
        }
        case value_type::i16: {
            int16_t v;
            std::memcpy(&v, p, 2);
            return Napi::Number::New(env, v);
        }
        case value_type::u32: {
            uint32_t v;
            std::memcpy(&v, p, 4);
            return Napi::Number::New(env, v);
        }
        case value_type::i32: {
            int32_t v;
            std::memcpy(&v, p, 4);
            return Napi::Number::New(env, v);
        }
        case value_type::f32: {
            float v;
            std::memcpy(&v, p, 4);
            return Napi::Number::New(env, v);
        }
        case value_type::u64: {
            uint64_t v;
            std::memcpy(&v, p, 8);
            return js_u64(env, v);
        }
        case value_type::i64: {
            int64_t v;
            std::memcpy(&v, p, 8);
            return js_i64(env, v);
        }
        case value_type::f64: {
            double v;
            std::memcpy(&v, p, 8);
            return Napi::Number::New(env, v);
        }
        default:
            return env.Null();
    }
}

Napi::Value js_value(Napi::Env env, const value &v) {
    switch (v.type) {
        case value_type::string:
            return Napi::String::New(env, v.str.data(), v.str.size());
        case value_type::array: {
            Napi::Array arr = Napi::Array::New(env, v.count);
            if (v.elem_type == value_type::string) {
                for (uint32_t i = 0; i < v.strings.size(); ++i)
                    arr.Set(i, Napi::String::New(env, v.strings[i].data(), v.strings[i].size()));
            } else {
                const size_t step = gguf::value_type_size(v.elem_type);
                for (uint32_t i = 0; i < v.count; ++i) arr.Set(i, js_element(env, v.elem_type, v.elems + i * step));
            }
            return arr;
        }
        case value_type::boolean:
            return Napi::Boolean::New(env, v.as_u64 != 0);
        case value_type::f32:
        case value_type::f64:
            return Napi::Number::New(env, v.as_f64);
        case value_type::i8:
        case value_type::i16:
        case value_type::i32:
        case value_type::i64:
            return js_i64(env, v.as_i64);
        default:
            return js_u64(env, v.as_u64);
    }
}

Napi::Value inspect(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString())
        return throw_error(env, "ABI_ERR_INVALID_ARG", "engine.inspect(path): path must be a string");
    std::shared_ptr<gguf::gguf_file> file;
    try {
        file = gguf::gguf_file::open(info[0].As<Napi::String>().Utf8Value());
    } catch (const gguf::gguf_error &err) {
        return throw_error(env, "ABI_ERR_GGUF", err.what());
    } catch (const std::bad_alloc &) {
        return throw_error(env, "ABI_ERR_GGUF", "out of memory while reading the GGUF header");
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("path", file->path());
    out.Set("version", file->version());
    out.Set("alignment", file->alignment());
    out.Set("fileSize", js_u64(env, file->file_size()));
    out.Set("dataOffset", js_u64(env, file->data_offset()));
    Napi::Object meta = Napi::Object::New(env);
    Napi::Object meta_types = Napi::Object::New(env);
    for (const auto &[key, val] : file->metadata()) {
        meta.Set(key, js_value(env, val));
        std::string type = gguf::value_type_name(val.type);
        if (val.type == value_type::array) type += std::string("<") + gguf::value_type_name(val.elem_type) + ">";
        meta_types.Set(key, type);
    }
    out.Set("metadata", meta);
    out.Set("metadataTypes", meta_types);
    Napi::Array tensors = Napi::Array::New(env, file->tensors().size());
    uint32_t i = 0;
    for (const auto &t : file->tensors()) {
        Napi::Object obj = Napi::Object::New(env);
        obj.Set("name", t.name);
        obj.Set("type", gguf::ggml_type_table[t.type].name);
        obj.Set("typeId", t.type);
        Napi::Array shape = Napi::Array::New(env, t.n_dims);
        for (uint32_t d = 0; d < t.n_dims; ++d) shape.Set(d, js_u64(env, t.ne[d]));
        obj.Set("shape", shape);
        obj.Set("offset", js_u64(env, file->data_offset() + t.offset));
        obj.Set("bytes", js_u64(env, t.nbytes));
        obj.Set("elements", js_u64(env, t.n_elements()));
        tensors.Set(i++, obj);
    }
    out.Set("tensors", tensors);
    return out;
}

}  // namespace

void register_inspect(Napi::Env env, Napi::Object engine) {
    engine.Set("inspect", Napi::Function::New(env, inspect));
}

}  // namespace abi::engine
