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

}  // namespace

std::vector<token_logprob> top_logprobs(const float *logits, int32_t n_vocab, int32_t n) {
    std::vector<token_logprob> out;
    if (n <= 0 || n_vocab <= 0) return out;
    const float max = *std::max_element(logits, logits + n_vocab);
    const double lse = log_sum_exp(logits, n_vocab, max);
    const int32_t k = std::min(n, n_vocab);
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

void sampler::apply_penalties(std::vector<candidate> &cands) const {
    const bool active =
        params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f;
    if (!active || window_.empty()) return;
    for (candidate &c : cands) {
        const uint32_t count = counts_[static_cast<size_t>(c.id)];
        if (count == 0) continue;
        // llama.cpp: shrink a positive logit, grow a negative one, so repetition always loses.
        if (c.logit <= 0) {
            c.logit *= params_.repeat_penalty;
        } else {
            c.logit /= params_.repeat_penalty;
        }
        c.logit -= static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty;
    }
}

sample_result sampler::sample(const float *logits) {
    sample_result result;
    std::vector<candidate> &cands = scratch_;
    cands.resize(static_cast<size_t>(n_vocab_));
    for (int32_t i = 0; i < n_vocab_; ++i) cands[static_cast<size_t>(i)] = {i, logits[i], 0.0f};
    apply_penalties(cands);

    const auto by_logit = [](const candidate &a, const candidate &b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    if (params_.temperature <= 0.0f) {
        result.id = std::min_element(cands.begin(), cands.end(), by_logit)->id;
    } else {
        // top-k (keeps everything when off), sorted by logit from here on
        size_t keep = cands.size();
        if (params_.top_k > 0) keep = std::min(keep, static_cast<size_t>(params_.top_k));
        std::partial_sort(cands.begin(), cands.begin() + static_cast<std::ptrdiff_t>(keep), cands.end(), by_logit);
        cands.resize(keep);
        const auto softmax = [&]() {
            const float max = cands.front().logit;
            double sum = 0.0;
            for (candidate &c : cands) sum += (c.p = std::exp(c.logit - max));
            for (candidate &c : cands) c.p = static_cast<float>(c.p / sum);
        };
        // top-p: the smallest prefix whose probability mass reaches p
        if (params_.top_p < 1.0f) {
            softmax();
            double cum = 0.0;
            size_t last = cands.size();
            for (size_t i = 0; i < cands.size(); ++i) {
                cum += cands[i].p;
                if (cum >= params_.top_p) {
                    last = i + 1;
                    break;
                }
            }
            cands.resize(last);
        }
        // min-p: drop tokens less likely than min_p times the most likely one
        if (params_.min_p > 0.0f) {
            const float threshold = cands.front().logit + std::log(params_.min_p);
            size_t last = 1;
            while (last < cands.size() && cands[last].logit >= threshold) ++last;
            cands.resize(last);
        }
        for (candidate &c : cands) c.logit /= params_.temperature;
        softmax();
        double r = next_unit();
        result.id = cands.back().id;
        for (const candidate &c : cands) {
            r -= c.p;
            if (r < 0.0) {
                result.id = c.id;
                break;
            }
        }
    }

    if (params_.n_logprobs > 0) {
        result.top = top_logprobs(logits, n_vocab_, params_.n_logprobs);
        const float max = *std::max_element(logits, logits + n_vocab_);
        result.logprob = static_cast<float>(logits[result.id] - log_sum_exp(logits, n_vocab_, max));
    }
    return result;
}

}  // namespace abi::engine
