#pragma once
// Native producer side of the token ring (see ring_layout.hpp for the layout and the protocol).
// A token_ring_writer may be driven from any one thread at a time (single producer), e.g. the local
// engine's generation thread, while JS consumers on the event loop read the same SharedArrayBuffer.
#include <atomic>
#include <cstdint>
#include <cstring>

#include "ring/ring_layout.hpp"

namespace abi::ring {

static_assert(std::atomic_ref<int32_t>::is_always_lock_free);
static_assert(std::atomic_ref<int64_t>::is_always_lock_free);
static_assert(std::atomic_ref<uint32_t>::is_always_lock_free);

// Wakes JS consumers parked in Atomics.waitAsync. A native thread cannot resolve a waitAsync promise
// itself, so the implementation hops to the JS thread (a thread-safe function); the writer calls it only
// after winning the `waiting` flag, so there is at most one hop per consumer wait, never one per token.
class ring_waker {
  public:
    virtual ~ring_waker() = default;
    virtual void wake() = 0;
};

// gone: the JS environment that owns the ring's memory was torn down (e.g. its worker exited); stop producing.
enum class push_result { ok, too_large, gone };

class token_ring_writer {
  public:
    // `base` is the start of the ring's SharedArrayBuffer (from a typed-array view), `bytes` its length.
    // valid() is false when the memory does not hold a ring of this layout version.
    token_ring_writer(void *base, size_t bytes, ring_waker *waker = nullptr)
        : base_(static_cast<uint8_t *>(base)), hdr_(static_cast<ring_header *>(base)), waker_(waker) {
        ok_ = base_ != nullptr && bytes >= header_bytes && hdr_->magic == ring_magic && hdr_->version == ring_version &&
              bytes >= size_t(hdr_->data_offset) + hdr_->capacity;
        if (!ok_) return;
        mask_ = hdr_->capacity - 1;
        index_mask_ = hdr_->index_cap - 1;
        index_ = reinterpret_cast<uint32_t *>(base_ + hdr_->index_offset);
        data_ = base_ + hdr_->data_offset;
    }

    bool valid() const { return ok_; }
    uint32_t max_record() const { return hdr_->max_record; }

    // Appends one record, overwriting the oldest ones when the ring is full. `seq_out` gets its seq.
    push_result push(const uint8_t *bytes, uint32_t len, int64_t *seq_out = nullptr) {
        if (len > hdr_->max_record) return push_result::too_large;
        const uint32_t size = record_bytes(len);
        uint32_t head = uint32_t(lane32(hdr_->head).load(std::memory_order_relaxed));
        uint32_t tail = uint32_t(lane32(hdr_->tail).load(std::memory_order_relaxed));
        const int64_t seq = lane64(hdr_->next_seq).load(std::memory_order_relaxed);
        int64_t oldest = lane64(hdr_->oldest_seq).load(std::memory_order_relaxed);
        const int64_t index_cap = hdr_->index_cap;
        bool evicted = false;
        while (uint32_t(head - tail) + size > hdr_->capacity || seq - oldest >= index_cap) {
            tail += record_bytes(word_at(tail + 8));
            ++oldest;
            evicted = true;
        }
        if (evicted) {
            // Readers must see the new oldest_seq before any byte of the evicted records changes.
            lane64(hdr_->oldest_seq).store(oldest, std::memory_order_seq_cst);
            lane32(hdr_->tail).store(int32_t(tail), std::memory_order_seq_cst);
            // A release store alone lets later plain stores move ahead of it on weakly ordered CPUs.
            std::atomic_thread_fence(std::memory_order_seq_cst);
        }
        put_word(head, uint32_t(uint64_t(seq)));
        put_word(head + 4, uint32_t(uint64_t(seq) >> 32));
        put_word(head + 8, len);
        copy_in(head + record_header_bytes, bytes, len);
        index_[uint64_t(seq) & index_mask_] = head;
        lane32(hdr_->head).store(int32_t(head + size), std::memory_order_seq_cst);
        lane64(hdr_->next_seq).store(seq + 1, std::memory_order_seq_cst);
        if (seq_out) *seq_out = seq;
        wake_if_waiting();
        return push_result::ok;
    }

    // Marks the stream finished and always wakes waiting consumers.
    void close(ring_status status) {
        lane32(hdr_->status).store(int32_t(status), std::memory_order_seq_cst);
        wake_if_waiting();
    }

    // Bytes between the record after `after_seq` and the head; what a consumer at `after_seq` still has to read.
    uint32_t bytes_ahead(int64_t after_seq) const {
        const uint32_t head = uint32_t(lane32(hdr_->head).load());
        const int64_t next = lane64(hdr_->next_seq).load();
        const int64_t oldest = lane64(hdr_->oldest_seq).load();
        const int64_t from = after_seq + 1;
        if (from >= next) return 0;
        if (from <= oldest) return head - uint32_t(lane32(hdr_->tail).load());
        // Clamped: a concurrent overwrite can recycle the index entry between the checks and this read.
        const uint32_t ahead = head - index_[uint64_t(from) & index_mask_];
        return ahead < hdr_->capacity ? ahead : hdr_->capacity;
    }

    bool above_high_water() const { return bytes_ahead(lane64(hdr_->ack_seq).load()) >= hdr_->high_water; }

  private:
    static std::atomic_ref<int32_t> lane32(int32_t &v) { return std::atomic_ref<int32_t>(v); }
    static std::atomic_ref<int64_t> lane64(int64_t &v) { return std::atomic_ref<int64_t>(v); }

    void wake_if_waiting() {
        int32_t expected = 1;
        // Dekker pairing with the consumer: it stores waiting=1 then re-checks next_seq/status; we publish
        // then load waiting (both seq_cst), so either it sees the record or we see it waiting.
        if (lane32(hdr_->waiting).load(std::memory_order_seq_cst) == 0) return;
        if (!lane32(hdr_->waiting).compare_exchange_strong(expected, 0, std::memory_order_seq_cst)) return;
        lane32(hdr_->notify).fetch_add(1, std::memory_order_seq_cst);
        if (waker_) waker_->wake();
    }
    uint32_t word_at(uint32_t pos) const {
        uint32_t v;
        std::memcpy(&v, data_ + (pos & mask_), 4);
        return v;
    }
    void put_word(uint32_t pos, uint32_t v) { std::memcpy(data_ + (pos & mask_), &v, 4); }
    void copy_in(uint32_t pos, const uint8_t *src, uint32_t len) {
        const uint32_t off = pos & mask_;
        const uint32_t first = len < hdr_->capacity - off ? len : hdr_->capacity - off;
        std::memcpy(data_ + off, src, first);
        if (first < len) std::memcpy(data_, src + first, len - first);
    }

    uint8_t *base_;
    ring_header *hdr_;
    ring_waker *waker_;
    bool ok_ = false;
    uint32_t mask_ = 0;
    uint32_t index_mask_ = 0;
    uint32_t *index_ = nullptr;
    uint8_t *data_ = nullptr;
};

}  // namespace abi::ring
