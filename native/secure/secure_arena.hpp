#pragma once
// A sodium_malloc-style arena for secrets: one page-aligned anonymous mapping
//
//   [guard page PROT_NONE][data pages: mlock'ed, MADV_DONTDUMP][guard page PROT_NONE]
//
// carved into 16-byte-aligned blocks by a first-fit free list. Freed blocks and the whole region are
// zeroed with explicit_bzero before reuse, unlock and unmap. A failed mlock (RLIMIT_MEMLOCK) is not an
// error: locked() reports it and the caller warns once.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace abi::secure {

class secure_arena {
  public:
    // nullptr and `error` set when the mapping itself fails (mlock failure is not a failure).
    static secure_arena *create(size_t bytes, std::string *error);
    ~secure_arena();
    secure_arena(const secure_arena &) = delete;
    secure_arena &operator=(const secure_arena &) = delete;

    bool locked() const { return locked_; }
    bool excluded_from_dumps() const { return dontdump_; }
    size_t capacity() const { return capacity_; }
    size_t used() const { return used_; }
    bool disposed() const { return data_ == nullptr; }

    // Offset of a block of at least n bytes (n > 0), or SIZE_MAX when no free block is large enough.
    size_t allocate(size_t n);
    // Zeroes the block, then returns it to the free list.
    void release(size_t offset, size_t n);
    uint8_t *at(size_t offset) { return data_ + offset; }
    // Zeroes, unlocks and unmaps everything; idempotent.
    void dispose();

    static size_t block_size(size_t n) { return (n + 15) & ~size_t(15); }

  private:
    secure_arena() = default;
    uint8_t *mapping_ = nullptr;  // start of the whole mapping (first guard page)
    size_t mapping_bytes_ = 0;
    uint8_t *data_ = nullptr;  // first data byte, one page after mapping_
    size_t capacity_ = 0;
    size_t used_ = 0;
    bool locked_ = false;
    bool dontdump_ = false;
    std::map<size_t, size_t> free_;  // offset -> bytes, coalesced
};

// Compares in time that depends only on the length, not on where the bytes differ.
bool constant_time_equal(const uint8_t *a, const uint8_t *b, size_t n);

}  // namespace abi::secure
