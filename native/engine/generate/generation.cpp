#include "engine/generate/generation.hpp"

#include <algorithm>
#include <cstdio>

#include "engine/generate/stop_matcher.hpp"

namespace abi::engine {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

// Appends `s` as a JSON string literal; bytes that are not valid UTF-8 (a token may hold part of a
// character) become U+FFFD so the record always parses.
void append_json_string(std::string &out, std::string_view s) {
    out.push_back('"');
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (c == '"' || c == '\\') {
                out.push_back('\\');
                out.push_back(static_cast<char>(c));
            } else if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out.append(buf);
            } else {
                out.push_back(static_cast<char>(c));
            }
            ++i;
            continue;
        }
        const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        bool ok = len != 0 && c < 0xF5 && i + len <= s.size();
        for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
        if (ok) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out.append("\xEF\xBF\xBD");
            ++i;
        }
    }
    out.push_back('"');
}

class ring_output {
  public:
    ring_output(generation_request &req) : req_(req) {}

    // Pushes one record, waiting (bounded) while the reader is far behind so nothing is overwritten.
    // Returns false when the request was cancelled or the reader stalled.
    bool push(std::string_view bytes) {
        if (!req_.producer) return true;
        auto &w = req_.producer->writer();
        const auto start = clock_type::now();
        while (w.above_high_water()) {
            if (req_.cancel.load(std::memory_order_relaxed)) return false;
            if (ms_since(start) > static_cast<double>(req_.params.stall_timeout_ms)) {
                stalled_ = true;
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        const uint32_t max = w.max_record();
        while (!bytes.empty()) {
            size_t n = std::min<size_t>(bytes.size(), max);
            // Never split a UTF-8 character across records.
            while (n < bytes.size() && n > 0 && (static_cast<unsigned char>(bytes[n]) & 0xC0) == 0x80) --n;
            if (n == 0) n = std::min<size_t>(bytes.size(), max);
            w.push(reinterpret_cast<const uint8_t *>(bytes.data()), static_cast<uint32_t>(n));
            bytes.remove_prefix(n);
        }
        return true;
    }

    bool stalled() const { return stalled_; }

  private:
    generation_request &req_;
    bool stalled_ = false;
};

}  // namespace

engine_session::engine_session(std::shared_ptr<const llama_model> model, std::shared_ptr<const tokenizer> tok,
                               const context_params &ctx_params, const queue_params &queue)
    : model_(std::move(model)), tok_(std::move(tok)), queue_params_(queue) {
    ctx_ = std::make_unique<llama_context>(model_, ctx_params);
    worker_ = std::thread([this] { worker_loop(); });
}

engine_session::~engine_session() {
    std::deque<std::shared_ptr<generation_request>> abandoned;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
        abandoned.swap(queue_);
        if (current_) current_->cancel.store(true);
    }
    cv_.notify_all();
    for (auto &req : abandoned) finish(*req, "cancelled", "ABI_ERR_MODEL_CLOSED", "the model was unloaded");
    worker_.join();
}

bool engine_session::submit(const std::shared_ptr<generation_request> &req) {
    // Cancelled requests still waiting in the queue must not count against the limit.
    expire_queued();
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) return false;
        if (static_cast<int64_t>(queue_.size()) >= queue_params_.max_queue + (running_.load() ? 0 : 1)) return false;
        req->enqueued = clock_type::now();
        queue_.push_back(req);
    }
    cv_.notify_one();
    return true;
}

int64_t engine_session::retry_after_ms() const {
    std::lock_guard<std::mutex> lock(mu_);
    return std::max<int64_t>(1000, avg_request_ms_.load() * static_cast<int64_t>(queue_.size() + 1));
}

int64_t engine_session::queued() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(queue_.size());
}

void engine_session::finish(generation_request &req, const std::string &reason, const std::string &code,
                            const std::string &message) {
    {
        std::lock_guard<std::mutex> lock(req.mu);
        req.state = request_state::done;
        req.result.finish_reason = reason;
        req.result.error_code = code;
        req.result.error_message = message;
    }
    if (req.producer) {
        req.producer->writer().close(reason == "error" ? ring::ring_status::error : ring::ring_status::done);
        req.producer.reset();
    }
}

void engine_session::expire_queued() {
    std::vector<std::shared_ptr<generation_request>> expired;
    {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto it = queue_.begin(); it != queue_.end();) {
            generation_request &r = **it;
            const bool timed_out = ms_since(r.enqueued) > static_cast<double>(queue_params_.queue_timeout_ms);
            if (timed_out || r.cancel.load()) {
                expired.push_back(*it);
                it = queue_.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto &r : expired) {
        if (r->cancel.load()) {
            finish(*r, "cancelled");
        } else {
            finish(*r, "error", "ABI_ERR_ENGINE_BUSY",
                   "waited " + std::to_string(queue_params_.queue_timeout_ms) + " ms in the model's queue");
        }
    }
}

void engine_session::worker_loop() {
    for (;;) {
        std::shared_ptr<generation_request> req;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
            if (stop_) return;
            req = queue_.front();
            queue_.pop_front();
            current_ = req;
            running_.store(true);
        }
        const auto started = clock_type::now();
        {
            std::lock_guard<std::mutex> lock(req->mu);
            req->state = request_state::running;
            req->result.queue_ms = std::chrono::duration<double, std::milli>(started - req->enqueued).count();
        }
        try {
            run(*req);
        } catch (const std::bad_alloc &) {
            finish(*req, "error", "ABI_ERR_ENGINE", "out of memory during generation");
        } catch (const std::exception &err) {
            finish(*req, "error", "ABI_ERR_ENGINE", err.what());
        }
        const auto took = static_cast<int64_t>(ms_since(started));
        avg_request_ms_.store((avg_request_ms_.load() * 3 + took) / 4);
        {
            std::lock_guard<std::mutex> lock(mu_);
            current_.reset();
        }
        running_.store(false);
        expire_queued();
    }
}

void engine_session::run(generation_request &req) {
    const generation_params &p = req.params;
    generation_result &res = req.result;  // written only by this thread until finish()
    if (req.cancel.load()) return finish(req, "cancelled");
    std::vector<int32_t> prompt =
        p.prompt_ids.empty() ? tok_->encode(p.prompt, p.add_special, p.parse_special, p.literal) : p.prompt_ids;
    if (prompt.empty()) return finish(req, "error", "ABI_ERR_INVALID_ARG", "the prompt is empty after tokenization");
    for (int32_t id : prompt) {
        if (id < 0 || id >= tok_->n_vocab())
            return finish(req, "error", "ABI_ERR_INVALID_ARG",
                          "prompt token id " + std::to_string(id) + " out of range");
    }
    const int64_t n_ctx = ctx_->n_ctx();
    res.prompt_tokens = static_cast<int64_t>(prompt.size());
    if (res.prompt_tokens >= n_ctx) {
        return finish(req, "error", "ABI_ERR_CONTEXT_LENGTH",
                      "the prompt has " + std::to_string(prompt.size()) + " tokens; the context holds " +
                          std::to_string(n_ctx) + " and one must remain for the answer");
    }

    // Reuse the KV cache for the prefix this prompt shares with the previous sequence; at least
    // one token is evaluated so there are logits to sample from.
    size_t common = 0;
    while (common < prompt.size() && common < ctx_tokens_.size() && prompt[common] == ctx_tokens_[common]) ++common;
    if (common == prompt.size()) --common;
    ctx_->truncate(static_cast<int64_t>(common));
    ctx_tokens_.resize(common);
    res.cached_tokens = static_cast<int64_t>(common);

    const auto prompt_start = clock_type::now();
    // One evaluation for the whole remaining prompt (batched inside), cancellable between batches.
    const int64_t n_before = ctx_->n_past();
    const float *logits = ctx_->eval(prompt.data() + common, static_cast<int64_t>(prompt.size() - common),
                                     [&req] { return req.cancel.load(std::memory_order_relaxed); });
    ctx_tokens_.insert(ctx_tokens_.end(), prompt.begin() + common,
                       prompt.begin() + common + (ctx_->n_past() - n_before));
    if (logits == nullptr) return finish(req, "cancelled");
    res.prompt_ms = ms_since(prompt_start);

    sampler_params sp = p.sampling;
    sp.n_logprobs = p.logprobs ? std::max(sp.n_logprobs, 0) : 0;
    sampler smp(sp, tok_->n_vocab());
    for (int32_t id : prompt) smp.accept(id);
    detokenizer detok(*tok_, false, p.strip_leading_space);
    stop_matcher stops(p.stop);
    ring_output out(req);

    const auto decode_start = clock_type::now();
    std::string reason;
    for (;;) {
        // Sequentially consistent with `generated` below and the cancel() in the binding: a cancel
        // that read `generated` == n is seen here before token n + 2 is sampled.
        if (req.cancel.load()) {
            reason = "cancelled";
            break;
        }
        if (p.max_tokens > 0 && res.completion_tokens >= p.max_tokens) {
            reason = "length";
            break;
        }
        const sample_result r = smp.sample(logits);
        if (!p.ignore_eos && tok_->is_eog(r.id)) {
            reason = "stop";
            break;
        }
        smp.accept(r.id);
        res.tokens.push_back(r.id);
        ++res.completion_tokens;
        req.generated.store(res.completion_tokens);
        const std::string text = stops.feed(detok.push(r.id));
        bool pushed;
        if (p.logprobs) {
            std::string rec = "{\"t\":";
            append_json_string(rec, text);
            rec += ",\"id\":" + std::to_string(r.id) + ",\"p\":";
            append_json_string(rec, tok_->token_to_piece(r.id, true));
            rec += ",\"lp\":" + std::to_string(r.logprob) + ",\"top\":[";
            for (size_t i = 0; i < r.top.size(); ++i) {
                if (i) rec.push_back(',');
                rec += "{\"id\":" + std::to_string(r.top[i].id) + ",\"p\":";
                append_json_string(rec, tok_->token_to_piece(r.top[i].id, true));
                rec += ",\"lp\":" + std::to_string(r.top[i].logprob) + "}";
            }
            rec += "]}";
            pushed = out.push(rec);
        } else {
            pushed = text.empty() || out.push(text);
        }
        if (!pushed) {
            reason = out.stalled() ? "error" : "cancelled";
            break;
        }
        if (stops.matched()) {
            reason = "stop";
            break;
        }
        if (ctx_->n_past() >= n_ctx) {
            reason = "length";
            break;
        }
        logits = ctx_->eval(&r.id, 1);
        ctx_tokens_.push_back(r.id);
        expire_queued();
    }
    res.decode_ms = ms_since(decode_start);
    if (reason == "stop" || reason == "length") {
        std::string tail = stops.matched() ? std::string() : stops.feed(detok.flush());
        if (!stops.matched()) tail += stops.flush();
        if (!tail.empty()) {
            if (p.logprobs) {
                std::string rec = "{\"t\":";
                append_json_string(rec, tail);
                rec += "}";
                out.push(rec);
            } else {
                out.push(tail);
            }
        }
    }
    if (reason == "error") {
        return finish(req, "error", "ABI_ERR_ENGINE_STALLED",
                      "the reader left the token ring full for " + std::to_string(p.stall_timeout_ms) + " ms");
    }
    finish(req, reason);
}

}  // namespace abi::engine
