#include "engine/llama/activation_kernels.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace abi::engine {

namespace {

float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

uint32_t to_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

// The part both ggml vector expf flavours share: x = n·ln2 + b with n integral (z carries n in its
// low mantissa bits), and the polynomial in b without its constant and linear terms.
struct expf_parts {
    float z, n, b, u;
};

expf_parts expf_reduce(float x) {
    const float r = 0x1.8p23f;
    expf_parts p;
    p.z = std::fma(x, 0x1.715476p+0f, r);
    p.n = p.z - r;
    p.b = std::fma(-p.n, 0x1.7f7d1cp-20f, std::fma(-p.n, 0x1.62e4p-1f, x));
    p.u = p.b * p.b;
    return p;
}

float poly_high(const expf_parts &p) {
    return std::fma(std::fma(0x1.0e4020p-7f, p.b, 0x1.573e2ep-5f), p.u, std::fma(0x1.555e66p-3f, p.b, 0x1.fffdb6p-2f));
}

// ggml_v_expf, AVX-512 flavour, on one lane: j = 1 + c1·b + …, then j·2^n rounded once;
// |n| > 192 saturates to 0 or inf.
float ggml_expf_lane16(float x) {
    const expf_parts p = expf_reduce(x);
    const float j = std::fma(poly_high(p), p.u, std::fma(0x1.ffffecp-1f, p.b, 1.0f));
    if (std::isnan(p.n)) return j;
    if (std::fabs(p.n) > 192.0f) return p.n <= 0.0f ? 0.0f : INFINITY;
    return std::ldexp(j, static_cast<int>(p.n));
}

// ggml_v_expf, AVX2 flavour, on one lane: j = c1·b + … (no constant term), k = 2^n from z's bits,
// result k + k·j; for |n| > 126 the scaling is split in two factors, and |n| > 192 saturates.
float ggml_expf_lane8(float x) {
    const expf_parts p = expf_reduce(x);
    const float j = std::fma(poly_high(p), p.u, 0x1.ffffecp-1f * p.b);
    const uint32_t e = to_bits(p.z) << 23;
    const float k = from_bits(e + to_bits(1.0f));
    if (!(std::fabs(p.n) > 126.0f)) return std::fma(j, k, k);
    const uint32_t g = p.n <= 0.0f ? 0x82000000u : 0u;
    const float s1 = from_bits(g + 0x7f000000u);
    if (std::fabs(p.n) > 192.0f) return s1 * s1;
    const float s2 = from_bits(e - g);
    return std::fma(s2, j, s2) * s1;
}

}  // namespace

void swiglu_scalar(int64_t n, float *y, const float *gate, const float *up, int lanes) {
    const int64_t nv = n - n % lanes;
    for (int64_t i = 0; i < nv; ++i) {
        const float g = gate[i];
        const float e = lanes == 16 ? ggml_expf_lane16(0.0f - g) : ggml_expf_lane8(0.0f - g);
        y[i] = g / (1.0f + e) * up[i];
    }
    for (int64_t i = nv; i < n; ++i) {
        const float g = gate[i];
        y[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

}  // namespace abi::engine
