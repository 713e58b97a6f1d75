#pragma once
// AVX2/FMA/F16C kernels (native/engine/cpu/*_avx2.cpp, compiled with -mavx2 -mfma -mf16c). Call
// them only after cpu_has_avx2(); the dispatcher in cpu_dispatch.cpp does. Each has the same
// signature and meaning as its scalar reference in engine/quant/quant.hpp.
#include "engine/quant/quant.hpp"

namespace abi::quant::avx2 {

float vec_dot_f32(int64_t n, const void *w, const void *x);
float vec_dot_f16(int64_t n, const void *w, const void *x);
float vec_dot_bf16(int64_t n, const void *w, const void *x);
float vec_dot_q4_0_q8_0(int64_t n, const void *w, const void *x);
float vec_dot_q8_0_q8_0(int64_t n, const void *w, const void *x);
float vec_dot_q4_K_q8_K(int64_t n, const void *w, const void *x);
float vec_dot_q5_K_q8_K(int64_t n, const void *w, const void *x);
float vec_dot_q6_K_q8_K(int64_t n, const void *w, const void *x);

// Four weight rows (row_bytes apart) against one activation: out[0..3]. Bit-identical, row by
// row, to the single-row kernels above, so matvec may group rows however it likes.
using vec_dot_x4_fn = void (*)(int64_t n, const void *w, size_t row_bytes, const void *x, float *out);
void vec_dot_q8_0_q8_0_x4(int64_t n, const void *w, size_t row_bytes, const void *x, float *out);
void vec_dot_q4_0_q8_0_x4(int64_t n, const void *w, size_t row_bytes, const void *x, float *out);

// Activation quantizers. Q8_0 rounds half to even with scale 127/amax, as ggml's AVX2
// quantize_row_q8_0 does (the reference rounds half away from zero), so values that land exactly
// on .5 may differ by one level from quantize_row_q8_0_ref.
void quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n);
void quantize_row_f16(const float *x, uint16_t *y, int64_t n);

}  // namespace abi::quant::avx2
