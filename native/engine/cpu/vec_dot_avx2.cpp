// AVX2/FMA dot products and activation quantizers. Integer kernels compute exactly the scalar
// reference's integer sums. The f32 steps are llama.cpp's (quant.hpp): where the reference takes
// them too (F32, the interleaved Q4_0/Q4_K orders) results are bit-identical to it; the plain
// quantized kernels take ggml's x86 AVX2 order, which their generic references do not.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "engine/cpu/kernels_avx2.hpp"

namespace abi::quant::avx2 {

namespace {

float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}

int hsum_i32_4(__m128i s) {
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}

float half(uint16_t h) {
    return _cvtsh_ss(h);
}

__m256i load32(const void *p) {
    return _mm256_loadu_si256(static_cast<const __m256i *>(p));
}

// 16 packed nibbles → 32 bytes: low nibbles in bytes 0..15, high nibbles in 16..31 (ggml order).
__m256i unpack_nibbles16(const uint8_t *p) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Prefetches what the tile after this one reads at step i: the `rows` rows that follow are
// contiguous, so touching `bytes_per_step` of them per step streams them in at the rate they are
// consumed, one tile ahead. Rows are a few KiB and the hardware prefetchers stop at each 4 KiB
// page, so without this every row stream restarts cold; on a 302 MB Q4_0 matrix it took
// single-thread matvec from ~6.4 to ~15 GB/s. Prefetches never fault past the end.
inline void prefetch_next(const uint8_t *tile_end, int64_t i, size_t bytes_per_step) {
    const char *next = reinterpret_cast<const char *>(tile_end) + static_cast<size_t>(i) * bytes_per_step;
    for (size_t off = 0; off < bytes_per_step; off += 64) _mm_prefetch(next + off, _MM_HINT_T0);
}

}  // namespace

template <int Lanes>
float vec_dot_f32_ggml(int64_t n, const void *w, const void *x) {
    const auto *a = static_cast<const float *>(w);
    const auto *b = static_cast<const float *>(x);
    constexpr int regs = Lanes / 8;
    // acc[j·regs + h]: register h of ggml's accumulator j
    __m256 acc[4 * regs];
    for (__m256 &r : acc) r = _mm256_setzero_ps();
    const int64_t np = n - n % (4 * Lanes);
    for (int64_t i = 0; i < np; i += 4 * Lanes)
        for (int j = 0; j < 4 * regs; ++j)
            acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8 * j), _mm256_loadu_ps(b + i + 8 * j), acc[j]);
    __m128 total;
    if constexpr (Lanes == 16) {
        const __m256 lo = _mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6]));
        const __m256 hi = _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7]));
        total = _mm_set_ss(hsum(_mm256_add_ps(lo, hi)));
    } else {
        const __m256 v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
        const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        const __m128 t1 = _mm_hadd_ps(t0, t0);
        total = _mm_hadd_ps(t1, t1);
    }
    // the tail: rounded products added one by one (scalar intrinsics, so nothing gets fused), then fma
    const int64_t nr = n - (n - np) % (Lanes / 2);
    for (int64_t i = np; i < nr; ++i) total = _mm_add_ss(total, _mm_mul_ss(_mm_load_ss(a + i), _mm_load_ss(b + i)));
    for (int64_t i = nr; i < n; ++i) total = _mm_fmadd_ss(_mm_load_ss(a + i), _mm_load_ss(b + i), total);
    return _mm_cvtss_f32(total);
}

template <int Lanes>
float vec_dot_f32_sgemm(int64_t n, const void *w, const void *x) {
    const auto *a = static_cast<const float *>(w);
    const auto *b = static_cast<const float *>(x);
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += Lanes) {
        lo = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), lo);
        if constexpr (Lanes == 16) hi = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), hi);
    }
    return hsum(Lanes == 16 ? _mm256_add_ps(lo, hi) : lo);
}

template float vec_dot_f32_ggml<8>(int64_t, const void *, const void *);
template float vec_dot_f32_ggml<16>(int64_t, const void *, const void *);
template float vec_dot_f32_sgemm<8>(int64_t, const void *, const void *);
template float vec_dot_f32_sgemm<16>(int64_t, const void *, const void *);

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

namespace {

// An R-row × V-vector tile of products against Q8_0 activations (vector v at x + v·x_stride):
// out[v·out_stride + r]. Each (row, vector) pair keeps its own accumulator and sees the same
// operation sequence whatever R and V are, so results never depend on how matvec/matmul group
// rows and vectors (or split them across threads). Activation blocks are loaded once per tile
// row group and weight blocks once per vector group.
template <int R, int V>
void tile_q8_0_q8_0(int64_t n, const uint8_t *w, size_t row_bytes, const uint8_t *x, size_t x_stride, float *out,
                    int64_t out_stride) {
    __m256 acc[V][R];
    for (int v = 0; v < V; ++v) {
        for (int r = 0; r < R; ++r) acc[v][r] = _mm256_setzero_ps();
    }
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / qk8_0; ++i) {
        __m256i qy[V];
        float dy[V];
        for (int v = 0; v < V; ++v) {
            const block_q8_0 *yb = reinterpret_cast<const block_q8_0 *>(x + v * x_stride) + i;
            qy[v] = load32(yb->qs);
            dy[v] = half(yb->d);
        }
        prefetch_next(w + R * row_bytes, i, R * sizeof(block_q8_0));
        for (int r = 0; r < R; ++r) {
            const auto *blk = reinterpret_cast<const block_q8_0 *>(w + r * row_bytes) + i;
            // Σ x·y = Σ |x|·(y·sign x): maddubs wants an unsigned operand. |x| is taken on the weight
            // side, where −128 (possible in files from other tools) still reads correctly as 128;
            // the activation is never −128 (the quantizer clamps to ±127).
            const __m256i qx = load32(blk->qs);
            const __m256i qx_abs = _mm256_sign_epi8(qx, qx);
            const float dx = half(blk->d);
            for (int v = 0; v < V; ++v) {
                const __m256i prod = _mm256_maddubs_epi16(qx_abs, _mm256_sign_epi8(qy[v], qx));
                const __m256i sum = _mm256_madd_epi16(prod, ones);
                acc[v][r] = _mm256_fmadd_ps(_mm256_set1_ps(dx * dy[v]), _mm256_cvtepi32_ps(sum), acc[v][r]);
            }
        }
    }
    for (int v = 0; v < V; ++v) {
        for (int r = 0; r < R; ++r) out[v * out_stride + r] = hsum(acc[v][r]);
    }
}

// As tile_q8_0_q8_0 for Q4_0 weights. The nibbles stay unsigned (0..15) so maddubs takes them
// directly; Σ (q − 8)·y = Σ q·y − Σ 8·y, and the second term is computed once per activation block.
template <int R, int V>
void tile_q4_0_q8_0(int64_t n, const uint8_t *w, size_t row_bytes, const uint8_t *x, size_t x_stride, float *out,
                    int64_t out_stride) {
    __m256 acc[V][R];
    for (int v = 0; v < V; ++v) {
        for (int r = 0; r < R; ++r) acc[v][r] = _mm256_setzero_ps();
    }
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i eight = _mm256_set1_epi8(8);
    for (int64_t i = 0; i < n / qk4_0; ++i) {
        __m256i qy[V], offset[V];
        float dy[V];
        for (int v = 0; v < V; ++v) {
            const block_q8_0 *yb = reinterpret_cast<const block_q8_0 *>(x + v * x_stride) + i;
            qy[v] = load32(yb->qs);
            offset[v] = _mm256_maddubs_epi16(eight, qy[v]);
            dy[v] = half(yb->d);
        }
        prefetch_next(w + R * row_bytes, i, R * sizeof(block_q4_0));
        for (int r = 0; r < R; ++r) {
            const auto *blk = reinterpret_cast<const block_q4_0 *>(w + r * row_bytes) + i;
            const __m256i q = unpack_nibbles16(blk->qs);
            const float dx = half(blk->d);
            for (int v = 0; v < V; ++v) {
                const __m256i prod = _mm256_sub_epi16(_mm256_maddubs_epi16(q, qy[v]), offset[v]);
                const __m256i sum = _mm256_madd_epi16(prod, ones);
                acc[v][r] = _mm256_fmadd_ps(_mm256_set1_ps(dx * dy[v]), _mm256_cvtepi32_ps(sum), acc[v][r]);
            }
        }
    }
    for (int v = 0; v < V; ++v) {
        for (int r = 0; r < R; ++r) out[v * out_stride + r] = hsum(acc[v][r]);
    }
}

// Q4_0 in ggml's interleaved order (quant.hpp): R rows (1 or 8) × V activations. Each row's exact
// block sum times (d_w·d_x) goes into its own f32 lane by one fused multiply-add per block, as in
// ggml's repacked gemv; with 8 rows the 8 sums share one vector, reduced pairwise as the rows come
// (hadd of row pairs, then of pair pairs) so only a few registers stay live per vector.
template <int R, int V>
void tile_q4_0_q8_0_interleaved(int64_t n, const uint8_t *w, size_t row_bytes, const uint8_t *x, size_t x_stride,
                                float *out, int64_t out_stride) {
    static_assert(R == 1 || R == 8, "one row, or eight rows in one vector");
    __m256 acc[V];
    for (int v = 0; v < V; ++v) acc[v] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i eight = _mm256_set1_epi8(8);
    for (int64_t i = 0; i < n / qk4_0; ++i) {
        __m256i qy[V], offset[V];
        __m256 dy[V];
        for (int v = 0; v < V; ++v) {
            const block_q8_0 *yb = reinterpret_cast<const block_q8_0 *>(x + v * x_stride) + i;
            qy[v] = load32(yb->qs);
            offset[v] = _mm256_maddubs_epi16(eight, qy[v]);
            dy[v] = _mm256_set1_ps(half(yb->d));
        }
        prefetch_next(w + R * row_bytes, i, R * sizeof(block_q4_0));
        auto row_sum = [&](int v, const __m256i &q) {
            return _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(q, qy[v]), offset[v]), ones);
        };
        auto block = [&](int r) { return reinterpret_cast<const block_q4_0 *>(w + r * row_bytes) + i; };
        __m256i total[V];
        uint16_t dw[8] = {};
        if constexpr (R == 8) {
            __m256i pairs[V][2], quads[V][2];
            for (int p = 0; p < 4; ++p) {
                const __m256i q0 = unpack_nibbles16(block(2 * p)->qs), q1 = unpack_nibbles16(block(2 * p + 1)->qs);
                dw[2 * p] = block(2 * p)->d;
                dw[2 * p + 1] = block(2 * p + 1)->d;
                for (int v = 0; v < V; ++v) {
                    pairs[v][p & 1] = _mm256_hadd_epi32(row_sum(v, q0), row_sum(v, q1));
                    if (p & 1) quads[v][p >> 1] = _mm256_hadd_epi32(pairs[v][0], pairs[v][1]);
                }
            }
            // quads: lanes 0-3 the low-half sums of rows 0-3 (4-7), lanes 4-7 their high-half sums
            for (int v = 0; v < V; ++v) {
                total[v] = _mm256_add_epi32(_mm256_permute2x128_si256(quads[v][0], quads[v][1], 0x20),
                                            _mm256_permute2x128_si256(quads[v][0], quads[v][1], 0x31));
            }
        } else {
            const __m256i q = unpack_nibbles16(block(0)->qs);
            dw[0] = block(0)->d;
            for (int v = 0; v < V; ++v) total[v] = _mm256_set1_epi32(hsum_i32(row_sum(v, q)));
        }
        const __m256 dwv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(dw)));
        for (int v = 0; v < V; ++v) {
            acc[v] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total[v]), _mm256_mul_ps(dwv, dy[v]), acc[v]);
        }
    }
    for (int v = 0; v < V; ++v) {
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, acc[v]);
        for (int r = 0; r < R; ++r) out[v * out_stride + r] = lanes[r];
    }
}

// The packed counterpart of tile_q4_0_q8_0_interleaved<8, V>: the eight rows' blocks sit side by
// side, so the group streams linearly and the next blocks are prefetched a group-block ahead.
template <int V>
void tile_q4_0_x8(int64_t n, const block_q4_0x8 *g, const uint8_t *x, size_t x_stride, float *out, int64_t out_stride) {
    __m256 acc[V];
    for (int v = 0; v < V; ++v) acc[v] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i eight = _mm256_set1_epi8(8);
    for (int64_t i = 0; i < n / qk4_0; ++i) {
        const char *ahead = reinterpret_cast<const char *>(g + i + 8);
        for (size_t off = 0; off < sizeof(block_q4_0x8); off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
        __m256i qy[V], offset[V];
        __m256 dy[V];
        for (int v = 0; v < V; ++v) {
            const block_q8_0 *yb = reinterpret_cast<const block_q8_0 *>(x + v * x_stride) + i;
            qy[v] = load32(yb->qs);
            offset[v] = _mm256_maddubs_epi16(eight, qy[v]);
            dy[v] = _mm256_set1_ps(half(yb->d));
        }
        auto row_sum = [&](int v, const __m256i &q) {
            return _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(q, qy[v]), offset[v]), ones);
        };
        __m256i pairs[V][2], quads[V][2];
        for (int p = 0; p < 4; ++p) {
            const __m256i q0 = unpack_nibbles16(g[i].qs + 32 * p), q1 = unpack_nibbles16(g[i].qs + 32 * p + 16);
            for (int v = 0; v < V; ++v) {
                pairs[v][p & 1] = _mm256_hadd_epi32(row_sum(v, q0), row_sum(v, q1));
                if (p & 1) quads[v][p >> 1] = _mm256_hadd_epi32(pairs[v][0], pairs[v][1]);
            }
        }
        const __m256 dwv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(g[i].d)));
        for (int v = 0; v < V; ++v) {
            const __m256i total = _mm256_add_epi32(_mm256_permute2x128_si256(quads[v][0], quads[v][1], 0x20),
                                                   _mm256_permute2x128_si256(quads[v][0], quads[v][1], 0x31));
            acc[v] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(dwv, dy[v]), acc[v]);
        }
    }
    for (int v = 0; v < V; ++v) _mm256_storeu_ps(out + v * out_stride, acc[v]);
}

}  // namespace

void vec_dot_q4_0_x8_1(int64_t n, const void *group, const void *x, size_t x_stride, float *out, int64_t out_stride) {
    tile_q4_0_x8<1>(n, static_cast<const block_q4_0x8 *>(group), static_cast<const uint8_t *>(x), x_stride, out,
                    out_stride);
}

void vec_dot_q4_0_x8_2(int64_t n, const void *group, const void *x, size_t x_stride, float *out, int64_t out_stride) {
    tile_q4_0_x8<2>(n, static_cast<const block_q4_0x8 *>(group), static_cast<const uint8_t *>(x), x_stride, out,
                    out_stride);
}

float vec_dot_q8_0_q8_0(int64_t n, const void *w, const void *x) {
    float out;
    tile_q8_0_q8_0<1, 1>(n, static_cast<const uint8_t *>(w), 0, static_cast<const uint8_t *>(x), 0, &out, 0);
    return out;
}

float vec_dot_q4_0_q8_0(int64_t n, const void *w, const void *x) {
    float out;
    tile_q4_0_q8_0<1, 1>(n, static_cast<const uint8_t *>(w), 0, static_cast<const uint8_t *>(x), 0, &out, 0);
    return out;
}

float vec_dot_q4_0_q8_0_interleaved(int64_t n, const void *w, const void *x) {
    float out;
    tile_q4_0_q8_0_interleaved<1, 1>(n, static_cast<const uint8_t *>(w), 0, static_cast<const uint8_t *>(x), 0, &out,
                                     0);
    return out;
}

void vec_dot_q4_0_q8_0_interleaved_8x1(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride,
                                       float *out, int64_t out_stride) {
    tile_q4_0_q8_0_interleaved<8, 1>(n, static_cast<const uint8_t *>(w), row_bytes, static_cast<const uint8_t *>(x),
                                     x_stride, out, out_stride);
}

void vec_dot_q4_0_q8_0_interleaved_8x2(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride,
                                       float *out, int64_t out_stride) {
    tile_q4_0_q8_0_interleaved<8, 2>(n, static_cast<const uint8_t *>(w), row_bytes, static_cast<const uint8_t *>(x),
                                     x_stride, out, out_stride);
}

void vec_dot_q8_0_q8_0_4x2(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride, float *out,
                           int64_t out_stride) {
    tile_q8_0_q8_0<4, 2>(n, static_cast<const uint8_t *>(w), row_bytes, static_cast<const uint8_t *>(x), x_stride, out,
                         out_stride);
}

void vec_dot_q4_0_q8_0_4x1(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride, float *out,
                           int64_t out_stride) {
    tile_q4_0_q8_0<4, 1>(n, static_cast<const uint8_t *>(w), row_bytes, static_cast<const uint8_t *>(x), x_stride, out,
                         out_stride);
}

void vec_dot_q4_0_q8_0_4x2(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride, float *out,
                           int64_t out_stride) {
    tile_q4_0_q8_0<4, 2>(n, static_cast<const uint8_t *>(w), row_bytes, static_cast<const uint8_t *>(x), x_stride, out,
                         out_stride);
}

namespace {

// Q4_K/Q5_K scales[12] → 16 bytes: the 8 six-bit scales, then the 8 six-bit mins (the same
// unpacking as get_scale_min_k4, done four sub-blocks at a time on 32-bit words).
__m128i unpack_scales_mins(const uint8_t *packed) {
    constexpr uint32_t low6 = 0x3F3F3F3F, low4 = 0x0F0F0F0F, low2 = 0x03030303;
    uint32_t w[3];
    std::memcpy(w, packed, sizeof w);
    const uint32_t scales_lo = w[0] & low6;                                       // sc 0..3
    const uint32_t scales_hi = (w[2] & low4) | (((w[0] >> 6) & low2) << 4);       // sc 4..7
    const uint32_t mins_lo = w[1] & low6;                                         // m 0..3
    const uint32_t mins_hi = ((w[2] >> 4) & low4) | (((w[1] >> 6) & low2) << 4);  // m 4..7
    return _mm_set_epi32(static_cast<int>(mins_hi), static_cast<int>(mins_lo), static_cast<int>(scales_hi),
                         static_cast<int>(scales_lo));
}

// Byte-shuffle masks that broadcast i16 element j of each 128-bit lane to the whole lane.
__m256i broadcast_i16_mask(int j) {
    return _mm256_set1_epi16(static_cast<short>((2 * j) | ((2 * j + 1) << 8)));
}

// Σ_j mins[j] · (bsums[2j] + bsums[2j+1]) as 4 i32 lanes (mins: 8 i16).
__m128i k_min_products(__m128i mins16, const int16_t *bsums) {
    const __m256i sums = load32(bsums);
    const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
    return _mm_madd_epi16(mins16, pairs);
}

// The f32 steps a Q4_K/Q5_K dot product takes, after ggml's x86 kernels (quant.hpp):
//   vec_dot_q4_K: scales·quants in one 8-lane accumulator, the mins term (factor −y.d·dmin) in a
//                 4-lane one, both reduced and added at the end;
//   vec_dot_q5_K: the same, but the mins term summed in a scalar;
//   gemv:         ggml's repacked Q4_K for one activation row: per super-block, the exact integer
//                 sums times (d·y.d) and (dmin·y.d) into two scalars, subtracted at the end;
//   gemm:         the same for rows in groups of four, per 64-element chunk instead of per block.
enum class k_order { vec_dot_q4_K, vec_dot_q5_K, gemv, gemm };

// One weight row × V activations (x + v·x_stride) for Q4_K/Q5_K: `quants(block, c, lo, hi)` yields
// chunk c's two 32-element sub-blocks as unsigned bytes, unpacked once for all V vectors. Each
// vector's result is bit-identical to the V = 1 kernel (same operations, own accumulators).
template <int V, typename Block, typename Quants>
void tile_k_4_5(int64_t n, const Block *a, const uint8_t *x, size_t x_stride, float *out, int64_t out_stride,
                Quants quants) {
    constexpr k_order order = Quants::order;
    __m256 acc[V];
    __m128 acc_m[V];
    float sum[V], sum_m[V];
    for (int v = 0; v < V; ++v) {
        acc[v] = _mm256_setzero_ps();
        acc_m[v] = _mm_setzero_ps();
        sum[v] = 0.0f;
        sum_m[v] = 0.0f;
    }
    for (int64_t i = 0; i < n / qk_k; ++i) {
        const block_q8_K *yb[V];
        for (int v = 0; v < V; ++v) yb[v] = reinterpret_cast<const block_q8_K *>(x + v * x_stride) + i;
        const __m256i sm16 = _mm256_cvtepu8_epi16(unpack_scales_mins(a[i].scales));
        const __m128i mins = _mm256_extracti128_si256(sm16, 1);
        const __m256i scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm16));
        const float d = half(a[i].d), dmin = half(a[i].dmin);
        const __m128 d_dmin = _mm_setr_ps(d, dmin, 0.0f, 0.0f);
        // lane c: the mins term of chunk c (sub-blocks 2c, 2c+1)
        __m128i prod[V];
        alignas(16) int mins_c[V][4];
        for (int v = 0; v < V; ++v) {
            prod[v] = k_min_products(mins, yb[v]->bsums);
            if constexpr (order == k_order::gemm) _mm_store_si128(reinterpret_cast<__m128i *>(mins_c[v]), prod[v]);
        }
        __m256i sumi[V];
        for (int v = 0; v < V; ++v) sumi[v] = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            __m256i q_lo, q_hi;
            quants(a[i], c, &q_lo, &q_hi);
            const __m256i s_lo = _mm256_shuffle_epi8(scales, broadcast_i16_mask(2 * c));
            const __m256i s_hi = _mm256_shuffle_epi8(scales, broadcast_i16_mask(2 * c + 1));
            for (int v = 0; v < V; ++v) {
                const __m256i p_lo = _mm256_maddubs_epi16(q_lo, load32(yb[v]->qs + 64 * c));
                const __m256i p_hi = _mm256_maddubs_epi16(q_hi, load32(yb[v]->qs + 64 * c + 32));
                const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(p_lo, s_lo), _mm256_madd_epi16(p_hi, s_hi));
                if constexpr (order == k_order::gemm) {
                    sum[v] = std::fma(static_cast<float>(hsum_i32(s)), d * yb[v]->d, sum[v]);
                    sum_m[v] = std::fma(static_cast<float>(mins_c[v][c]), dmin * yb[v]->d, sum_m[v]);
                } else {
                    sumi[v] = _mm256_add_epi32(sumi[v], s);
                }
            }
        }
        for (int v = 0; v < V; ++v) {
            if constexpr (order == k_order::gemv) {
                // lanes 0 and 1: Σ scales·quants and Σ mins terms, each times its scale in one fma
                const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sumi[v]), _mm256_extracti128_si256(sumi[v], 1));
                const __m128i both = _mm_hadd_epi32(_mm_hadd_epi32(s4, prod[v]), _mm_setzero_si128());
                const __m128 scales2 = _mm_mul_ps(d_dmin, _mm_set1_ps(yb[v]->d));
                acc_m[v] = _mm_fmadd_ps(_mm_cvtepi32_ps(both), scales2, acc_m[v]);
            } else if constexpr (order == k_order::vec_dot_q5_K) {
                sum_m[v] = std::fma(-yb[v]->d * dmin, static_cast<float>(hsum_i32_4(prod[v])), sum_m[v]);
            } else if constexpr (order == k_order::vec_dot_q4_K) {
                acc_m[v] = _mm_fmadd_ps(_mm_set1_ps(-yb[v]->d * dmin), _mm_cvtepi32_ps(prod[v]), acc_m[v]);
            }
            if constexpr (order == k_order::vec_dot_q4_K || order == k_order::vec_dot_q5_K) {
                acc[v] = _mm256_fmadd_ps(_mm256_set1_ps(yb[v]->d * d), _mm256_cvtepi32_ps(sumi[v]), acc[v]);
            }
        }
    }
    for (int v = 0; v < V; ++v) {
        if constexpr (order == k_order::gemv) {
            out[v * out_stride] = _mm_cvtss_f32(acc_m[v]) - _mm_cvtss_f32(_mm_shuffle_ps(acc_m[v], acc_m[v], 1));
        } else if constexpr (order == k_order::gemm) {
            out[v * out_stride] = sum[v] - sum_m[v];
        } else if constexpr (order == k_order::vec_dot_q5_K) {
            out[v * out_stride] = hsum(acc[v]) + sum_m[v];
        } else {
            __m128 m = _mm_add_ps(acc_m[v], _mm_movehl_ps(acc_m[v], acc_m[v]));
            m = _mm_add_ss(m, _mm_movehdup_ps(m));
            out[v * out_stride] = hsum(acc[v]) + _mm_cvtss_f32(m);
        }
    }
}

struct q4_K_quants {
    static constexpr k_order order = k_order::vec_dot_q4_K;
    __m256i low4 = _mm256_set1_epi8(0x0F);
    void operator()(const block_q4_K &blk, int c, __m256i *lo, __m256i *hi) const {
        const __m256i q = load32(blk.qs + 32 * c);
        *lo = _mm256_and_si256(q, low4);
        *hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    }
};

struct q4_K_gemv_quants : q4_K_quants {
    static constexpr k_order order = k_order::gemv;
};

struct q4_K_gemm_quants : q4_K_quants {
    static constexpr k_order order = k_order::gemm;
};

struct q5_K_quants {
    static constexpr k_order order = k_order::vec_dot_q5_K;
    __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256i bit4 = _mm256_set1_epi8(0x10);
    void operator()(const block_q5_K &blk, int c, __m256i *lo, __m256i *hi) const {
        const __m256i q = load32(blk.qs + 32 * c);
        // bits 2c and 2c+1 of each qh byte moved to bit 4; after the 16-bit shifts the 0x10 mask
        // keeps only bits that came from the same byte
        const __m256i h = _mm256_srl_epi16(load32(blk.qh), _mm_cvtsi32_si128(2 * c));
        *lo = _mm256_or_si256(_mm256_and_si256(q, low4), _mm256_and_si256(_mm256_slli_epi16(h, 4), bit4));
        *hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4),
                              _mm256_and_si256(_mm256_slli_epi16(h, 3), bit4));
    }
};

// One Q6_K weight row × V activations, each 64-element group unpacked once for all vectors.
template <int V>
void tile_q6_K(int64_t n, const block_q6_K *a, const uint8_t *x, size_t x_stride, float *out, int64_t out_stride) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    // scale pair (2k, 2k+1) of an 8-scale group: low lane gets scale 2k, high lane 2k+1
    auto pair_mask = [](int k) {
        const short lo = static_cast<short>((4 * k) | ((4 * k + 1) << 8));
        const short hi = static_cast<short>((4 * k + 2) | ((4 * k + 3) << 8));
        return _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo));
    };
    const __m256i masks[4] = {pair_mask(0), pair_mask(1), pair_mask(2), pair_mask(3)};
    // Unsigned q (0..63) times y, scaled; i16 lanes 0..7 are elements 0..15 of the 32 (first scale),
    // lanes 8..15 elements 16..31. The −32 offset is taken off once per block as 32·Σ scale·bsum,
    // lane by lane as ggml's x86 kernel does, so every i32 lane holds the same integer as there.
    auto dot_scaled = [&](__m256i q, const int8_t *y, __m256i scales) {
        return _mm256_madd_epi16(_mm256_maddubs_epi16(q, load32(y)), scales);
    };
    __m256 acc[V];
    for (int v = 0; v < V; ++v) acc[v] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / qk_k; ++i) {
        const block_q8_K *yb[V];
        for (int v = 0; v < V; ++v) yb[v] = reinterpret_cast<const block_q8_K *>(x + v * x_stride) + i;
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(a[i].scales)));
        __m256i sumi[V];
        for (int v = 0; v < V; ++v) sumi[v] = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i group =
                h == 0 ? _mm256_permute2x128_si256(sc16, sc16, 0x00) : _mm256_permute2x128_si256(sc16, sc16, 0x11);
            const uint8_t *ql = a[i].ql + 64 * h;
            const __m256i qh = load32(a[i].qh + 32 * h);
            const __m256i l0 = load32(ql), l1 = load32(ql + 32);
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45)),
                _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), _mm256_and_si256(qh, bits45)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45)),
            };
            for (int k = 0; k < 4; ++k) {
                const __m256i scales = _mm256_shuffle_epi8(group, masks[k]);
                for (int v = 0; v < V; ++v) {
                    sumi[v] = _mm256_add_epi32(sumi[v], dot_scaled(q[k], yb[v]->qs + 128 * h + 32 * k, scales));
                }
            }
        }
        const float d = half(a[i].d);
        for (int v = 0; v < V; ++v) {
            const __m256i offsets = _mm256_slli_epi32(_mm256_madd_epi16(load32(yb[v]->bsums), sc16), 5);
            acc[v] = _mm256_fmadd_ps(_mm256_set1_ps(yb[v]->d * d),
                                     _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[v], offsets)), acc[v]);
        }
    }
    for (int v = 0; v < V; ++v) out[v * out_stride] = hsum(acc[v]);
}

}  // namespace

float vec_dot_q4_K_q8_K(int64_t n, const void *w, const void *x) {
    float out;
    tile_k_4_5<1>(n, static_cast<const block_q4_K *>(w), static_cast<const uint8_t *>(x), 0, &out, 0, q4_K_quants{});
    return out;
}

float vec_dot_q4_K_q8_K_interleaved(int64_t n, const void *w, const void *x) {
    float out;
    tile_k_4_5<1>(n, static_cast<const block_q4_K *>(w), static_cast<const uint8_t *>(x), 0, &out, 0,
                  q4_K_gemv_quants{});
    return out;
}

void vec_dot_q4_K_q8_K_interleaved_1x4(int64_t n, const void *w, size_t, const void *x, size_t x_stride, float *out,
                                       int64_t out_stride) {
    tile_k_4_5<4>(n, static_cast<const block_q4_K *>(w), static_cast<const uint8_t *>(x), x_stride, out, out_stride,
                  q4_K_gemv_quants{});
}

float vec_dot_q4_K_q8_K_interleaved_gemm(int64_t n, const void *w, const void *x) {
    float out;
    tile_k_4_5<1>(n, static_cast<const block_q4_K *>(w), static_cast<const uint8_t *>(x), 0, &out, 0,
                  q4_K_gemm_quants{});
    return out;
}

void vec_dot_q4_K_q8_K_interleaved_gemm_1x4(int64_t n, const void *w, size_t, const void *x, size_t x_stride,
                                            float *out, int64_t out_stride) {
    tile_k_4_5<4>(n, static_cast<const block_q4_K *>(w), static_cast<const uint8_t *>(x), x_stride, out, out_stride,
                  q4_K_gemm_quants{});
}

float vec_dot_q5_K_q8_K(int64_t n, const void *w, const void *x) {
    float out;
    tile_k_4_5<1>(n, static_cast<const block_q5_K *>(w), static_cast<const uint8_t *>(x), 0, &out, 0, q5_K_quants{});
    return out;
}

float vec_dot_q6_K_q8_K(int64_t n, const void *w, const void *x) {
    float out;
    tile_q6_K<1>(n, static_cast<const block_q6_K *>(w), static_cast<const uint8_t *>(x), 0, &out, 0);
    return out;
}

void vec_dot_q4_K_q8_K_1x4(int64_t n, const void *w, size_t, const void *x, size_t x_stride, float *out,
                           int64_t out_stride) {
    tile_k_4_5<4>(n, static_cast<const block_q4_K *>(w), static_cast<const uint8_t *>(x), x_stride, out, out_stride,
                  q4_K_quants{});
}

void vec_dot_q5_K_q8_K_1x4(int64_t n, const void *w, size_t, const void *x, size_t x_stride, float *out,
                           int64_t out_stride) {
    tile_k_4_5<4>(n, static_cast<const block_q5_K *>(w), static_cast<const uint8_t *>(x), x_stride, out, out_stride,
                  q5_K_quants{});
}

void vec_dot_q6_K_q8_K_1x4(int64_t n, const void *w, size_t, const void *x, size_t x_stride, float *out,
                           int64_t out_stride) {
    tile_q6_K<4>(n, static_cast<const block_q6_K *>(w), static_cast<const uint8_t *>(x), x_stride, out, out_stride);
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
