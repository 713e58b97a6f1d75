#include "secure/secure_arena.hpp"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace abi::secure {

namespace {
size_t page_size() {
    static const size_t size = size_t(sysconf(_SC_PAGESIZE));
    return size;
}
}  // namespace

secure_arena *secure_arena::create(size_t bytes, std::string *error) {
    const size_t page = page_size();
    const size_t data_bytes = bytes == 0 ? page : (bytes + page - 1) / page * page;
    const size_t total = data_bytes + 2 * page;
    void *map = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        *error = std::string("mmap of ") + std::to_string(total) + " bytes failed: " + strerror(errno);
        return nullptr;
    }
    auto *arena = new secure_arena();
    arena->mapping_ = static_cast<uint8_t *>(map);
    arena->mapping_bytes_ = total;
    arena->data_ = arena->mapping_ + page;
    arena->capacity_ = data_bytes;
    // Guard pages turn a linear overflow or underflow out of the secrets into a SIGSEGV, not a leak.
    if (mprotect(arena->mapping_, page, PROT_NONE) != 0 || mprotect(arena->data_ + data_bytes, page, PROT_NONE) != 0) {
        *error = std::string("mprotect of the guard pages failed: ") + strerror(errno);
        munmap(map, total);
        arena->mapping_ = arena->data_ = nullptr;
        delete arena;
        return nullptr;
    }
    arena->locked_ = mlock(arena->data_, data_bytes) == 0;
    arena->dontdump_ = madvise(arena->data_, data_bytes, MADV_DONTDUMP) == 0;
    arena->free_.emplace(0, data_bytes);
    return arena;
}

secure_arena::~secure_arena() {
    dispose();
}

void secure_arena::dispose() {
    if (data_ == nullptr) return;
    explicit_bzero(data_, capacity_);  // zero before unlocking, so the plaintext never reaches swap
    if (locked_) munlock(data_, capacity_);
    munmap(mapping_, mapping_bytes_);
    mapping_ = data_ = nullptr;
    free_.clear();
    used_ = 0;
}

size_t secure_arena::allocate(size_t n) {
    if (data_ == nullptr || n == 0) return SIZE_MAX;
    const size_t need = block_size(n);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->second < need) continue;
        const size_t offset = it->first;
        const size_t rest = it->second - need;
        free_.erase(it);
        if (rest > 0) free_.emplace(offset + need, rest);
        used_ += need;
        return offset;
    }
    return SIZE_MAX;
}

void secure_arena::release(size_t offset, size_t n) {
    if (data_ == nullptr) return;
    const size_t size = block_size(n);
    explicit_bzero(data_ + offset, size);
    used_ -= size;
    auto [it, inserted] = free_.emplace(offset, size);
    auto next = std::next(it);
    if (next != free_.end() && it->first + it->second == next->first) {
        it->second += next->second;
        free_.erase(next);
    }
    if (it != free_.begin()) {
        auto prev = std::prev(it);
        if (prev->first + prev->second == it->first) {
            prev->second += it->second;
            free_.erase(it);
        }
    }
}

bool constant_time_equal(const uint8_t *a, const uint8_t *b, size_t n) {
    uint8_t diff = 0;
    for (size_t i = 0; i < n; ++i) {
        diff |= uint8_t(a[i] ^ b[i]);
        // Keeps the compiler from turning the loop into an early-exit comparison.
        __asm__ __volatile__("" : "+r"(diff));
    }
    return diff == 0;
}

}  // namespace abi::secure
