// Picks scalar or AVX2 kernels per call; the CPUID check and ABI_FORCE_SCALAR are read once.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "engine/cpu/kernels_avx2.hpp"
#include "engine/quant/quant.hpp"

namespace abi::quant {

namespace {

// Adapters from the typed scalar references to the untyped vec_dot_fn signature.
template <int Lanes>
float ref_f32(int64_t n, const void *w, const void *x) {
    return vec_dot_f32_ref(n, static_cast<const float *>(w), static_cast<const float *>(x), Lanes);
}
template <int Lanes>
float ref_f32_sgemm(int64_t n, const void *w, const void *x) {
    return vec_dot_f32_sgemm_ref(n, static_cast<const float *>(w), static_cast<const float *>(x), Lanes);
}
float ref_f16(int64_t n, const void *w, const void *x) {
    return vec_dot_f16_ref(n, static_cast<const uint16_t *>(w), static_cast<const uint16_t *>(x));
}
float ref_bf16(int64_t n, const void *w, const void *x) {
    return vec_dot_bf16_ref(n, static_cast<const uint16_t *>(w), static_cast<const uint16_t *>(x));
}
float ref_q4_0(int64_t n, const void *w, const void *x) {
    return vec_dot_q4_0_q8_0_ref(n, static_cast<const block_q4_0 *>(w), static_cast<const block_q8_0 *>(x));
}
float ref_q8_0(int64_t n, const void *w, const void *x) {
    return vec_dot_q8_0_q8_0_ref(n, static_cast<const block_q8_0 *>(w), static_cast<const block_q8_0 *>(x));
}
float ref_q4_K(int64_t n, const void *w, const void *x) {
    return vec_dot_q4_K_q8_K_ref(n, static_cast<const block_q4_K *>(w), static_cast<const block_q8_K *>(x));
}
float ref_q5_K(int64_t n, const void *w, const void *x) {
    return vec_dot_q5_K_q8_K_ref(n, static_cast<const block_q5_K *>(w), static_cast<const block_q8_K *>(x));
}
float ref_q6_K(int64_t n, const void *w, const void *x) {
    return vec_dot_q6_K_q8_K_ref(n, static_cast<const block_q6_K *>(w), static_cast<const block_q8_K *>(x));
}

float ref_q4_0_interleaved(int64_t n, const void *w, const void *x) {
    return vec_dot_q4_0_q8_0_interleaved_ref(n, static_cast<const block_q4_0 *>(w), static_cast<const block_q8_0 *>(x));
}
float ref_q4_K_interleaved(int64_t n, const void *w, const void *x) {
    return vec_dot_q4_K_q8_K_interleaved_ref(n, static_cast<const block_q4_K *>(w), static_cast<const block_q8_K *>(x));
}
float ref_q4_K_interleaved_gemm(int64_t n, const void *w, const void *x) {
    return vec_dot_q4_K_q8_K_interleaved_gemm_ref(n, static_cast<const block_q4_K *>(w),
                                                  static_cast<const block_q8_K *>(x));
}

vec_dot_fn scalar_vec_dot(ggml_type type) {
    switch (type) {
        case ggml_type::F32:
            return ggml_vector_lanes() == 16 ? ref_f32<16> : ref_f32<8>;
        case ggml_type::F16:
            return ref_f16;
        case ggml_type::BF16:
            return ref_bf16;
        case ggml_type::Q4_0:
            return ref_q4_0;
        case ggml_type::Q8_0:
            return ref_q8_0;
        case ggml_type::Q4_K:
            return ref_q4_K;
        case ggml_type::Q5_K:
            return ref_q5_K;
        case ggml_type::Q6_K:
            return ref_q6_K;
        default:
            return nullptr;
    }
}

vec_dot_fn avx2_vec_dot(ggml_type type) {
    switch (type) {
        case ggml_type::F32:
            return ggml_vector_lanes() == 16 ? avx2::vec_dot_f32_ggml<16> : avx2::vec_dot_f32_ggml<8>;
        case ggml_type::F16:
            return avx2::vec_dot_f16;
        case ggml_type::BF16:
            return avx2::vec_dot_bf16;
        case ggml_type::Q4_0:
            return avx2::vec_dot_q4_0_q8_0;
        case ggml_type::Q8_0:
            return avx2::vec_dot_q8_0_q8_0;
        case ggml_type::Q4_K:
            return avx2::vec_dot_q4_K_q8_K;
        case ggml_type::Q5_K:
            return avx2::vec_dot_q5_K_q8_K;
        case ggml_type::Q6_K:
            return avx2::vec_dot_q6_K_q8_K;
        default:
            return nullptr;
    }
}

// A tile kernel computes rows × vecs products at once (see kernels_avx2.hpp).
struct tile_kernel {
    int rows = 0;
    int vecs = 0;
    avx2::vec_dot_tile_fn fn = nullptr;
};

// For one vector (matvec) and for several (matmul): tiles share each loaded activation block
// across rows and each unpacked weight block across vectors.
struct tile_kernels {
    tile_kernel one_vector;
    tile_kernel many_vectors;
};

tile_kernels avx2_tiles(ggml_type type) {
    switch (type) {
        case ggml_type::Q4_0:
            return {{4, 1, avx2::vec_dot_q4_0_q8_0_4x1}, {4, 2, avx2::vec_dot_q4_0_q8_0_4x2}};
        case ggml_type::Q8_0:
            // matvec stays one row at a time: Q8_0 rows are long enough that a single stream
            // from DRAM beat the 4-row tile (15.3 vs 12.3-13.4 GB/s, 302 MB matrix, one thread)
            return {{}, {4, 2, avx2::vec_dot_q8_0_q8_0_4x2}};
        case ggml_type::Q4_K:
            return {{}, {1, 4, avx2::vec_dot_q4_K_q8_K_1x4}};
        case ggml_type::Q5_K:
            return {{}, {1, 4, avx2::vec_dot_q5_K_q8_K_1x4}};
        case ggml_type::Q6_K:
            return {{}, {1, 4, avx2::vec_dot_q6_K_q8_K_1x4}};
        default:
            return {};
    }
}

tile_kernels avx2_interleaved_tiles(ggml_type type, bool gemm) {
    switch (type) {
        case ggml_type::Q4_0:
            return {{8, 1, avx2::vec_dot_q4_0_q8_0_interleaved_8x1}, {8, 2, avx2::vec_dot_q4_0_q8_0_interleaved_8x2}};
        case ggml_type::Q4_K:
            return {
                {},
                {1, 4, gemm ? avx2::vec_dot_q4_K_q8_K_interleaved_gemm_1x4 : avx2::vec_dot_q4_K_q8_K_interleaved_1x4}};
        default:
            return {};
    }
}

// The single-row kernel and the tiles for a `rows`-row matrix of `type`: the interleaved order
// where llama.cpp would repack the matrix, the plain one otherwise.
struct row_kernels {
    vec_dot_fn fn = nullptr;
    tile_kernels tiles;
};

row_kernels kernels_for(ggml_type type, int64_t rows, bool gemm, cpu_impl impl) {
    const bool simd = impl == cpu_impl::avx2;
    if (type == ggml_type::F32 && gemm) return {get_vec_dot_f32_sgemm(impl), {}};
    if (ggml_interleaves(type, rows)) {
        return {get_vec_dot_interleaved(type, gemm, impl), simd ? avx2_interleaved_tiles(type, gemm) : tile_kernels{}};
    }
    return {get_vec_dot(type, impl), simd ? avx2_tiles(type) : tile_kernels{}};
}

// Rows [r0, r1) × vectors [0, n_vec) (vector v at x + v·x_stride, results at y + v·y_stride) with
// `tile` where it fits and the single kernel `fn` for the leftover rows of each vector group.
void tiled_products(vec_dot_fn fn, const tile_kernel &tile, const uint8_t *w, size_t row_bytes, int64_t cols,
                    const uint8_t *x, size_t x_stride, int64_t n_vec, float *y, int64_t y_stride, int64_t r0,
                    int64_t r1) {
    int64_t v = 0;
    if (tile.fn != nullptr) {
        for (; v + tile.vecs <= n_vec; v += tile.vecs) {
            const uint8_t *xv = x + static_cast<size_t>(v) * x_stride;
            float *yv = y + v * y_stride;
            int64_t r = r0;
            for (; r + tile.rows <= r1; r += tile.rows) {
                tile.fn(cols, w + static_cast<size_t>(r) * row_bytes, row_bytes, xv, x_stride, yv + r, y_stride);
            }
            for (; r < r1; ++r) {
                for (int k = 0; k < tile.vecs; ++k) {
                    yv[k * y_stride + r] = fn(cols, w + static_cast<size_t>(r) * row_bytes, xv + k * x_stride);
                }
            }
        }
    }
    for (; v < n_vec; ++v) {
        for (int64_t r = r0; r < r1; ++r) {
            y[v * y_stride + r] =
                fn(cols, w + static_cast<size_t>(r) * row_bytes, x + static_cast<size_t>(v) * x_stride);
        }
    }
}

void matmul_part(ggml_type type, const void *w, size_t row_bytes, int64_t rows, int64_t cols, const void *x_act,
                 size_t x_stride, int64_t n_vec, float *y, int64_t y_stride, int64_t r0, int64_t r1, bool gemm,
                 cpu_impl impl) {
    const auto [fn, tiles] = kernels_for(type, rows, gemm, impl);
    if (fn == nullptr) return;
    const auto *base = static_cast<const uint8_t *>(w);
    const auto *xs = static_cast<const uint8_t *>(x_act);
    // Row tiles of about 16 KiB of weights (a multiple of 8 rows, 8 to 64, so the 4- and 8-row tile
    // kernels cover them): a tile stays in L1 while every activation vector passes over it.
    const int64_t tile =
        std::clamp<int64_t>(static_cast<int64_t>(16384 / (row_bytes ? row_bytes : 1)) & ~int64_t{7}, 8, 64);
    for (int64_t t0 = r0; t0 < r1; t0 += tile) {
        const int64_t t1 = t0 + tile < r1 ? t0 + tile : r1;
        // the many-vector tile first, then the leftover vectors one at a time with the one-vector tile
        const int64_t paired = tiles.many_vectors.fn ? n_vec - n_vec % tiles.many_vectors.vecs : 0;
        tiled_products(fn, tiles.many_vectors, base, row_bytes, cols, xs, x_stride, paired, y, y_stride, t0, t1);
        for (int64_t v = paired; v < n_vec; ++v) {
            tiled_products(fn, tiles.one_vector, base, row_bytes, cols, xs + static_cast<size_t>(v) * x_stride, 0, 1,
                           y + v * y_stride, 0, t0, t1);
        }
    }
}

cpu_impl resolve(cpu_impl impl) {
    if (impl != cpu_impl::best) return impl;
    return cpu_active_impl();
}

}  // namespace

bool cpu_has_avx2() {
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }();
    return has;
}

int ggml_vector_lanes() {
    static const int lanes = [] {
        const char *force = std::getenv("ABI_GGML_LANES");
        if (force != nullptr && (std::strcmp(force, "8") == 0 || std::strcmp(force, "16") == 0))
            return std::atoi(force);
        __builtin_cpu_init();
        const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                            __builtin_cpu_supports("avx512bw");
        return avx512 ? 16 : 8;
    }();
    return lanes;
}

cpu_impl cpu_active_impl() {
    static const cpu_impl active = [] {
        const char *force = std::getenv("ABI_FORCE_SCALAR");
        const bool forced = force != nullptr && std::strcmp(force, "1") == 0;
        return !forced && cpu_has_avx2() ? cpu_impl::avx2 : cpu_impl::scalar;
    }();
    return active;
}

const char *cpu_impl_name(cpu_impl impl) {
    switch (resolve(impl)) {
        case cpu_impl::avx2:
            return "avx2";
        default:
            return "scalar";
    }
}

vec_dot_fn get_vec_dot(ggml_type type, cpu_impl impl) {
    return resolve(impl) == cpu_impl::avx2 ? avx2_vec_dot(type) : scalar_vec_dot(type);
}

vec_dot_fn get_vec_dot_f32_sgemm(cpu_impl impl) {
    const bool simd = resolve(impl) == cpu_impl::avx2;
    if (ggml_vector_lanes() == 16) return simd ? avx2::vec_dot_f32_sgemm<16> : ref_f32_sgemm<16>;
    return simd ? avx2::vec_dot_f32_sgemm<8> : ref_f32_sgemm<8>;
}

vec_dot_fn get_vec_dot_interleaved(ggml_type type, bool gemm, cpu_impl impl) {
    const bool simd = resolve(impl) == cpu_impl::avx2;
    switch (type) {
        case ggml_type::Q4_0:
            return simd ? avx2::vec_dot_q4_0_q8_0_interleaved : ref_q4_0_interleaved;
        case ggml_type::Q4_K:
            if (gemm) return simd ? avx2::vec_dot_q4_K_q8_K_interleaved_gemm : ref_q4_K_interleaved_gemm;
            return simd ? avx2::vec_dot_q4_K_q8_K_interleaved : ref_q4_K_interleaved;
        default:
            return nullptr;
    }
}

float vec_dot(ggml_type type, int64_t n, const void *w_row, const void *x_act, cpu_impl impl) {
    const vec_dot_fn fn = get_vec_dot(type, impl);
    return fn != nullptr ? fn(n, w_row, x_act) : 0.0f;
}

void quantize_activation(ggml_type type, const float *x, void *dst, int64_t n, cpu_impl impl) {
    const bool simd = resolve(impl) == cpu_impl::avx2;
    switch (vec_dot_type(type)) {
        case ggml_type::Q8_0:
            if (simd) {
                avx2::quantize_row_q8_0(x, static_cast<block_q8_0 *>(dst), n);
            } else {
                quantize_row_q8_0_ref(x, static_cast<block_q8_0 *>(dst), n);
            }
            return;
        case ggml_type::F16:
            if (simd) {
                avx2::quantize_row_f16(x, static_cast<uint16_t *>(dst), n);
            } else {
                quantize_row_f16_ref(x, static_cast<uint16_t *>(dst), n);
            }
            return;
        default:
            // Q8_K, BF16 and F32: ggml's x86 path uses the scalar reference for these too.
            quantize_row_ref(vec_dot_type(type), x, dst, n);
            return;
    }
}

void matvec(ggml_type type, const void *w, size_t row_bytes, int64_t rows, int64_t cols, const void *x_act, float *y,
            int64_t r0, int64_t r1, cpu_impl impl) {
    const auto [fn, tiles] = kernels_for(type, rows, false, resolve(impl));
    if (fn == nullptr || r0 < 0 || r1 > rows) return;
    tiled_products(fn, tiles.one_vector, static_cast<const uint8_t *>(w), row_bytes, cols,
                   static_cast<const uint8_t *>(x_act), 0, 1, y, 0, r0, r1);
}

void matvec_q4_0_x8(const void *packed, int64_t rows, int64_t cols, const void *x_act, float *y, int64_t r0, int64_t r1,
                    cpu_impl impl) {
    matmul_q4_0_x8(packed, rows, cols, x_act, 0, 1, y, 0, r0, r1, impl);
}

void matmul_q4_0_x8(const void *packed, int64_t rows, int64_t cols, const void *x_act, size_t x_stride, int64_t n_vec,
                    float *y, int64_t y_stride, int64_t r0, int64_t r1, cpu_impl impl) {
    if (r0 < 0 || r1 > rows || r0 % 8 != 0 || rows % 8 != 0) return;
    const int64_t nb = cols / qk4_0;
    const auto *groups = static_cast<const block_q4_0x8 *>(packed);
    const auto *xs = static_cast<const uint8_t *>(x_act);
    const bool simd = resolve(impl) == cpu_impl::avx2;
    // One group (8 rows, ≤ a few KiB) at a time for every vector: it stays in L1 meanwhile.
    for (int64_t r = r0; r < r1; r += 8) {
        const block_q4_0x8 *g = groups + (r / 8) * nb;
        int64_t v = 0;
        if (simd) {
            for (; v + 2 <= n_vec; v += 2)
                avx2::vec_dot_q4_0_x8_2(cols, g, xs + v * x_stride, x_stride, y + v * y_stride + r, y_stride);
            for (; v < n_vec; ++v)
                avx2::vec_dot_q4_0_x8_1(cols, g, xs + v * x_stride, x_stride, y + v * y_stride + r, y_stride);
        } else {
            for (; v < n_vec; ++v) {
                vec_dot_q4_0_x8_ref(cols, g, reinterpret_cast<const block_q8_0 *>(xs + v * x_stride),
                                    y + v * y_stride + r);
            }
        }
    }
}

void matmul(ggml_type type, const void *w, size_t row_bytes, int64_t rows, int64_t cols, const void *x_act,
            size_t x_stride, int64_t n_vec, float *y, int64_t y_stride, int64_t r0, int64_t r1, cpu_impl impl) {
    if (r0 < 0 || r1 > rows) return;
    // llama.cpp multiplies the activation rows of a batch in groups of four and the rest one by one;
    // of the interleaved types only Q4_K rounds differently between the two. F32 batches of two or
    // more go through llamafile's sgemm when the row length allows.
    int64_t n_gemm = type == ggml_type::Q4_K && ggml_interleaves(type, rows) ? n_vec - n_vec % 4 : 0;
    if (type == ggml_type::F32 && n_vec >= 2 && cols % ggml_vector_lanes() == 0) n_gemm = n_vec;
    const auto *xs = static_cast<const uint8_t *>(x_act);
    matmul_part(type, w, row_bytes, rows, cols, xs, x_stride, n_gemm, y, y_stride, r0, r1, true, resolve(impl));
    matmul_part(type, w, row_bytes, rows, cols, xs + static_cast<size_t>(n_gemm) * x_stride, x_stride, n_vec - n_gemm,
                y + n_gemm * y_stride, y_stride, r0, r1, false, resolve(impl));
}

}  // namespace abi::quant
