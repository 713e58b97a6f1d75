#pragma once
// Each native module (ring, breaker, secure, engine, ...) registers one init function from a
// static object in its own binding file. The addon entry point runs them all, so modules are
// independent translation units that never edit a shared list.
#include <napi.h>

#include <vector>

namespace abi {

using module_init_fn = void (*)(Napi::Env env, Napi::Object exports);

std::vector<module_init_fn> &module_registry();

struct module_registrar {
    explicit module_registrar(module_init_fn fn) { module_registry().push_back(fn); }
};

// Throws a JS Error whose `code` property is a stable ABI_ERR_* string.
Napi::Value throw_error(Napi::Env env, const char *code, const std::string &message);

}  // namespace abi

#define ABI_REGISTER_MODULE(fn) static ::abi::module_registrar abi_registrar_##fn(fn)
