#pragma once
// Token sampler with llama.cpp's chain order: penalties → top-k → top-p → min-p → temperature →
// draw. Temperature <= 0 is greedy (argmax after penalties). The draw uses our own seeded
// PRNG (xoshiro256**), so the same seed and the same logits give the same tokens on every
// platform; it does not reproduce llama.cpp's std::mt19937 stream.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace abi::engine {

struct sampler_params {
    float temperature = 0.8f;        // <= 0: greedy
    int32_t top_k = 40;              // <= 0: off
    float top_p = 0.95f;             // >= 1: off
    float min_p = 0.05f;             // <= 0: off
    float repeat_penalty = 1.0f;     // 1: off; llama.cpp semantics (divide positive logits, multiply negative)
    float frequency_penalty = 0.0f;  // subtracted per occurrence in the window
    float presence_penalty = 0.0f;   // subtracted once if present in the window
    int32_t penalty_last_n = 64;     // window of recent accepted tokens; 0: penalties off, -1: whole history
    uint64_t seed = 0;               // PRNG seed
    int32_t n_logprobs = 0;          // > 0: report the top-N alternatives' log-probabilities
};

struct token_logprob {
    int32_t id;     // token id
    float logprob;  // natural log of its probability under the model (log-softmax of raw logits)
};

struct token_probability {
    int32_t id;  // token id
    float p;     // probability after the whole chain (penalties, truncation, temperature)
};

struct sample_result {
    int32_t id = -1;                 // chosen token
    float logprob = 0.0f;            // its log-probability under the model (raw logits)
    std::vector<token_logprob> top;  // n_logprobs most likely tokens, most likely first
};

class sampler {
  public:
    sampler(const sampler_params &params, int32_t n_vocab);

    // Picks the next token from `logits` (n_vocab floats, unmodified). Does not accept it:
    // call accept() with the token that is actually appended to the sequence.
    sample_result sample(const float *logits);
    // The candidates sample() would draw from for these logits, with their probabilities, in the
    // chain's order (empty when greedy). For tests and diagnostics; does not advance the PRNG.
    std::vector<token_probability> candidates(const float *logits);
    // Adds a token to the penalty window (generated tokens; callers may also feed the prompt).
    void accept(int32_t id);
    // Clears the penalty window and re-seeds the PRNG.
    void reset();

    const sampler_params &params() const { return params_; }

  private:
    struct candidate {
        int32_t id;   // token id
        float logit;  // current (penalised, scaled) logit
        float p;      // probability, valid after softmax
    };
    float penalised(float logit, uint32_t count) const;
    // Fills scratch_ with the truncated, temperature-scaled candidates and normalised p.
    void truncate(const float *logits);
    uint64_t next_u64();
    double next_unit();  // uniform in [0, 1)

    sampler_params params_;
    int32_t n_vocab_;
    std::vector<int32_t> window_;   // ring buffer of recent tokens
    size_t window_head_ = 0;        // next write position once the window is full
    std::vector<uint32_t> counts_;  // occurrences of each id in the window
    uint64_t rng_[4];               // xoshiro256** state
    std::vector<candidate> scratch_;
};

// Log-softmax top-N of raw logits (shared by sample() and the engine's logprob reporting).
std::vector<token_logprob> top_logprobs(const float *logits, int32_t n_vocab, int32_t n);

}  // namespace abi::engine
