#include "engine/llama/llama_model.hpp"

#include <sys/mman.h>

#include <cmath>
#include <cstdlib>
#include <new>

#include "engine/gguf/ggml_type_table.hpp"

namespace abi::engine {

namespace {

// Architectures whose tensors and RoPE follow llama.cpp's LLM_ARCH_LLAMA graph. Mistral-style
// models (GQA, no bias) are published under "llama" too.
bool supported_architecture(std::string_view arch) {
    return arch == "llama";
}

class model_loader {
  public:
    model_loader(const gguf::gguf_file &file, const std::string &arch) : file_(file), prefix_(arch + ".") {}

    uint64_t uint_key(const std::string &suffix, uint64_t max = 1ull << 31) const {
        return file_.get_uint(prefix_ + suffix, max);
    }

    uint64_t opt_uint_key(const std::string &suffix, uint64_t fallback) const {
        return file_.opt_uint(prefix_ + suffix, fallback, 1ull << 31);
    }

    // A tensor that must exist with exactly this shape ([ne0] or [ne0, ne1]).
    const gguf::tensor_info &tensor(const std::string &name, int64_t ne0, int64_t ne1) const {
        const gguf::tensor_info *t = file_.find_tensor(name);
        if (t == nullptr) file_.fail("missing tensor '" + name + "'");
        const bool is_vec = ne1 == 0;
        const bool shape_ok = static_cast<int64_t>(t->ne[0]) == ne0 && t->ne[2] == 1 && t->ne[3] == 1 &&
                              (is_vec ? t->ne[1] == 1 : static_cast<int64_t>(t->ne[1]) == ne1);
        if (!shape_ok) {
            file_.fail("tensor '" + name + "': shape [" + std::to_string(t->ne[0]) + ", " + std::to_string(t->ne[1]) +
                       "] does not match the hyper-parameters (expected [" + std::to_string(ne0) +
                       (is_vec ? "" : ", " + std::to_string(ne1)) + "])");
        }
        return *t;
    }

    const float *norm(const std::string &name, int64_t n) const {
        const auto &t = tensor(name, n, 0);
        if (t.type != 0) {
            file_.fail("tensor '" + name + "': norm weights must be f32, found " + gguf::ggml_type_table[t.type].name);
        }
        // Tensor data is aligned to at least 32 bytes (checked by the reader), so f32 access is aligned.
        return reinterpret_cast<const float *>(t.data);
    }

    weight matrix(const std::string &name, int64_t cols, int64_t rows) const { return view(tensor(name, cols, rows)); }

    weight view(const gguf::tensor_info &t) const {
        const auto type = static_cast<quant::ggml_type>(t.type);
        if (!weight_type_supported(type)) {
            file_.fail("tensor '" + t.name + "': type " + gguf::ggml_type_table[t.type].name +
                       " is not supported by the CPU kernels");
        }
        weight w;
        w.type = type;
        w.data = t.data;
        w.cols = static_cast<int64_t>(t.ne[0]);
        w.rows = static_cast<int64_t>(t.ne[1]);
        w.row_bytes = t.row_bytes();
        return w;
    }

  private:
    const gguf::gguf_file &file_;
    std::string prefix_;
};

}  // namespace

std::shared_ptr<llama_model> llama_model::load(const std::string &path) {
    auto model = std::make_shared<llama_model>();
    model->file = gguf::gguf_file::open(path);
    const gguf::gguf_file &f = *model->file;

    model->architecture = std::string(f.get_string("general.architecture"));
    if (!supported_architecture(model->architecture)) {
        f.fail("key 'general.architecture': unsupported architecture '" + model->architecture + "' (supported: llama)");
    }
    model->name = std::string(f.opt_string("general.name", ""));
    const std::string &arch = model->architecture;
    model_loader ld(f, arch);
    llama_hparams &hp = model->hp;
    hp.n_ctx_train = static_cast<int64_t>(ld.uint_key("context_length"));
    hp.n_embd = static_cast<int64_t>(ld.uint_key("embedding_length"));
    hp.n_layer = static_cast<int64_t>(ld.uint_key("block_count", 4096));
    hp.n_ff = static_cast<int64_t>(ld.uint_key("feed_forward_length"));
    hp.n_head = static_cast<int64_t>(ld.uint_key("attention.head_count", 4096));
    if (const auto *kv = f.find(arch + ".attention.head_count_kv"); kv && kv->type == gguf::value_type::array) {
        f.fail("key '" + arch + ".attention.head_count_kv': per-layer head counts are not supported");
    }
    hp.n_head_kv = static_cast<int64_t>(ld.opt_uint_key("attention.head_count_kv", hp.n_head));
    if (hp.n_embd == 0 || hp.n_layer == 0 || hp.n_ff == 0 || hp.n_head == 0 || hp.n_head_kv == 0 || hp.n_ctx_train == 0)
        f.fail("hyper-parameters must be non-zero (" + arch +
               ".embedding_length, block_count, feed_forward_length, "
               "attention.head_count[_kv], context_length)");
    if (hp.n_embd % hp.n_head != 0)
        f.fail("key '" + arch + ".attention.head_count': " + std::to_string(hp.n_head) +
               " does not divide embedding_length " + std::to_string(hp.n_embd));
    if (hp.n_head % hp.n_head_kv != 0)
        f.fail("key '" + arch + ".attention.head_count_kv': " + std::to_string(hp.n_head_kv) +
               " does not divide head_count " + std::to_string(hp.n_head));
    hp.head_dim = hp.n_embd / hp.n_head;
    if (hp.head_dim % 2 != 0) f.fail("head dimension " + std::to_string(hp.head_dim) + " must be even for RoPE");
    const uint64_t key_len = ld.opt_uint_key("attention.key_length", hp.head_dim);
    const uint64_t value_len = ld.opt_uint_key("attention.value_length", hp.head_dim);
    if (static_cast<int64_t>(key_len) != hp.head_dim || static_cast<int64_t>(value_len) != hp.head_dim)
        f.fail("key '" + arch + ".attention.key_length'/'value_length' differ from embedding_length / head_count");
    hp.n_rot = static_cast<int64_t>(ld.opt_uint_key("rope.dimension_count", hp.head_dim));
    if (hp.n_rot != hp.head_dim)
        f.fail("key '" + arch + ".rope.dimension_count': " + std::to_string(hp.n_rot) +
               " must equal the head dimension " + std::to_string(hp.head_dim) + " for architecture llama");
    const std::string eps_key = arch + ".attention.layer_norm_rms_epsilon";
    if (f.find(eps_key) == nullptr) {
        model->warnings.push_back("key '" + eps_key + "' missing; using 1e-5");
    }
    hp.rms_eps = static_cast<float>(f.opt_float(eps_key, 1e-5));
    if (!(hp.rms_eps > 0) || !std::isfinite(hp.rms_eps)) f.fail("key '" + eps_key + "': must be a positive number");
    hp.rope_freq_base = static_cast<float>(f.opt_float(arch + ".rope.freq_base", 10000.0));
    if (!(hp.rope_freq_base > 0) || !std::isfinite(hp.rope_freq_base))
        f.fail("key '" + arch + ".rope.freq_base': must be a positive number");
    const std::string scaling_type(f.opt_string(arch + ".rope.scaling.type", "linear"));
    if (scaling_type != "linear" && scaling_type != "none")
        f.fail("key '" + arch + ".rope.scaling.type': '" + scaling_type + "' is not supported (linear only)");
    double factor = f.opt_float(arch + ".rope.scaling.factor", f.opt_float(arch + ".rope.scale_linear", 0.0));
    if (scaling_type == "none") factor = 0.0;
    hp.rope_freq_scale = factor > 0 ? static_cast<float>(1.0 / factor) : 1.0f;

    const gguf::tensor_info *embd = f.find_tensor("token_embd.weight");
    if (embd == nullptr) f.fail("missing tensor 'token_embd.weight'");
    hp.n_vocab = static_cast<int64_t>(embd->ne[1]);
    if (const gguf::value *tokens = f.find("tokenizer.ggml.tokens");
        tokens && tokens->type == gguf::value_type::array && static_cast<int64_t>(tokens->count) != hp.n_vocab) {
        f.fail("tensor 'token_embd.weight': " + std::to_string(hp.n_vocab) + " rows but tokenizer.ggml.tokens has " +
               std::to_string(tokens->count) + " entries");
    }
    model->tok_embd = ld.matrix("token_embd.weight", hp.n_embd, hp.n_vocab);
    model->output_norm = ld.norm("output_norm.weight", hp.n_embd);
    if (f.find_tensor("output.weight") != nullptr) {
        model->output = ld.matrix("output.weight", hp.n_embd, hp.n_vocab);
    } else {
        model->output = model->tok_embd;
        model->tied_output = true;
    }
    const int64_t q_dim = hp.n_head * hp.head_dim;
    const int64_t kv_dim = hp.n_head_kv * hp.head_dim;
    model->layers.resize(hp.n_layer);
    for (int64_t i = 0; i < hp.n_layer; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        llama_layer &l = model->layers[i];
        l.attn_norm = ld.norm(p + "attn_norm.weight", hp.n_embd);
        l.wq = ld.matrix(p + "attn_q.weight", hp.n_embd, q_dim);
        l.wk = ld.matrix(p + "attn_k.weight", hp.n_embd, kv_dim);
        l.wv = ld.matrix(p + "attn_v.weight", hp.n_embd, kv_dim);
        l.wo = ld.matrix(p + "attn_output.weight", q_dim, hp.n_embd);
        l.ffn_norm = ld.norm(p + "ffn_norm.weight", hp.n_embd);
        l.w_gate = ld.matrix(p + "ffn_gate.weight", hp.n_embd, hp.n_ff);
        l.w_up = ld.matrix(p + "ffn_up.weight", hp.n_embd, hp.n_ff);
        l.w_down = ld.matrix(p + "ffn_down.weight", hp.n_ff, hp.n_embd);
    }
    // llama.cpp repacks such Q4_0 matrices at load into 8-row groups, and so do we: the packed copy
    // streams linearly (one read stream per 8 rows instead of eight), which decode is bound by.
    // Copies of 2 MiB and more live in 2 MiB-aligned blocks advised as transparent huge pages:
    // decode streams them, and on 4 KiB pages that costs TLB misses (+12 % read rate with huge pages
    // in a standalone harness here; where THP is off the advice is ignored). Smaller ones stay on
    // ordinary pages so that tiny models do not take 2 MiB per matrix.
    auto pack = [&](weight &w) {
        if (!weight_packs(w)) return;
        constexpr size_t huge = size_t{2} << 20;
        const size_t size = w.row_bytes * w.rows;
        const size_t align = size >= huge ? huge : 64;
        const size_t bytes = (size + align - 1) / align * align;
        auto *buf = static_cast<uint8_t *>(std::aligned_alloc(align, bytes));
        if (buf == nullptr) throw std::bad_alloc();
        model->packed_weights.emplace_back(buf);
#ifdef MADV_HUGEPAGE
        if (align == huge) madvise(buf, bytes, MADV_HUGEPAGE);
#endif
        quant::pack_q4_0_x8(w.data, w.row_bytes, w.rows, w.cols, buf);
        w.packed = buf;
    };
    pack(model->output);
    for (llama_layer &l : model->layers) {
        for (weight *w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) pack(*w);
    }
    return model;
}

uint64_t llama_model::weight_bytes() const {
    uint64_t total = 0;
    for (const auto &t : file->tensors()) total += t.nbytes;
    return total;
}

}  // namespace abi::engine
