#pragma once
// The engine's JS surface is assembled from one registration function per binding file, all
// under the single `exports.engine` object.
#include <napi.h>

#include <cmath>
#include <cstring>

#include "addon/registry.hpp"

namespace abi::engine {

void register_inspect(Napi::Env env, Napi::Object engine);
void register_model(Napi::Env env, Napi::Object engine);
void register_request(Napi::Env env, Napi::Object engine);

}  // namespace abi::engine
