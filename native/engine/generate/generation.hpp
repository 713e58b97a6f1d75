#pragma once
// Generation on a native thread. An engine_session owns one loaded model's inference context and a
// worker thread; requests wait in a bounded queue (full → rejected at once, too long in the queue →
// failed with a busy error) and run one at a time. Each request streams UTF-8 text records into its
// token ring through the ring's native writer, so JS receives tokens without a callback per token;
// cancellation is an atomic flag the worker checks before every token and between prompt batches.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/llama/llama_context.hpp"
#include "engine/sampler/sampler.hpp"
#include "engine/tokenizer/tokenizer.hpp"
#include "ring/token_ring_napi.hpp"

namespace abi::engine {

struct generation_params {
    std::string prompt;                              // text prompt (used when prompt_ids is empty)
    std::vector<int32_t> prompt_ids;                 // pre-tokenized prompt; takes precedence over `prompt`
    bool add_special = true;                         // tokenizer adds BOS/EOS as the vocabulary asks
    bool parse_special = true;                       // control-token text in the prompt becomes control tokens
    std::vector<std::pair<size_t, size_t>> literal;  // byte ranges of `prompt` whose control-token text stays text
    int64_t max_tokens = 256;                        // generated tokens at most; <= 0: until the context is full
    sampler_params sampling;                         // temperature, top-k/p, min-p, penalties, seed, n_logprobs
    std::vector<std::string> stop;                   // stop strings (excluded from the output)
    bool ignore_eos = false;                         // keep going past end-of-generation tokens
    bool strip_leading_space = false;                // drop the SPM space prefix before the first generated word
    bool logprobs = false;                           // records are JSON with per-token log-probabilities
    int64_t stall_timeout_ms = 60000;                // give up when the reader leaves the ring full this long
};

enum class request_state { queued, running, done };

struct generation_result {
    std::string finish_reason;      // stop | length | cancelled | error
    std::string error_code;         // ABI_ERR_* when finish_reason is error
    std::string error_message;      // human-readable reason
    int64_t prompt_tokens = 0;      // tokens in the prompt
    int64_t cached_tokens = 0;      // prompt tokens reused from the previous request's KV cache
    int64_t completion_tokens = 0;  // tokens generated
    double queue_ms = 0;            // time waiting in the queue
    double prompt_ms = 0;           // prompt processing time
    double decode_ms = 0;           // generation time after the prompt
    std::vector<int32_t> tokens;    // generated token ids
};

struct generation_request {
    generation_params params;
    std::unique_ptr<ring::native_producer> producer;  // the request's ring; released when it finishes
    std::atomic<bool> cancel{false};                  // set by JS; checked before every token
    std::atomic<int64_t> generated{0};                // tokens generated so far (worker writes, JS reads)
    std::atomic<int64_t> generated_at_cancel{-1};     // `generated` when JS first cancelled; -1: never
    std::chrono::steady_clock::time_point enqueued;   // for the queue timeout
    std::mutex mu;                                    // guards state and result
    request_state state = request_state::queued;
    generation_result result;
};

struct queue_params {
    int64_t max_queue = 8;             // requests waiting behind the running one
    int64_t queue_timeout_ms = 30000;  // longest wait in the queue before failing with busy
};

class engine_session {
  public:
    engine_session(std::shared_ptr<const llama_model> model, std::shared_ptr<const tokenizer> tok,
                   const context_params &ctx_params, const queue_params &queue);
    ~engine_session();  // cancels everything and joins the worker

    // Queues a request; false when the queue is full (the caller reports busy).
    bool submit(const std::shared_ptr<generation_request> &req);
    // Milliseconds a rejected caller should wait before retrying (running average per request).
    int64_t retry_after_ms() const;
    int64_t queued() const;
    bool running() const { return running_.load(); }
    const tokenizer &tok() const { return *tok_; }
    const llama_context &context() const { return *ctx_; }

  private:
    void worker_loop();
    void run(generation_request &req);
    void expire_queued();
    static void finish(generation_request &req, const std::string &reason, const std::string &code = {},
                       const std::string &message = {});

    std::shared_ptr<const llama_model> model_;
    std::shared_ptr<const tokenizer> tok_;
    std::unique_ptr<llama_context> ctx_;
    std::vector<int32_t> ctx_tokens_;  // tokens whose K/V are in the cache, in order
    queue_params queue_params_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::shared_ptr<generation_request>> queue_;
    std::shared_ptr<generation_request> current_;  // the running request, for cancel on unload
    std::atomic<bool> running_{false};
    std::atomic<int64_t> avg_request_ms_{1000};
    bool stop_ = false;
    std::thread worker_;
};

}  // namespace abi::engine
