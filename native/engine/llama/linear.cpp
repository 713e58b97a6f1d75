#include "engine/llama/linear.hpp"

#include <cstring>

#include "engine/runtime/thread_pool.hpp"

namespace abi::engine {

// Interim: f32 weights only, with a plain dot product, until the quantized kernels of
// engine/quant + engine/cpu are wired in here.
bool weight_type_supported(quant::ggml_type type) {
    return type == quant::ggml_type::F32;
}

void quantize_activations(thread_pool &pool, quant::ggml_type type, const float *x, int64_t cols, int64_t n_vec,
                          activations &out) {
    out.vec_type = quant::ggml_type::F32;
    out.cols = cols;
    out.n_vec = n_vec;
    out.stride = static_cast<size_t>(cols) * sizeof(float);
    if (out.bytes.size() < out.stride * n_vec) out.bytes.resize(out.stride * n_vec);
    std::memcpy(out.bytes.data(), x, out.stride * n_vec);
}

static float dot_f32(const float *a, const float *b, int64_t n) {
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

void matmul(thread_pool &pool, const weight &w, const activations &act, float *y, int64_t y_stride) {
    pool.run([&](int ith, int nth) {
        int64_t r0, r1;
        thread_pool::split(w.rows, 4, ith, nth, &r0, &r1);
        for (int64_t v = 0; v < act.n_vec; ++v) {
            const float *x = reinterpret_cast<const float *>(act.bytes.data() + v * act.stride);
            for (int64_t r = r0; r < r1; ++r)
                y[v * y_stride + r] = dot_f32(reinterpret_cast<const float *>(w.data + r * w.row_bytes), x, w.cols);
        }
    });
}

void dequantize_row(const weight &w, int64_t row, float *dst) {
    std::memcpy(dst, w.data + row * w.row_bytes, static_cast<size_t>(w.cols) * sizeof(float));
}

}  // namespace abi::engine
