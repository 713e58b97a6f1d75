#include "addon/registry.hpp"

namespace abi {

std::vector<module_init_fn> &module_registry() {
    // Function-local so registrars in other translation units never see it uninitialised.
    static std::vector<module_init_fn> registry;
    return registry;
}

Napi::Value throw_error(Napi::Env env, const char *code, const std::string &message) {
    Napi::Error err = Napi::Error::New(env, message);
    err.Set("code", Napi::String::New(env, code));
    err.ThrowAsJavaScriptException();
    return env.Undefined();
}

}  // namespace abi

static Napi::Object init(Napi::Env env, Napi::Object exports) {
    for (auto fn : abi::module_registry()) fn(env, exports);
    exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
    return exports;
}

NODE_API_MODULE(abi_stream, init)
