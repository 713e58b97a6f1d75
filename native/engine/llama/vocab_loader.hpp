#pragma once
// Builds the tokenizer of a GGUF file from its tokenizer.ggml.* metadata (llama.cpp's defaults for
// absent keys come from vocab_defaults).
#include <cstring>
#include <memory>

#include "engine/gguf/gguf_reader.hpp"
#include "engine/tokenizer/tokenizer.hpp"

namespace abi::engine {

// Throws gguf::gguf_error naming the file and key when the vocabulary is missing or malformed.
std::unique_ptr<tokenizer> load_tokenizer(const gguf::gguf_file &file);

}  // namespace abi::engine
