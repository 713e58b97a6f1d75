#pragma once
// SwiGLU of the feed-forward block, y = silu(gate) · up, computed as llama.cpp's CPU builds compute
// ggml_vec_swiglu_f32 with `lanes` = 16 (its AVX-512 builds) or 8 (its AVX2 build; see
// quant::ggml_vector_lanes): every full group of `lanes` elements through that build's vector expf
// (the same degree-5 polynomial; AVX-512 folds the constant term in and scales by 2^n in one
// rounding as _mm512_scalef_ps does, AVX2 computes k + k·j with k = 2^n and its own saturation),
// the n % lanes tail through libm expf. The scalar reference and the AVX2 version give bit-identical
// results.
#include <cstdint>

namespace abi::engine {

void swiglu_scalar(int64_t n, float *y, const float *gate, const float *up, int lanes);
void swiglu_avx2(int64_t n, float *y, const float *gate, const float *up, int lanes);

}  // namespace abi::engine
