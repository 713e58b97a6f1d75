#include "engine/llama/attention_kernels.hpp"

#include <algorithm>
#include <cmath>

#include "engine/quant/quant.hpp"

namespace abi::engine {

using quant::fp16_to_fp32;
using quant::fp32_to_fp16;

void attend_tiled_scalar(const attention_args &a) {
    float max_s = -INFINITY;
    for (int64_t p = 0; p < a.n_pos; ++p) {
        const uint16_t *k = a.k + p * a.stride;
        float dot = 0;
        for (int64_t i = 0; i < a.hd; ++i) dot += a.q[i] * fp16_to_fp32(k[i]);
        a.scores[p] = dot * a.scale;
        max_s = std::max(max_s, a.scores[p]);
    }
    std::fill(a.acc, a.acc + a.hd, 0.0f);
    float total = 0;
    for (int64_t p = 0; p < a.n_pos; ++p) {
        const float w = std::exp(a.scores[p] - max_s);
        total += w;
        const uint16_t *v = a.v + p * a.stride;
        for (int64_t i = 0; i < a.hd; ++i) a.acc[i] += w * fp16_to_fp32(v[i]);
    }
    const float inv = 1.0f / total;
    for (int64_t i = 0; i < a.hd; ++i) a.out[i] = a.acc[i] * inv;
}

float dot_f16_ggml_scalar(const uint16_t *k, const float *q, int64_t n, int lanes) {
    float sum[ggml_f16_arr][16] = {};
    const int64_t step = ggml_f16_arr * lanes;
    const int64_t np = n - n % step;
    for (int64_t i = 0; i < np; i += step)
        for (int j = 0; j < ggml_f16_arr; ++j)
            for (int l = 0; l < lanes; ++l) {
                const int64_t e = i + j * lanes + l;
                sum[j][l] = std::fma(fp16_to_fp32(k[e]), q[e], sum[j][l]);
            }
    for (int l = 0; l < lanes; ++l) {
        sum[0][l] += sum[2][l];
        sum[1][l] += sum[3][l];
        sum[0][l] += sum[1][l];
    }
    const float *a = sum[0];
    float t8[8], t4[4];
    if (lanes == 16) {
        for (int l = 0; l < 8; ++l) t8[l] = a[l] + a[l + 8];
        a = t8;
    }
    for (int l = 0; l < 4; ++l) t4[l] = a[l] + a[l + 4];
    double total = lanes == 16 ? (t4[0] + t4[2]) + (t4[1] + t4[3]) : (t4[0] + t4[1]) + (t4[2] + t4[3]);
    for (int64_t i = np; i < n; ++i) total += static_cast<double>(fp16_to_fp32(k[i]) * q[i]);
    return static_cast<float>(total);
}

void attend_f16acc_scalar(const attention_args &a) {
    for (int64_t i = 0; i < a.hd; ++i) a.acc[i] = fp16_to_fp32(fp32_to_fp16(a.q[i]));
    std::fill(a.acc16, a.acc16 + a.hd, uint16_t{0});
    float m = -INFINITY, total = 0;
    for (int64_t p = 0; p < a.n_pos; ++p) {
        const uint16_t *k = a.k + p * a.stride;
        const float s = dot_f16_ggml_scalar(k, a.acc, a.hd, a.lanes) * a.scale;
        float ms = 1.0f, vs = 1.0f;
        if (s > m) {
            const float m_old = m;
            m = s;
            ms = std::exp(m_old - m);
            for (int64_t i = 0; i < a.hd; ++i) a.acc16[i] = fp32_to_fp16(fp16_to_fp32(a.acc16[i]) * ms);
        } else {
            vs = std::exp(s - m);
        }
        const uint16_t *v = a.v + p * a.stride;
        for (int64_t i = 0; i < a.hd; ++i)
            a.acc16[i] = fp32_to_fp16(std::fma(fp16_to_fp32(v[i]), vs, fp16_to_fp32(a.acc16[i])));
        total = total * ms + vs;
    }
    const float inv = total == 0.0f ? 0.0f : 1.0f / total;
    for (int64_t i = 0; i < a.hd; ++i) a.out[i] = fp16_to_fp32(a.acc16[i]) * inv;
}

}  // namespace abi::engine
