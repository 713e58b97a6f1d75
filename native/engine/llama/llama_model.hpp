#pragma once
// A llama-family model loaded from GGUF: hyper-parameters and weight views that point straight
// into the mmap'ed file, each in its stored type (nothing is dequantized or copied at load time).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "engine/gguf/gguf_reader.hpp"
#include "engine/llama/linear.hpp"

namespace abi::engine {

struct llama_hparams {
    int64_t n_vocab = 0;              // rows of token_embd / output
    int64_t n_ctx_train = 0;          // llama.context_length
    int64_t n_embd = 0;               // llama.embedding_length
    int64_t n_layer = 0;              // llama.block_count
    int64_t n_ff = 0;                 // llama.feed_forward_length
    int64_t n_head = 0;               // llama.attention.head_count
    int64_t n_head_kv = 0;            // llama.attention.head_count_kv (defaults to n_head)
    int64_t head_dim = 0;             // n_embd / n_head
    int64_t n_rot = 0;                // llama.rope.dimension_count (must equal head_dim)
    float rms_eps = 1e-5f;            // llama.attention.layer_norm_rms_epsilon
    float rope_freq_base = 10000.0f;  // llama.rope.freq_base
    float rope_freq_scale = 1.0f;     // 1 / llama.rope.scaling.factor (linear scaling only)
};

struct llama_layer {
    const float *attn_norm = nullptr;  // [n_embd] f32
    weight wq, wk, wv, wo;             // attention projections
    const float *ffn_norm = nullptr;   // [n_embd] f32
    weight w_gate, w_up, w_down;       // SwiGLU feed-forward
};

struct llama_model {
    std::shared_ptr<gguf::gguf_file> file;  // keeps the mapping alive for every weight view
    std::string architecture;               // general.architecture
    std::string name;                       // general.name (may be empty)
    llama_hparams hp;
    weight tok_embd;                     // [n_embd, n_vocab]
    const float *output_norm = nullptr;  // [n_embd] f32
    weight output;                       // [n_embd, n_vocab]; token_embd when the file ties them
    bool tied_output = false;
    std::vector<llama_layer> layers;
    std::vector<std::string> warnings;  // non-fatal load notes (e.g. missing eps key)
    // Packed copies of the Q4_0 matrices matmul reads packed (weight::packed points in here).
    struct free_deleter {
        void operator()(uint8_t *p) const { std::free(p); }
    };
    std::vector<std::unique_ptr<uint8_t[], free_deleter>> packed_weights;

    // Loads and validates; throws gguf::gguf_error naming the file and the offending key/tensor.
    static std::shared_ptr<llama_model> load(const std::string &path);
    uint64_t weight_bytes() const;
};

}  // namespace abi::engine
