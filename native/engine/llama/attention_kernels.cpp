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

void attend_f16acc_scalar(const attention_args &a) {
    for (int64_t i = 0; i < a.hd; ++i) a.acc[i] = fp16_to_fp32(fp32_to_fp16(a.q[i]));
    std::fill(a.acc16, a.acc16 + a.hd, uint16_t{0});
    float m = -INFINITY, total = 0;
    for (int64_t p = 0; p < a.n_pos; ++p) {
        const uint16_t *k = a.k + p * a.stride;
        float dot = 0;
        for (int64_t i = 0; i < a.hd; ++i) dot += fp16_to_fp32(k[i]) * a.acc[i];
        const float s = dot * a.scale;
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
