#pragma once
// Code point classes and UTF-8 helpers for the tokenizer (what the pre-tokenizer regexes call
// \p{L}, \p{N} and \s), plus GPT-2's byte ↔ printable-code-point mapping.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace abi::engine::unicode {

struct code_range {
    uint32_t first;  // first code point in the range
    uint32_t last;   // last code point, inclusive
};
static_assert(sizeof(code_range) == 8, "two u32");

extern const code_range letter_ranges[];
extern const size_t letter_ranges_count;
extern const code_range number_ranges[];
extern const size_t number_ranges_count;
extern const code_range punctuation_ranges[];
extern const size_t punctuation_ranges_count;

bool is_letter(uint32_t cp);
bool is_number(uint32_t cp);
bool is_punctuation(uint32_t cp);
// Unicode White_Space (what std::regex/PCRE treat as \s for these tokenizers).
bool is_whitespace(uint32_t cp);

// Byte length of the UTF-8 sequence a lead byte starts (1 for continuation/invalid bytes), as
// llama.cpp's unicode_len_utf8 counts it.
inline size_t utf8_len(uint8_t lead) {
    static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[lead >> 4];
}

// Decodes `text` into code points; an invalid byte becomes U+FFFD and decoding resumes at the
// next byte (llama.cpp's unicode_cpts_from_utf8).
std::vector<uint32_t> decode_utf8(std::string_view text);
void append_utf8(std::string &out, uint32_t cp);

// Number of bytes at the end of `bytes` that form an incomplete (but so far valid) UTF-8
// sequence; 0 when the text ends on a character boundary.
size_t incomplete_utf8_tail(std::string_view bytes);
// Replaces every invalid UTF-8 byte with U+FFFD (the text is assumed to have no incomplete tail).
std::string sanitize_utf8(std::string_view bytes);

// GPT-2 bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 + n.
const std::string &byte_to_utf8(uint8_t byte);
// Inverse mapping; -1 when the code point is not the image of a byte.
int utf8_to_byte(uint32_t cp);

}  // namespace abi::engine::unicode
