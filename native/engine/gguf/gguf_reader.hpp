#pragma once
// GGUF v2/v3 reader over a read-only mmap. Every count, length and offset is checked against the
// file size before it is used, so a truncated or corrupt file ends in a gguf_error naming the file
// and the offending key or tensor, never in a read past the mapping.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace abi::gguf {

class gguf_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

enum class value_type : uint32_t {
    u8 = 0,
    i8 = 1,
    u16 = 2,
    i16 = 3,
    u32 = 4,
    i32 = 5,
    f32 = 6,
    boolean = 7,
    string = 8,
    array = 9,
    u64 = 10,
    i64 = 11,
    f64 = 12,
};

const char *value_type_name(value_type type);
// Bytes of one stored value of a fixed-size type; 0 for string and array.
size_t value_type_size(value_type type);

// A read-only private mapping of a whole file; unmapped on destruction.
class mapped_file {
  public:
    explicit mapped_file(const std::string &path);
    ~mapped_file();
    mapped_file(const mapped_file &) = delete;
    mapped_file &operator=(const mapped_file &) = delete;
    const uint8_t *data() const { return data_; }
    uint64_t size() const { return size_; }

  private:
    const uint8_t *data_ = nullptr;  // start of the mapping, nullptr for an empty file
    uint64_t size_ = 0;              // file size in bytes
};

// One metadata value. Scalars are widened on read; strings and arrays point into the mapping.
struct value {
    value_type type = value_type::u8;       // stored type
    uint64_t as_u64 = 0;                    // unsigned integers and bool
    int64_t as_i64 = 0;                     // signed integers (also set for unsigned ones that fit)
    double as_f64 = 0;                      // f32 and f64
    std::string_view str;                   // string value
    value_type elem_type = value_type::u8;  // array element type
    uint64_t count = 0;                     // array element count
    const uint8_t *elems = nullptr;         // array: first element of a fixed-size element type
    std::vector<std::string_view> strings;  // array of strings: each element
};

struct tensor_info {
    std::string name;               // tensor name, < 64 bytes
    uint32_t n_dims = 0;            // 1..4
    uint64_t ne[4] = {1, 1, 1, 1};  // elements per dimension, ne[0] innermost (row length)
    uint32_t type = 0;              // ggml type id
    uint64_t offset = 0;            // offset from the data section start
    uint64_t nbytes = 0;            // total bytes of the tensor data
    const uint8_t *data = nullptr;  // start of the tensor data inside the mapping

    uint64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    uint64_t row_bytes() const;  // bytes of one ne[0]-long row
};

class gguf_file {
  public:
    // Maps and validates the file; throws gguf_error on any problem.
    static std::shared_ptr<gguf_file> open(const std::string &path);

    const std::string &path() const { return path_; }
    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }
    uint64_t file_size() const { return map_->size(); }
    const uint8_t *base() const { return map_->data(); }

    const std::vector<std::pair<std::string, value>> &metadata() const { return kvs_; }
    const std::vector<tensor_info> &tensors() const { return tensors_; }

    const value *find(std::string_view key) const;
    const tensor_info *find_tensor(std::string_view name) const;

    // Typed accessors. `get_*` throw a gguf_error naming the file and key when the key is missing,
    // has the wrong type or is out of range; `opt_*` return the fallback when the key is missing.
    uint64_t get_uint(std::string_view key, uint64_t max = UINT64_MAX) const;
    uint64_t opt_uint(std::string_view key, uint64_t fallback, uint64_t max = UINT64_MAX) const;
    double get_float(std::string_view key) const;
    double opt_float(std::string_view key, double fallback) const;
    std::string_view get_string(std::string_view key) const;
    std::string_view opt_string(std::string_view key, std::string_view fallback) const;
    bool opt_bool(std::string_view key, bool fallback) const;
    // An array of the given element type (for strings: `value::strings`), or nullptr if absent.
    const value *opt_array(std::string_view key, value_type elem_type) const;

    [[noreturn]] void fail(const std::string &what) const;

  private:
    gguf_file() = default;
    void parse();

    std::string path_;
    std::unique_ptr<mapped_file> map_;
    uint32_t version_ = 0;      // 2 or 3
    uint32_t alignment_ = 32;   // general.alignment, power of two
    uint64_t data_offset_ = 0;  // file offset of the data section
    std::vector<std::pair<std::string, value>> kvs_;
    std::unordered_map<std::string, size_t> kv_index_;
    std::vector<tensor_info> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace abi::gguf
