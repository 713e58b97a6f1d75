// AVX2/FMA dot products and activation quantizers. Integer kernels compute exactly the scalar
// reference's integer sums; only the order of f32 scaling and accumulation differs.
#include <immintrin.h>

#include "engine/cpu/kernels_avx2.hpp"

namespace abi::quant::avx2 {

namespace {

float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

float half(uint16_t h) {
    return _cvtsh_ss(h);
}

__m256i load32(const void *p) {
    return _mm256_loadu_si256(static_cast<const __m256i *>(p));
}

// Σ of 4 adjacent signed-byte products per i32 lane. maddubs wants an unsigned first operand, so
// move x's sign onto y; neither side is ever −128 (the quantizers clamp to ±127).
__m256i dot_i8(__m256i x, __m256i y) {
    const __m256i prod = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(prod, _mm256_set1_epi16(1));
}

// 16 packed nibbles → 32 bytes: low nibbles in bytes 0..15, high nibbles in 16..31 (ggml order).
__m256i unpack_nibbles16(const uint8_t *p) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

}  // namespace

float vec_dot_f32(int64_t n, const void *w, const void *x) {
    const auto *a = static_cast<const float *>(w);
    const auto *b = static_cast<const float *>(x);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
           acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

float vec_dot_f16(int64_t n, const void *w, const void *x) {
    const auto *a = static_cast<const uint16_t *>(w);
    const auto *b = static_cast<const uint16_t *>(x);
    auto load = [](const uint16_t *p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
    };
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
           acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load(a + i), load(b + i), acc0);
        acc1 = _mm256_fmadd_ps(load(a + i + 8), load(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load(a + i + 16), load(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load(a + i + 24), load(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load(a + i), load(b + i), acc0);
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; ++i) sum += half(a[i]) * half(b[i]);
    return sum;
}

float vec_dot_bf16(int64_t n, const void *w, const void *x) {
    const auto *a = static_cast<const uint16_t *>(w);
    const auto *b = static_cast<const uint16_t *>(x);
    auto load = [](const uint16_t *p) {
        const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
    };
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
           acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load(a + i), load(b + i), acc0);
        acc1 = _mm256_fmadd_ps(load(a + i + 8), load(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load(a + i + 16), load(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load(a + i + 24), load(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load(a + i), load(b + i), acc0);
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; ++i) sum += bf16_to_fp32(a[i]) * bf16_to_fp32(b[i]);
    return sum;
}

float vec_dot_q8_0_q8_0(int64_t n, const void *w, const void *x) {
    const auto *a = static_cast<const block_q8_0 *>(w);
    const auto *b = static_cast<const block_q8_0 *>(x);
    const int64_t nb = n / qk8_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m256i p0 = dot_i8(load32(a[i].qs), load32(b[i].qs));
        const __m256i p1 = dot_i8(load32(a[i + 1].qs), load32(b[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half(a[i].d) * half(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(half(a[i + 1].d) * half(b[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; ++i) {
        const __m256i p = dot_i8(load32(a[i].qs), load32(b[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half(a[i].d) * half(b[i].d)), _mm256_cvtepi32_ps(p), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

float vec_dot_q4_0_q8_0(int64_t n, const void *w, const void *x) {
    const auto *a = static_cast<const block_q4_0 *>(w);
    const auto *b = static_cast<const block_q8_0 *>(x);
    const int64_t nb = n / qk4_0;
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m256i q0 = _mm256_sub_epi8(unpack_nibbles16(a[i].qs), eight);
        const __m256i q1 = _mm256_sub_epi8(unpack_nibbles16(a[i + 1].qs), eight);
        const __m256i p0 = dot_i8(q0, load32(b[i].qs));
        const __m256i p1 = dot_i8(q1, load32(b[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half(a[i].d) * half(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(half(a[i + 1].d) * half(b[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; ++i) {
        const __m256i q = _mm256_sub_epi8(unpack_nibbles16(a[i].qs), eight);
        const __m256i p = dot_i8(q, load32(b[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half(a[i].d) * half(b[i].d)), _mm256_cvtepi32_ps(p), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

namespace {

// Σ_j mins[j] · (bsums[2j] + bsums[2j+1]) for the 8 K-quant sub-blocks of 32.
int k_min_correction(const uint8_t *mins, const int16_t *bsums) {
    const __m256i sums = load32(bsums);
    const __m128i m8 = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(mins));
    // each min repeated for its two 16-element bsums
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
    const __m256i prod = _mm256_madd_epi16(sums, m16);
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(prod), _mm256_extracti128_si256(prod, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

void unpack_scales_mins(const uint8_t *packed, uint8_t *sc, uint8_t *m) {
    for (int j = 0; j < 8; ++j) get_scale_min_k4(j, packed, &sc[j], &m[j]);
}

}  // namespace

float vec_dot_q4_K_q8_K(int64_t n, const void *w, const void *x) {
    const auto *a = static_cast<const block_q4_K *>(w);
    const auto *b = static_cast<const block_q8_K *>(x);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float min_sum = 0.0f;
    for (int64_t i = 0; i < n / qk_k; ++i) {
        uint8_t sc[8], m[8];
        unpack_scales_mins(a[i].scales, sc, m);
        const float d = half(a[i].d) * b[i].d;
        min_sum += half(a[i].dmin) * b[i].d * static_cast<float>(k_min_correction(m, b[i].bsums));
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            const __m256i q = load32(a[i].qs + 32 * c);
            const __m256i q_lo = _mm256_and_si256(q, low4);
            const __m256i q_hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
            const __m256i p_lo = _mm256_maddubs_epi16(q_lo, load32(b[i].qs + 64 * c));
            const __m256i p_hi = _mm256_maddubs_epi16(q_hi, load32(b[i].qs + 64 * c + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_lo, _mm256_set1_epi16(sc[2 * c])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_hi, _mm256_set1_epi16(sc[2 * c + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - min_sum;
}

float vec_dot_q5_K_q8_K(int64_t n, const void *w, const void *x) {
    const auto *a = static_cast<const block_q5_K *>(w);
    const auto *b = static_cast<const block_q8_K *>(x);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float min_sum = 0.0f;
    for (int64_t i = 0; i < n / qk_k; ++i) {
        uint8_t sc[8], m[8];
        unpack_scales_mins(a[i].scales, sc, m);
        const float d = half(a[i].d) * b[i].d;
        min_sum += half(a[i].dmin) * b[i].d * static_cast<float>(k_min_correction(m, b[i].bsums));
        const __m256i hbits = load32(a[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            const __m256i q = load32(a[i].qs + 32 * c);
            // bit 2c / 2c+1 of each qh byte becomes bit 4 of the element; shifts stay within bytes
            // after the mask because each extracted value is 0 or 1
            const __m256i h_lo =
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(hbits, _mm_cvtsi32_si128(2 * c)), one), 4);
            const __m256i h_hi =
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(hbits, _mm_cvtsi32_si128(2 * c + 1)), one), 4);
            const __m256i q_lo = _mm256_or_si256(_mm256_and_si256(q, low4), h_lo);
            const __m256i q_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), h_hi);
            const __m256i p_lo = _mm256_maddubs_epi16(q_lo, load32(b[i].qs + 64 * c));
            const __m256i p_hi = _mm256_maddubs_epi16(q_hi, load32(b[i].qs + 64 * c + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_lo, _mm256_set1_epi16(sc[2 * c])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_hi, _mm256_set1_epi16(sc[2 * c + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - min_sum;
}

float vec_dot_q6_K_q8_K(int64_t n, const void *w, const void *x) {
    const auto *a = static_cast<const block_q6_K *>(w);
    const auto *b = static_cast<const block_q8_K *>(x);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    const __m256i offset = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    // (q − 32)·y as maddubs(q, y) − maddubs(32, y): q is 0..63 so both fit maddubs's unsigned side
    auto dot_scaled = [&](__m256i q, const int8_t *y, int8_t s_lo, int8_t s_hi) {
        const __m256i yv = load32(y);
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, yv), _mm256_maddubs_epi16(offset, yv));
        // i16 lanes 0..7 are elements 0..15 (scale s_lo), lanes 8..15 are elements 16..31 (s_hi)
        const __m256i scales = _mm256_set_m128i(_mm_set1_epi16(s_hi), _mm_set1_epi16(s_lo));
        return _mm256_madd_epi16(p, scales);
    };
    for (int64_t i = 0; i < n / qk_k; ++i) {
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const uint8_t *ql = a[i].ql + 64 * h;
            const __m256i qh = load32(a[i].qh + 32 * h);
            const int8_t *sc = a[i].scales + 8 * h;
            const int8_t *y = b[i].qs + 128 * h;
            const __m256i l0 = load32(ql), l1 = load32(ql + 32);
            const __m256i q1 =
                _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
            const __m256i q2 =
                _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
            const __m256i q3 =
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), _mm256_and_si256(qh, bits45));
            const __m256i q4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                                               _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
            sumi = _mm256_add_epi32(sumi, dot_scaled(q1, y, sc[0], sc[1]));
            sumi = _mm256_add_epi32(sumi, dot_scaled(q2, y + 32, sc[2], sc[3]));
            sumi = _mm256_add_epi32(sumi, dot_scaled(q3, y + 64, sc[4], sc[5]));
            sumi = _mm256_add_epi32(sumi, dot_scaled(q4, y + 96, sc[6], sc[7]));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half(a[i].d) * b[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc);
}

void quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / qk8_0; ++b, x += qk8_0) {
        __m256 v[4];
        __m256 amax = _mm256_setzero_ps();
        for (int k = 0; k < 4; ++k) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v[k]));
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float max_abs = _mm_cvtss_f32(m);
        y[b].d = _cvtss_sh(max_abs / 127.0f, _MM_FROUND_TO_NEAREST_INT);
        const __m256 id = _mm256_set1_ps(max_abs != 0.0f ? 127.0f / max_abs : 0.0f);
        __m256i q[4];
        for (int k = 0; k < 4; ++k) {
            q[k] = _mm256_cvtps_epi32(
                _mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        }
        // packs works per 128-bit lane; the permute restores element order
        const __m256i p16a = _mm256_packs_epi32(q[0], q[1]);
        const __m256i p16b = _mm256_packs_epi32(q[2], q[3]);
        const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
        const __m256i ordered = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(y[b].qs), ordered);
    }
}

void quantize_row_f16(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128(reinterpret_cast<__m128i *>(y + i), h);
    }
    for (; i < n; ++i) y[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

}  // namespace abi::quant::avx2
