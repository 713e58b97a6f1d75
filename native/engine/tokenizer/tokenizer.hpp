#pragma once
// Tokenizer for GGUF vocabularies, following llama.cpp's behaviour (llama-vocab.cpp) so that our
// token ids match llama.cpp's for the same text:
//  - 'llama' (SentencePiece-style, SPM): spaces become U+2581, a U+2581 is prepended to each text
//    fragment that starts the input or follows a special token (add_space_prefix), adjacent
//    symbols are merged by highest piece score (ties: leftmost first), and text no piece covers
//    falls back to <0xNN> byte tokens.
//  - 'gpt2' (byte-level BPE): the text is split by the pre-tokenizer regex, each byte is mapped to
//    its printable code point (GPT-2's bytes_to_unicode), and pairs are merged by merge rank.
// Special tokens (control/unknown, and user-defined ones) are cut out of the text before that,
// longest first, exactly like llama.cpp's tokenizer_st_partition.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace abi::engine {

using token_id = int32_t;
inline constexpr token_id no_token = -1;  // LLAMA_TOKEN_NULL; u32 0xFFFFFFFF in GGUF files

// tokenizer.ggml.token_type values (GGUF spec).
enum class token_type : int32_t {
    undefined = 0,
    normal = 1,
    unknown = 2,
    control = 3,
    user_defined = 4,
    unused = 5,
    byte = 6,
};

enum class vocab_kind : uint8_t {
    spm,  // tokenizer.ggml.model = "llama"
    bpe,  // tokenizer.ggml.model = "gpt2"
};

// Everything the tokenizer needs, as plain vectors read from GGUF metadata. Missing keys take
// llama.cpp's defaults, which vocab_defaults() fills in for a kind.
struct vocab_data {
    vocab_kind kind = vocab_kind::spm;  // tokenizer.ggml.model
    std::string pre;                    // tokenizer.ggml.pre (BPE pre-tokenizer name; "" = default)
    std::vector<std::string> tokens;    // tokenizer.ggml.tokens: piece bytes per id
    std::vector<float> scores;          // tokenizer.ggml.scores (SPM merge priority); may be empty
    std::vector<int32_t> token_types;   // tokenizer.ggml.token_type; may be empty (all normal)
    std::vector<std::string> merges;    // tokenizer.ggml.merges ("left right", index = rank); BPE only
    token_id bos_id = 1;                // tokenizer.ggml.bos_token_id
    token_id eos_id = 2;                // tokenizer.ggml.eos_token_id
    token_id unk_id = 0;                // tokenizer.ggml.unknown_token_id
    token_id pad_id = no_token;         // tokenizer.ggml.padding_token_id
    token_id eot_id = no_token;         // tokenizer.ggml.eot_token_id (detected from text when absent)
    bool add_bos = true;                // tokenizer.ggml.add_bos_token
    bool add_eos = false;               // tokenizer.ggml.add_eos_token
    bool add_space_prefix = true;       // tokenizer.ggml.add_space_prefix
};

// llama.cpp's defaults for keys a file leaves out: SPM bos 1, eos 2, unk 0, add_bos, space prefix;
// BPE bos 11, eos 11, no unk, no BOS added (the llama3/llama-bpe pre-tokenizers add one), no prefix.
vocab_data vocab_defaults(vocab_kind kind, std::string_view pre = {});

// Hash that lets string maps be probed with a string_view, without building a std::string.
struct piece_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using piece_map = std::unordered_map<std::string, int32_t, piece_hash, std::equal_to<>>;

class tokenizer {
  public:
    // Validates the vocabulary (lengths agree, special ids in range, merges parse). On failure
    // returns nullptr and sets *error to a message naming the offending field.
    static std::unique_ptr<tokenizer> create(vocab_data data, std::string *error);

    // Text → ids. add_special: prepend BOS (and append EOS) as the vocabulary asks.
    // parse_special: recognise control tokens (e.g. "<|im_start|>") written in the text; without
    // it only user-defined tokens are recognised and control-token text is tokenized as text.
    std::vector<token_id> encode(std::string_view text, bool add_special, bool parse_special) const;
    // As above, but control/unknown-token text inside any of the `literal` byte ranges [first,
    // second) stays text even with parse_special: for chat prompts, where the template's markers
    // must become control tokens but the same text typed in a message must not.
    std::vector<token_id> encode(std::string_view text, bool add_special, bool parse_special,
                                 const std::vector<std::pair<size_t, size_t>> &literal) const;

    // The bytes one token stands for (may be part of a UTF-8 character). Control/unknown tokens
    // give "" unless `special`.
    std::string token_to_piece(token_id id, bool special) const;

    // Whole-sequence decode like llama_detokenize: remove_special drops a leading BOS / trailing
    // EOS; the space that add_space_prefix put in front of the first word is removed.
    std::string detokenize(const std::vector<token_id> &ids, bool remove_special, bool unparse_special) const;

    int32_t n_vocab() const { return static_cast<int32_t>(data_.tokens.size()); }
    vocab_kind kind() const { return data_.kind; }
    token_id bos() const { return data_.bos_id; }
    token_id eos() const { return data_.eos_id; }
    token_id eot() const { return data_.eot_id; }
    token_id unk() const { return data_.unk_id; }
    token_id pad() const { return data_.pad_id; }
    bool add_bos() const { return data_.add_bos; }
    bool add_eos() const { return data_.add_eos; }
    bool add_space_prefix() const { return data_.add_space_prefix; }
    // End of generation: EOS, EOT and the end-of-turn pieces llama.cpp recognises by text.
    bool is_eog(token_id id) const;
    bool is_control(token_id id) const;
    token_type type_of(token_id id) const;
    const std::string &piece_text(token_id id) const { return data_.tokens[static_cast<size_t>(id)]; }
    // Problems tolerated at load (e.g. a special id outside the vocabulary), for the caller to log.
    const std::vector<std::string> &warnings() const { return warnings_; }
    // Exact piece lookup; no_token when absent.
    token_id find_piece(std::string_view text) const;

  private:
    explicit tokenizer(vocab_data data) : data_(std::move(data)) {}
    struct fragment {
        token_id token;  // no_token for raw text
        size_t offset;   // raw text start (bytes)
        size_t length;   // raw text length (bytes)
    };
    std::vector<fragment> partition_special(std::string_view text, bool parse_special,
                                            const std::vector<std::pair<size_t, size_t>> &literal) const;
    void encode_spm(std::string_view text, std::vector<token_id> &out) const;
    void encode_bpe(std::string_view text, std::vector<token_id> &out) const;
    token_id byte_to_token(uint8_t byte) const;
    int32_t bpe_rank(std::string_view left, std::string_view right) const;

    vocab_data data_;
    piece_map piece_to_id_;                    // later duplicates win, as in llama.cpp
    piece_map merge_ranks_;                    // key: left + '\x01' + right
    std::vector<token_id> special_by_length_;  // control/unknown/user-defined, longest first
    std::vector<token_id> eog_ids_;
    std::vector<std::string> warnings_;
    int pre_split_ = 0;  // which pre-tokenizer regex (BPE)
};

// Streaming decode for generation: push() ids one at a time and get back only whole UTF-8
// characters; an incomplete multi-byte sequence waits for the next token. Invalid bytes are
// replaced with U+FFFD as soon as they are known to be invalid, so nothing is ever held forever.
class detokenizer {
  public:
    // strip_leading_space: drop the space that add_space_prefix put before the first generated
    // word (use when the output starts a fresh text, not when it continues a prompt).
    explicit detokenizer(const tokenizer &tok, bool special = false, bool strip_leading_space = false)
        : tok_(tok), special_(special), strip_(strip_leading_space && tok.add_space_prefix()) {}
    std::string push(token_id id);
    // End of stream: whatever is still pending (an incomplete tail becomes U+FFFD).
    std::string flush();
    size_t pending_bytes() const { return pending_.size(); }

  private:
    std::string take_complete();
    const tokenizer &tok_;
    bool special_;
    bool strip_;
    std::string pending_;  // bytes not yet emitted (an incomplete UTF-8 tail)
};

}  // namespace abi::engine
