#include "engine/llama/linear.hpp"

#include "engine/runtime/thread_pool.hpp"

namespace abi::engine {

namespace {
// Rows per scheduling unit: keeps each thread's range a multiple of a cache-friendly block.
constexpr int64_t row_grain = 16;
}  // namespace

bool weight_packs(const weight &w) {
    return w.type == quant::ggml_type::Q4_0 && quant::ggml_interleaves(w.type, w.rows);
}

bool weight_type_supported(quant::ggml_type type) {
    return quant::type_traits(type).supported;
}

void quantize_activations(thread_pool &pool, quant::ggml_type type, const float *x, int64_t cols, int64_t n_vec,
                          activations &out) {
    out.vec_type = quant::vec_dot_type(type);
    out.cols = cols;
    out.n_vec = n_vec;
    // Rounded to 4 bytes: Q8_K blocks hold an f32 scale that kernels read directly.
    out.stride = (quant::activation_size(type, cols) + 3) & ~size_t{3};
    if (out.bytes.size() < out.stride * n_vec) out.bytes.resize(out.stride * n_vec);
    if (n_vec == 1) {
        quant::quantize_activation(type, x, out.bytes.data(), cols);
        return;
    }
    pool.run([&](int ith, int nth) {
        int64_t v0, v1;
        thread_pool::split(n_vec, 1, ith, nth, &v0, &v1);
        for (int64_t v = v0; v < v1; ++v)
            quant::quantize_activation(type, x + v * cols, out.bytes.data() + v * out.stride, cols);
    });
}

void matmul(thread_pool &pool, const weight &w, const activations &act, float *y, int64_t y_stride) {
    pool.run([&](int ith, int nth) {
        int64_t r0, r1;
        thread_pool::split(w.rows, row_grain, ith, nth, &r0, &r1);
        if (r0 >= r1) return;
        if (w.packed != nullptr) {
            quant::matmul_q4_0_x8(w.packed, w.rows, w.cols, act.bytes.data(), act.stride, act.n_vec, y, y_stride, r0,
                                  r1);
        } else if (act.n_vec == 1) {
            quant::matvec(w.type, w.data, w.row_bytes, w.rows, w.cols, act.bytes.data(), y, r0, r1);
        } else {
            quant::matmul(w.type, w.data, w.row_bytes, w.rows, w.cols, act.bytes.data(), act.stride, act.n_vec, y,
                          y_stride, r0, r1);
        }
    });
}

void dequantize_row(const weight &w, int64_t row, float *dst) {
    quant::dequantize_row(w.type, w.data + row * w.row_bytes, dst, w.cols);
}

}  // namespace abi::engine
