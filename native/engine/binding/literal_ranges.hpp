#pragma once
// Literal byte ranges of a prompt (the message text of a rendered chat, from
// lib/engine/chat-template.ts) as JS passes them: a flat [start, end, start, end, ...] number array.
// Control-token text inside them is tokenized as text (tokenizer::encode's `literal` overload).
#include <napi.h>

#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace abi::engine {

using literal_ranges = std::vector<std::pair<size_t, size_t>>;

// False with `error` set when `value` is not pairs of integers with start <= end <= text_bytes.
inline bool read_literal_ranges(const Napi::Value &value, size_t text_bytes, literal_ranges *out, std::string *error) {
    if (!value.IsArray()) {
        *error = "literalRanges must be an array of [start, end, ...] byte offsets";
        return false;
    }
    const Napi::Array flat = value.As<Napi::Array>();
    if (flat.Length() % 2 != 0) {
        *error = "literalRanges must hold [start, end] pairs";
        return false;
    }
    for (uint32_t i = 0; i < flat.Length(); i += 2) {
        const Napi::Value a = flat.Get(i);
        const Napi::Value b = flat.Get(i + 1);
        const double start = a.IsNumber() ? a.As<Napi::Number>().DoubleValue() : -1;
        const double end = b.IsNumber() ? b.As<Napi::Number>().DoubleValue() : -1;
        if (!(start >= 0 && start <= end && end <= static_cast<double>(text_bytes)) || std::floor(start) != start ||
            std::floor(end) != end) {
            *error = "literalRanges: [" + std::to_string(start) + ", " + std::to_string(end) +
                     ") is not a byte range inside the " + std::to_string(text_bytes) + "-byte prompt";
            return false;
        }
        out->emplace_back(static_cast<size_t>(start), static_cast<size_t>(end));
    }
    return true;
}

}  // namespace abi::engine
