// Model.generate(options, ringView) → Request: queues a generation on the model's native worker.
// Tokens arrive through the ring; Request.result() reports how it ended; Request.cancel() stops it
// before the next token.
#include <mutex>
#include <unordered_map>

#include "engine/binding/literal_ranges.hpp"
#include "engine/binding/model_handle.hpp"

namespace abi::engine {

namespace {

// Reads an optional number; sets *ok=false (and leaves *out) when present but not a finite number.
template <typename T>
void read_num(const Napi::Object &o, const char *key, T *out, bool *ok) {
    if (!o.Has(key)) return;
    const Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return;
    if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) {
        *ok = false;
        return;
    }
    *out = static_cast<T>(v.As<Napi::Number>().DoubleValue());
}

void read_bool(const Napi::Object &o, const char *key, bool *out) {
    if (o.Has(key) && o.Get(key).IsBoolean()) *out = o.Get(key).As<Napi::Boolean>().Value();
}

Napi::Value busy_error(Napi::Env env, int64_t retry_after_ms, const std::string &message) {
    Napi::Error err = Napi::Error::New(env, message);
    err.Set("code", Napi::String::New(env, "ABI_ERR_ENGINE_BUSY"));
    err.Set("retryAfterMs", Napi::Number::New(env, static_cast<double>(retry_after_ms)));
    err.ThrowAsJavaScriptException();
    return env.Undefined();
}

}  // namespace

// The Request class of each env (main thread, worker threads), released by that env's own cleanup
// hook: one process-wide reference would be overwritten by every env and freed by the wrong one.
static std::mutex request_classes_mu;
static std::unordered_map<napi_env, Napi::FunctionReference> request_classes;

static void forget_request_class(void *env) {
    std::lock_guard<std::mutex> lock(request_classes_mu);
    auto it = request_classes.find(static_cast<napi_env>(env));
    if (it == request_classes.end()) return;
    it->second.Reset();
    request_classes.erase(it);
}

Napi::Object js_request::create(Napi::Env env) {
    Napi::Function fn;
    {
        std::lock_guard<std::mutex> lock(request_classes_mu);
        fn = request_classes.at(env).Value();
    }
    return fn.New({});
}

Napi::Function js_request::define(Napi::Env env) {
    Napi::Function fn = DefineClass(env, "Request",
                                    {
                                        InstanceMethod("cancel", &js_request::cancel),
                                        InstanceMethod("result", &js_request::result),
                                    });
    {
        std::lock_guard<std::mutex> lock(request_classes_mu);
        request_classes[env] = Napi::Persistent(fn);
    }
    napi_add_env_cleanup_hook(env, forget_request_class, static_cast<napi_env>(env));
    return fn;
}

js_request::js_request(const Napi::CallbackInfo &info) : Napi::ObjectWrap<js_request>(info) {}

Napi::Value js_request::cancel(const Napi::CallbackInfo &info) {
    if (req_ && !req_->cancel.exchange(true)) req_->generated_at_cancel.store(req_->generated.load());
    return info.Env().Undefined();
}

// { state, finishReason?, error?, promptTokens, cachedTokens, completionTokens, generatedAtCancel?, tokens,
// timings }
Napi::Value js_request::result(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    std::lock_guard<std::mutex> lock(req_->mu);
    const char *state = req_->state == request_state::queued    ? "queued"
                        : req_->state == request_state::running ? "running"
                                                                : "done";
    out.Set("state", state);
    if (req_->state != request_state::done) return out;
    const generation_result &r = req_->result;
    out.Set("finishReason", r.finish_reason);
    if (!r.error_code.empty()) {
        Napi::Object err = Napi::Object::New(env);
        err.Set("code", r.error_code);
        err.Set("message", r.error_message);
        out.Set("error", err);
    }
    out.Set("promptTokens", static_cast<double>(r.prompt_tokens));
    out.Set("cachedTokens", static_cast<double>(r.cached_tokens));
    out.Set("completionTokens", static_cast<double>(r.completion_tokens));
    const int64_t at_cancel = req_->generated_at_cancel.load();
    if (at_cancel >= 0) out.Set("generatedAtCancel", static_cast<double>(at_cancel));
    Napi::Int32Array tokens = Napi::Int32Array::New(env, r.tokens.size());
    std::copy(r.tokens.begin(), r.tokens.end(), tokens.Data());
    out.Set("tokens", tokens);
    Napi::Object timings = Napi::Object::New(env);
    timings.Set("queueMs", r.queue_ms);
    timings.Set("promptMs", r.prompt_ms);
    timings.Set("decodeMs", r.decode_ms);
    out.Set("timings", timings);
    return out;
}

// generate(options, ringView): options as in lib/engine/local-model.ts (GenerateOptions).
Napi::Value js_model::generate(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!session_) return throw_error(env, "ABI_ERR_MODEL_CLOSED", "model is closed");
    if (info.Length() < 2 || !info[0].IsObject())
        return throw_error(env, "ABI_ERR_INVALID_ARG", "generate(options, ringView): options must be an object");
    const Napi::Object o = info[0].As<Napi::Object>();
    auto req = std::make_shared<generation_request>();
    generation_params &p = req->params;
    bool ok = true;
    if (o.Has("promptTokens") && o.Get("promptTokens").IsTypedArray()) {
        const Napi::Value v = o.Get("promptTokens");
        if (v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
            return throw_error(env, "ABI_ERR_INVALID_ARG", "generate: promptTokens must be an Int32Array");
        const Napi::Int32Array ids = v.As<Napi::Int32Array>();
        p.prompt_ids.assign(ids.Data(), ids.Data() + ids.ElementLength());
    } else if (o.Has("prompt") && o.Get("prompt").IsString()) {
        p.prompt = o.Get("prompt").As<Napi::String>().Utf8Value();
        if (o.Has("literalRanges") && !o.Get("literalRanges").IsUndefined()) {
            std::string error;
            if (!read_literal_ranges(o.Get("literalRanges"), p.prompt.size(), &p.literal, &error))
                return throw_error(env, "ABI_ERR_INVALID_ARG", "generate: " + error);
        }
    } else {
        return throw_error(env, "ABI_ERR_INVALID_ARG", "generate: give prompt (string) or promptTokens (Int32Array)");
    }
    read_bool(o, "addSpecial", &p.add_special);
    read_bool(o, "parseSpecial", &p.parse_special);
    read_bool(o, "ignoreEos", &p.ignore_eos);
    read_bool(o, "stripLeadingSpace", &p.strip_leading_space);
    read_num(o, "maxTokens", &p.max_tokens, &ok);
    read_num(o, "stallTimeoutMs", &p.stall_timeout_ms, &ok);
    sampler_params &s = p.sampling;
    read_num(o, "temperature", &s.temperature, &ok);
    read_num(o, "topK", &s.top_k, &ok);
    read_num(o, "topP", &s.top_p, &ok);
    read_num(o, "minP", &s.min_p, &ok);
    read_num(o, "repeatPenalty", &s.repeat_penalty, &ok);
    read_num(o, "frequencyPenalty", &s.frequency_penalty, &ok);
    read_num(o, "presencePenalty", &s.presence_penalty, &ok);
    read_num(o, "penaltyLastN", &s.penalty_last_n, &ok);
    double seed = 0;
    read_num(o, "seed", &seed, &ok);
    s.seed = static_cast<uint64_t>(seed < 0 ? -seed : seed);
    int32_t n_logprobs = -1;
    read_num(o, "logprobs", &n_logprobs, &ok);
    p.logprobs = n_logprobs >= 0;
    s.n_logprobs = std::max(0, std::min(n_logprobs, 20));
    if (!ok) return throw_error(env, "ABI_ERR_INVALID_ARG", "generate: numeric options must be finite numbers");
    if (o.Has("stop") && o.Get("stop").IsArray()) {
        const Napi::Array stops = o.Get("stop").As<Napi::Array>();
        for (uint32_t i = 0; i < stops.Length(); ++i) {
            if (!stops.Get(i).IsString())
                return throw_error(env, "ABI_ERR_INVALID_ARG", "generate: stop must hold strings");
            std::string stop = stops.Get(i).As<Napi::String>().Utf8Value();
            if (!stop.empty()) p.stop.push_back(std::move(stop));
        }
    }
    req->producer = ring::native_producer::create(env, info[1]);
    if (!req->producer) return env.Undefined();  // the ring module threw
    if (!session_->submit(req)) {
        req->producer.reset();
        return busy_error(
            env, session_->retry_after_ms(),
            "the local model is busy: " + std::to_string(session_->queued()) + " requests are already queued");
    }
    Napi::Object handle = js_request::create(env);
    js_request::Unwrap(handle)->req_ = req;
    return handle;
}

Napi::Value js_model::stats(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("loaded", session_ != nullptr);
    if (!session_) return out;
    out.Set("queued", static_cast<double>(session_->queued()));
    out.Set("running", session_->running());
    out.Set("threads", session_->context().n_threads());
    out.Set("contextLength", static_cast<double>(session_->context().n_ctx()));
    out.Set("kvCacheBytes", static_cast<double>(session_->context().kv_bytes()));
    return out;
}

void register_request(Napi::Env env, Napi::Object engine) {
    engine.Set("Request", js_request::define(env));
}

}  // namespace abi::engine
