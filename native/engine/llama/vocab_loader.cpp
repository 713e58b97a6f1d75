#include "engine/llama/vocab_loader.hpp"

namespace abi::engine {

namespace {

// Token ids are stored as u32 with 0xFFFFFFFF meaning "none" (LLAMA_TOKEN_NULL).
void read_id(const gguf::gguf_file &f, const char *key, token_id *out) {
    if (f.find(key) == nullptr) return;
    const uint64_t v = f.get_uint(key);
    *out = v >= 0x7FFFFFFFull ? no_token : static_cast<token_id>(v);
}

void read_flag(const gguf::gguf_file &f, const char *key, bool *out) {
    *out = f.opt_bool(key, *out);
}

}  // namespace

std::unique_ptr<tokenizer> load_tokenizer(const gguf::gguf_file &f) {
    const std::string model(f.get_string("tokenizer.ggml.model"));
    vocab_kind kind;
    if (model == "llama") {
        kind = vocab_kind::spm;
    } else if (model == "gpt2") {
        kind = vocab_kind::bpe;
    } else {
        f.fail("key 'tokenizer.ggml.model': unsupported tokenizer '" + model + "' (supported: llama, gpt2)");
    }
    vocab_data v = vocab_defaults(kind, f.opt_string("tokenizer.ggml.pre", ""));
    const gguf::value *tokens = f.opt_array("tokenizer.ggml.tokens", gguf::value_type::string);
    if (tokens == nullptr) f.fail("missing required key 'tokenizer.ggml.tokens'");
    v.tokens.reserve(tokens->strings.size());
    for (const auto &s : tokens->strings) v.tokens.emplace_back(s);
    if (const gguf::value *scores = f.opt_array("tokenizer.ggml.scores", gguf::value_type::f32)) {
        v.scores.resize(scores->count);
        std::memcpy(v.scores.data(), scores->elems, scores->count * sizeof(float));
    }
    if (const gguf::value *types = f.opt_array("tokenizer.ggml.token_type", gguf::value_type::i32)) {
        v.token_types.resize(types->count);
        std::memcpy(v.token_types.data(), types->elems, types->count * sizeof(int32_t));
    }
    if (const gguf::value *merges = f.opt_array("tokenizer.ggml.merges", gguf::value_type::string)) {
        v.merges.reserve(merges->strings.size());
        for (const auto &s : merges->strings) v.merges.emplace_back(s);
    }
    read_id(f, "tokenizer.ggml.bos_token_id", &v.bos_id);
    read_id(f, "tokenizer.ggml.eos_token_id", &v.eos_id);
    read_id(f, "tokenizer.ggml.unknown_token_id", &v.unk_id);
    read_id(f, "tokenizer.ggml.padding_token_id", &v.pad_id);
    read_id(f, "tokenizer.ggml.eot_token_id", &v.eot_id);
    read_flag(f, "tokenizer.ggml.add_bos_token", &v.add_bos);
    read_flag(f, "tokenizer.ggml.add_eos_token", &v.add_eos);
    read_flag(f, "tokenizer.ggml.add_space_prefix", &v.add_space_prefix);
    std::string error;
    auto tok = tokenizer::create(std::move(v), &error);
    if (!tok) f.fail("tokenizer: " + error);
    return tok;
}

}  // namespace abi::engine
