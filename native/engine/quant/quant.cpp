#include "engine/quant/quant.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace abi::quant {

namespace {

uint32_t float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

float bits_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

// Round half to even, as ggml's nearest_int, for |x| < 2^22 (the quantizers stay far below):
// adding 1.5·2^23 leaves the rounded integer in the low mantissa bits. A libm lrintf call in the
// K-quant scale searches' inner loops made them several times slower.
int nearest_int(float x) {
    const float shifted = x + 12582912.0f;
    int32_t bits;
    std::memcpy(&bits, &shifted, sizeof bits);
    return (bits & 0x007FFFFF) - 0x00400000;
}

}  // namespace

// ---- fp16 / bf16 ------------------------------------------------------------------------------

float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1F;
    const uint32_t mant = h & 0x3FF;
    if (exp == 0) {
        // zero or subnormal: mant · 2^-24, exact in f32
        const float mag = static_cast<float>(mant) * 5.9604644775390625e-8f;
        return sign ? -mag : mag;
    }
    if (exp == 31) return bits_float(sign | 0x7F800000 | (mant << 13));
    return bits_float(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t fp32_to_fp16(float f) {
    const uint32_t x = float_bits(f);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
    uint32_t abs = x & 0x7FFFFFFF;
    if (abs > 0x7F800000) return sign | 0x7E00 | ((abs >> 13) & 0x3FF);  // NaN: quiet, top payload kept
    if (abs >= 0x477FF000) return sign | 0x7C00;  // ≥ 65520 rounds past the largest half (65504)
    if (abs < 0x38800000) {
        // below the smallest normal half (2^-14): round value / 2^-24 to an integer, ties to even;
        // 1024 lands exactly on the smallest normal's encoding
        const float scaled = bits_float(abs) * 16777216.0f;
        return sign | static_cast<uint16_t>(std::lrintf(scaled));
    }
    abs += 0xFFF + ((abs >> 13) & 1);  // round to nearest even at bit 13; a carry bumps the exponent
    abs -= 112u << 23;                 // rebias 127 → 15
    return sign | static_cast<uint16_t>(abs >> 13);
}

uint16_t fp32_to_bf16(float f) {
    const uint32_t u = float_bits(f);
    if ((u & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((u >> 16) | 64);
    return static_cast<uint16_t>((u + (0x7FFF + ((u >> 16) & 1))) >> 16);
}

// ---- type traits --------------------------------------------------------------------------------

namespace {

constexpr type_traits_t unknown_traits{"unknown", 0, 0, false, ggml_type::F32};

struct traits_table {
    type_traits_t entries[ggml_type_count];

    constexpr traits_table() : entries{} {
        for (auto &e : entries) e = unknown_traits;
        auto set = [this](ggml_type t, const char *name, int64_t blck, size_t size, bool supported, ggml_type dot) {
            entries[static_cast<uint32_t>(t)] = type_traits_t{name, blck, size, supported, dot};
        };
        using T = ggml_type;
        set(T::F32, "f32", 1, 4, true, T::F32);
        set(T::F16, "f16", 1, 2, true, T::F16);
        set(T::Q4_0, "q4_0", 32, 18, true, T::Q8_0);
        set(T::Q4_1, "q4_1", 32, 20, false, T::Q8_1);
        set(T::Q5_0, "q5_0", 32, 22, false, T::Q8_0);
        set(T::Q5_1, "q5_1", 32, 24, false, T::Q8_1);
        set(T::Q8_0, "q8_0", 32, 34, true, T::Q8_0);
        set(T::Q8_1, "q8_1", 32, 36, false, T::Q8_1);
        set(T::Q2_K, "q2_K", 256, 84, false, T::Q8_K);
        set(T::Q3_K, "q3_K", 256, 110, false, T::Q8_K);
        set(T::Q4_K, "q4_K", 256, 144, true, T::Q8_K);
        set(T::Q5_K, "q5_K", 256, 176, true, T::Q8_K);
        set(T::Q6_K, "q6_K", 256, 210, true, T::Q8_K);
        set(T::Q8_K, "q8_K", 256, 292, false, T::Q8_K);
        set(T::IQ2_XXS, "iq2_xxs", 256, 66, false, T::Q8_K);
        set(T::IQ2_XS, "iq2_xs", 256, 74, false, T::Q8_K);
        set(T::IQ3_XXS, "iq3_xxs", 256, 98, false, T::Q8_K);
        set(T::IQ1_S, "iq1_s", 256, 50, false, T::Q8_K);
        set(T::IQ4_NL, "iq4_nl", 32, 18, false, T::Q8_0);
        set(T::IQ3_S, "iq3_s", 256, 110, false, T::Q8_K);
        set(T::IQ2_S, "iq2_s", 256, 82, false, T::Q8_K);
        set(T::IQ4_XS, "iq4_xs", 256, 136, false, T::Q8_K);
        set(T::I8, "i8", 1, 1, false, T::I8);
        set(T::I16, "i16", 1, 2, false, T::I16);
        set(T::I32, "i32", 1, 4, false, T::I32);
        set(T::I64, "i64", 1, 8, false, T::I64);
        set(T::F64, "f64", 1, 8, false, T::F64);
        set(T::IQ1_M, "iq1_m", 256, 56, false, T::Q8_K);
        set(T::BF16, "bf16", 1, 2, true, T::BF16);
        set(T::TQ1_0, "tq1_0", 256, 54, false, T::Q8_K);
        set(T::TQ2_0, "tq2_0", 256, 66, false, T::Q8_K);
        set(T::MXFP4, "mxfp4", 32, 17, false, T::Q8_0);
        set(T::NVFP4, "nvfp4", 64, 36, false, T::F32);
        set(T::Q1_0, "q1_0", 128, 18, false, T::F32);
        // Named by ggml.h, but its block layout is not known here: size unknown.
        set(T::Q2_0, "q2_0", 0, 0, false, T::F32);
    }
};

constexpr traits_table traits{};

}  // namespace

const type_traits_t &type_traits(ggml_type type) {
    const auto id = static_cast<uint32_t>(type);
    return id < ggml_type_count ? traits.entries[id] : unknown_traits;
}

bool is_valid_type_id(uint32_t id) {
    return id < ggml_type_count && std::strcmp(traits.entries[id].name, "unknown") != 0;
}

size_t row_size(ggml_type type, int64_t n) {
    const type_traits_t &t = type_traits(type);
    if (t.block_size <= 0 || n < 0 || n % t.block_size != 0) return 0;
    return t.type_size * static_cast<size_t>(n / t.block_size);
}

// ---- dequantization -----------------------------------------------------------------------------

void dequantize_row_f16(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

void dequantize_row_bf16(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

void dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / qk4_0; ++b, y += qk4_0) {
        const float d = fp16_to_fp32(x[b].d);
        for (int j = 0; j < qk4_0 / 2; ++j) {
            y[j] = static_cast<float>((x[b].qs[j] & 0x0F) - 8) * d;
            y[j + qk4_0 / 2] = static_cast<float>((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / qk8_0; ++b, y += qk8_0) {
        const float d = fp16_to_fp32(x[b].d);
        for (int j = 0; j < qk8_0; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
    }
}

void dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / qk_k; ++b) {
        const float d = fp16_to_fp32(x[b].d);
        const float dmin = fp16_to_fp32(x[b].dmin);
        const uint8_t *q = x[b].qs;
        for (int c = 0; c < 4; ++c, q += 32) {
            uint8_t sc_a, m_a, sc_b, m_b;
            get_scale_min_k4(2 * c, x[b].scales, &sc_a, &m_a);
            get_scale_min_k4(2 * c + 1, x[b].scales, &sc_b, &m_b);
            const float d_a = d * sc_a, min_a = dmin * m_a, d_b = d * sc_b, min_b = dmin * m_b;
            for (int l = 0; l < 32; ++l) *y++ = d_a * static_cast<float>(q[l] & 0x0F) - min_a;
            for (int l = 0; l < 32; ++l) *y++ = d_b * static_cast<float>(q[l] >> 4) - min_b;
        }
    }
}

void dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / qk_k; ++b) {
        const float d = fp16_to_fp32(x[b].d);
        const float dmin = fp16_to_fp32(x[b].dmin);
        const uint8_t *q = x[b].qs;
        const uint8_t *qh = x[b].qh;
        for (int c = 0; c < 4; ++c, q += 32) {
            uint8_t sc_a, m_a, sc_b, m_b;
            get_scale_min_k4(2 * c, x[b].scales, &sc_a, &m_a);
            get_scale_min_k4(2 * c + 1, x[b].scales, &sc_b, &m_b);
            const float d_a = d * sc_a, min_a = dmin * m_a, d_b = d * sc_b, min_b = dmin * m_b;
            const uint8_t bit_a = static_cast<uint8_t>(1u << (2 * c)), bit_b = static_cast<uint8_t>(2u << (2 * c));
            for (int l = 0; l < 32; ++l) {
                *y++ = d_a * static_cast<float>((q[l] & 0x0F) + (qh[l] & bit_a ? 16 : 0)) - min_a;
            }
            for (int l = 0; l < 32; ++l) {
                *y++ = d_b * static_cast<float>((q[l] >> 4) + (qh[l] & bit_b ? 16 : 0)) - min_b;
            }
        }
    }
}

void dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / qk_k; ++b) {
        const float d = fp16_to_fp32(x[b].d);
        for (int h = 0; h < 2; ++h, y += 128) {
            const uint8_t *ql = x[b].ql + 64 * h;
            const uint8_t *qh = x[b].qh + 32 * h;
            const int8_t *sc = x[b].scales + 8 * h;
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * static_cast<float>(sc[is] * q1);
                y[l + 32] = d * static_cast<float>(sc[is + 2] * q2);
                y[l + 64] = d * static_cast<float>(sc[is + 4] * q3);
                y[l + 96] = d * static_cast<float>(sc[is + 6] * q4);
            }
        }
    }
}

void dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / qk_k; ++b, y += qk_k) {
        for (int j = 0; j < qk_k; ++j) y[j] = x[b].d * static_cast<float>(x[b].qs[j]);
    }
}

bool dequantize_row(ggml_type type, const void *src, float *dst, int64_t n) {
    switch (type) {
        case ggml_type::F32:
            std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
            return true;
        case ggml_type::F16:
            dequantize_row_f16(static_cast<const uint16_t *>(src), dst, n);
            return true;
        case ggml_type::BF16:
            dequantize_row_bf16(static_cast<const uint16_t *>(src), dst, n);
            return true;
        case ggml_type::Q4_0:
            dequantize_row_q4_0(static_cast<const block_q4_0 *>(src), dst, n);
            return true;
        case ggml_type::Q8_0:
            dequantize_row_q8_0(static_cast<const block_q8_0 *>(src), dst, n);
            return true;
        case ggml_type::Q4_K:
            dequantize_row_q4_K(static_cast<const block_q4_K *>(src), dst, n);
            return true;
        case ggml_type::Q5_K:
            dequantize_row_q5_K(static_cast<const block_q5_K *>(src), dst, n);
            return true;
        case ggml_type::Q6_K:
            dequantize_row_q6_K(static_cast<const block_q6_K *>(src), dst, n);
            return true;
        case ggml_type::Q8_K:
            dequantize_row_q8_K(static_cast<const block_q8_K *>(src), dst, n);
            return true;
        default:
            return false;
    }
}

// ---- quantization -------------------------------------------------------------------------------

namespace {

// Signed value of largest magnitude (first one on ties) and that magnitude.
void signed_absmax(const float *x, int n, float *max_out, float *amax_out) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; ++j) {
        const float ax = std::fabs(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    *max_out = max;
    *amax_out = amax;
}

// Asymmetric fit x ≈ scale·L − min_out with L in [0, nmax], minimising Σ w·(scale·L + min − x)²:
// start from the plain min/max grid, then try nstep+1 nearby grids (rmin + rdelta·k steps) and
// solve the weighted least-squares scale and offset for each. This is ggml's make_qkx2_quants
// strategy; min is clamped ≤ 0 so the stored min (−min) is non-negative.
float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *min_out, float rmin,
                    float rdelta, int nstep) {
    float lo = x[0], hi = x[0];
    float sum_w = 0.0f, sum_x = 0.0f;
    for (int i = 0; i < n; ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (lo > 0.0f) lo = 0.0f;
    if (hi == lo) {
        std::fill(L, L + n, uint8_t{0});
        *min_out = -lo;
        return 0.0f;
    }
    float iscale = static_cast<float>(nmax) / (hi - lo);
    float scale = 1.0f / iscale;
    float best_error = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = std::clamp(nearest_int(iscale * (x[i] - lo)), 0, nmax);
        L[i] = static_cast<uint8_t>(l);
        const float diff = scale * static_cast<float>(l) + lo - x[i];
        best_error += w[i] * diff * diff;
    }
    float best_min = lo;
    uint8_t trial[32];
    for (int step = 0; step <= nstep; ++step) {
        iscale = (rmin + rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (hi - lo);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(nearest_int(iscale * (x[i] - lo)), 0, nmax);
            trial[i] = static_cast<uint8_t>(l);
            const float fl = static_cast<float>(l);
            sum_l += w[i] * fl;
            sum_l2 += w[i] * fl * fl;
            sum_xl += w[i] * fl * x[i];
        }
        const float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det <= 0.0f) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (this_min > 0.0f) {
            this_min = 0.0f;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0.0f;
        for (int i = 0; i < n; ++i) {
            const float diff = this_scale * static_cast<float>(trial[i]) + this_min - x[i];
            err += w[i] * diff * diff;
        }
        if (err < best_error) {
            std::copy(trial, trial + n, L);
            best_error = err;
            scale = this_scale;
            best_min = this_min;
        }
    }
    *min_out = -best_min;
    return scale;
}

// Symmetric fit x ≈ scale·(L − nmax) with L − nmax in [−nmax, nmax−1], weights x² (ggml's
// make_qx_quants with rmse_type 1): sweep the inverse scale ±0.9 around nmax/max and keep the
// least-squares optimum.
float fit_scale_symmetric(int n, int nmax, const float *x, int8_t *L) {
    float max, amax;
    signed_absmax(x, n, &max, &amax);
    if (amax < 1e-15f) {
        std::fill(L, L + n, int8_t{0});
        return 0.0f;
    }
    auto eval = [&](float iscale, float *sumlx, float *suml2) {
        *sumlx = 0.0f;
        *suml2 = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            *sumlx += w * x[i] * static_cast<float>(l);
            *suml2 += w * static_cast<float>(l * l);
        }
    };
    auto assign = [&](float iscale) {
        for (int i = 0; i < n; ++i) {
            L[i] = static_cast<int8_t>(nmax + std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1));
        }
    };
    float iscale = -static_cast<float>(nmax) / max;
    float sumlx, suml2;
    eval(iscale, &sumlx, &suml2);
    assign(iscale);
    float scale = suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int step = -9; step <= 9; ++step) {
        if (step == 0) continue;
        iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / max;
        eval(iscale, &sumlx, &suml2);
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            assign(iscale);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Packs 8 six-bit scales and 8 six-bit mins the way get_scale_min_k4 unpacks them.
void pack_scale_min_k4(const uint8_t *ls, const uint8_t *lm, uint8_t *s) {
    std::memset(s, 0, k_scale_size);
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = static_cast<uint8_t>((ls[j] & 0x0F) | ((lm[j] & 0x0F) << 4));
            s[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
            s[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
        }
    }
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per 32-element sub-block fit, 6-bit quantize the
// scales and mins against the super-block maxima, then requantize every element against the
// scale and min it will actually be decoded with. L receives the final per-element levels.
void quantize_k_superblock(const float *x, int nmax, float rmin, int nstep, uint16_t *d_out, uint16_t *dmin_out,
                           uint8_t *scales_out, uint8_t *L) {
    float scales[8], mins[8], weights[32];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; ++j) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32.0f);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        scales[j] = fit_scale_min(32, nmax, xs, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep);
        max_scale = std::max(max_scale, scales[j]);
        max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
        ls[j] = static_cast<uint8_t>(std::min(63, nearest_int(inv_scale * scales[j])));
        lm[j] = static_cast<uint8_t>(std::min(63, nearest_int(inv_min * mins[j])));
    }
    pack_scale_min_k4(ls, lm, scales_out);
    *d_out = fp32_to_fp16(max_scale / 63.0f);
    *dmin_out = fp32_to_fp16(max_min / 63.0f);
    const float d = fp16_to_fp32(*d_out), dmin = fp16_to_fp32(*dmin_out);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        get_scale_min_k4(j, scales_out, &sc, &m);
        const float ds = d * sc;
        if (ds == 0.0f) continue;
        const float dm = dmin * m;
        for (int l = 0; l < 32; ++l) {
            L[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / ds), 0, nmax));
        }
    }
}

}  // namespace

void quantize_row_f16_ref(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void quantize_row_bf16_ref(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

void quantize_row_q4_0_ref(const float *x, block_q4_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / qk4_0; ++b, x += qk4_0) {
        float max, amax;
        signed_absmax(x, qk4_0, &max, &amax);
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32_to_fp16(d);
        for (int j = 0; j < qk4_0 / 2; ++j) {
            // truncation after +8.5 rounds to nearest; the min() keeps +max (→ 16) in range
            const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
            const int hi = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + qk4_0 / 2] * id + 8.5f)));
            y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
        }
    }
}

void quantize_row_q8_0_ref(const float *x, block_q8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / qk8_0; ++b, x += qk8_0) {
        float max, amax;
        signed_absmax(x, qk8_0, &max, &amax);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = fp32_to_fp16(d);
        for (int j = 0; j < qk8_0; ++j) y[b].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
    }
}

void quantize_row_q4_K_ref(const float *x, block_q4_K *y, int64_t n) {
    uint8_t L[qk_k];
    for (int64_t b = 0; b < n / qk_k; ++b, x += qk_k) {
        quantize_k_superblock(x, 15, -1.0f, 20, &y[b].d, &y[b].dmin, y[b].scales, L);
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                y[b].qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
            }
        }
    }
}

void quantize_row_q5_K_ref(const float *x, block_q5_K *y, int64_t n) {
    uint8_t L[qk_k];
    for (int64_t b = 0; b < n / qk_k; ++b, x += qk_k) {
        quantize_k_superblock(x, 31, -0.5f, 15, &y[b].d, &y[b].dmin, y[b].scales, L);
        std::memset(y[b].qh, 0, sizeof y[b].qh);
        for (int c = 0; c < 4; ++c) {
            const uint8_t bit_a = static_cast<uint8_t>(1u << (2 * c)), bit_b = static_cast<uint8_t>(2u << (2 * c));
            for (int l = 0; l < 32; ++l) {
                const int a = L[64 * c + l], b2 = L[64 * c + 32 + l];
                if (a > 15) y[b].qh[l] |= bit_a;
                if (b2 > 15) y[b].qh[l] |= bit_b;
                y[b].qs[32 * c + l] = static_cast<uint8_t>((a & 0x0F) | ((b2 & 0x0F) << 4));
            }
        }
    }
}

void quantize_row_q6_K_ref(const float *x, block_q6_K *y, int64_t n) {
    int8_t L[qk_k];
    float scales[qk_k / 16];
    for (int64_t b = 0; b < n / qk_k; ++b, x += qk_k) {
        float max_scale = 0.0f, max_abs_scale = 0.0f;
        for (int ib = 0; ib < qk_k / 16; ++ib) {
            scales[ib] = fit_scale_symmetric(16, 32, x + 16 * ib, L + 16 * ib);
            const float abs_scale = std::fabs(scales[ib]);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scales[ib];
            }
        }
        if (max_abs_scale < 1e-15f) {
            std::memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -128.0f / max_scale;
        y[b].d = fp32_to_fp16(1.0f / iscale);
        for (int ib = 0; ib < qk_k / 16; ++ib) {
            y[b].scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
        }
        const float d_super = fp16_to_fp32(y[b].d);
        for (int ib = 0; ib < qk_k / 16; ++ib) {
            const float d = d_super * static_cast<float>(y[b].scales[ib]);
            if (d == 0.0f) continue;
            for (int i = 0; i < 16; ++i) {
                L[16 * ib + i] = static_cast<int8_t>(32 + std::clamp(nearest_int(x[16 * ib + i] / d), -32, 31));
            }
        }
        for (int h = 0; h < 2; ++h) {
            uint8_t *ql = y[b].ql + 64 * h;
            uint8_t *qh = y[b].qh + 32 * h;
            const int8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; ++l) {
                const int q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
                ql[l] = static_cast<uint8_t>((q1 & 0x0F) | ((q3 & 0x0F) << 4));
                ql[l + 32] = static_cast<uint8_t>((q2 & 0x0F) | ((q4 & 0x0F) << 4));
                qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

void quantize_row_q8_K_ref(const float *x, block_q8_K *y, int64_t n) {
    for (int64_t b = 0; b < n / qk_k; ++b, x += qk_k) {
        float max, amax;
        signed_absmax(x, qk_k, &max, &amax);
        if (amax == 0.0f) {
            y[b].d = 0.0f;
            std::memset(y[b].qs, 0, sizeof y[b].qs);
            std::memset(y[b].bsums, 0, sizeof y[b].bsums);
            continue;
        }
        // scale by the signed max so it maps to exactly −127 (−128 is never produced)
        const float iscale = -127.0f / max;
        for (int j = 0; j < qk_k; ++j) y[b].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
        for (int g = 0; g < qk_k / 16; ++g) {
            int sum = 0;
            for (int i = 0; i < 16; ++i) sum += y[b].qs[16 * g + i];
            y[b].bsums[g] = static_cast<int16_t>(sum);
        }
        y[b].d = 1.0f / iscale;
    }
}

size_t quantize_row_ref(ggml_type type, const float *src, void *dst, int64_t n) {
    const size_t bytes = row_size(type, n);
    if (bytes == 0 && n > 0) return 0;
    switch (type) {
        case ggml_type::F32:
            std::memcpy(dst, src, bytes);
            return bytes;
        case ggml_type::F16:
            quantize_row_f16_ref(src, static_cast<uint16_t *>(dst), n);
            return bytes;
        case ggml_type::BF16:
            quantize_row_bf16_ref(src, static_cast<uint16_t *>(dst), n);
            return bytes;
        case ggml_type::Q4_0:
            quantize_row_q4_0_ref(src, static_cast<block_q4_0 *>(dst), n);
            return bytes;
        case ggml_type::Q8_0:
            quantize_row_q8_0_ref(src, static_cast<block_q8_0 *>(dst), n);
            return bytes;
        case ggml_type::Q4_K:
            quantize_row_q4_K_ref(src, static_cast<block_q4_K *>(dst), n);
            return bytes;
        case ggml_type::Q5_K:
            quantize_row_q5_K_ref(src, static_cast<block_q5_K *>(dst), n);
            return bytes;
        case ggml_type::Q6_K:
            quantize_row_q6_K_ref(src, static_cast<block_q6_K *>(dst), n);
            return bytes;
        case ggml_type::Q8_K:
            quantize_row_q8_K_ref(src, static_cast<block_q8_K *>(dst), n);
            return bytes;
        default:
            return 0;
    }
}

// ---- dot products -------------------------------------------------------------------------------
// Integer products are exact; per-block sums are scaled in f32 and accumulated in f32, as ggml's
// generic kernels do. F32/F16/BF16 accumulate in double (ggml's ggml_float).

namespace {

// Σ of `lanes` f32 lanes in the order of the llama.cpp build with that width: 16, GCC's
// _mm512_reduce_add_ps (halves, quarters, then (0+2)+(1+3)); 8, ggml's AVX reduction (halves, then
// two hadds: (0+1)+(2+3)).
float reduce_lanes(const float *a, int lanes) {
    float t8[8], t4[4];
    if (lanes == 16) {
        for (int l = 0; l < 8; ++l) t8[l] = a[l] + a[l + 8];
        a = t8;
    }
    for (int l = 0; l < 4; ++l) t4[l] = a[l] + a[l + 4];
    return lanes == 16 ? (t4[0] + t4[2]) + (t4[1] + t4[3]) : (t4[0] + t4[1]) + (t4[2] + t4[3]);
}

}  // namespace

float vec_dot_f32_ref(int64_t n, const float *x, const float *y, int lanes) {
    float sum[4][16] = {};
    const int64_t np = n - n % (4 * lanes);
    for (int64_t i = 0; i < np; i += 4 * lanes)
        for (int j = 0; j < 4; ++j)
            for (int l = 0; l < lanes; ++l) sum[j][l] = std::fma(x[i + j * lanes + l], y[i + j * lanes + l], sum[j][l]);
    for (int l = 0; l < lanes; ++l) {
        sum[0][l] += sum[2][l];
        sum[1][l] += sum[3][l];
        sum[0][l] += sum[1][l];
    }
    float total = reduce_lanes(sum[0], lanes);
    const int64_t group = lanes / 2, nr = n - (n - np) % group;
    for (int64_t i = np; i < nr; ++i) total = total + x[i] * y[i];
    for (int64_t i = nr; i < n; ++i) total = std::fma(x[i], y[i], total);
    return total;
}

float vec_dot_f32_sgemm_ref(int64_t n, const float *x, const float *y, int lanes) {
    float acc[16] = {};
    for (int64_t i = 0; i < n; i += lanes)
        for (int l = 0; l < lanes; ++l) acc[l] = std::fma(x[i + l], y[i + l], acc[l]);
    return reduce_lanes(acc, lanes);
}

float vec_dot_f16_ref(int64_t n, const uint16_t *x, const uint16_t *y) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(fp16_to_fp32(x[i]) * fp16_to_fp32(y[i]));
    return static_cast<float>(sum);
}

float vec_dot_bf16_ref(int64_t n, const uint16_t *x, const uint16_t *y) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(bf16_to_fp32(x[i]) * bf16_to_fp32(y[i]));
    return static_cast<float>(sum);
}

float vec_dot_q4_0_q8_0_ref(int64_t n, const block_q4_0 *x, const block_q8_0 *y) {
    float sum = 0.0f;
    for (int64_t b = 0; b < n / qk4_0; ++b) {
        int sumi = 0;
        for (int j = 0; j < qk4_0 / 2; ++j) {
            sumi += ((x[b].qs[j] & 0x0F) - 8) * y[b].qs[j];
            sumi += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + qk4_0 / 2];
        }
        sum += static_cast<float>(sumi) * (fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d));
    }
    return sum;
}

float vec_dot_q8_0_q8_0_ref(int64_t n, const block_q8_0 *x, const block_q8_0 *y) {
    float sum = 0.0f;
    for (int64_t b = 0; b < n / qk8_0; ++b) {
        int sumi = 0;
        for (int j = 0; j < qk8_0; ++j) sumi += x[b].qs[j] * y[b].qs[j];
        sum += static_cast<float>(sumi) * (fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d));
    }
    return sum;
}

float vec_dot_q4_K_q8_K_ref(int64_t n, const block_q4_K *x, const block_q8_K *y) {
    float sum = 0.0f;
    for (int64_t b = 0; b < n / qk_k; ++b) {
        const uint8_t *q = x[b].qs;
        const int8_t *a = y[b].qs;
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            get_scale_min_k4(j, x[b].scales, &sc, &m);
            const int shift = (j & 1) * 4;
            const uint8_t *qj = q + 32 * (j / 2);
            int dot = 0;
            for (int l = 0; l < 32; ++l) dot += ((qj[l] >> shift) & 0x0F) * a[32 * j + l];
            sumi += sc * dot;
            summ += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        }
        const float d = fp16_to_fp32(x[b].d) * y[b].d;
        const float dmin = fp16_to_fp32(x[b].dmin) * y[b].d;
        sum += d * static_cast<float>(sumi) - dmin * static_cast<float>(summ);
    }
    return sum;
}

float vec_dot_q4_0_q8_0_interleaved_ref(int64_t n, const block_q4_0 *x, const block_q8_0 *y) {
    float sum = 0.0f;
    for (int64_t b = 0; b < n / qk4_0; ++b) {
        int sumi = 0;
        for (int j = 0; j < qk4_0 / 2; ++j) {
            sumi += ((x[b].qs[j] & 0x0F) - 8) * y[b].qs[j];
            sumi += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + qk4_0 / 2];
        }
        sum = std::fma(static_cast<float>(sumi), fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d), sum);
    }
    return sum;
}

void pack_q4_0_x8(const void *w, size_t row_bytes, int64_t rows, int64_t cols, void *dst) {
    const int64_t nb = cols / qk4_0;
    auto *out = static_cast<block_q4_0x8 *>(dst);
    for (int64_t g = 0; g < rows / 8; ++g) {
        for (int r = 0; r < 8; ++r) {
            const auto *row =
                reinterpret_cast<const block_q4_0 *>(static_cast<const uint8_t *>(w) + (8 * g + r) * row_bytes);
            for (int64_t b = 0; b < nb; ++b) {
                out[g * nb + b].d[r] = row[b].d;
                std::memcpy(out[g * nb + b].qs + r * qk4_0 / 2, row[b].qs, qk4_0 / 2);
            }
        }
    }
}

void vec_dot_q4_0_x8_ref(int64_t n, const block_q4_0x8 *x, const block_q8_0 *y, float *out) {
    for (int r = 0; r < 8; ++r) {
        float sum = 0.0f;
        for (int64_t b = 0; b < n / qk4_0; ++b) {
            const uint8_t *qs = x[b].qs + r * qk4_0 / 2;
            int sumi = 0;
            for (int j = 0; j < qk4_0 / 2; ++j) {
                sumi += ((qs[j] & 0x0F) - 8) * y[b].qs[j];
                sumi += ((qs[j] >> 4) - 8) * y[b].qs[j + qk4_0 / 2];
            }
            sum = std::fma(static_cast<float>(sumi), fp16_to_fp32(x[b].d[r]) * fp16_to_fp32(y[b].d), sum);
        }
        out[r] = sum;
    }
}

float vec_dot_q4_K_q8_K_interleaved_ref(int64_t n, const block_q4_K *x, const block_q8_K *y) {
    float sum = 0.0f, sum_mins = 0.0f;
    for (int64_t b = 0; b < n / qk_k; ++b) {
        const uint8_t *q = x[b].qs;
        const int8_t *a = y[b].qs;
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            get_scale_min_k4(j, x[b].scales, &sc, &m);
            const int shift = (j & 1) * 4;
            const uint8_t *qj = q + 32 * (j / 2);
            int dot = 0;
            for (int l = 0; l < 32; ++l) dot += ((qj[l] >> shift) & 0x0F) * a[32 * j + l];
            sumi += sc * dot;
            summ += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        }
        sum = std::fma(static_cast<float>(sumi), fp16_to_fp32(x[b].d) * y[b].d, sum);
        sum_mins = std::fma(static_cast<float>(summ), fp16_to_fp32(x[b].dmin) * y[b].d, sum_mins);
    }
    return sum - sum_mins;
}

float vec_dot_q4_K_q8_K_interleaved_gemm_ref(int64_t n, const block_q4_K *x, const block_q8_K *y) {
    float sum = 0.0f, sum_mins = 0.0f;
    for (int64_t b = 0; b < n / qk_k; ++b) {
        const float d = fp16_to_fp32(x[b].d) * y[b].d, dmin = fp16_to_fp32(x[b].dmin) * y[b].d;
        for (int c = 0; c < 4; ++c) {
            int sumi = 0, summ = 0;
            for (int j = 2 * c; j < 2 * c + 2; ++j) {
                uint8_t sc, m;
                get_scale_min_k4(j, x[b].scales, &sc, &m);
                const int shift = (j & 1) * 4;
                int dot = 0;
                for (int l = 0; l < 32; ++l) dot += ((x[b].qs[32 * c + l] >> shift) & 0x0F) * y[b].qs[32 * j + l];
                sumi += sc * dot;
                summ += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
            }
            sum = std::fma(static_cast<float>(sumi), d, sum);
            sum_mins = std::fma(static_cast<float>(summ), dmin, sum_mins);
        }
    }
    return sum - sum_mins;
}

float vec_dot_q5_K_q8_K_ref(int64_t n, const block_q5_K *x, const block_q8_K *y) {
    float sum = 0.0f;
    for (int64_t b = 0; b < n / qk_k; ++b) {
        const int8_t *a = y[b].qs;
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            get_scale_min_k4(j, x[b].scales, &sc, &m);
            const int shift = (j & 1) * 4;
            const uint8_t *qj = x[b].qs + 32 * (j / 2);
            int dot = 0;
            for (int l = 0; l < 32; ++l) {
                const int q = ((qj[l] >> shift) & 0x0F) | (((x[b].qh[l] >> j) & 1) << 4);
                dot += q * a[32 * j + l];
            }
            sumi += sc * dot;
            summ += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        }
        const float d = fp16_to_fp32(x[b].d) * y[b].d;
        const float dmin = fp16_to_fp32(x[b].dmin) * y[b].d;
        sum += d * static_cast<float>(sumi) - dmin * static_cast<float>(summ);
    }
    return sum;
}

float vec_dot_q6_K_q8_K_ref(int64_t n, const block_q6_K *x, const block_q8_K *y) {
    float sum = 0.0f;
    for (int64_t b = 0; b < n / qk_k; ++b) {
        int sumi = 0;
        for (int h = 0; h < 2; ++h) {
            const uint8_t *ql = x[b].ql + 64 * h;
            const uint8_t *qh = x[b].qh + 32 * h;
            const int8_t *sc = x[b].scales + 8 * h;
            const int8_t *a = y[b].qs + 128 * h;
            for (int part = 0; part < 2; ++part) {  // 16-element sub-blocks l in [16·part, 16·part+16)
                int d1 = 0, d2 = 0, d3 = 0, d4 = 0;
                for (int l = 16 * part; l < 16 * part + 16; ++l) {
                    d1 += (((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32) * a[l];
                    d2 += (((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32) * a[l + 32];
                    d3 += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * a[l + 64];
                    d4 += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * a[l + 96];
                }
                sumi += sc[part] * d1 + sc[part + 2] * d2 + sc[part + 4] * d3 + sc[part + 6] * d4;
            }
        }
        sum += fp16_to_fp32(x[b].d) * y[b].d * static_cast<float>(sumi);
    }
    return sum;
}

}  // namespace abi::quant
