#pragma once
// Memory layout of the token ring, shared byte-for-byte with lib/native/token-ring.ts.
//
//  SharedArrayBuffer
//  +------------------------------+ 0
//  | config line (immutable)      |   magic, version, capacity, max_record, high_water, index_cap, offsets
//  +------------------------------+ 64
//  | producer line                |   head, tail (u32 wrapping byte positions), status, notify,
//  |                              |   next_seq, oldest_seq (i64)
//  +------------------------------+ 128
//  | consumer line                |   waiting (consumer is parked in Atomics.waitAsync), ack_seq (i64)
//  +------------------------------+ 256 = index_offset
//  | seq index: index_cap x u32   |   index[seq & (index_cap-1)] = byte position of record `seq`
//  +------------------------------+ data_offset
//  | data: capacity bytes         |   records back to back, wrapping at capacity:
//  |  [seq_lo u32|seq_hi u32|len u32|len bytes UTF-8|pad to 4]
//  +------------------------------+ data_offset + capacity
//
// Positions are u32 counters that wrap modulo 2^32; capacity divides 2^32, so `pos & (capacity-1)` is the
// byte offset and `(a - b) mod 2^32` is a distance. Records are 4-byte aligned, so every header word sits
// at an aligned offset even when a record straddles the end of the data region.
//
// Producer order (single producer): evict oldest records -> store oldest_seq, tail -> write record bytes
// and index -> store head -> store next_seq (the publish point) -> wake a waiting consumer.
// Readers copy records, then re-load oldest_seq: if it moved past a record they copied, that copy may be
// torn and the read reports "gone" instead of returning it (a seqlock whose version is oldest_seq).
#include <cstddef>
#include <cstdint>

namespace abi::ring {

inline constexpr uint32_t ring_magic = 0x314e4752;  // "RGN1" little-endian
inline constexpr uint32_t ring_version = 1;
inline constexpr uint32_t record_header_bytes = 12;
inline constexpr uint32_t header_bytes = 256;

enum class ring_status : int32_t { open = 0, done = 1, error = 2 };

struct ring_header {
    // config line, written once by create()
    uint32_t magic;         // ring_magic, 32 bits
    uint32_t version;       // layout version, 32 bits
    uint32_t capacity;      // data region bytes, power of two, 32 bits
    uint32_t max_record;    // largest payload in bytes, 32 bits
    uint32_t high_water;    // backpressure threshold in bytes ahead of the consumer, 32 bits
    uint32_t index_cap;     // seq index entries, power of two, 32 bits
    uint32_t index_offset;  // byte offset of the seq index from the start of the buffer, 32 bits
    uint32_t data_offset;   // byte offset of the data region, 32 bits
    uint8_t pad_config[32];
    // producer line
    int32_t head;        // next write position (u32 wrapping), 32 bits
    int32_t tail;        // position of the oldest held record (u32 wrapping), 32 bits
    int32_t status;      // ring_status, 32 bits
    int32_t notify;      // bumped before every wake; the futex word consumers wait on, 32 bits
    int64_t next_seq;    // seq the next push gets; records < next_seq are published, 64 bits
    int64_t oldest_seq;  // oldest seq still held, 64 bits
    uint8_t pad_producer[32];
    // consumer line
    int32_t waiting;     // 1 while a consumer is (about to be) parked; the producer CASes it to 0 to wake, 32 bits
    int32_t read_fence;  // target of a reader's no-op RMW that fences its copies before the oldest_seq check, 32 bits
    int64_t ack_seq;     // last seq a consumer read (-1: none), drives aboveHighWater, 64 bits
    uint8_t pad_consumer[112];
};
static_assert(sizeof(ring_header) == header_bytes);
static_assert(offsetof(ring_header, head) == 64);
static_assert(offsetof(ring_header, notify) == 76);
static_assert(offsetof(ring_header, next_seq) == 80);
static_assert(offsetof(ring_header, oldest_seq) == 88);
static_assert(offsetof(ring_header, waiting) == 128);
static_assert(offsetof(ring_header, ack_seq) == 136);

inline constexpr uint32_t align4(uint32_t n) {
    return (n + 3u) & ~3u;
}
inline constexpr uint32_t record_bytes(uint32_t payload) {
    return align4(record_header_bytes + payload);
}

}  // namespace abi::ring
