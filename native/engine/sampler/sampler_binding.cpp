// JS test binding: exports.sampler = { Sampler }, so the sampling chain can be unit-tested on
// hand-made logits without a model.
#include <napi.h>

#include <memory>

#include "addon/registry.hpp"
#include "engine/sampler/sampler.hpp"

namespace abi::engine {

namespace {

class sampler_wrap : public Napi::ObjectWrap<sampler_wrap> {
  public:
    static Napi::Function define(Napi::Env env) {
        return DefineClass(
            env, "Sampler",
            {InstanceMethod<&sampler_wrap::sample>("sample"), InstanceMethod<&sampler_wrap::candidates>("candidates"),
             InstanceMethod<&sampler_wrap::accept>("accept"), InstanceMethod<&sampler_wrap::reset>("reset")});
    }

    explicit sampler_wrap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<sampler_wrap>(info) {
        Napi::Env env = info.Env();
        if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsNumber()) {
            abi::throw_error(env, "ABI_ERR_INVALID_ARG", "Sampler: expected (params, nVocab)");
            return;
        }
        Napi::Object o = info[0].As<Napi::Object>();
        sampler_params p;
        const auto num = [&](const char *key, auto *dst) {
            Napi::Value v = o.Get(key);
            if (v.IsNumber())
                *dst = static_cast<std::remove_pointer_t<decltype(dst)>>(v.As<Napi::Number>().DoubleValue());
        };
        num("temperature", &p.temperature);
        num("topK", &p.top_k);
        num("topP", &p.top_p);
        num("minP", &p.min_p);
        num("repeatPenalty", &p.repeat_penalty);
        num("frequencyPenalty", &p.frequency_penalty);
        num("presencePenalty", &p.presence_penalty);
        num("penaltyLastN", &p.penalty_last_n);
        num("nLogprobs", &p.n_logprobs);
        Napi::Value seed = o.Get("seed");
        if (seed.IsNumber()) p.seed = static_cast<uint64_t>(seed.As<Napi::Number>().Int64Value());
        if (seed.IsBigInt()) {
            bool lossless = false;
            p.seed = seed.As<Napi::BigInt>().Uint64Value(&lossless);
        }
        const int64_t n_vocab = info[1].As<Napi::Number>().Int64Value();
        if (n_vocab <= 0 || n_vocab > 0x7FFFFFFF) {
            abi::throw_error(env, "ABI_ERR_INVALID_ARG", "Sampler: nVocab must be positive");
            return;
        }
        sampler_ = std::make_unique<sampler>(p, static_cast<int32_t>(n_vocab));
        n_vocab_ = static_cast<int32_t>(n_vocab);
    }

  private:
    Napi::Value sample(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (info.Length() < 1 || !info[0].IsTypedArray() ||
            info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
            info[0].As<Napi::Float32Array>().ElementLength() != static_cast<size_t>(n_vocab_)) {
            return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "sample: logits must be a Float32Array of nVocab");
        }
        const sample_result r = sampler_->sample(info[0].As<Napi::Float32Array>().Data());
        Napi::Object o = Napi::Object::New(env);
        o.Set("id", r.id);
        o.Set("logprob", r.logprob);
        Napi::Array top = Napi::Array::New(env, r.top.size());
        for (size_t i = 0; i < r.top.size(); ++i) {
            Napi::Object t = Napi::Object::New(env);
            t.Set("id", r.top[i].id);
            t.Set("logprob", r.top[i].logprob);
            top.Set(static_cast<uint32_t>(i), t);
        }
        o.Set("top", top);
        return o;
    }
    Napi::Value candidates(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (info.Length() < 1 || !info[0].IsTypedArray() ||
            info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
            info[0].As<Napi::Float32Array>().ElementLength() != static_cast<size_t>(n_vocab_)) {
            return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "candidates: logits must be a Float32Array of nVocab");
        }
        const std::vector<token_probability> cands = sampler_->candidates(info[0].As<Napi::Float32Array>().Data());
        Napi::Array out = Napi::Array::New(env, cands.size());
        for (size_t i = 0; i < cands.size(); ++i) {
            Napi::Object c = Napi::Object::New(env);
            c.Set("id", cands[i].id);
            c.Set("p", cands[i].p);
            out.Set(static_cast<uint32_t>(i), c);
        }
        return out;
    }
    Napi::Value accept(const Napi::CallbackInfo &info) {
        if (info.Length() < 1 || !info[0].IsNumber()) {
            return abi::throw_error(info.Env(), "ABI_ERR_INVALID_ARG", "accept: id must be a number");
        }
        sampler_->accept(info[0].As<Napi::Number>().Int32Value());
        return info.Env().Undefined();
    }
    Napi::Value reset(const Napi::CallbackInfo &info) {
        sampler_->reset();
        return info.Env().Undefined();
    }

    std::unique_ptr<sampler> sampler_;
    int32_t n_vocab_ = 0;
};

void sampler_init(Napi::Env env, Napi::Object exports) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("Sampler", sampler_wrap::define(env));
    exports.Set("sampler", o);
}

}  // namespace

ABI_REGISTER_MODULE(sampler_init);

}  // namespace abi::engine
