#pragma once
// Matrix products of the forward pass against weights in their stored GGUF type. Activations are
// quantized once per vector to the weight type's dot-product format (as ggml's CPU backend does),
// then every thread of the pool multiplies a disjoint range of weight rows.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/quant/quant.hpp"

namespace abi::engine {

class thread_pool;

// A 2-D weight as stored: `rows` rows of `cols` elements, `row_bytes` apart.
struct weight {
    quant::ggml_type type = quant::ggml_type::F32;  // stored ggml type
    const uint8_t *data = nullptr;                  // row 0, inside the mmap
    int64_t cols = 0;                               // elements per row (ne[0])
    int64_t rows = 0;                               // number of rows (ne[1])
    size_t row_bytes = 0;                           // bytes per row
    const uint8_t *packed = nullptr;                // Q4_0 with rows % 8 == 0: block_q4_0x8 copy, used by matmul
};

// The weights matmul should read from a packed copy (see quant::block_q4_0x8): Q4_0 matrices that
// llama.cpp repacks too, so the packed kernels take its interleaved order.
bool weight_packs(const weight &w);

// True when the CPU kernels can multiply (and dequantize) this type.
bool weight_type_supported(quant::ggml_type type);

// Quantized activations for one weight type: n_vec vectors of `cols` elements, each `stride` bytes.
struct activations {
    quant::ggml_type vec_type = quant::ggml_type::F32;  // format of `bytes`
    int64_t cols = 0;                                   // elements per vector
    int64_t n_vec = 0;                                  // vectors held
    size_t stride = 0;                                  // bytes per vector
    std::vector<uint8_t> bytes;                         // n_vec * stride (grown, never shrunk)
};

// Quantizes n_vec f32 vectors (x, `cols` apart) for multiplication with weights of `type`,
// splitting the vectors over the pool.
void quantize_activations(thread_pool &pool, quant::ggml_type type, const float *x, int64_t cols, int64_t n_vec,
                          activations &out);

// y[v * y_stride + r] = dot(row r of w, vector v) for all rows and vectors, rows split over the pool.
void matmul(thread_pool &pool, const weight &w, const activations &act, float *y, int64_t y_stride);

// Dequantizes row `row` of w into dst (w.cols floats), e.g. a token embedding.
void dequantize_row(const weight &w, int64_t row, float *dst);

}  // namespace abi::engine
