#pragma once
// SwiGLU of the feed-forward block, y = silu(gate) · up, computed as llama.cpp's AVX-512 CPU builds
// compute ggml_vec_swiglu_f32: every full 16-element group through ggml's vector expf (a degree-5
// polynomial, result scaled by 2^n with one rounding, as _mm512_scalef_ps does), the n % 16 tail
// through libm expf. The scalar reference and the AVX2 version give bit-identical results.
#include <cstdint>

namespace abi::engine {

// Elements per group that take ggml's vector expf (the AVX-512 register width).
constexpr int64_t ggml_silu_lanes = 16;

void swiglu_scalar(int64_t n, float *y, const float *gate, const float *up);
void swiglu_avx2(int64_t n, float *y, const float *gate, const float *up);

}  // namespace abi::engine
