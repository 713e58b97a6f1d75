// exports.engine.Model: a loaded model handle. This file holds loading, model facts and the
// synchronous evaluate() used by correctness tests; generation runs on native threads (generate_binding).
#include "engine/binding/literal_ranges.hpp"
#include "engine/binding/model_handle.hpp"
#include "engine/gguf/ggml_type_table.hpp"
#include "engine/llama/vocab_loader.hpp"

namespace abi::engine {

namespace {

int64_t opt_int(const Napi::Object &opts, const char *key, int64_t fallback) {
    if (!opts.Has(key)) return fallback;
    const Napi::Value v = opts.Get(key);
    if (v.IsUndefined() || v.IsNull()) return fallback;
    if (!v.IsNumber()) return INT64_MIN;
    return v.As<Napi::Number>().Int64Value();
}

}  // namespace

Napi::Function js_model::define(Napi::Env env) {
    Napi::Function fn = DefineClass(env, "Model",
                                    {
                                        InstanceMethod("info", &js_model::info),
                                        InstanceMethod("evaluate", &js_model::evaluate),
                                        InstanceMethod("tokenize", &js_model::tokenize),
                                        InstanceMethod("detokenize", &js_model::detokenize),
                                        InstanceMethod("generate", &js_model::generate),
                                        InstanceMethod("stats", &js_model::stats),
                                        InstanceMethod("close", &js_model::close),
                                    });
    return fn;
}

js_model::js_model(const Napi::CallbackInfo &info) : Napi::ObjectWrap<js_model>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
        throw_error(env, "ABI_ERR_INVALID_ARG", "new Model(path, options): path must be a string");
        return;
    }
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    const Napi::Object opts =
        info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    params_.n_ctx = opt_int(opts, "contextLength", 0);
    params_.n_ctx_cap = opt_int(opts, "maxContextLength", 4096);
    params_.n_threads = static_cast<int>(opt_int(opts, "threads", 0));
    params_.n_batch = opt_int(opts, "batchSize", 256);
    queue_params queue;
    queue.max_queue = opt_int(opts, "maxQueue", 8);
    queue.queue_timeout_ms = opt_int(opts, "queueTimeoutMs", 30000);
    if (queue.max_queue < 0 || queue.max_queue > 100000 || queue.queue_timeout_ms < 0) {
        throw_error(env, "ABI_ERR_INVALID_ARG", "Model options: maxQueue 0..100000, queueTimeoutMs >= 0");
        return;
    }
    if (params_.n_ctx < 0 || params_.n_ctx_cap < 0 || params_.n_threads < 0 || params_.n_threads > 1024 ||
        params_.n_batch < 1 || params_.n_batch > 8192) {
        throw_error(env, "ABI_ERR_INVALID_ARG",
                    "Model options: contextLength, maxContextLength >= 0, threads 0..1024, batchSize 1..8192");
        return;
    }
    try {
        auto model = llama_model::load(path);
        auto tok = load_tokenizer(*model->file);
        for (const auto &warning : tok->warnings()) model->warnings.push_back("tokenizer: " + warning);
        tok_ = std::move(tok);
        session_ = std::make_unique<engine_session>(model, tok_, params_, queue);
        model_ = std::move(model);
    } catch (const gguf::gguf_error &err) {
        throw_error(env, "ABI_ERR_GGUF", err.what());
    } catch (const std::bad_alloc &) {
        throw_error(env, "ABI_ERR_GGUF", path + ": out of memory while loading (contextLength too large?)");
    } catch (const std::system_error &err) {
        throw_error(env, "ABI_ERR_ENGINE", path + ": cannot start the model's threads: " + err.what());
    }
}

Napi::Value js_model::info(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!model_) return throw_error(env, "ABI_ERR_MODEL_CLOSED", "model is closed");
    const llama_hparams &hp = model_->hp;
    Napi::Object out = Napi::Object::New(env);
    out.Set("path", model_->file->path());
    out.Set("architecture", model_->architecture);
    out.Set("name", model_->name);
    out.Set("vocabSize", static_cast<double>(hp.n_vocab));
    out.Set("trainedContextLength", static_cast<double>(hp.n_ctx_train));
    out.Set("contextLength", static_cast<double>(std::min(params_.n_ctx > 0 ? params_.n_ctx : hp.n_ctx_train,
                                                          params_.n_ctx_cap > 0 ? params_.n_ctx_cap : INT64_MAX)));
    out.Set("embeddingLength", static_cast<double>(hp.n_embd));
    out.Set("layers", static_cast<double>(hp.n_layer));
    out.Set("heads", static_cast<double>(hp.n_head));
    out.Set("kvHeads", static_cast<double>(hp.n_head_kv));
    out.Set("feedForwardLength", static_cast<double>(hp.n_ff));
    out.Set("ropeFreqBase", hp.rope_freq_base);
    out.Set("tiedOutput", model_->tied_output);
    out.Set("weightBytes", static_cast<double>(model_->weight_bytes()));
    out.Set("weightType", gguf::ggml_type_table[static_cast<uint32_t>(model_->layers[0].w_gate.type)].name);
    Napi::Array warnings = Napi::Array::New(env, model_->warnings.size());
    for (uint32_t i = 0; i < model_->warnings.size(); ++i) warnings.Set(i, model_->warnings[i]);
    out.Set("warnings", warnings);
    return out;
}

// evaluate(tokens: Int32Array, reset: boolean) → Float32Array of the last token's logits.
// Synchronous on the calling thread, over a context owned by this handle: for tests and tools.
Napi::Value js_model::evaluate(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!model_) return throw_error(env, "ABI_ERR_MODEL_CLOSED", "model is closed");
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
        return throw_error(env, "ABI_ERR_INVALID_ARG", "evaluate(tokens): tokens must be an Int32Array");
    const Napi::Int32Array tokens = info[0].As<Napi::Int32Array>();
    const bool reset = info.Length() > 1 && info[1].ToBoolean().Value();
    try {
        if (!eval_ctx_) eval_ctx_ = std::make_unique<llama_context>(model_, params_);
        if (reset) eval_ctx_->truncate(0);
        const float *logits = eval_ctx_->eval(tokens.Data(), static_cast<int64_t>(tokens.ElementLength()));
        Napi::Float32Array out = Napi::Float32Array::New(env, model_->hp.n_vocab);
        std::memcpy(out.Data(), logits, model_->hp.n_vocab * sizeof(float));
        return out;
    } catch (const std::length_error &err) {
        return throw_error(env, "ABI_ERR_CONTEXT_FULL", err.what());
    } catch (const std::exception &err) {
        return throw_error(env, "ABI_ERR_INVALID_ARG", err.what());
    }
}

// tokenize(text, addSpecial = true, parseSpecial = true, literalRanges?: number[]) → Int32Array
Napi::Value js_model::tokenize(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!tok_) return throw_error(env, "ABI_ERR_MODEL_CLOSED", "model is closed");
    if (info.Length() < 1 || !info[0].IsString())
        return throw_error(env, "ABI_ERR_INVALID_ARG", "tokenize(text): text must be a string");
    const bool add_special = info.Length() < 2 || info[1].ToBoolean().Value();
    const bool parse_special = info.Length() < 3 || info[2].ToBoolean().Value();
    const std::string text = info[0].As<Napi::String>().Utf8Value();
    literal_ranges literal;
    if (info.Length() >= 4 && !info[3].IsUndefined()) {
        std::string error;
        if (!read_literal_ranges(info[3], text.size(), &literal, &error))
            return throw_error(env, "ABI_ERR_INVALID_ARG", "tokenize: " + error);
    }
    const auto ids = tok_->encode(text, add_special, parse_special, literal);
    Napi::Int32Array out = Napi::Int32Array::New(env, ids.size());
    std::copy(ids.begin(), ids.end(), out.Data());
    return out;
}

// detokenize(ids: Int32Array) → string (special tokens removed)
Napi::Value js_model::detokenize(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!tok_) return throw_error(env, "ABI_ERR_MODEL_CLOSED", "model is closed");
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
        return throw_error(env, "ABI_ERR_INVALID_ARG", "detokenize(ids): ids must be an Int32Array");
    const Napi::Int32Array ids = info[0].As<Napi::Int32Array>();
    std::vector<token_id> v(ids.Data(), ids.Data() + ids.ElementLength());
    for (token_id id : v)
        if (id < 0 || id >= tok_->n_vocab())
            return throw_error(env, "ABI_ERR_INVALID_ARG", "detokenize: id out of range");
    const std::string text = tok_->detokenize(v, true, false);
    return Napi::String::New(env, text);
}

Napi::Value js_model::close(const Napi::CallbackInfo &info) {
    session_.reset();
    tok_.reset();
    eval_ctx_.reset();
    model_.reset();
    return info.Env().Undefined();
}

void register_model(Napi::Env env, Napi::Object engine) {
    engine.Set("Model", js_model::define(env));
}

}  // namespace abi::engine
