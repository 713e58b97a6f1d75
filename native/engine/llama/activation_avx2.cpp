// AVX2/FMA version of activation_kernels.hpp. The AVX2 flavour is ggml's own AVX2 expf; the AVX-512
// flavour is its AVX-512 expf lane for lane, except that _mm512_scalef_ps has no AVX2 counterpart:
// j·2^n is formed as (j·2^a)·2^(n−a) with a = clamp(n, −100, 127), the first product exact and
// normal, the second rounding once, as scalef does, also when the result is subnormal or overflows.
#include <immintrin.h>

#include <cmath>

#include "engine/llama/activation_kernels.hpp"

namespace abi::engine {

namespace {

inline __m256 pow2(__m256i n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}

// ggml_v_expf of ggml's AVX2 build.
inline __m256 ggml_expf_avx2_flavour(__m256 x) {
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b =
        _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
    const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256 c = _mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    if (_mm256_testz_ps(c, c)) return _mm256_fmadd_ps(j, k, k);
    const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32(static_cast<int>(0x82000000u)));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    const __m256 d = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    const __m256 scaled = _mm256_blendv_ps(_mm256_fmadd_ps(k, j, k), _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1), c);
    return _mm256_blendv_ps(scaled, _mm256_mul_ps(s1, s1), d);
}

// ggml_v_expf of ggml's AVX-512 builds, 8 lanes at a time.
inline __m256 ggml_expf_avx512_flavour(__m256 x) {
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b =
        _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
    // n is integral in [-192, 192] wherever the result is not saturated below; clamp the
    // conversion so saturated and NaN lanes stay well defined.
    const __m256 nc = _mm256_min_ps(_mm256_max_ps(n, _mm256_set1_ps(-192.0f)), _mm256_set1_ps(192.0f));
    const __m256i ni = _mm256_cvtps_epi32(nc);
    const __m256i a = _mm256_min_epi32(_mm256_max_epi32(ni, _mm256_set1_epi32(-100)), _mm256_set1_epi32(127));
    const __m256 res = _mm256_mul_ps(_mm256_mul_ps(j, pow2(a)), pow2(_mm256_sub_epi32(ni, a)));
    const __m256 big = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), n), _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    if (_mm256_testz_ps(big, big)) return _mm256_blendv_ps(res, j, _mm256_cmp_ps(n, n, _CMP_UNORD_Q));
    const __m256 alt = _mm256_blendv_ps(_mm256_set1_ps(INFINITY), _mm256_setzero_ps(),
                                        _mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ));
    return _mm256_blendv_ps(_mm256_blendv_ps(res, j, _mm256_cmp_ps(n, n, _CMP_UNORD_Q)), alt, big);
}

}  // namespace

void swiglu_avx2(int64_t n, float *y, const float *gate, const float *up, int lanes) {
    const int64_t nv = n - n % lanes;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (int64_t i = 0; i < nv; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 neg = _mm256_sub_ps(_mm256_setzero_ps(), g);
        const __m256 e = lanes == 16 ? ggml_expf_avx512_flavour(neg) : ggml_expf_avx2_flavour(neg);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    for (int64_t i = nv; i < n; ++i) {
        const float g = gate[i];
        const float e = std::exp(-g);
        y[i] = g / (1.0f + e) * up[i];
    }
}

}  // namespace abi::engine
