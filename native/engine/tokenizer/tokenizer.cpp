#include "engine/tokenizer/tokenizer.hpp"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "engine/tokenizer/pretokenize.hpp"
#include "engine/tokenizer/unicode_classes.hpp"

namespace abi::engine {

namespace {

const char *const space_marker = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK, SPM's visible space

std::string escape_spaces(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 4);
    for (char c : text) {
        if (c == ' ') {
            out += space_marker;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string unescape_spaces(const std::string &text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        if (text.compare(i, 3, space_marker) == 0) {
            out.push_back(' ');
            i += 3;
        } else {
            out.push_back(text[i++]);
        }
    }
    return out;
}

// Byte-level BPE piece text → raw bytes (GPT-2's unicode_to_bytes); code points that are not
// the image of a byte are kept as UTF-8.
std::string decode_bpe_piece(const std::string &piece) {
    std::string out;
    for (uint32_t cp : unicode::decode_utf8(piece)) {
        const int b = unicode::utf8_to_byte(cp);
        if (b >= 0) {
            out.push_back(static_cast<char>(b));
        } else {
            unicode::append_utf8(out, cp);
        }
    }
    return out;
}

// Pieces llama.cpp treats as end of generation (and forces to control type) by their text.
const char *const eog_texts[] = {"<|eot_id|>",
                                 "<|im_end|>",
                                 "<|end|>",
                                 "<|return|>",
                                 "<|call|>",
                                 "<|flush|>",
                                 "<|calls|>",
                                 "<end_of_turn>",
                                 "<|endoftext|>",
                                 "</s>",
                                 "<|eom_id|>",
                                 "<EOT>",
                                 "_<EOT>",
                                 "[EOT]",
                                 "[EOS]",
                                 "<|end_of_text|>",
                                 "<end_of_utterance>",
                                 "<eos>",
                                 "<turn|>",
                                 "<|tool_response>",
                                 "[e~["};
// The subset llama.cpp takes the EOT token from (first match in its hash-map order).
const char *const eot_texts[] = {"<|eot_id|>",      "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                 "<|end_of_text|>", "<EOT>",      "_<EOT>",  "[EOT]",         "<end_of_utterance>"};

// llama.cpp's clean_up_tokenization_spaces: " ?" " !" " ." " ," lose the space, " ' " loses
// both, and " 's" " 'm" " 're" " 've" lose the space.
std::string clean_spaces(const std::string &in) {
    std::string a;
    for (size_t i = 0; i < in.size(); ++i) {
        const char x = in[i];
        if (i > 0 && in[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',') && !a.empty()) a.pop_back();
        a.push_back(x);
    }
    std::string b;
    for (size_t i = 0; i < a.size(); ++i) {
        const char x = a[i];
        if (i > 0 && x == '\'' && i + 1 < a.size() && a[i - 1] == ' ' && a[i + 1] == ' ') {
            if (!b.empty()) b.pop_back();
            b.push_back(x);
            ++i;  // drop the next space
            continue;
        }
        b.push_back(x);
    }
    std::string c;
    for (size_t i = 0; i < b.size(); ++i) {
        const char x = b[i];
        if (i > 0 && b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
            const char x1 = b[i + 1];
            const char x2 = i + 2 < b.size() ? b[i + 2] : 0;
            if (x1 == 's' || x1 == 'm' || (x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) c.pop_back();
        }
        c.push_back(x);
    }
    return c;
}

// One symbol of the merge loop: a byte range of the text, linked to its live neighbours.
struct symbol {
    int prev;      // index of the previous live symbol, -1 at the start
    int next;      // index of the next live symbol, -1 at the end
    size_t start;  // byte offset into the text being merged
    size_t n;      // byte length; 0 once merged into its left neighbour
};

void split_chars(std::string_view text, std::vector<symbol> &syms) {
    syms.clear();
    size_t offs = 0;
    int index = 0;
    while (offs < text.size()) {
        const size_t len = std::min(unicode::utf8_len(static_cast<uint8_t>(text[offs])), text.size() - offs);
        syms.push_back({index - 1, offs + len == text.size() ? -1 : index + 1, offs, len});
        offs += len;
        ++index;
    }
}

}  // namespace

vocab_data vocab_defaults(vocab_kind kind, std::string_view pre) {
    vocab_data v;
    v.kind = kind;
    v.pre = std::string(pre);
    if (kind == vocab_kind::bpe) {
        v.bos_id = 11;
        v.eos_id = 11;
        v.unk_id = no_token;
        v.add_space_prefix = false;
        pre_tokenizer p = pre_tokenizer::fallback;
        v.add_bos = pre_tokenizer_from_name(pre, &p) && p == pre_tokenizer::llama3;
    }
    return v;
}

std::unique_ptr<tokenizer> tokenizer::create(vocab_data data, std::string *error) {
    const auto fail = [&](const std::string &msg) -> std::unique_ptr<tokenizer> {
        if (error) *error = msg;
        return nullptr;
    };
    const size_t n = data.tokens.size();
    if (n == 0) return fail("tokenizer.ggml.tokens is empty");
    if (n > 0x7FFFFFFF) return fail("tokenizer.ggml.tokens has too many entries");
    if (data.scores.empty()) data.scores.assign(n, 0.0f);
    if (data.token_types.empty()) data.token_types.assign(n, static_cast<int32_t>(token_type::normal));
    if (data.scores.size() != n) {
        return fail("tokenizer.ggml.scores has " + std::to_string(data.scores.size()) + " entries, expected " +
                    std::to_string(n));
    }
    if (data.token_types.size() != n) {
        return fail("tokenizer.ggml.token_type has " + std::to_string(data.token_types.size()) + " entries, expected " +
                    std::to_string(n));
    }
    // Like llama.cpp: a special id outside the vocabulary falls back to the kind's default (or to
    // none when the default is outside too), with a warning, instead of failing the load.
    const vocab_data defaults = vocab_defaults(data.kind, data.pre);
    std::vector<std::string> warnings;
    struct id_key {
        token_id *id;       // field in data
        token_id fallback;  // llama.cpp's default for the field
        const char *key;    // GGUF key, for the warning
    };
    for (const id_key &k : {id_key{&data.bos_id, defaults.bos_id, "tokenizer.ggml.bos_token_id"},
                            id_key{&data.eos_id, defaults.eos_id, "tokenizer.ggml.eos_token_id"},
                            id_key{&data.unk_id, defaults.unk_id, "tokenizer.ggml.unknown_token_id"},
                            id_key{&data.pad_id, defaults.pad_id, "tokenizer.ggml.padding_token_id"},
                            id_key{&data.eot_id, defaults.eot_id, "tokenizer.ggml.eot_token_id"}}) {
        const auto in_range = [&](token_id id) { return id >= 0 && static_cast<size_t>(id) < n; };
        if (*k.id == no_token || in_range(*k.id)) continue;
        const token_id replacement = in_range(k.fallback) ? k.fallback : no_token;
        warnings.push_back(std::string(k.key) + " = " + std::to_string(*k.id) + " is outside the vocabulary of " +
                           std::to_string(n) + " tokens; using " +
                           (replacement == no_token ? std::string("none") : std::to_string(replacement)));
        *k.id = replacement;
    }
    pre_tokenizer pre = pre_tokenizer::fallback;
    if (data.kind == vocab_kind::bpe) {
        if (!pre_tokenizer_from_name(data.pre, &pre)) {
            return fail("tokenizer.ggml.pre = '" + data.pre + "' is not a supported pre-tokenizer");
        }
        if (data.merges.empty()) return fail("tokenizer.ggml.merges is missing or empty (required for gpt2)");
    }
    if (data.add_bos && data.bos_id == no_token) return fail("add_bos_token is set but there is no BOS token");
    if (data.add_eos && data.eos_id == no_token) return fail("add_eos_token is set but there is no EOS token");

    std::unique_ptr<tokenizer> tok(new tokenizer(std::move(data)));
    tok->pre_split_ = static_cast<int>(pre);
    tok->warnings_ = std::move(warnings);
    auto &d = tok->data_;
    tok->piece_to_id_.reserve(n);
    for (size_t i = 0; i < n; ++i) tok->piece_to_id_[d.tokens[i]] = static_cast<token_id>(i);
    if (d.kind == vocab_kind::bpe) {
        tok->merge_ranks_.reserve(d.merges.size());
        for (size_t i = 0; i < d.merges.size(); ++i) {
            const std::string &m = d.merges[i];
            const size_t pos = m.find(' ', 1);
            std::string key;
            if (pos != std::string::npos) key = m.substr(0, pos) + '\x01' + m.substr(pos + 1);
            tok->merge_ranks_.emplace(std::move(key), static_cast<int32_t>(i));  // first occurrence wins
        }
    }
    // End-of-generation set; the pieces recognised by text become control tokens, as in llama.cpp.
    if (d.eot_id == no_token) {
        for (const char *text : eot_texts) {
            const token_id id = tok->find_piece(text);
            if (id == no_token) continue;
            d.eot_id = id;
            break;
        }
    }
    for (const char *text : eog_texts) {
        const token_id id = tok->find_piece(text);
        if (id == no_token) continue;
        d.token_types[static_cast<size_t>(id)] = static_cast<int32_t>(token_type::control);
        tok->eog_ids_.push_back(id);
    }
    if (d.eos_id != no_token) tok->eog_ids_.push_back(d.eos_id);
    if (d.eot_id != no_token) tok->eog_ids_.push_back(d.eot_id);
    for (size_t i = 0; i < n; ++i) {
        const auto t = static_cast<token_type>(d.token_types[i]);
        if ((t == token_type::control || t == token_type::user_defined || t == token_type::unknown) &&
            !d.tokens[i].empty()) {
            tok->special_by_length_.push_back(static_cast<token_id>(i));
        }
    }
    std::stable_sort(tok->special_by_length_.begin(), tok->special_by_length_.end(), [&](token_id a, token_id b) {
        return d.tokens[static_cast<size_t>(a)].size() > d.tokens[static_cast<size_t>(b)].size();
    });
    return tok;
}

token_type tokenizer::type_of(token_id id) const {
    if (id < 0 || id >= n_vocab()) return token_type::undefined;
    return static_cast<token_type>(data_.token_types[static_cast<size_t>(id)]);
}

bool tokenizer::is_control(token_id id) const {
    return type_of(id) == token_type::control;
}

bool tokenizer::is_eog(token_id id) const {
    return id != no_token && std::find(eog_ids_.begin(), eog_ids_.end(), id) != eog_ids_.end();
}

token_id tokenizer::find_piece(std::string_view text) const {
    const auto it = piece_to_id_.find(text);
    return it == piece_to_id_.end() ? no_token : it->second;
}

int32_t tokenizer::bpe_rank(std::string_view left, std::string_view right) const {
    std::string key;
    key.reserve(left.size() + right.size() + 1);
    key.append(left).push_back('\x01');
    key.append(right);
    const auto it = merge_ranks_.find(key);
    return it == merge_ranks_.end() ? -1 : it->second;
}

token_id tokenizer::byte_to_token(uint8_t byte) const {
    static const char hex[] = "0123456789ABCDEF";
    const char name[7] = {'<', '0', 'x', hex[byte >> 4], hex[byte & 15], '>', 0};
    token_id id = find_piece(name);
    if (id != no_token) return id;
    id = find_piece(std::string(1, static_cast<char>(byte)));
    return id != no_token ? id : data_.unk_id;
}

// Cuts special-token text out of the input, longest special token first; control and unknown
// tokens only when parse_special (user-defined ones always), like tokenizer_st_partition.
std::vector<tokenizer::fragment> tokenizer::partition_special(
    std::string_view text, bool parse_special, const std::vector<std::pair<size_t, size_t>> &literal) const {
    const auto in_literal = [&](size_t begin, size_t end) {
        for (const auto &r : literal) {
            if (begin < r.second && r.first < end) return true;
        }
        return false;
    };
    std::vector<fragment> frags;
    if (text.empty()) return frags;
    frags.push_back({no_token, 0, text.size()});
    for (token_id special : special_by_length_) {
        const token_type t = type_of(special);
        const bool gated = t == token_type::control || t == token_type::unknown;
        if (!parse_special && gated) continue;
        const std::string &piece = data_.tokens[static_cast<size_t>(special)];
        std::vector<fragment> next;
        next.reserve(frags.size());
        for (const fragment &f : frags) {
            if (f.token != no_token) {
                next.push_back(f);
                continue;
            }
            size_t start = f.offset;
            const size_t end = f.offset + f.length;
            size_t search = start;
            while (search < end) {
                const size_t hit = text.substr(0, end).find(piece, search);
                if (hit == std::string_view::npos) break;
                if (gated && in_literal(hit, hit + piece.size())) {
                    search = hit + 1;  // message text: this occurrence stays text
                    continue;
                }
                if (hit > start) next.push_back({no_token, start, hit - start});
                next.push_back({special, 0, 0});
                start = search = hit + piece.size();
            }
            if (start < end) next.push_back({no_token, start, end - start});
        }
        frags.swap(next);
    }
    return frags;
}

void tokenizer::encode_spm(std::string_view text, std::vector<token_id> &out) const {
    std::vector<symbol> syms;
    split_chars(text, syms);
    struct bigram {
        int left;     // symbol index of the left half
        int right;    // symbol index of the right half
        float score;  // piece score of the merged text
        size_t size;  // merged byte length, to detect stale entries
    };
    const auto lower_priority = [](const bigram &l, const bigram &r) {
        return l.score < r.score || (l.score == r.score && l.left > r.left);
    };
    std::priority_queue<bigram, std::vector<bigram>, decltype(lower_priority)> queue(lower_priority);
    const auto try_add = [&](int left, int right) {
        if (left == -1 || right == -1) return;
        const symbol &l = syms[static_cast<size_t>(left)];
        const symbol &r = syms[static_cast<size_t>(right)];
        const std::string_view merged = text.substr(l.start, l.n + r.n);
        const token_id id = find_piece(merged);
        if (id == no_token) return;
        queue.push({left, right, data_.scores[static_cast<size_t>(id)], merged.size()});
    };
    for (size_t i = 1; i < syms.size(); ++i) try_add(static_cast<int>(i - 1), static_cast<int>(i));
    while (!queue.empty()) {
        const bigram b = queue.top();
        queue.pop();
        symbol &l = syms[static_cast<size_t>(b.left)];
        symbol &r = syms[static_cast<size_t>(b.right)];
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) syms[static_cast<size_t>(r.next)].prev = b.left;
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }
    for (int i = syms.empty() ? -1 : 0; i != -1; i = syms[static_cast<size_t>(i)].next) {
        const symbol &s = syms[static_cast<size_t>(i)];
        const std::string_view piece = text.substr(s.start, s.n);
        const token_id id = find_piece(piece);
        if (id != no_token) {
            out.push_back(id);
            continue;
        }
        // Only unmerged single characters can be missing from the vocabulary: fall back to bytes.
        for (char c : piece) out.push_back(byte_to_token(static_cast<uint8_t>(c)));
    }
}

void tokenizer::encode_bpe(std::string_view text, std::vector<token_id> &out) const {
    const auto kind = static_cast<pre_tokenizer>(pre_split_);
    const bool ignore_merges = kind == pre_tokenizer::llama3;  // llama.cpp: whole-word pieces skip merging
    std::vector<symbol> syms;
    for (const std::string &raw_word : pre_tokenize(text, kind)) {
        std::string word;
        for (char c : raw_word) word += unicode::byte_to_utf8(static_cast<uint8_t>(c));
        if (ignore_merges) {
            const token_id whole = find_piece(word);
            if (whole != no_token) {
                out.push_back(whole);
                continue;
            }
        }
        split_chars(word, syms);
        struct bigram {
            int left;          // symbol index of the left half
            int right;         // symbol index of the right half
            int32_t rank;      // merge rank (lower merges first)
            std::string text;  // merged text, to detect stale entries
        };
        const auto lower_priority = [](const bigram &l, const bigram &r) {
            return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
        };
        std::priority_queue<bigram, std::vector<bigram>, decltype(lower_priority)> queue(lower_priority);
        const std::string_view w(word);
        const auto try_add = [&](int left, int right) {
            if (left == -1 || right == -1) return;
            const symbol &l = syms[static_cast<size_t>(left)];
            const symbol &r = syms[static_cast<size_t>(right)];
            const int32_t rank = bpe_rank(w.substr(l.start, l.n), w.substr(r.start, r.n));
            if (rank < 0) return;
            queue.push({left, right, rank, std::string(w.substr(l.start, l.n + r.n))});
        };
        for (size_t i = 1; i < syms.size(); ++i) try_add(static_cast<int>(i - 1), static_cast<int>(i));
        while (!queue.empty()) {
            const bigram b = queue.top();
            queue.pop();
            symbol &l = syms[static_cast<size_t>(b.left)];
            symbol &r = syms[static_cast<size_t>(b.right)];
            if (l.n == 0 || r.n == 0 || l.start + l.n != r.start || w.substr(l.start, l.n + r.n) != b.text) continue;
            l.n += r.n;
            r.n = 0;
            l.next = r.next;
            if (r.next >= 0) syms[static_cast<size_t>(r.next)].prev = b.left;
            try_add(l.prev, b.left);
            try_add(b.left, l.next);
        }
        for (const symbol &s : syms) {
            if (s.n == 0) continue;
            const std::string_view piece = w.substr(s.start, s.n);
            const token_id id = find_piece(piece);
            if (id != no_token) {
                out.push_back(id);
                continue;
            }
            // llama.cpp tries each byte of the piece as a token and drops those that are not.
            for (char c : piece) {
                const token_id b = find_piece(std::string(1, c));
                if (b != no_token) out.push_back(b);
            }
        }
    }
}

std::vector<token_id> tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    return encode(text, add_special, parse_special, {});
}

std::vector<token_id> tokenizer::encode(std::string_view text, bool add_special, bool parse_special,
                                        const std::vector<std::pair<size_t, size_t>> &literal) const {
    std::vector<token_id> out;
    const std::vector<fragment> frags = partition_special(text, parse_special, literal);
    if (add_special && data_.add_bos) out.push_back(data_.bos_id);
    if (data_.kind == vocab_kind::spm) {
        bool prev_special = true;  // the first fragment gets the space prefix too
        for (const fragment &f : frags) {
            if (f.token != no_token) {
                out.push_back(f.token);
                prev_special = true;
                continue;
            }
            std::string piece = data_.add_space_prefix && prev_special ? " " : "";
            piece.append(text.substr(f.offset, f.length));
            encode_spm(escape_spaces(piece), out);
            prev_special = false;
        }
    } else {
        for (const fragment &f : frags) {
            if (f.token != no_token) {
                out.push_back(f.token);
            } else {
                encode_bpe(text.substr(f.offset, f.length), out);
            }
        }
    }
    if (add_special && data_.add_eos) out.push_back(data_.eos_id);
    return out;
}

std::string tokenizer::token_to_piece(token_id id, bool special) const {
    if (id < 0 || id >= n_vocab()) return {};
    const token_type t = type_of(id);
    if (!special && (t == token_type::control || t == token_type::unknown)) return {};
    const std::string &text = data_.tokens[static_cast<size_t>(id)];
    if (t == token_type::control || t == token_type::unknown || t == token_type::user_defined) return text;
    if (data_.kind == vocab_kind::spm) {
        if (t == token_type::normal) return unescape_spaces(text);
        if (t == token_type::byte) {
            // "<0xNN>"
            unsigned value = 0;
            if (text.size() == 6 && std::sscanf(text.c_str(), "<0x%2X>", &value) == 1) {
                return std::string(1, static_cast<char>(value));
            }
            return {};
        }
        return {};  // unused/undefined pieces are suppressed, as llama.cpp does
    }
    if (t == token_type::normal) return decode_bpe_piece(text);
    return {};
}

std::string tokenizer::detokenize(const std::vector<token_id> &ids, bool remove_special, bool unparse_special) const {
    size_t begin = 0, end = ids.size();
    bool strip_space = data_.add_space_prefix;
    if (remove_special && data_.add_bos && end > begin && ids[begin] == data_.bos_id) {
        strip_space = false;  // llama.cpp keeps the space when it removed a BOS
        ++begin;
    }
    if (remove_special && data_.add_eos && end > begin && ids[end - 1] == data_.eos_id) --end;
    std::string out;
    for (size_t i = begin; i < end; ++i) {
        std::string piece = token_to_piece(ids[i], unparse_special);
        if (strip_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
        // llama.cpp consumes the strip on the first token even when it yields nothing.
        strip_space = false;
        out += piece;
    }
    if (data_.kind == vocab_kind::bpe && pre_tokenizer_cleans_spaces(static_cast<pre_tokenizer>(pre_split_))) {
        return clean_spaces(out);
    }
    return out;
}

std::string detokenizer::push(token_id id) {
    std::string piece = tok_.token_to_piece(id, special_);
    if (strip_ && !piece.empty()) {
        if (piece[0] == ' ') piece.erase(0, 1);
        strip_ = false;
    }
    pending_ += piece;
    return take_complete();
}

std::string detokenizer::take_complete() {
    const size_t tail = unicode::incomplete_utf8_tail(pending_);
    const size_t ready = pending_.size() - tail;
    if (ready == 0) return {};
    std::string out = unicode::sanitize_utf8(std::string_view(pending_).substr(0, ready));
    pending_.erase(0, ready);
    return out;
}

std::string detokenizer::flush() {
    std::string out = unicode::sanitize_utf8(pending_);
    pending_.clear();
    return out;
}

}  // namespace abi::engine
