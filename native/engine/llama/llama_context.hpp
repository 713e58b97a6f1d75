#pragma once
// One inference sequence over a loaded llama model: the KV cache (sized from the context length),
// scratch buffers and the thread pool. eval() runs the forward pass for a batch of tokens at the
// next positions; the prompt goes through in batches so every weight row is read once per batch.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/llama/linear.hpp"
#include "engine/llama/llama_model.hpp"
#include "engine/runtime/thread_pool.hpp"

namespace abi::engine {

struct context_params {
    int64_t n_ctx = 0;         // KV cache positions; 0 = the model's context_length
    int64_t n_ctx_cap = 4096;  // upper bound applied to n_ctx (memory cap)
    int n_threads = 0;         // compute threads; 0 = physical cores
    int64_t n_batch = 256;     // prompt tokens per forward batch
};

class llama_context {
  public:
    llama_context(std::shared_ptr<const llama_model> model, const context_params &params);

    // Runs tokens[0..n) at positions n_past()..n_past()+n-1 and returns the logits of the last one
    // (n_vocab floats, valid until the next call). Requires n_past() + n <= n_ctx(). `cancelled` is
    // polled between batches; when it returns true eval stops and returns nullptr (the positions
    // evaluated so far stay cached).
    const float *eval(const int32_t *tokens, int64_t n, const std::function<bool()> &cancelled = {});

    int64_t n_past() const { return n_past_; }
    int64_t n_ctx() const { return n_ctx_; }
    int n_threads() const { return pool_.size(); }
    // Forgets cached positions from `n` on (0 = start a new sequence).
    void truncate(int64_t n) { n_past_ = n < n_past_ ? n : n_past_; }
    const llama_model &model() const { return *model_; }
    uint64_t kv_bytes() const { return (k_cache_.size() + v_cache_.size()) * sizeof(uint16_t); }

  private:
    void forward_batch(const int32_t *tokens, int64_t n, bool tiled_attention);
    void attention(int64_t layer, int64_t n, bool tiled);
    const activations &quantized(int slot, quant::ggml_type type, const float *x, int64_t cols, int64_t n);

    std::shared_ptr<const llama_model> model_;
    int64_t n_ctx_;
    int64_t n_batch_;
    int64_t n_past_ = 0;
    thread_pool pool_;
    std::vector<uint16_t> k_cache_;  // [n_layer][n_ctx][kv_dim] f16, as llama.cpp's default cache
    std::vector<uint16_t> v_cache_;  // [n_layer][n_ctx][kv_dim] f16
    std::vector<float> x_, xb_, q_, k_, v_, attn_, gate_, up_, logits_;  // per-batch scratch
    std::vector<std::vector<float>> scores_;  // per-thread attention scratch [n_ctx + 4 * head_dim]
    std::vector<float> rope_cos_, rope_sin_;  // per-batch [n][head_dim / 2]
    activations act_[2];                      // quantized activation buffers (two live at once: gate/up, q/k/v)
};

}  // namespace abi::engine
