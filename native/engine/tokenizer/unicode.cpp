#include <algorithm>
#include <array>

#include "engine/tokenizer/unicode_classes.hpp"

namespace abi::engine::unicode {

namespace {

bool in_ranges(const code_range *ranges, size_t count, uint32_t cp) {
    const code_range *end = ranges + count;
    const code_range *it =
        std::upper_bound(ranges, end, cp, [](uint32_t v, const code_range &r) { return v < r.first; });
    if (it == ranges) return false;
    --it;
    return cp >= it->first && cp <= it->last;
}

struct byte_maps {
    std::array<std::string, 256> to_utf8;
    std::array<int32_t, 324> from_cp;  // code points used are < 0x144
    byte_maps() {
        from_cp.fill(-1);
        uint32_t extra = 0;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const uint32_t cp = printable ? static_cast<uint32_t>(b) : 256 + extra++;
            append_utf8(to_utf8[static_cast<size_t>(b)], cp);
            from_cp[cp] = b;
        }
    }
};

const byte_maps &maps() {
    static const byte_maps m;
    return m;
}

}  // namespace

bool is_letter(uint32_t cp) {
    return in_ranges(letter_ranges, letter_ranges_count, cp);
}
bool is_number(uint32_t cp) {
    return in_ranges(number_ranges, number_ranges_count, cp);
}
bool is_punctuation(uint32_t cp) {
    return in_ranges(punctuation_ranges, punctuation_ranges_count, cp);
}

bool is_whitespace(uint32_t cp) {
    if (cp >= 0x09 && cp <= 0x0D) return true;
    switch (cp) {
        case 0x20:
        case 0x85:
        case 0xA0:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x202F:
        case 0x205F:
        case 0x3000:
            return true;
        default:
            return cp >= 0x2000 && cp <= 0x200A;
    }
}

std::vector<uint32_t> decode_utf8(std::string_view text) {
    std::vector<uint32_t> out;
    out.reserve(text.size());
    size_t i = 0;
    const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
    const auto cont = [&](size_t k) { return k < text.size() && (byte(k) & 0xC0) == 0x80; };
    while (i < text.size()) {
        const uint8_t b = byte(i);
        if (b < 0x80) {
            out.push_back(b);
            i += 1;
        } else if ((b & 0xE0) == 0xC0 && cont(i + 1)) {
            out.push_back(((b & 0x1Fu) << 6) | (byte(i + 1) & 0x3Fu));
            i += 2;
        } else if ((b & 0xF0) == 0xE0 && cont(i + 1) && cont(i + 2)) {
            out.push_back(((b & 0x0Fu) << 12) | ((byte(i + 1) & 0x3Fu) << 6) | (byte(i + 2) & 0x3Fu));
            i += 3;
        } else if ((b & 0xF8) == 0xF0 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
            out.push_back(((b & 0x07u) << 18) | ((byte(i + 1) & 0x3Fu) << 12) | ((byte(i + 2) & 0x3Fu) << 6) |
                          (byte(i + 3) & 0x3Fu));
            i += 4;
        } else {
            out.push_back(0xFFFD);
            i += 1;
        }
    }
    return out;
}

void append_utf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

namespace {

// Length of the valid UTF-8 sequence starting at `i`, 0 if the bytes there are invalid, or
// -(bytes seen) if the text ends inside a sequence that is valid so far.
int sequence_at(std::string_view s, size_t i) {
    const uint8_t b = static_cast<uint8_t>(s[i]);
    int need;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte (rejects overlongs/surrogates)
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    for (int k = 1; k < need; ++k) {
        if (i + static_cast<size_t>(k) >= s.size()) return -k;
        const uint8_t c = static_cast<uint8_t>(s[i + static_cast<size_t>(k)]);
        const uint8_t min = k == 1 ? lo : 0x80, max = k == 1 ? hi : 0xBF;
        if (c < min || c > max) return 0;
    }
    return need;
}

}  // namespace

size_t incomplete_utf8_tail(std::string_view bytes) {
    // A sequence is at most 4 bytes, so only the last 3 lead positions can be incomplete.
    const size_t from = bytes.size() > 3 ? bytes.size() - 3 : 0;
    for (size_t i = from; i < bytes.size(); ++i) {
        const int n = sequence_at(bytes, i);
        if (n < 0) return bytes.size() - i;
    }
    return 0;
}

std::string sanitize_utf8(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    size_t i = 0;
    while (i < bytes.size()) {
        const int n = sequence_at(bytes, i);
        if (n > 0) {
            out.append(bytes.substr(i, static_cast<size_t>(n)));
            i += static_cast<size_t>(n);
        } else {
            out.append("\xEF\xBF\xBD");
            i += 1;
        }
    }
    return out;
}

const std::string &byte_to_utf8(uint8_t byte) {
    return maps().to_utf8[byte];
}

int utf8_to_byte(uint32_t cp) {
    return cp < maps().from_cp.size() ? maps().from_cp[cp] : -1;
}

}  // namespace abi::engine::unicode
