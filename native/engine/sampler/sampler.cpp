#include "engine/sampler/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace abi::engine {

namespace {

uint64_t splitmix64(uint64_t &x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

// log(sum(exp(x - max))) + max over raw logits, in double for stability.
double log_sum_exp(const float *logits, int32_t n, float max) {
    double sum = 0.0;
    for (int32_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
    return std::log(sum) + max;
}

// Top-n of raw logits as log-softmax values, given log(sum(exp(logits))).
std::vector<token_logprob> top_from_lse(const float *logits, int32_t n_vocab, int32_t n, double lse) {
    std::vector<token_logprob> out;
    const int32_t k = std::min(n, n_vocab);
    if (k <= 0) return out;
    std::vector<int32_t> idx(static_cast<size_t>(n_vocab));
    for (int32_t i = 0; i < n_vocab; ++i) idx[static_cast<size_t>(i)] = i;
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    out.reserve(static_cast<size_t>(k));
    for (int32_t i = 0; i < k; ++i) {
        const int32_t id = idx[static_cast<size_t>(i)];
        out.push_back({id, static_cast<float>(logits[id] - lse)});
    }
    return out;
}

}  // namespace

std::vector<token_logprob> top_logprobs(const float *logits, int32_t n_vocab, int32_t n) {
    if (n <= 0 || n_vocab <= 0) return {};
    const float max = *std::max_element(logits, logits + n_vocab);
    return top_from_lse(logits, n_vocab, n, log_sum_exp(logits, n_vocab, max));
}

sampler::sampler(const sampler_params &params, int32_t n_vocab)
    : params_(params), n_vocab_(n_vocab), counts_(static_cast<size_t>(std::max(n_vocab, 0)), 0) {
    reset();
}

void sampler::reset() {
    uint64_t s = params_.seed;
    for (uint64_t &word : rng_) word = splitmix64(s);
    window_.clear();
    window_head_ = 0;
    std::fill(counts_.begin(), counts_.end(), 0u);
}

uint64_t sampler::next_u64() {
    const uint64_t result = rotl(rng_[1] * 5, 7) * 9;
    const uint64_t t = rng_[1] << 17;
    rng_[2] ^= rng_[0];
    rng_[3] ^= rng_[1];
    rng_[1] ^= rng_[2];
    rng_[0] ^= rng_[3];
    rng_[2] ^= t;
    rng_[3] = rotl(rng_[3], 45);
    return result;
}

double sampler::next_unit() {
    return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

void sampler::accept(int32_t id) {
    if (id < 0 || id >= n_vocab_ || params_.penalty_last_n == 0) return;
    const size_t cap =
        params_.penalty_last_n < 0 ? std::numeric_limits<size_t>::max() : static_cast<size_t>(params_.penalty_last_n);
    if (window_.size() < cap) {
        window_.push_back(id);
    } else {
        int32_t &slot = window_[window_head_];
        --counts_[static_cast<size_t>(slot)];
        slot = id;
        window_head_ = (window_head_ + 1) % window_.size();
    }
    ++counts_[static_cast<size_t>(id)];
}

float sampler::penalised(float logit, uint32_t count) const {
    // llama.cpp: shrink a positive logit, grow a negative one, so repetition always loses.
    logit = logit <= 0 ? logit * params_.repeat_penalty : logit / params_.repeat_penalty;
    return logit - (static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty);
}

void sampler::truncate(const float *logits) {
    const bool penalise = !window_.empty() && (params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
                                               params_.presence_penalty != 0.0f);
    const auto value = [&](int32_t i) {
        const uint32_t count = penalise ? counts_[static_cast<size_t>(i)] : 0;
        return count ? penalised(logits[i], count) : logits[i];
    };
    const auto by_logit = [](const candidate &a, const candidate &b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    std::vector<candidate> &cands = scratch_;
    cands.resize(static_cast<size_t>(n_vocab_));
    for (int32_t i = 0; i < n_vocab_; ++i) cands[static_cast<size_t>(i)] = {i, value(i), 0.0f};
    bool sorted = false;  // whether cands is in by_logit order
    if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < cands.size()) {
        const auto kth = cands.begin() + params_.top_k;
        std::nth_element(cands.begin(), kth, cands.end(), by_logit);
        cands.resize(static_cast<size_t>(params_.top_k));
        std::sort(cands.begin(), cands.end(), by_logit);
        sorted = true;
    }
    if (params_.top_p < 1.0f) {
        // The smallest most-likely prefix whose mass reaches p. Probabilities are normalised over
        // every candidate (one O(n) sum); the prefix is then found by bisecting with nth_element,
        // expected O(n) in total, instead of sorting the whole vocabulary.
        float max = cands.front().logit;
        for (const candidate &c : cands) max = std::max(max, c.logit);
        double sum = 0.0;
        for (candidate &c : cands) {
            c.p = std::exp(c.logit - max);
            sum += c.p;
        }
        const double target = params_.top_p * sum;
        size_t lo = 0, hi = cands.size();  // mass(first lo) < target <= mass(first hi)
        double above = 0.0;                // mass of the first lo candidates
        while (hi - lo > 1) {
            const size_t mid = lo + (hi - lo) / 2;
            if (!sorted) {
                std::nth_element(cands.begin() + static_cast<std::ptrdiff_t>(lo),
                                 cands.begin() + static_cast<std::ptrdiff_t>(mid),
                                 cands.begin() + static_cast<std::ptrdiff_t>(hi), by_logit);
            }
            double left = 0.0;
            for (size_t i = lo; i < mid; ++i) left += cands[i].p;
            if (above + left >= target) {
                hi = mid;
            } else {
                above += left;
                lo = mid;
            }
        }
        cands.resize(hi);
    }
    if (params_.min_p > 0.0f) {
        // Drop tokens less likely than min_p times the most likely one (logit test, no softmax needed).
        float max = cands.front().logit;
        for (const candidate &c : cands) max = std::max(max, c.logit);
        const float threshold = max + std::log(params_.min_p);
        cands.erase(std::remove_if(cands.begin(), cands.end(),
                                   [&](const candidate &c) { return c.logit < threshold && c.logit < max; }),
                    cands.end());
    }
    float max = cands.front().logit;
    for (const candidate &c : cands) max = std::max(max, c.logit);
    double sum = 0.0;
    for (candidate &c : cands) {
        c.p = std::exp((c.logit - max) / params_.temperature);
        sum += c.p;
    }
    for (candidate &c : cands) c.p = static_cast<float>(c.p / sum);
}

std::vector<token_probability> sampler::candidates(const float *logits) {
    std::vector<token_probability> out;
    if (params_.temperature <= 0.0f) return out;
    truncate(logits);
    out.reserve(scratch_.size());
    for (const candidate &c : scratch_) out.push_back({c.id, c.p});
    return out;
}

sample_result sampler::sample(const float *logits) {
    sample_result result;
    const bool penalise = !window_.empty() && (params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
                                               params_.presence_penalty != 0.0f);
    const auto value = [&](int32_t i) {
        const uint32_t count = penalise ? counts_[static_cast<size_t>(i)] : 0;
        return count ? penalised(logits[i], count) : logits[i];
    };

    if (params_.temperature <= 0.0f) {
        // Greedy: one pass, no candidate list; max_element keeps the lowest id on ties.
        int32_t best = static_cast<int32_t>(std::max_element(logits, logits + n_vocab_) - logits);
        if (penalise) {
            float best_value = value(0);
            best = 0;
            for (int32_t i = 1; i < n_vocab_; ++i) {
                const float v = value(i);
                if (v > best_value) {
                    best = i;
                    best_value = v;
                }
            }
        }
        result.id = best;
    } else {
        truncate(logits);
        double r = next_unit();
        result.id = scratch_.back().id;
        for (const candidate &c : scratch_) {
            r -= c.p;
            if (r < 0.0) {
                result.id = c.id;
                break;
            }
        }
    }

    if (params_.n_logprobs > 0) {
        const float max = *std::max_element(logits, logits + n_vocab_);
        const double lse = log_sum_exp(logits, n_vocab_, max);
        result.top = top_from_lse(logits, n_vocab_, params_.n_logprobs, lse);
        result.logprob = static_cast<float>(logits[result.id] - lse);
    }
    return result;
}

}  // namespace abi::engine
