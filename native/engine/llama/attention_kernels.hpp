#pragma once
// Attention of one query head over the f16 KV cache, in the two numeric flavours of llama.cpp's CPU
// flash attention (see llama_context.cpp): `tiled` (f32 query, f32 softmax and accumulation) and
// `f16acc` (query rounded to f16, online softmax, weighted V sum kept in f16). Scalar references
// here; AVX2/F16C versions in attention_avx2.cpp, picked at run time (hd a multiple of 8).
#include <cstdint>

namespace abi::engine {

struct attention_args {
    const float *q;     // query head, head_dim floats
    const uint16_t *k;  // first key of this KV head (f16), keys `stride` elements apart
    const uint16_t *v;  // first value of this KV head (f16), values `stride` elements apart
    int64_t n_pos;      // positions to attend to
    int64_t stride;     // elements between consecutive positions (kv_dim)
    int64_t hd;         // head dimension
    float scale;        // 1 / sqrt(hd)
    int lanes;          // ggml_vector_lanes(): which llama.cpp build's K·Q order to take
    float *scores;      // scratch, n_pos floats
    float *acc;         // scratch, hd floats
    uint16_t *acc16;    // scratch, hd halves
    float *out;         // result, hd floats
};

// ggml_vec_dot_f16 as llama.cpp's CPU builds run it, for `lanes` = 16 (its AVX-512 builds) or 8
// (AVX2): steps of 4·lanes elements into four lanes-wide f32 accumulators by fused multiply-add,
// the accumulators added pairwise, then the lanes reduced in that build's order (16: GCC's
// _mm512_reduce_add_ps, halves then quarters then pairs; 8: halves, then two hadds); the n % (4·lanes)
// leftover products, each rounded to f32, added in double. Both versions return bit-identical results.
constexpr int ggml_f16_arr = 4;
float dot_f16_ggml_scalar(const uint16_t *k, const float *q, int64_t n, int lanes);
float dot_f16_ggml_avx2(const uint16_t *k, const float *q, int64_t n, int lanes);

void attend_tiled_scalar(const attention_args &a);
void attend_f16acc_scalar(const attention_args &a);
void attend_tiled_avx2(const attention_args &a);
void attend_f16acc_avx2(const attention_args &a);

}  // namespace abi::engine
