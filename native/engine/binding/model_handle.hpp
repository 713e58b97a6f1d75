#pragma once
#include <memory>

#include "engine/binding/engine_exports.hpp"
#include "engine/llama/llama_context.hpp"
#include "engine/llama/llama_model.hpp"

namespace abi::engine {

class js_model : public Napi::ObjectWrap<js_model> {
  public:
    static Napi::Function define(Napi::Env env);
    static Napi::FunctionReference constructor;
    explicit js_model(const Napi::CallbackInfo &info);

  private:
    Napi::Value info(const Napi::CallbackInfo &info);
    Napi::Value evaluate(const Napi::CallbackInfo &info);
    Napi::Value close(const Napi::CallbackInfo &info);

    std::shared_ptr<const llama_model> model_;  // null once closed
    context_params params_;                     // context settings from the constructor options
    std::unique_ptr<llama_context> eval_ctx_;   // lazily created for evaluate()
};

}  // namespace abi::engine
