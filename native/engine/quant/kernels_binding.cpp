// exports.kernels: the quantization formats and CPU kernels exposed to JS for tests, benchmarks
// and for writing quantized GGUF fixtures (lib/models). Synchronous; bad arguments throw
// ABI_ERR_INVALID_ARG. Not used on the inference path (the engine calls quant.hpp directly).
#include <napi.h>

#include <cstring>
#include <string>
#include <vector>

#include "addon/registry.hpp"
#include "engine/llama/activation_kernels.hpp"
#include "engine/llama/attention_kernels.hpp"
#include "engine/quant/quant.hpp"

namespace {

using abi::quant::cpu_impl;
using abi::quant::ggml_type;

constexpr const char *invalid_arg = "ABI_ERR_INVALID_ARG";

struct named_type {
    const char *name;
    ggml_type type;
};

constexpr named_type named_types[] = {
    {"F32", ggml_type::F32},       {"F16", ggml_type::F16},         {"Q4_0", ggml_type::Q4_0},
    {"Q4_1", ggml_type::Q4_1},     {"Q5_0", ggml_type::Q5_0},       {"Q5_1", ggml_type::Q5_1},
    {"Q8_0", ggml_type::Q8_0},     {"Q8_1", ggml_type::Q8_1},       {"Q2_K", ggml_type::Q2_K},
    {"Q3_K", ggml_type::Q3_K},     {"Q4_K", ggml_type::Q4_K},       {"Q5_K", ggml_type::Q5_K},
    {"Q6_K", ggml_type::Q6_K},     {"Q8_K", ggml_type::Q8_K},       {"IQ2_XXS", ggml_type::IQ2_XXS},
    {"IQ2_XS", ggml_type::IQ2_XS}, {"IQ3_XXS", ggml_type::IQ3_XXS}, {"IQ1_S", ggml_type::IQ1_S},
    {"IQ4_NL", ggml_type::IQ4_NL}, {"IQ3_S", ggml_type::IQ3_S},     {"IQ2_S", ggml_type::IQ2_S},
    {"IQ4_XS", ggml_type::IQ4_XS}, {"I8", ggml_type::I8},           {"I16", ggml_type::I16},
    {"I32", ggml_type::I32},       {"I64", ggml_type::I64},         {"F64", ggml_type::F64},
    {"IQ1_M", ggml_type::IQ1_M},   {"BF16", ggml_type::BF16},       {"TQ1_0", ggml_type::TQ1_0},
    {"TQ2_0", ggml_type::TQ2_0},   {"MXFP4", ggml_type::MXFP4},     {"NVFP4", ggml_type::NVFP4},
    {"Q1_0", ggml_type::Q1_0},     {"Q2_0", ggml_type::Q2_0},
};

// Argument parsing helpers: each returns false after throwing a JS error.
bool arg_type(const Napi::CallbackInfo &info, size_t i, ggml_type *out) {
    if (info.Length() <= i || !info[i].IsNumber()) {
        abi::throw_error(info.Env(), invalid_arg, "kernels: argument " + std::to_string(i) + " must be a type id");
        return false;
    }
    const double id = info[i].As<Napi::Number>().DoubleValue();
    if (id < 0 || id >= abi::quant::ggml_type_count || id != static_cast<uint32_t>(id) ||
        !abi::quant::is_valid_type_id(static_cast<uint32_t>(id))) {
        abi::throw_error(info.Env(), invalid_arg, "kernels: unknown ggml type id " + std::to_string(id));
        return false;
    }
    *out = static_cast<ggml_type>(static_cast<uint32_t>(id));
    return true;
}

bool arg_count(const Napi::CallbackInfo &info, size_t i, const char *what, int64_t *out) {
    if (info.Length() <= i || !info[i].IsNumber()) {
        abi::throw_error(info.Env(), invalid_arg, std::string("kernels: ") + what + " must be a number");
        return false;
    }
    const double v = info[i].As<Napi::Number>().DoubleValue();
    if (!(v >= 0) || v > 9007199254740991.0 || v != static_cast<double>(static_cast<int64_t>(v))) {
        abi::throw_error(info.Env(), invalid_arg, std::string("kernels: ") + what + " must be a non-negative integer");
        return false;
    }
    *out = static_cast<int64_t>(v);
    return true;
}

bool arg_f32(const Napi::CallbackInfo &info, size_t i, const char *what, Napi::Float32Array *out) {
    if (info.Length() <= i || !info[i].IsTypedArray() ||
        info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
        abi::throw_error(info.Env(), invalid_arg, std::string("kernels: ") + what + " must be a Float32Array");
        return false;
    }
    *out = info[i].As<Napi::Float32Array>();
    return true;
}

bool arg_u8(const Napi::CallbackInfo &info, size_t i, const char *what, Napi::Uint8Array *out) {
    if (info.Length() <= i || !info[i].IsTypedArray() ||
        info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        abi::throw_error(info.Env(), invalid_arg, std::string("kernels: ") + what + " must be a Uint8Array");
        return false;
    }
    *out = info[i].As<Napi::Uint8Array>();
    return true;
}

// { impl?: 'scalar' | 'avx2' | 'best' } at position i (optional).
bool arg_impl(const Napi::CallbackInfo &info, size_t i, cpu_impl *out) {
    *out = cpu_impl::best;
    if (info.Length() <= i || info[i].IsUndefined()) return true;
    if (!info[i].IsObject()) {
        abi::throw_error(info.Env(), invalid_arg, "kernels: options must be an object");
        return false;
    }
    const Napi::Value v = info[i].As<Napi::Object>().Get("impl");
    if (v.IsUndefined()) return true;
    const std::string name = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
    if (name == "scalar") {
        *out = cpu_impl::scalar;
    } else if (name == "avx2") {
        if (!abi::quant::cpu_has_avx2()) {
            abi::throw_error(info.Env(), invalid_arg, "kernels: impl 'avx2' requested but the CPU lacks AVX2+FMA+F16C");
            return false;
        }
        *out = cpu_impl::avx2;
    } else if (name != "best") {
        abi::throw_error(info.Env(), invalid_arg, "kernels: impl must be 'scalar', 'avx2' or 'best'");
        return false;
    }
    return true;
}

bool check_supported(Napi::Env env, ggml_type type) {
    if (abi::quant::type_traits(type).supported) return true;
    abi::throw_error(env, invalid_arg,
                     std::string("kernels: type ") + abi::quant::type_name(type) + " is not supported");
    return false;
}

// Bytes of n elements, or throws when n is not a multiple of the block size.
bool checked_row_size(Napi::Env env, ggml_type type, int64_t n, size_t *out) {
    const auto &t = abi::quant::type_traits(type);
    *out = abi::quant::row_size(type, n);
    if (*out != 0 || n == 0) return true;
    abi::throw_error(env, invalid_arg,
                     std::string("kernels: ") + std::to_string(n) + " elements is not a whole number of " + t.name +
                         " blocks (" + std::to_string(t.block_size) + " elements each)");
    return false;
}

// a·b when it fits in 2^48 (far above any real matrix, far below overflow); otherwise throws.
bool checked_product(Napi::Env env, const char *what, uint64_t a, uint64_t b, uint64_t *out) {
    constexpr uint64_t limit = uint64_t{1} << 48;
    if (a != 0 && b > limit / a) {
        abi::throw_error(env, invalid_arg, std::string("kernels: ") + what + " is too large");
        return false;
    }
    *out = a * b;
    return true;
}

// Copy of a JS byte range in malloc-aligned memory: typed arrays may start at any byte offset,
// while block structs want 2-byte (Q8_K 4-byte) alignment.
std::vector<uint8_t> aligned_copy(const Napi::Uint8Array &a) {
    return {a.Data(), a.Data() + a.ByteLength()};
}

Napi::Value quantize(const Napi::CallbackInfo &info) {
    ggml_type type;
    Napi::Float32Array x;
    if (!arg_type(info, 0, &type) || !arg_f32(info, 1, "values", &x)) return info.Env().Undefined();
    if (type != ggml_type::Q8_K && !check_supported(info.Env(), type)) return info.Env().Undefined();
    const auto n = static_cast<int64_t>(x.ElementLength());
    size_t bytes;
    if (!checked_row_size(info.Env(), type, n, &bytes)) return info.Env().Undefined();
    std::vector<uint8_t> out(bytes);
    abi::quant::quantize_row_ref(type, x.Data(), out.data(), n);
    Napi::Uint8Array result = Napi::Uint8Array::New(info.Env(), bytes);
    if (bytes > 0) std::memcpy(result.Data(), out.data(), bytes);
    return result;
}

Napi::Value quantize_activation(const Napi::CallbackInfo &info) {
    ggml_type type;
    Napi::Float32Array x;
    cpu_impl impl;
    if (!arg_type(info, 0, &type) || !arg_f32(info, 1, "values", &x) || !arg_impl(info, 2, &impl)) {
        return info.Env().Undefined();
    }
    if (!check_supported(info.Env(), type)) return info.Env().Undefined();
    const auto n = static_cast<int64_t>(x.ElementLength());
    size_t bytes;
    if (!checked_row_size(info.Env(), abi::quant::vec_dot_type(type), n, &bytes)) return info.Env().Undefined();
    std::vector<uint8_t> out(bytes);
    abi::quant::quantize_activation(type, x.Data(), out.data(), n, impl);
    Napi::Uint8Array result = Napi::Uint8Array::New(info.Env(), bytes);
    if (bytes > 0) std::memcpy(result.Data(), out.data(), bytes);
    return result;
}

Napi::Value dequantize(const Napi::CallbackInfo &info) {
    ggml_type type;
    Napi::Uint8Array src;
    int64_t n;
    if (!arg_type(info, 0, &type) || !arg_u8(info, 1, "bytes", &src) || !arg_count(info, 2, "n", &n)) {
        return info.Env().Undefined();
    }
    if (type != ggml_type::Q8_K && !check_supported(info.Env(), type)) return info.Env().Undefined();
    size_t bytes;
    if (!checked_row_size(info.Env(), type, n, &bytes)) return info.Env().Undefined();
    if (src.ByteLength() != bytes) {
        return abi::throw_error(info.Env(), invalid_arg,
                                "kernels: " + std::to_string(n) + " " + abi::quant::type_name(type) + " elements are " +
                                    std::to_string(bytes) + " bytes, got " + std::to_string(src.ByteLength()));
    }
    const std::vector<uint8_t> in = aligned_copy(src);
    Napi::Float32Array out = Napi::Float32Array::New(info.Env(), static_cast<size_t>(n));
    abi::quant::dequantize_row(type, in.data(), out.Data(), n);
    return out;
}

// vecDot(type, weightsRow, x: Float32Array, opts): quantizes x to the activation type with the
// chosen impl, then runs that impl's dot product — the engine's per-row path end to end.
Napi::Value vec_dot(const Napi::CallbackInfo &info) {
    ggml_type type;
    Napi::Uint8Array w;
    Napi::Float32Array x;
    cpu_impl impl;
    if (!arg_type(info, 0, &type) || !arg_u8(info, 1, "weights", &w) || !arg_f32(info, 2, "x", &x) ||
        !arg_impl(info, 3, &impl) || !check_supported(info.Env(), type)) {
        return info.Env().Undefined();
    }
    const auto n = static_cast<int64_t>(x.ElementLength());
    size_t bytes;
    if (!checked_row_size(info.Env(), type, n, &bytes)) return info.Env().Undefined();
    if (w.ByteLength() != bytes) {
        return abi::throw_error(info.Env(), invalid_arg,
                                "kernels: a " + std::to_string(n) + "-element " + abi::quant::type_name(type) +
                                    " row is " + std::to_string(bytes) + " bytes, got " +
                                    std::to_string(w.ByteLength()));
    }
    const std::vector<uint8_t> row = aligned_copy(w);
    std::vector<uint8_t> act(abi::quant::activation_size(type, n) + 1);
    abi::quant::quantize_activation(type, x.Data(), act.data(), n, impl);
    return Napi::Number::New(info.Env(), abi::quant::vec_dot(type, n, row.data(), act.data(), impl));
}

// { packed?: true } at position i: the weights are a Q4_0 matrix (rows % 8 == 0) already in the
// engine's block_q4_0x8 layout (packQ4_0x8), so matvec/matmul run the packed kernels on them.
bool opt_packed(const Napi::CallbackInfo &info, size_t i, ggml_type type, int64_t rows, bool *packed) {
    *packed = false;
    if (info.Length() <= i || !info[i].IsObject()) return true;
    const Napi::Value v = info[i].As<Napi::Object>().Get("packed");
    if (v.IsUndefined() || (v.IsBoolean() && !v.As<Napi::Boolean>().Value())) return true;
    if (type != ggml_type::Q4_0 || rows % 8 != 0) {
        abi::throw_error(info.Env(), invalid_arg, "kernels: packed needs a Q4_0 matrix of rows % 8 == 0");
        return false;
    }
    *packed = true;
    return true;
}

// Optional integer option `key` of the options object at position i, in [lo, hi].
bool opt_range(const Napi::CallbackInfo &info, size_t i, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    if (info.Length() <= i || !info[i].IsObject()) return true;
    const Napi::Value v = info[i].As<Napi::Object>().Get(key);
    if (v.IsUndefined()) return true;
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1.0;
    if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) ||
        d != static_cast<double>(static_cast<int64_t>(d))) {
        abi::throw_error(info.Env(), invalid_arg,
                         std::string("kernels: option ") + key + " must be an integer in [" + std::to_string(lo) +
                             ", " + std::to_string(hi) + "]");
        return false;
    }
    *out = static_cast<int64_t>(d);
    return true;
}

// { order?: 'plain' | 'gemv' | 'gemm' } at position i: which dot product of a Q4_0/Q4_K row
// (quant.hpp: the plain one, or ggml's interleaved-kernel order for one row or a group of four),
// or of an F32 row ('gemm': llamafile's sgemm order, used for batches of two or more).
bool arg_order(const Napi::CallbackInfo &info, size_t i, ggml_type type, cpu_impl impl, abi::quant::vec_dot_fn *out) {
    *out = abi::quant::get_vec_dot(type, impl);
    if (info.Length() <= i || !info[i].IsObject()) return true;
    const Napi::Value v = info[i].As<Napi::Object>().Get("order");
    if (v.IsUndefined()) return true;
    const std::string name = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
    if (name == "gemm" && type == ggml_type::F32) {
        *out = abi::quant::get_vec_dot_f32_sgemm(impl);
        return true;
    }
    if (name == "gemv" || name == "gemm") {
        *out = abi::quant::get_vec_dot_interleaved(type, name == "gemm", impl);
        if (*out != nullptr) return true;
        abi::throw_error(info.Env(), invalid_arg,
                         "kernels: order 'gemv' exists for Q4_0 and Q4_K only, 'gemm' also for F32");
        return false;
    }
    if (name == "plain") return true;
    abi::throw_error(info.Env(), invalid_arg, "kernels: order must be 'plain', 'gemv' or 'gemm'");
    return false;
}

// vecDotQuantized(type, weightsRow, xAct: Uint8Array, n, opts): the dot kernel alone, on an
// activation already in the vec_dot type, so SIMD and scalar see identical inputs.
Napi::Value vec_dot_quantized(const Napi::CallbackInfo &info) {
    ggml_type type;
    Napi::Uint8Array w, x;
    int64_t n;
    cpu_impl impl;
    if (!arg_type(info, 0, &type) || !arg_u8(info, 1, "weights", &w) || !arg_u8(info, 2, "xAct", &x) ||
        !arg_count(info, 3, "n", &n) || !arg_impl(info, 4, &impl) || !check_supported(info.Env(), type)) {
        return info.Env().Undefined();
    }
    size_t w_bytes, x_bytes;
    if (!checked_row_size(info.Env(), type, n, &w_bytes)) return info.Env().Undefined();
    x_bytes = abi::quant::activation_size(type, n);
    if (w.ByteLength() != w_bytes || x.ByteLength() != x_bytes) {
        return abi::throw_error(info.Env(), invalid_arg,
                                "kernels: expected " + std::to_string(w_bytes) + " weight bytes and " +
                                    std::to_string(x_bytes) + " activation bytes for n=" + std::to_string(n));
    }
    abi::quant::vec_dot_fn fn;
    if (!arg_order(info, 4, type, impl, &fn)) return info.Env().Undefined();
    const std::vector<uint8_t> row = aligned_copy(w), act = aligned_copy(x);
    return Napi::Number::New(info.Env(), fn(n, row.data(), act.data()));
}

// swiglu(gate, up: Float32Array, { impl?, lanes? }) → silu(gate)·up as the engine's feed-forward block
// computes it; lanes (8 or 16) picks the llama.cpp build whose vector expf to take (default: this CPU's).
Napi::Value swiglu(const Napi::CallbackInfo &info) {
    Napi::Float32Array gate, up;
    cpu_impl impl;
    if (!arg_f32(info, 0, "gate", &gate) || !arg_f32(info, 1, "up", &up) || !arg_impl(info, 2, &impl)) {
        return info.Env().Undefined();
    }
    if (gate.ElementLength() != up.ElementLength()) {
        return abi::throw_error(info.Env(), invalid_arg, "kernels: swiglu wants gate and up of one length");
    }
    const auto n = static_cast<int64_t>(gate.ElementLength());
    Napi::Float32Array y = Napi::Float32Array::New(info.Env(), static_cast<size_t>(n));
    const bool simd = (impl == cpu_impl::best ? abi::quant::cpu_active_impl() : impl) == cpu_impl::avx2;
    int64_t lanes = abi::quant::ggml_vector_lanes();
    if (!opt_range(info, 2, "lanes", 8, 16, &lanes)) return info.Env().Undefined();
    if (lanes != 8 && lanes != 16) return abi::throw_error(info.Env(), invalid_arg, "kernels: lanes must be 8 or 16");
    (simd ? abi::engine::swiglu_avx2 : abi::engine::swiglu_scalar)(n, y.Data(), gate.Data(), up.Data(),
                                                                   static_cast<int>(lanes));
    return y;
}

// dotF16Ggml(k: Uint16Array (f16 bits), q: Float32Array, { impl?, lanes? }) → the attention's K·Q dot
// product in the order of the llama.cpp build with that vector width (default: this CPU's).
Napi::Value dot_f16_ggml(const Napi::CallbackInfo &info) {
    cpu_impl impl;
    Napi::Float32Array q;
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array) {
        return abi::throw_error(info.Env(), invalid_arg, "kernels: k must be a Uint16Array of f16 bits");
    }
    const Napi::Uint16Array k = info[0].As<Napi::Uint16Array>();
    if (!arg_f32(info, 1, "q", &q) || !arg_impl(info, 2, &impl)) return info.Env().Undefined();
    if (k.ElementLength() != q.ElementLength()) {
        return abi::throw_error(info.Env(), invalid_arg, "kernels: dotF16Ggml wants k and q of one length");
    }
    const auto n = static_cast<int64_t>(k.ElementLength());
    const std::vector<uint16_t> kc(k.Data(), k.Data() + n);
    const bool simd = (impl == cpu_impl::best ? abi::quant::cpu_active_impl() : impl) == cpu_impl::avx2;
    int64_t lanes = abi::quant::ggml_vector_lanes();
    if (!opt_range(info, 2, "lanes", 8, 16, &lanes)) return info.Env().Undefined();
    if (lanes != 8 && lanes != 16) return abi::throw_error(info.Env(), invalid_arg, "kernels: lanes must be 8 or 16");
    const auto l = static_cast<int>(lanes);
    const float r = simd ? abi::engine::dot_f16_ggml_avx2(kc.data(), q.Data(), n, l)
                         : abi::engine::dot_f16_ggml_scalar(kc.data(), q.Data(), n, l);
    return Napi::Number::New(info.Env(), r);
}

// matvec(type, weights, rows, cols, x, { impl?, r0?, r1?, packed? }) → Float32Array(rows),
// single-threaded; rows outside [r0, r1) are left 0 (how the engine's threads split the work).
Napi::Value matvec(const Napi::CallbackInfo &info) {
    ggml_type type;
    Napi::Uint8Array w;
    int64_t rows, cols;
    Napi::Float32Array x;
    cpu_impl impl;
    if (!arg_type(info, 0, &type) || !arg_u8(info, 1, "weights", &w) || !arg_count(info, 2, "rows", &rows) ||
        !arg_count(info, 3, "cols", &cols) || !arg_f32(info, 4, "x", &x) || !arg_impl(info, 5, &impl) ||
        !check_supported(info.Env(), type)) {
        return info.Env().Undefined();
    }
    size_t row_bytes;
    if (!checked_row_size(info.Env(), type, cols, &row_bytes)) return info.Env().Undefined();
    uint64_t w_bytes;
    if (!checked_product(info.Env(), "rows × row size", row_bytes, static_cast<uint64_t>(rows), &w_bytes)) {
        return info.Env().Undefined();
    }
    if (static_cast<int64_t>(x.ElementLength()) != cols || w.ByteLength() != w_bytes) {
        return abi::throw_error(info.Env(), invalid_arg,
                                "kernels: matvec wants x of " + std::to_string(cols) + " floats and " +
                                    std::to_string(w_bytes) + " weight bytes");
    }
    // Large weight buffers are used in place when aligned (benches); copying would dominate.
    std::vector<uint8_t> copy;
    const uint8_t *weights = w.Data();
    if (reinterpret_cast<uintptr_t>(weights) % 4 != 0) {
        copy = aligned_copy(w);
        weights = copy.data();
    }
    int64_t r0 = 0, r1 = rows;
    if (!opt_range(info, 5, "r0", 0, rows, &r0) || !opt_range(info, 5, "r1", r0, rows, &r1)) {
        return info.Env().Undefined();
    }
    std::vector<uint8_t> act(abi::quant::activation_size(type, cols) + 1);
    abi::quant::quantize_activation(type, x.Data(), act.data(), cols, impl);
    Napi::Float32Array y = Napi::Float32Array::New(info.Env(), static_cast<size_t>(rows));
    bool packed;
    if (!opt_packed(info, 5, type, rows, &packed)) return info.Env().Undefined();
    if (packed) {
        abi::quant::matvec_q4_0_x8(weights, rows, cols, act.data(), y.Data(), r0, r1, impl);
    } else {
        abi::quant::matvec(type, weights, row_bytes, rows, cols, act.data(), y.Data(), r0, r1, impl);
    }
    return y;
}

// matmul(type, weights, rows, cols, xs: Float32Array(nVec·cols), nVec, opts) → Float32Array(nVec·rows),
// vector-major like the engine's prefill (y[v·rows + r]).
Napi::Value matmul(const Napi::CallbackInfo &info) {
    ggml_type type;
    Napi::Uint8Array w;
    int64_t rows, cols, n_vec;
    Napi::Float32Array xs;
    cpu_impl impl;
    if (!arg_type(info, 0, &type) || !arg_u8(info, 1, "weights", &w) || !arg_count(info, 2, "rows", &rows) ||
        !arg_count(info, 3, "cols", &cols) || !arg_f32(info, 4, "xs", &xs) || !arg_count(info, 5, "nVec", &n_vec) ||
        !arg_impl(info, 6, &impl) || !check_supported(info.Env(), type)) {
        return info.Env().Undefined();
    }
    size_t row_bytes;
    if (!checked_row_size(info.Env(), type, cols, &row_bytes)) return info.Env().Undefined();
    uint64_t w_bytes, x_elems, y_elems;
    if (!checked_product(info.Env(), "rows × row size", row_bytes, static_cast<uint64_t>(rows), &w_bytes) ||
        !checked_product(info.Env(), "nVec × cols", static_cast<uint64_t>(n_vec), static_cast<uint64_t>(cols),
                         &x_elems) ||
        !checked_product(info.Env(), "nVec × rows", static_cast<uint64_t>(n_vec), static_cast<uint64_t>(rows),
                         &y_elems)) {
        return info.Env().Undefined();
    }
    if (xs.ElementLength() != x_elems || w.ByteLength() != w_bytes) {
        return abi::throw_error(info.Env(), invalid_arg,
                                "kernels: matmul wants xs of nVec×cols floats and rows×rowSize weight bytes");
    }
    std::vector<uint8_t> copy;
    const uint8_t *weights = w.Data();
    if (reinterpret_cast<uintptr_t>(weights) % 4 != 0) {
        copy = aligned_copy(w);
        weights = copy.data();
    }
    // 4-byte strides keep Q8_K's f32 scale aligned, as the engine does
    const size_t stride = (abi::quant::activation_size(type, cols) + 3) & ~size_t{3};
    std::vector<uint8_t> act(stride * static_cast<size_t>(n_vec) + 1);
    for (int64_t v = 0; v < n_vec; ++v) {
        abi::quant::quantize_activation(type, xs.Data() + v * cols, act.data() + v * stride, cols, impl);
    }
    Napi::Float32Array y = Napi::Float32Array::New(info.Env(), static_cast<size_t>(y_elems));
    bool packed;
    if (!opt_packed(info, 6, type, rows, &packed)) return info.Env().Undefined();
    if (packed) {
        abi::quant::matmul_q4_0_x8(weights, rows, cols, act.data(), stride, n_vec, y.Data(), rows, 0, rows, impl);
    } else {
        abi::quant::matmul(type, weights, row_bytes, rows, cols, act.data(), stride, n_vec, y.Data(), rows, 0, rows,
                           impl);
    }
    return y;
}

// packQ4_0x8(weights, rows, cols) → the block_q4_0x8 copy the engine makes of such a Q4_0 matrix.
Napi::Value pack_q4_0_x8(const Napi::CallbackInfo &info) {
    Napi::Uint8Array w;
    int64_t rows, cols;
    if (!arg_u8(info, 0, "weights", &w) || !arg_count(info, 1, "rows", &rows) || !arg_count(info, 2, "cols", &cols)) {
        return info.Env().Undefined();
    }
    size_t row_bytes;
    if (!checked_row_size(info.Env(), ggml_type::Q4_0, cols, &row_bytes)) return info.Env().Undefined();
    if (rows % 8 != 0 || w.ByteLength() != row_bytes * static_cast<uint64_t>(rows)) {
        return abi::throw_error(info.Env(), invalid_arg,
                                "kernels: packQ4_0x8 wants rows % 8 == 0 and rows × row size weight bytes");
    }
    Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), w.ByteLength());
    abi::quant::pack_q4_0_x8(w.Data(), row_bytes, rows, cols, out.Data());
    return out;
}

Napi::Value row_size(const Napi::CallbackInfo &info) {
    ggml_type type;
    int64_t n;
    if (!arg_type(info, 0, &type) || !arg_count(info, 1, "n", &n)) return info.Env().Undefined();
    if (abi::quant::type_traits(type).block_size == 0) {
        return abi::throw_error(info.Env(), invalid_arg,
                                std::string("kernels: the layout of ") + abi::quant::type_name(type) + " is unknown");
    }
    size_t bytes;
    if (!checked_row_size(info.Env(), type, n, &bytes)) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), static_cast<double>(bytes));
}

Napi::Value type_info(const Napi::CallbackInfo &info) {
    ggml_type type;
    if (!arg_type(info, 0, &type)) return info.Env().Undefined();
    const auto &t = abi::quant::type_traits(type);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("id", static_cast<uint32_t>(type));
    o.Set("name", t.name);
    o.Set("blockSize", static_cast<double>(t.block_size));
    o.Set("typeSize", static_cast<double>(t.type_size));
    o.Set("supported", t.supported);
    o.Set("vecDotType", static_cast<uint32_t>(t.vec_dot_type));
    return o;
}

void init_kernels(Napi::Env env, Napi::Object exports) {
    Napi::Object k = Napi::Object::New(env);
    Napi::Object types = Napi::Object::New(env);
    for (const auto &t : named_types) types.Set(t.name, static_cast<uint32_t>(t.type));
    k.Set("types", types);
    k.Set("quantize", Napi::Function::New(env, quantize, "quantize"));
    k.Set("quantizeActivation", Napi::Function::New(env, quantize_activation, "quantizeActivation"));
    k.Set("dequantize", Napi::Function::New(env, dequantize, "dequantize"));
    k.Set("vecDot", Napi::Function::New(env, vec_dot, "vecDot"));
    k.Set("vecDotQuantized", Napi::Function::New(env, vec_dot_quantized, "vecDotQuantized"));
    k.Set("swiglu", Napi::Function::New(env, swiglu, "swiglu"));
    k.Set("dotF16Ggml", Napi::Function::New(env, dot_f16_ggml, "dotF16Ggml"));
    k.Set("packQ4_0x8", Napi::Function::New(env, pack_q4_0_x8, "packQ4_0x8"));
    k.Set("matvec", Napi::Function::New(env, matvec, "matvec"));
    k.Set("matmul", Napi::Function::New(env, matmul, "matmul"));
    k.Set("rowSize", Napi::Function::New(env, row_size, "rowSize"));
    k.Set("typeInfo", Napi::Function::New(env, type_info, "typeInfo"));
    k.Set("hasAvx2", Napi::Function::New(
                         env,
                         [](const Napi::CallbackInfo &info) -> Napi::Value {
                             return Napi::Boolean::New(info.Env(), abi::quant::cpu_has_avx2());
                         },
                         "hasAvx2"));
    k.Set("activeImpl", Napi::Function::New(
                            env,
                            [](const Napi::CallbackInfo &info) -> Napi::Value {
                                return Napi::String::New(info.Env(),
                                                         abi::quant::cpu_impl_name(abi::quant::cpu_active_impl()));
                            },
                            "activeImpl"));
    exports.Set("kernels", k);
}

}  // namespace

ABI_REGISTER_MODULE(init_kernels);
