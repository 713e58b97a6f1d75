#include "engine/llama/activation_kernels.hpp"

#include <cmath>

namespace abi::engine {

namespace {

// ggml_v_expf (AVX-512 flavour) on one lane: x = n·ln2 + b with n integral, e^b by a polynomial
// with its constant term folded in, then j·2^n rounded once; |n| > 192 saturates to 0 or inf.
float ggml_expf_lane(float x) {
    const float r = 0x1.8p23f;
    const float z = std::fma(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float j =
        std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                 u, std::fma(0x1.ffffecp-1f, b, 1.0f));
    if (std::isnan(n)) return j;
    if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
    return std::ldexp(j, static_cast<int>(n));
}

}  // namespace

void swiglu_scalar(int64_t n, float *y, const float *gate, const float *up) {
    const int64_t nv = n - n % ggml_silu_lanes;
    for (int64_t i = 0; i < nv; ++i) {
        const float g = gate[i];
        y[i] = g / (1.0f + ggml_expf_lane(0.0f - g)) * up[i];
    }
    for (int64_t i = nv; i < n; ++i) {
        const float g = gate[i];
        y[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

}  // namespace abi::engine
