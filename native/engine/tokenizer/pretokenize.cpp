#include "engine/tokenizer/pretokenize.hpp"

#include <cstdint>

#include "engine/tokenizer/unicode_classes.hpp"

namespace abi::engine {

namespace {

using unicode::is_letter;
using unicode::is_number;
using unicode::is_whitespace;

constexpr uint32_t out_of_range = 0xFFFFFFFF;

// One segment [begin, end) of the code point array; splitters cut segments into smaller ones.
struct segment {
    size_t begin;  // first code point
    size_t end;    // one past the last
};

struct splitter_view {
    const std::vector<uint32_t> &cpts;
    size_t begin, end;
    uint32_t cpt(size_t pos) const { return pos >= begin && pos < end ? cpts[pos] : out_of_range; }
    // Classification of a position; out-of-range positions are in no class (and "not other").
    bool letter(size_t pos) const { return pos >= begin && pos < end && is_letter(cpts[pos]); }
    bool number(size_t pos) const { return pos >= begin && pos < end && is_number(cpts[pos]); }
    bool space(size_t pos) const { return pos >= begin && pos < end && is_whitespace(cpts[pos]); }
    bool other(size_t pos) const { return pos >= begin && pos < end && !letter(pos) && !number(pos) && !space(pos); }
};

uint32_t ascii_lower(uint32_t c) {
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

// Matches a contraction at pos ('s 't 're 've 'm 'll 'd); returns its length or 0.
size_t contraction(const splitter_view &v, size_t pos, bool any_case) {
    if (v.cpt(pos) != '\'' || pos + 1 >= v.end) return 0;
    const auto low = [&](size_t p) { return any_case ? ascii_lower(v.cpt(p)) : v.cpt(p); };
    const uint32_t a = low(pos + 1);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 < v.end) {
        const uint32_t b = low(pos + 2);
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    return 0;
}

void split_gpt2(const splitter_view &v, std::vector<segment> &out) {
    size_t prev = v.begin;
    const auto emit = [&](size_t end) {
        if (end > prev) out.push_back({prev, end});
        prev = end;
    };
    size_t pos = v.begin;
    while (pos < v.end) {
        if (const size_t n = contraction(v, pos, false)) {
            pos += n;
            emit(pos);
            continue;
        }
        const bool lead_space = v.cpt(pos) == ' ';
        const size_t probe = lead_space ? pos + 1 : pos;
        if (v.letter(probe)) {
            pos = probe;
            while (v.letter(pos)) ++pos;
            emit(pos);
            continue;
        }
        if (v.number(probe)) {
            pos = probe;
            while (v.number(pos)) ++pos;
            emit(pos);
            continue;
        }
        if (v.other(probe)) {
            pos = probe;
            while (v.other(pos)) ++pos;
            emit(pos);
            continue;
        }
        size_t spaces = 0;
        while (v.space(pos + spaces)) ++spaces;
        if (spaces > 1 && v.cpt(pos + spaces) != out_of_range) {
            // \s+(?!\S): leave the last space to prefix the next word
            pos += spaces - 1;
            emit(pos);
            continue;
        }
        if (spaces > 0) {
            pos += spaces;
            emit(pos);
            continue;
        }
        emit(++pos);
    }
}

void split_llama3(const splitter_view &v, std::vector<segment> &out, size_t max_digits) {
    size_t prev = v.begin;
    const auto emit = [&](size_t end) {
        if (end > prev) out.push_back({prev, end});
        prev = end;
    };
    size_t pos = v.begin;
    while (pos < v.end) {
        if (const size_t n = contraction(v, pos, true)) {
            pos += n;
            emit(pos);
            continue;
        }
        const uint32_t c = v.cpt(pos);
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (!(c == '\r' || c == '\n' || v.number(pos)) && (v.letter(pos) || v.letter(pos + 1))) {
            ++pos;
            while (v.letter(pos)) ++pos;
            emit(pos);
            continue;
        }
        // \p{N}{1,3} (llama3) or \p{N} (qwen2)
        if (v.number(pos)) {
            size_t start = pos;
            while (v.number(pos)) {
                if (++pos - start >= max_digits) {
                    emit(pos);
                    start = pos;
                }
            }
            emit(pos);
            continue;
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        const size_t probe = c == ' ' ? pos + 1 : pos;
        if (v.other(probe)) {
            pos = probe;
            while (v.other(pos)) ++pos;
            while (v.cpt(pos) == '\r' || v.cpt(pos) == '\n') ++pos;
            emit(pos);
            continue;
        }
        size_t spaces = 0, last_newline_end = 0;
        while (v.space(pos + spaces)) {
            const uint32_t s = v.cpt(pos + spaces);
            if (s == '\r' || s == '\n') last_newline_end = pos + spaces + 1;
            ++spaces;
        }
        if (last_newline_end > 0) {  // \s*[\r\n]+
            pos = last_newline_end;
            emit(pos);
            continue;
        }
        if (spaces > 1 && v.cpt(pos + spaces) != out_of_range) {
            pos += spaces - 1;
            emit(pos);
            continue;
        }
        if (spaces > 0) {
            pos += spaces;
            emit(pos);
            continue;
        }
        emit(++pos);
    }
}

// Splits each segment into runs where `pred` holds and the gaps between them (a regex split
// keeps the unmatched text as its own pieces). chunk > 0 cuts matched runs into pieces of
// `chunk` code points (a trailing shorter rest is left unmatched, as [0-9]{3} would).
template <typename Pred>
std::vector<segment> split_runs(const std::vector<uint32_t> &cpts, const std::vector<segment> &in, Pred pred,
                                size_t chunk) {
    std::vector<segment> out;
    for (const segment &s : in) {
        size_t pos = s.begin, prev = s.begin;
        while (pos < s.end) {
            if (!pred(cpts[pos])) {
                ++pos;
                continue;
            }
            size_t run_end = pos;
            while (run_end < s.end && pred(cpts[run_end])) ++run_end;
            if (chunk > 0) run_end = pos + (run_end - pos) / chunk * chunk;
            if (run_end == pos) {
                pos = run_end + 1;
                continue;
            }
            if (pos > prev) out.push_back({prev, pos});
            if (chunk > 0) {
                for (size_t c = pos; c < run_end; c += chunk) out.push_back({c, c + chunk});
            } else {
                out.push_back({pos, run_end});
            }
            prev = pos = run_end;
        }
        if (s.end > prev) out.push_back({prev, s.end});
    }
    return out;
}

// [\p{P}\$\+<=>\^~\|]
bool is_fallback_punct(uint32_t c) {
    return c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' || c == '~' || c == '|' ||
           unicode::is_punctuation(c);
}

}  // namespace

bool pre_tokenizer_from_name(std::string_view name, pre_tokenizer *out) {
    // Names as llama.cpp's llama_vocab::impl::load maps them to these regexes.
    static const char *const gpt2_names[] = {"gpt-2",      "phi-2",      "jina-es", "jina-de", "gigachat",
                                             "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",  "modern-bert"};
    static const char *const llama3_names[] = {"llama3",  "llama-v3", "llama-bpe", "falcon3",     "falcon-h1",
                                               "pixtral", "midm-2.0", "lfm2",      "jina-v5-nano"};
    static const char *const qwen2_names[] = {"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2"};
    for (const char *n : gpt2_names) {
        if (name == n) return *out = pre_tokenizer::gpt2, true;
    }
    for (const char *n : llama3_names) {
        if (name == n) return *out = pre_tokenizer::llama3, true;
    }
    for (const char *n : qwen2_names) {
        if (name == n) return *out = pre_tokenizer::qwen2, true;
    }
    if (name.empty() || name == "default") return *out = pre_tokenizer::fallback, true;
    return false;
}

bool pre_tokenizer_cleans_spaces(pre_tokenizer kind) {
    return kind != pre_tokenizer::qwen2;
}

std::vector<std::string> pre_tokenize(std::string_view text, pre_tokenizer kind) {
    const std::vector<uint32_t> cpts = unicode::decode_utf8(text);
    std::vector<segment> segs{{0, cpts.size()}};
    std::vector<segment> out;
    if (kind == pre_tokenizer::fallback) {
        segs = split_runs(cpts, segs, is_fallback_punct, 0);
    }
    for (const segment &s : segs) {
        const splitter_view view{cpts, s.begin, s.end};
        if (kind == pre_tokenizer::llama3 || kind == pre_tokenizer::qwen2) {
            split_llama3(view, out, kind == pre_tokenizer::llama3 ? 3 : 1);
        } else {
            split_gpt2(view, out);
        }
    }
    if (kind == pre_tokenizer::fallback) {
        out = split_runs(cpts, out, is_number, 0);
        out = split_runs(
            cpts, out, [](uint32_t c) { return c >= '0' && c <= '9'; }, 3);
    }
    std::vector<std::string> words;
    words.reserve(out.size());
    for (const segment &s : out) {
        std::string w;
        for (size_t i = s.begin; i < s.end; ++i) unicode::append_utf8(w, cpts[i]);
        words.push_back(std::move(w));
    }
    return words;
}

}  // namespace abi::engine
