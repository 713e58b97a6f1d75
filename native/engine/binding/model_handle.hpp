#pragma once
#include <memory>

#include "engine/binding/engine_exports.hpp"
#include "engine/generate/generation.hpp"
#include "engine/llama/llama_context.hpp"
#include "engine/llama/llama_model.hpp"
#include "engine/tokenizer/tokenizer.hpp"

namespace abi::engine {

class js_model : public Napi::ObjectWrap<js_model> {
  public:
    static Napi::Function define(Napi::Env env);
    explicit js_model(const Napi::CallbackInfo &info);

  private:
    Napi::Value info(const Napi::CallbackInfo &info);
    Napi::Value evaluate(const Napi::CallbackInfo &info);
    Napi::Value tokenize(const Napi::CallbackInfo &info);
    Napi::Value detokenize(const Napi::CallbackInfo &info);
    Napi::Value generate(const Napi::CallbackInfo &info);
    Napi::Value stats(const Napi::CallbackInfo &info);
    Napi::Value close(const Napi::CallbackInfo &info);

    std::shared_ptr<const llama_model> model_;  // null once closed
    std::shared_ptr<const tokenizer> tok_;      // the file's vocabulary
    context_params params_;                     // context settings from the constructor options
    std::unique_ptr<engine_session> session_;   // generation worker and its context
    std::unique_ptr<llama_context> eval_ctx_;   // lazily created for evaluate()
};

class js_request : public Napi::ObjectWrap<js_request> {
  public:
    static Napi::Function define(Napi::Env env);
    // A new Request object for this env (the class is defined once per env: main thread and each worker).
    static Napi::Object create(Napi::Env env);
    explicit js_request(const Napi::CallbackInfo &info);

  private:
    friend class js_model;
    Napi::Value cancel(const Napi::CallbackInfo &info);
    Napi::Value result(const Napi::CallbackInfo &info);
    std::shared_ptr<generation_request> req_;  // shared with the worker until it finishes
};

}  // namespace abi::engine
