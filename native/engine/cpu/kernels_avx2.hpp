#pragma once
// AVX2/FMA/F16C kernels (native/engine/cpu/*_avx2.cpp, compiled with -mavx2 -mfma -mf16c). Call
// them only after cpu_has_avx2(); the dispatcher in cpu_dispatch.cpp does. Each has the same
// signature and meaning as its scalar reference in engine/quant/quant.hpp.
#include "engine/quant/quant.hpp"

namespace abi::quant::avx2 {

// F32 in the llama.cpp build's order for Lanes = 8 or 16 (quant.hpp: vec_dot_f32_ref, _sgemm_ref).
template <int Lanes>
float vec_dot_f32_ggml(int64_t n, const void *w, const void *x);
template <int Lanes>
float vec_dot_f32_sgemm(int64_t n, const void *w, const void *x);
float vec_dot_f16(int64_t n, const void *w, const void *x);
float vec_dot_bf16(int64_t n, const void *w, const void *x);
float vec_dot_q4_0_q8_0(int64_t n, const void *w, const void *x);
float vec_dot_q8_0_q8_0(int64_t n, const void *w, const void *x);
float vec_dot_q4_K_q8_K(int64_t n, const void *w, const void *x);
float vec_dot_q5_K_q8_K(int64_t n, const void *w, const void *x);
float vec_dot_q6_K_q8_K(int64_t n, const void *w, const void *x);

// Tiles: R weight rows (row_bytes apart) × V activations (x_stride bytes apart), written to
// out[v * out_stride + r] — 4×1 and 4×2 for Q4_0, 4×2 for Q8_0, 1×4 for the K-quants (whose unpacking is
// the expensive part, shared across vectors). Each (row, vector) result is bit-identical to the
// single kernels above, so matvec/matmul may group rows and vectors however they like.
using vec_dot_tile_fn = void (*)(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride, float *out,
                                 int64_t out_stride);
void vec_dot_q8_0_q8_0_4x2(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride, float *out,
                           int64_t out_stride);
void vec_dot_q4_0_q8_0_4x1(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride, float *out,
                           int64_t out_stride);
void vec_dot_q4_0_q8_0_4x2(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride, float *out,
                           int64_t out_stride);
void vec_dot_q4_K_q8_K_1x4(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride, float *out,
                           int64_t out_stride);
void vec_dot_q5_K_q8_K_1x4(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride, float *out,
                           int64_t out_stride);
void vec_dot_q6_K_q8_K_1x4(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride, float *out,
                           int64_t out_stride);

// The interleaved-order dot products (quant.hpp: ggml_interleaves) and their tiles.
float vec_dot_q4_0_q8_0_interleaved(int64_t n, const void *w, const void *x);
float vec_dot_q4_K_q8_K_interleaved(int64_t n, const void *w, const void *x);
void vec_dot_q4_0_q8_0_interleaved_8x1(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride,
                                       float *out, int64_t out_stride);
void vec_dot_q4_0_q8_0_interleaved_8x2(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride,
                                       float *out, int64_t out_stride);
float vec_dot_q4_K_q8_K_interleaved_gemm(int64_t n, const void *w, const void *x);
void vec_dot_q4_K_q8_K_interleaved_gemm_1x4(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride,
                                            float *out, int64_t out_stride);
void vec_dot_q4_K_q8_K_interleaved_1x4(int64_t n, const void *w, size_t row_bytes, const void *x, size_t x_stride,
                                       float *out, int64_t out_stride);

// One packed Q4_0 group (block_q4_0x8, 8 rows) × 1 or 2 activations (x_stride bytes apart):
// out[v·out_stride + r], bit-identical to vec_dot_q4_0_x8_ref.
void vec_dot_q4_0_x8_1(int64_t n, const void *group, const void *x, size_t x_stride, float *out, int64_t out_stride);
void vec_dot_q4_0_x8_2(int64_t n, const void *group, const void *x, size_t x_stride, float *out, int64_t out_stride);

// Activation quantizers. Q8_0 rounds half to even with scale 127/amax, as ggml's AVX2
// quantize_row_q8_0 does (the reference rounds half away from zero), so values that land exactly
// on .5 may differ by one level from quantize_row_q8_0_ref.
void quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n);
void quantize_row_f16(const float *x, uint16_t *y, int64_t n);

}  // namespace abi::quant::avx2
