// AVX2/F16C versions of attention_kernels.hpp. F16C conversions round to nearest even, exactly like
// the scalar quant::fp32_to_fp16, so both paths round the same values the same way.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "engine/llama/attention_kernels.hpp"

namespace abi::engine {

namespace {

inline __m256 load_h8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}

inline void store_h8(uint16_t *p, __m256 v) {
    _mm_storeu_si128(reinterpret_cast<__m128i *>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

inline float hsum(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

}  // namespace

float dot_f16_ggml_avx2(const uint16_t *k, const float *q, int64_t n, int lanes) {
    // acc[j·r + h]: register h (r per accumulator: 2 for 16 lanes, 1 for 8) of ggml's accumulator j
    __m256 acc[2 * ggml_f16_arr];
    for (__m256 &r : acc) r = _mm256_setzero_ps();
    const int regs = lanes / 8;
    const int64_t step = ggml_f16_arr * lanes;
    const int64_t np = n - n % step;
    for (int64_t i = 0; i < np; i += step)
        for (int j = 0; j < regs * ggml_f16_arr; ++j)
            acc[j] = _mm256_fmadd_ps(load_h8(k + i + 8 * j), _mm256_loadu_ps(q + i + 8 * j), acc[j]);
    float r;
    if (lanes == 16) {
        const __m256 lo = _mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6]));
        const __m256 hi = _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7]));
        r = hsum(_mm256_add_ps(lo, hi));
    } else {
        const __m256 x = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
        const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
        const __m128 t1 = _mm_hadd_ps(t0, t0);
        r = _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
    }
    // The leftovers: products formed 8 at a time (each exactly the scalar f32 product), then added
    // one by one in double, in order, as ggml's scalar tail adds them.
    double total = r;
    int64_t i = np;
    for (; i + 8 <= n; i += 8) {
        alignas(32) float p[8];
        _mm256_store_ps(p, _mm256_mul_ps(load_h8(k + i), _mm256_loadu_ps(q + i)));
        for (const float v : p) total += static_cast<double>(v);
    }
    for (; i < n; ++i) {
        const float p = _cvtsh_ss(k[i]) * q[i];
        total += static_cast<double>(p);
    }
    return static_cast<float>(total);
}

void attend_tiled_avx2(const attention_args &a) {
    float max_s = -INFINITY;
    for (int64_t p = 0; p < a.n_pos; ++p) {
        const uint16_t *k = a.k + p * a.stride;
        __m256 sum = _mm256_setzero_ps();
        for (int64_t i = 0; i < a.hd; i += 8) sum = _mm256_fmadd_ps(_mm256_loadu_ps(a.q + i), load_h8(k + i), sum);
        a.scores[p] = hsum(sum) * a.scale;
        max_s = std::max(max_s, a.scores[p]);
    }
    for (int64_t i = 0; i < a.hd; i += 8) _mm256_storeu_ps(a.acc + i, _mm256_setzero_ps());
    float total = 0;
    for (int64_t p = 0; p < a.n_pos; ++p) {
        const float w = std::exp(a.scores[p] - max_s);
        total += w;
        const __m256 wv = _mm256_set1_ps(w);
        const uint16_t *v = a.v + p * a.stride;
        for (int64_t i = 0; i < a.hd; i += 8)
            _mm256_storeu_ps(a.acc + i, _mm256_fmadd_ps(load_h8(v + i), wv, _mm256_loadu_ps(a.acc + i)));
    }
    const __m256 inv = _mm256_set1_ps(1.0f / total);
    for (int64_t i = 0; i < a.hd; i += 8) _mm256_storeu_ps(a.out + i, _mm256_mul_ps(_mm256_loadu_ps(a.acc + i), inv));
}

void attend_f16acc_avx2(const attention_args &a) {
    // The query as ggml's dot product sees it: rounded to f16.
    for (int64_t i = 0; i < a.hd; i += 8)
        _mm256_storeu_ps(a.acc + i,
                         _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(a.q + i), _MM_FROUND_TO_NEAREST_INT)));
    for (int64_t i = 0; i < a.hd; i += 8) store_h8(a.acc16 + i, _mm256_setzero_ps());
    float m = -INFINITY, total = 0;
    for (int64_t p = 0; p < a.n_pos; ++p) {
        const uint16_t *k = a.k + p * a.stride;
        const float s = dot_f16_ggml_avx2(k, a.acc, a.hd, a.lanes) * a.scale;
        float ms = 1.0f, vs = 1.0f;
        if (s > m) {
            const float m_old = m;
            m = s;
            ms = std::exp(m_old - m);
            const __m256 msv = _mm256_set1_ps(ms);
            for (int64_t i = 0; i < a.hd; i += 8) store_h8(a.acc16 + i, _mm256_mul_ps(load_h8(a.acc16 + i), msv));
        } else {
            vs = std::exp(s - m);
        }
        const __m256 vsv = _mm256_set1_ps(vs);
        const uint16_t *v = a.v + p * a.stride;
        for (int64_t i = 0; i < a.hd; i += 8)
            store_h8(a.acc16 + i, _mm256_fmadd_ps(load_h8(v + i), vsv, load_h8(a.acc16 + i)));
        total = _mm_cvtss_f32(_mm_add_ss(_mm_mul_ss(_mm_set_ss(total), _mm_set_ss(ms)), _mm_set_ss(vs)));
    }
    const __m256 inv = _mm256_set1_ps(total == 0.0f ? 0.0f : 1.0f / total);
    for (int64_t i = 0; i < a.hd; i += 8) _mm256_storeu_ps(a.out + i, _mm256_mul_ps(load_h8(a.acc16 + i), inv));
}

}  // namespace abi::engine
