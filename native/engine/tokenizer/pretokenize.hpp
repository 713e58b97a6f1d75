#pragma once
// BPE pre-tokenizers: split text into words before merging, reproducing the regexes llama.cpp
// uses for each `tokenizer.ggml.pre` (its hand-written unicode_regex_split_custom_* matchers).
#include <string>
#include <string_view>
#include <vector>

namespace abi::engine {

enum class pre_tokenizer : int {
    gpt2 = 0,      // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    llama3 = 1,    // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    fallback = 2,  // llama.cpp's "default": punctuation runs, then gpt2, then \p{N}+, then [0-9]{3}
    qwen2 = 3,     // as llama3 but \p{N} (one digit per word)
};

// Maps a tokenizer.ggml.pre name to the splitter; false when the name is not supported.
bool pre_tokenizer_from_name(std::string_view name, pre_tokenizer *out);
// llama.cpp's clean_up_tokenization_spaces for this pre-tokenizer (" ," → "," when decoding).
bool pre_tokenizer_cleans_spaces(pre_tokenizer kind);

// Splits `text` (UTF-8; invalid bytes count as U+FFFD) into words, each returned as UTF-8.
std::vector<std::string> pre_tokenize(std::string_view text, pre_tokenizer kind);

}  // namespace abi::engine
