#pragma once
// Circuit-breaker counters in shared memory (a SharedArrayBuffer for worker_threads, a POSIX shm
// segment for processes). Every field is a lock-free atomic updated through std::atomic_ref; every
// state change is one compare-and-swap, so exactly one caller wins a transition or a probe.
//
//  block:  [block_header 64 B][slot 0][slot 1]...            slot stride = align64(16 + buckets * 24)
//  slot:   [state_word i64][openings i32][consecutive_failures i32][bucket 0][bucket 1]...
//  bucket: [success u64][failure u64][timeout u64]           each = (epoch u32 << 32) | count u32
//
// state_word packs what must change together: bits 0-1 state, bits 2-15 probes in flight, bits 16-63
// openedAt in ms. A transition therefore sets the state, resets the probes and stamps openedAt in one
// CAS, and a probe acquire can never race a transition that resets the probe count.
// A bucket counter carries the epoch (floor(now / bucket_ms)) it counts for; a writer that finds an
// older epoch replaces the whole word by CAS, so a bucket rolls over without a lost update.
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace abi::breaker {

static_assert(std::atomic_ref<int64_t>::is_always_lock_free);
static_assert(std::atomic_ref<uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<int32_t>::is_always_lock_free);

inline constexpr uint32_t block_magic = 0x314b5242;  // "BRK1"
inline constexpr uint32_t block_version = 1;
inline constexpr uint32_t max_slots = 1u << 16;
inline constexpr uint32_t max_buckets = 1024;
inline constexpr uint32_t max_probes = (1u << 14) - 1;

enum class state : uint32_t { closed = 0, open = 1, half_open = 2 };
enum class outcome : uint32_t { success = 0, failure = 1, timeout = 2 };
enum class init_phase : int32_t { empty = 0, initialising = 1, ready = 2 };

struct block_header {
    uint32_t magic;        // block_magic once initialised, 32 bits
    uint32_t version;      // block_version, 32 bits
    int32_t init;          // init_phase; CAS empty->initialising picks the one initialiser of a shm segment, 32 bits
    uint32_t slots;        // number of slots, 32 bits
    uint32_t buckets;      // window buckets per slot, 32 bits
    uint32_t bucket_ms;    // width of one bucket in ms, 32 bits
    uint32_t slot_stride;  // bytes from one slot to the next, 32 bits
    uint32_t reserved;     // zero, 32 bits
    uint64_t total_bytes;  // size of the whole block, 64 bits
    uint8_t pad[24];
};
static_assert(sizeof(block_header) == 64);
static_assert(offsetof(block_header, init) == 8);
static_assert(offsetof(block_header, total_bytes) == 32);

struct bucket {
    uint64_t counts[3];  // per outcome: (epoch u32 << 32) | count u32, 3 x 64 bits
};
static_assert(sizeof(bucket) == 24);

struct slot_header {
    int64_t state_word;            // state | probes << 2 | opened_at_ms << 16, 64 bits
    int32_t openings;              // transitions to open since the last close, 32 bits
    int32_t consecutive_failures;  // failures + timeouts since the last success, 32 bits
};
static_assert(sizeof(slot_header) == 16);
static_assert(offsetof(slot_header, openings) == 8);

inline constexpr uint32_t slot_stride_for(uint32_t buckets) {
    return (uint32_t(sizeof(slot_header)) + buckets * uint32_t(sizeof(bucket)) + 63u) & ~63u;
}
inline constexpr uint64_t block_bytes_for(uint32_t slots, uint32_t buckets) {
    return sizeof(block_header) + uint64_t(slots) * slot_stride_for(buckets);
}

inline constexpr state state_of(int64_t w) {
    return state(uint64_t(w) & 3u);
}
inline constexpr uint32_t probes_of(int64_t w) {
    return uint32_t(uint64_t(w) >> 2) & max_probes;
}
inline constexpr int64_t opened_at_of(int64_t w) {
    return int64_t(uint64_t(w) >> 16);
}
inline constexpr int64_t make_word(state s, uint32_t probes, int64_t opened_at_ms) {
    return int64_t((uint64_t(opened_at_ms) << 16) | (uint64_t(probes & max_probes) << 2) | uint64_t(s));
}

struct window_counts {
    uint64_t success = 0, failure = 0, timeout = 0;
};

struct slot_snapshot {
    state st;
    int64_t opened_at_ms;
    int32_t openings;
    int32_t consecutive_failures;
    uint32_t probes;
    window_counts window;
};

// Operations over one initialised block. Cheap to construct; holds no ownership.
class breaker_block {
  public:
    explicit breaker_block(uint8_t *base) : base_(base), hdr_(reinterpret_cast<block_header *>(base)) {}

    // Writes the header of a zeroed block. Single-threaded callers only (a fresh SharedArrayBuffer);
    // shm segments go through try_begin_init/finish_init.
    void init(uint32_t slots, uint32_t buckets, uint32_t bucket_ms) {
        write_header(slots, buckets, bucket_ms);
        std::atomic_ref<int32_t>(hdr_->init).store(int32_t(init_phase::ready));
    }
    bool try_begin_init() {
        int32_t expected = int32_t(init_phase::empty);
        return std::atomic_ref<int32_t>(hdr_->init)
            .compare_exchange_strong(expected, int32_t(init_phase::initialising));
    }
    void finish_init(uint32_t slots, uint32_t buckets, uint32_t bucket_ms) { init(slots, buckets, bucket_ms); }
    init_phase phase() const { return init_phase(std::atomic_ref<int32_t>(hdr_->init).load()); }
    const block_header &header() const { return *hdr_; }

    void record(uint32_t slot, outcome o, int64_t now_ms) {
        const uint32_t epoch = epoch_of(now_ms);
        auto counter = std::atomic_ref<uint64_t>(bucket_at(slot, epoch % hdr_->buckets).counts[uint32_t(o)]);
        uint64_t w = counter.load(std::memory_order_relaxed);
        for (;;) {
            const uint64_t next = uint32_t(w >> 32) == epoch ? w + 1 : (uint64_t(epoch) << 32) | 1u;
            if (counter.compare_exchange_weak(w, next, std::memory_order_acq_rel)) break;
        }
        auto failures = std::atomic_ref<int32_t>(slot_at(slot).consecutive_failures);
        if (o == outcome::success) {
            failures.store(0, std::memory_order_release);
        } else {
            failures.fetch_add(1, std::memory_order_acq_rel);
        }
    }

    slot_snapshot snapshot(uint32_t slot, int64_t now_ms) const {
        slot_header &s = slot_at(slot);
        const int64_t w = std::atomic_ref<int64_t>(s.state_word).load();
        slot_snapshot out{state_of(w),
                          opened_at_of(w),
                          std::atomic_ref<int32_t>(s.openings).load(),
                          std::atomic_ref<int32_t>(s.consecutive_failures).load(),
                          probes_of(w),
                          {}};
        const uint32_t epoch = epoch_of(now_ms);
        uint64_t sums[3] = {0, 0, 0};
        for (uint32_t b = 0; b < hdr_->buckets; ++b) {
            bucket &bk = bucket_at(slot, b);
            for (int k = 0; k < 3; ++k) {
                const uint64_t c = std::atomic_ref<uint64_t>(bk.counts[k]).load(std::memory_order_acquire);
                // A bucket counts while its epoch is one of the last `buckets` epochs (mod 2^32).
                if (uint32_t(epoch - uint32_t(c >> 32)) < hdr_->buckets) sums[k] += uint32_t(c);
            }
        }
        out.window = {sums[0], sums[1], sums[2]};
        return out;
    }

    bool transition(uint32_t slot, state from, state to, int64_t now_ms) {
        slot_header &s = slot_at(slot);
        auto word = std::atomic_ref<int64_t>(s.state_word);
        int64_t w = word.load();
        for (;;) {
            if (state_of(w) != from) return false;
            const int64_t opened_at = to == state::open ? now_ms : opened_at_of(w);
            if (word.compare_exchange_weak(w, make_word(to, 0, opened_at), std::memory_order_acq_rel)) break;
        }
        if (to == state::open) {
            std::atomic_ref<int32_t>(s.openings).fetch_add(1);
        } else if (to == state::closed) {
            std::atomic_ref<int32_t>(s.consecutive_failures).store(0);
            std::atomic_ref<int32_t>(s.openings).store(0);
        }
        return true;
    }

    bool try_acquire_probe(uint32_t slot, uint32_t max) {
        auto word = std::atomic_ref<int64_t>(slot_at(slot).state_word);
        int64_t w = word.load();
        for (;;) {
            if (state_of(w) != state::half_open || probes_of(w) >= max) return false;
            if (word.compare_exchange_weak(w, w + 4, std::memory_order_acq_rel)) return true;
        }
    }

    void release_probe(uint32_t slot) {
        auto word = std::atomic_ref<int64_t>(slot_at(slot).state_word);
        int64_t w = word.load();
        while (probes_of(w) > 0) {
            if (word.compare_exchange_weak(w, w - 4, std::memory_order_acq_rel)) return;
        }
    }

  private:
    uint32_t epoch_of(int64_t now_ms) const { return uint32_t(uint64_t(now_ms) / hdr_->bucket_ms); }
    slot_header &slot_at(uint32_t slot) const {
        return *reinterpret_cast<slot_header *>(base_ + sizeof(block_header) + size_t(slot) * hdr_->slot_stride);
    }
    bucket &bucket_at(uint32_t slot, uint32_t b) const {
        return reinterpret_cast<bucket *>(reinterpret_cast<uint8_t *>(&slot_at(slot)) + sizeof(slot_header))[b];
    }
    void write_header(uint32_t slots, uint32_t buckets, uint32_t bucket_ms) {
        hdr_->version = block_version;
        hdr_->slots = slots;
        hdr_->buckets = buckets;
        hdr_->bucket_ms = bucket_ms;
        hdr_->slot_stride = slot_stride_for(buckets);
        hdr_->total_bytes = block_bytes_for(slots, buckets);
        std::atomic_ref<uint32_t>(hdr_->magic).store(block_magic);
    }

    uint8_t *base_;
    block_header *hdr_;
};

}  // namespace abi::breaker
