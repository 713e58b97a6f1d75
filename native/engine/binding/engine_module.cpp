#include "engine/binding/engine_exports.hpp"

namespace {

void engine_init(Napi::Env env, Napi::Object exports) {
    Napi::Object engine = Napi::Object::New(env);
    abi::engine::register_inspect(env, engine);
    abi::engine::register_model(env, engine);
    abi::engine::register_request(env, engine);
    exports.Set("engine", engine);
}

}  // namespace

ABI_REGISTER_MODULE(engine_init);
