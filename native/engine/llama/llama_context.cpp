#include "engine/llama/llama_context.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "engine/llama/activation_kernels.hpp"
#include "engine/llama/attention_kernels.hpp"

namespace abi::engine {

namespace {

// Batches of at least this many queries use ggml's tiled (f32) flash-attention path.
constexpr int64_t tiled_attention_min_batch = 64;

// y = x / sqrt(mean(x²) + eps) * w as ggml's rms_norm computes it: each square rounded to f32,
// the sum kept in double.
void rms_norm(const float *x, const float *w, float *y, int64_t n, float eps) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
    const float mean = static_cast<float>(sum / n);
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

// llama.cpp's "normal" RoPE (LLM_ARCH_LLAMA): rotates adjacent pairs (x[2i], x[2i+1]). The
// x1 products are rounded and the x0 products fused, as the compiler contracts ggml's
// rotate_pairs in the llama.cpp CPU builds (checked in their disassembly).
void rope_normal(float *x, const float *cos_t, const float *sin_t, int64_t head_dim) {
    for (int64_t i = 0; i < head_dim; i += 2) {
        const float c = cos_t[i / 2], s = sin_t[i / 2];
        const float x0 = x[i], x1 = x[i + 1];
        x[i] = std::fma(x0, c, -(x1 * s));
        x[i + 1] = std::fma(x0, s, x1 * c);
    }
}

}  // namespace

llama_context::llama_context(std::shared_ptr<const llama_model> model, const context_params &params)
    : model_(std::move(model)),
      n_ctx_(std::min(params.n_ctx > 0 ? params.n_ctx : model_->hp.n_ctx_train,
                      params.n_ctx_cap > 0 ? params.n_ctx_cap : INT64_MAX)),
      n_batch_(std::max<int64_t>(1, params.n_batch)),
      pool_(params.n_threads > 0 ? params.n_threads : physical_core_count()) {
    const llama_hparams &hp = model_->hp;
    const int64_t kv_dim = hp.n_head_kv * hp.head_dim;
    const int64_t q_dim = hp.n_head * hp.head_dim;
    k_cache_.resize(static_cast<size_t>(hp.n_layer * n_ctx_ * kv_dim));
    v_cache_.resize(static_cast<size_t>(hp.n_layer * n_ctx_ * kv_dim));
    x_.resize(n_batch_ * hp.n_embd);
    xb_.resize(n_batch_ * std::max(hp.n_embd, q_dim));
    q_.resize(n_batch_ * q_dim);
    k_.resize(n_batch_ * kv_dim);
    v_.resize(n_batch_ * kv_dim);
    attn_.resize(n_batch_ * q_dim);
    gate_.resize(n_batch_ * hp.n_ff);
    up_.resize(n_batch_ * hp.n_ff);
    logits_.resize(hp.n_vocab);
    scores_.assign(pool_.size(), std::vector<float>(n_ctx_ + 4 * hp.head_dim));
    rope_cos_.resize(n_batch_ * hp.head_dim / 2);
    rope_sin_.resize(n_batch_ * hp.head_dim / 2);
}

const activations &llama_context::quantized(int slot, quant::ggml_type type, const float *x, int64_t cols, int64_t n) {
    quantize_activations(pool_, type, x, cols, n, act_[slot]);
    return act_[slot];
}

const float *llama_context::eval(const int32_t *tokens, int64_t n, const std::function<bool()> &cancelled) {
    if (n <= 0) throw std::invalid_argument("eval: no tokens");
    if (n_past_ + n > n_ctx_) throw std::length_error("eval: context of " + std::to_string(n_ctx_) + " tokens is full");
    for (int64_t i = 0; i < n; ++i)
        if (tokens[i] < 0 || tokens[i] >= model_->hp.n_vocab)
            throw std::out_of_range("eval: token id " + std::to_string(tokens[i]) + " out of range");
    // llama.cpp's CPU flash attention takes its tiled f32 path for a batch (its ubatch) of at least
    // 64 queries when the head size is a multiple of its f32 vector width, and its f16-accumulating
    // path otherwise. Decided per forward batch, so it matches when batchSize equals llama.cpp's
    // n_ubatch (512).
    const bool tiled_head = model_->hp.head_dim % quant::ggml_vector_lanes() == 0;
    for (int64_t done = 0; done < n;) {
        if (done > 0 && cancelled && cancelled()) return nullptr;
        const int64_t chunk = std::min(n_batch_, n - done);
        forward_batch(tokens + done, chunk, tiled_head && chunk >= tiled_attention_min_batch);
        done += chunk;
    }
    return logits_.data();
}

void llama_context::forward_batch(const int32_t *tokens, int64_t n, bool tiled_attention) {
    const llama_model &m = *model_;
    const llama_hparams &hp = m.hp;
    const int64_t embd = hp.n_embd, hd = hp.head_dim;
    void (*swiglu)(int64_t, float *, const float *, const float *, int) =
        quant::cpu_active_impl() == quant::cpu_impl::avx2 ? swiglu_avx2 : swiglu_scalar;
    const int lanes = quant::ggml_vector_lanes();
    const int64_t q_dim = hp.n_head * hd, kv_dim = hp.n_head_kv * hd;

    for (int64_t t = 0; t < n; ++t) dequantize_row(m.tok_embd, tokens[t], &x_[t * embd]);

    // RoPE angles as ggml computes them: theta_i = pos · freq_scale · base^(−2i/n_rot), the power
    // accumulated by repeated multiplication in f32.
    const float theta_scale = std::pow(hp.rope_freq_base, -2.0f / static_cast<float>(hp.n_rot));
    for (int64_t t = 0; t < n; ++t) {
        float theta = static_cast<float>(n_past_ + t);
        for (int64_t i = 0; i < hd / 2; ++i) {
            const float angle = theta * hp.rope_freq_scale;
            rope_cos_[t * hd / 2 + i] = std::cos(angle);
            rope_sin_[t * hd / 2 + i] = std::sin(angle);
            theta *= theta_scale;
        }
    }

    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const llama_layer &L = m.layers[l];
        for (int64_t t = 0; t < n; ++t) rms_norm(&x_[t * embd], L.attn_norm, &xb_[t * embd], embd, hp.rms_eps);
        matmul(pool_, L.wq, quantized(0, L.wq.type, xb_.data(), embd, n), q_.data(), q_dim);
        matmul(pool_, L.wk, quantized(0, L.wk.type, xb_.data(), embd, n), k_.data(), kv_dim);
        matmul(pool_, L.wv, quantized(0, L.wv.type, xb_.data(), embd, n), v_.data(), kv_dim);
        for (int64_t t = 0; t < n; ++t) {
            const float *c = &rope_cos_[t * hd / 2], *s = &rope_sin_[t * hd / 2];
            for (int64_t h = 0; h < hp.n_head; ++h) rope_normal(&q_[t * q_dim + h * hd], c, s, hd);
            for (int64_t h = 0; h < hp.n_head_kv; ++h) rope_normal(&k_[t * kv_dim + h * hd], c, s, hd);
        }
        uint16_t *kc = &k_cache_[(l * n_ctx_ + n_past_) * kv_dim];
        uint16_t *vc = &v_cache_[(l * n_ctx_ + n_past_) * kv_dim];
        for (int64_t i = 0; i < n * kv_dim; ++i) {
            kc[i] = quant::fp32_to_fp16(k_[i]);
            vc[i] = quant::fp32_to_fp16(v_[i]);
        }
        attention(l, n, tiled_attention);
        matmul(pool_, L.wo, quantized(0, L.wo.type, attn_.data(), q_dim, n), xb_.data(), embd);
        for (int64_t i = 0; i < n * embd; ++i) x_[i] += xb_[i];

        // The last layer's feed-forward block runs for the last position only, whose logits are
        // all that is needed; llama.cpp drops the other rows there too, which also decides how it
        // groups the rows of these products (see quant::matmul).
        const int64_t f0 = l == hp.n_layer - 1 ? n - 1 : 0, nf = n - f0;
        float *xf = &x_[f0 * embd];
        for (int64_t t = 0; t < nf; ++t) rms_norm(&xf[t * embd], L.ffn_norm, &xb_[t * embd], embd, hp.rms_eps);
        matmul(pool_, L.w_gate, quantized(0, L.w_gate.type, xb_.data(), embd, nf), gate_.data(), hp.n_ff);
        matmul(pool_, L.w_up, quantized(1, L.w_up.type, xb_.data(), embd, nf), up_.data(), hp.n_ff);
        for (int64_t t = 0; t < nf; ++t)
            swiglu(hp.n_ff, &gate_[t * hp.n_ff], &gate_[t * hp.n_ff], &up_[t * hp.n_ff], lanes);
        matmul(pool_, L.w_down, quantized(0, L.w_down.type, gate_.data(), hp.n_ff, nf), xb_.data(), embd);
        for (int64_t i = 0; i < nf * embd; ++i) xf[i] += xb_[i];
    }

    // Only the last position's logits are needed to continue the sequence.
    const float *last = &x_[(n - 1) * embd];
    rms_norm(last, m.output_norm, xb_.data(), embd, hp.rms_eps);
    matmul(pool_, m.output, quantized(0, m.output.type, xb_.data(), embd, 1), logits_.data(), hp.n_vocab);
    n_past_ += n;
}

void llama_context::attention(int64_t layer, int64_t n, bool tiled) {
    const llama_hparams &hp = model_->hp;
    const int64_t hd = hp.head_dim, q_dim = hp.n_head * hd, kv_dim = hp.n_head_kv * hd;
    const int64_t group = hp.n_head / hp.n_head_kv;
    const uint16_t *kc = &k_cache_[layer * n_ctx_ * kv_dim];
    const uint16_t *vc = &v_cache_[layer * n_ctx_ * kv_dim];
    // The SIMD kernels work in 8-lane steps; the scalar references cover any head size.
    const bool simd = hd % 8 == 0 && quant::cpu_active_impl() == quant::cpu_impl::avx2;
    void (*attend)(const attention_args &) =
        tiled ? (simd ? attend_tiled_avx2 : attend_tiled_scalar) : (simd ? attend_f16acc_avx2 : attend_f16acc_scalar);
    const int64_t tasks = n * hp.n_head;
    pool_.run([&](int ith, int nth) {
        int64_t t0, t1;
        thread_pool::split(tasks, 1, ith, nth, &t0, &t1);
        float *scratch = scores_[ith].data();
        attention_args a;
        a.scores = scratch;
        a.acc = scratch + n_ctx_;
        a.acc16 = reinterpret_cast<uint16_t *>(scratch + n_ctx_ + hd);
        a.stride = kv_dim;
        a.hd = hd;
        a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
        a.lanes = quant::ggml_vector_lanes();
        for (int64_t task = t0; task < t1; ++task) {
            const int64_t t = task / hp.n_head, h = task % hp.n_head;
            const int64_t kvh = h / group;
            a.q = &q_[t * q_dim + h * hd];
            a.k = kc + kvh * hd;
            a.v = vc + kvh * hd;
            a.n_pos = n_past_ + t + 1;  // causal: positions up to and including this token
            a.out = &attn_[t * q_dim + h * hd];
            attend(a);
        }
    });
}

}  // namespace abi::engine
