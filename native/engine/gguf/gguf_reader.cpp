#include "engine/gguf/gguf_reader.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/gguf/ggml_type_table.hpp"

namespace abi::gguf {

namespace {

constexpr uint32_t gguf_magic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t max_string_bytes = 1ull << 30;
constexpr uint64_t max_array_elems = 1ull << 30;
constexpr uint32_t max_dims = 4;
constexpr size_t max_tensor_name = 64;

bool known_type(uint32_t raw) {
    return raw <= static_cast<uint32_t>(value_type::f64);
}

// Bounds-checked little-endian cursor over the mapping. `what` names the field being read so that
// a truncation error says where the file ended.
class cursor {
  public:
    cursor(const gguf_file &file, const uint8_t *base, uint64_t size) : file_(file), base_(base), size_(size) {}

    uint64_t pos() const { return pos_; }
    uint64_t remaining() const { return size_ - pos_; }

    void need(uint64_t n, const std::string &what) const {
        if (n > remaining()) {
            file_.fail("truncated: " + what + " needs " + std::to_string(n) + " bytes at offset " +
                       std::to_string(pos_) + " but only " + std::to_string(remaining()) + " remain");
        }
    }

    template <typename T>
    T read(const std::string &what) {
        need(sizeof(T), what);
        T out;
        std::memcpy(&out, base_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return out;
    }

    std::string_view read_string(const std::string &what) {
        const uint64_t len = read<uint64_t>(what + " (length)");
        if (len > max_string_bytes) file_.fail(what + ": string length " + std::to_string(len) + " exceeds 1 GiB");
        need(len, what);
        std::string_view out(reinterpret_cast<const char *>(base_ + pos_), len);
        pos_ += len;
        return out;
    }

    const uint8_t *take(uint64_t n, const std::string &what) {
        need(n, what);
        const uint8_t *out = base_ + pos_;
        pos_ += n;
        return out;
    }

  private:
    const gguf_file &file_;
    const uint8_t *base_;
    uint64_t size_;
    uint64_t pos_ = 0;
};

void read_scalar(cursor &cur, value &out, const std::string &what) {
    switch (out.type) {
        case value_type::u8:
            out.as_u64 = cur.read<uint8_t>(what);
            break;
        case value_type::i8:
            out.as_i64 = cur.read<int8_t>(what);
            break;
        case value_type::u16:
            out.as_u64 = cur.read<uint16_t>(what);
            break;
        case value_type::i16:
            out.as_i64 = cur.read<int16_t>(what);
            break;
        case value_type::u32:
            out.as_u64 = cur.read<uint32_t>(what);
            break;
        case value_type::i32:
            out.as_i64 = cur.read<int32_t>(what);
            break;
        case value_type::u64:
            out.as_u64 = cur.read<uint64_t>(what);
            break;
        case value_type::i64:
            out.as_i64 = cur.read<int64_t>(what);
            break;
        case value_type::boolean:
            out.as_u64 = cur.read<uint8_t>(what) != 0 ? 1 : 0;
            break;
        case value_type::f32:
            out.as_f64 = cur.read<float>(what);
            break;
        case value_type::f64:
            out.as_f64 = cur.read<double>(what);
            break;
        default:
            break;
    }
    // Keep both integer views consistent so accessors can range-check either way.
    switch (out.type) {
        case value_type::u8:
        case value_type::u16:
        case value_type::u32:
        case value_type::u64:
        case value_type::boolean:
            out.as_i64 = out.as_u64 <= static_cast<uint64_t>(INT64_MAX) ? static_cast<int64_t>(out.as_u64) : -1;
            break;
        case value_type::i8:
        case value_type::i16:
        case value_type::i32:
        case value_type::i64:
            out.as_u64 = out.as_i64 >= 0 ? static_cast<uint64_t>(out.as_i64) : 0;
            break;
        default:
            break;
    }
}

bool is_integer(value_type t) {
    switch (t) {
        case value_type::u8:
        case value_type::i8:
        case value_type::u16:
        case value_type::i16:
        case value_type::u32:
        case value_type::i32:
        case value_type::u64:
        case value_type::i64:
            return true;
        default:
            return false;
    }
}

bool is_signed(value_type t) {
    return t == value_type::i8 || t == value_type::i16 || t == value_type::i32 || t == value_type::i64;
}

}  // namespace

size_t value_type_size(value_type type) {
    switch (type) {
        case value_type::u8:
        case value_type::i8:
        case value_type::boolean:
            return 1;
        case value_type::u16:
        case value_type::i16:
            return 2;
        case value_type::u32:
        case value_type::i32:
        case value_type::f32:
            return 4;
        case value_type::u64:
        case value_type::i64:
        case value_type::f64:
            return 8;
        default:
            return 0;
    }
}

const char *value_type_name(value_type type) {
    static const char *const names[] = {"uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
                                        "bool",  "string", "array",  "uint64", "int64",  "float64"};
    const auto raw = static_cast<uint32_t>(type);
    return raw < sizeof(names) / sizeof(names[0]) ? names[raw] : "unknown";
}

mapped_file::mapped_file(const std::string &path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw gguf_error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        throw gguf_error(path + ": cannot stat: " + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw gguf_error(path + ": not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ > 0) {
        void *addr = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (addr == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            throw gguf_error(path + ": cannot mmap: " + std::strerror(err));
        }
        data_ = static_cast<const uint8_t *>(addr);
    }
    ::close(fd);
}

mapped_file::~mapped_file() {
    if (data_ != nullptr) munmap(const_cast<uint8_t *>(data_), size_);
}

uint64_t tensor_info::row_bytes() const {
    const auto &info = ggml_type_table[type];
    return ne[0] / info.block_elems * info.block_bytes;
}

std::shared_ptr<gguf_file> gguf_file::open(const std::string &path) {
    std::shared_ptr<gguf_file> file(new gguf_file());
    file->path_ = path;
    file->map_ = std::make_unique<mapped_file>(path);
    file->parse();
    return file;
}

void gguf_file::fail(const std::string &what) const {
    throw gguf_error(path_ + ": " + what);
}

void gguf_file::parse() {
    cursor cur(*this, map_->data(), map_->size());
    const auto magic = cur.read<uint32_t>("magic");
    if (magic != gguf_magic) fail("not a GGUF file (bad magic)");
    version_ = cur.read<uint32_t>("version");
    if (version_ != 0 && (version_ & 0xFFFF) == 0) fail("big-endian GGUF files are not supported");
    if (version_ == 1) fail("GGUF v1 is no longer supported (re-convert the model to v3)");
    if (version_ != 2 && version_ != 3) fail("unsupported GGUF version " + std::to_string(version_));

    const uint64_t n_tensors = cur.read<uint64_t>("tensor_count");
    const uint64_t n_kv = cur.read<uint64_t>("metadata_kv_count");
    // Each KV needs at least 12 bytes (key length + type) and each tensor info at least 24, so a
    // count the file cannot hold is rejected before anything is allocated for it.
    if (n_kv > cur.remaining() / 12) fail("metadata_kv_count " + std::to_string(n_kv) + " exceeds what the file holds");
    if (n_tensors > cur.remaining() / 24)
        fail("tensor_count " + std::to_string(n_tensors) + " exceeds what the file holds");

    for (uint64_t i = 0; i < n_kv; ++i) {
        const std::string slot = "metadata key #" + std::to_string(i);
        const std::string_view key = cur.read_string(slot);
        if (key.empty()) fail(slot + ": empty key");
        const std::string name = "key '" + std::string(key) + "'";
        if (kv_index_.count(std::string(key)) != 0) fail(name + ": duplicate key");
        value val;
        const uint32_t raw_type = cur.read<uint32_t>(name + " (type)");
        if (!known_type(raw_type)) fail(name + ": unknown value type " + std::to_string(raw_type));
        val.type = static_cast<value_type>(raw_type);
        if (val.type == value_type::string) {
            val.str = cur.read_string(name);
        } else if (val.type == value_type::array) {
            const uint32_t raw_elem = cur.read<uint32_t>(name + " (array element type)");
            if (!known_type(raw_elem)) fail(name + ": unknown array element type " + std::to_string(raw_elem));
            val.elem_type = static_cast<value_type>(raw_elem);
            if (val.elem_type == value_type::array) fail(name + ": nested arrays are not supported");
            val.count = cur.read<uint64_t>(name + " (array count)");
            if (val.count > max_array_elems)
                fail(name + ": array count " + std::to_string(val.count) + " exceeds 2^30");
            if (val.elem_type == value_type::string) {
                if (val.count > cur.remaining() / 8)
                    fail(name + ": array of " + std::to_string(val.count) + " strings is truncated");
                val.strings.reserve(val.count);
                for (uint64_t j = 0; j < val.count; ++j)
                    val.strings.push_back(cur.read_string(name + "[" + std::to_string(j) + "]"));
            } else {
                const uint64_t elem = value_type_size(val.elem_type);
                if (val.count > cur.remaining() / elem) {
                    fail("truncated: " + name + " holds " + std::to_string(val.count) + " " +
                         value_type_name(val.elem_type) + " elements but only " + std::to_string(cur.remaining()) +
                         " bytes remain");
                }
                val.elems = cur.take(val.count * elem, name);
            }
        } else {
            read_scalar(cur, val, name);
        }
        kvs_.emplace_back(std::string(key), std::move(val));
        kv_index_.emplace(kvs_.back().first, kvs_.size() - 1);
    }

    if (const value *align = find("general.alignment")) {
        if (align->type != value_type::u32)
            fail("key 'general.alignment': must be uint32, found " + std::string(value_type_name(align->type)));
        const uint64_t a = align->as_u64;
        if (a == 0 || (a & (a - 1)) != 0)
            fail("key 'general.alignment': " + std::to_string(a) + " is not a power of two");
        alignment_ = static_cast<uint32_t>(a);
    }

    for (uint64_t i = 0; i < n_tensors; ++i) {
        tensor_info t;
        const std::string_view name = cur.read_string("tensor #" + std::to_string(i) + " name");
        if (name.empty()) fail("tensor #" + std::to_string(i) + ": empty name");
        if (name.size() >= max_tensor_name) fail("tensor #" + std::to_string(i) + ": name longer than 63 bytes");
        t.name = std::string(name);
        const std::string label = "tensor '" + t.name + "'";
        t.n_dims = cur.read<uint32_t>(label + " n_dims");
        if (t.n_dims == 0 || t.n_dims > max_dims) fail(label + ": n_dims " + std::to_string(t.n_dims) + " not in 1..4");
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            t.ne[d] = cur.read<uint64_t>(label + " ne[" + std::to_string(d) + "]");
            if (t.ne[d] == 0 || t.ne[d] > static_cast<uint64_t>(INT64_MAX))
                fail(label + ": dimension " + std::to_string(d) + " is " + std::to_string(t.ne[d]));
        }
        t.type = cur.read<uint32_t>(label + " type");
        if (t.type >= ggml_type_count) fail(label + ": unknown ggml type id " + std::to_string(t.type));
        const auto &info = ggml_type_table[t.type];
        if (info.block_elems == 0)
            fail(label + ": unsupported ggml type " + info.name + " (id " + std::to_string(t.type) + ")");
        t.offset = cur.read<uint64_t>(label + " offset");
        if (t.ne[0] % info.block_elems != 0)
            fail(label + ": row length " + std::to_string(t.ne[0]) + " is not a multiple of the " + info.name +
                 " block size " + std::to_string(info.block_elems));
        // Overflow-safe element and byte counts: every intermediate is compared against the file size.
        const uint64_t limit = map_->size();
        uint64_t rows = 1;
        for (uint32_t d = 1; d < 4; ++d) {
            if (t.ne[d] > limit || rows > limit / t.ne[d]) fail(label + ": shape is larger than the file");
            rows *= t.ne[d];
        }
        const uint64_t row = t.ne[0] / info.block_elems * info.block_bytes;
        if (t.ne[0] / info.block_elems > limit / info.block_bytes || (row != 0 && rows > limit / row))
            fail(label + ": data is larger than the file");
        t.nbytes = row * rows;
        if (tensor_index_.count(std::string(name)) != 0) fail(label + ": duplicate tensor name");
        tensor_index_.emplace(t.name, tensors_.size());
        tensors_.push_back(std::move(t));
    }

    const uint64_t end = cur.pos();
    data_offset_ = end + (alignment_ - end % alignment_) % alignment_;
    if (data_offset_ > map_->size() && n_tensors > 0) fail("truncated: data section starts past the end of the file");

    uint64_t expected = 0;
    for (auto &t : tensors_) {
        const std::string label = "tensor '" + t.name + "'";
        if (t.offset % alignment_ != 0)
            fail(label + ": offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                 std::to_string(alignment_));
        if (t.offset != expected)
            fail(label + ": offset " + std::to_string(t.offset) + " does not follow the previous tensor (expected " +
                 std::to_string(expected) + ")");
        const uint64_t avail = map_->size() - data_offset_;
        if (t.offset > avail || t.nbytes > avail - t.offset)
            fail("truncated: " + label + " needs bytes " + std::to_string(data_offset_ + t.offset) + ".." +
                 std::to_string(data_offset_ + t.offset + t.nbytes) + " but the file has " +
                 std::to_string(map_->size()));
        t.data = map_->data() + data_offset_ + t.offset;
        expected = t.offset + t.nbytes + (alignment_ - t.nbytes % alignment_) % alignment_;
    }
}

const value *gguf_file::find(std::string_view key) const {
    auto it = kv_index_.find(std::string(key));
    return it == kv_index_.end() ? nullptr : &kvs_[it->second].second;
}

const tensor_info *gguf_file::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

uint64_t gguf_file::get_uint(std::string_view key, uint64_t max) const {
    const value *v = find(key);
    if (v == nullptr) fail("missing required key '" + std::string(key) + "'");
    if (!is_integer(v->type))
        fail("key '" + std::string(key) + "': expected an integer, found " + value_type_name(v->type));
    if (is_signed(v->type) && v->as_i64 < 0)
        fail("key '" + std::string(key) + "': negative value " + std::to_string(v->as_i64));
    if (v->as_u64 > max)
        fail("key '" + std::string(key) + "': value " + std::to_string(v->as_u64) + " exceeds " + std::to_string(max));
    return v->as_u64;
}

uint64_t gguf_file::opt_uint(std::string_view key, uint64_t fallback, uint64_t max) const {
    return find(key) == nullptr ? fallback : get_uint(key, max);
}

double gguf_file::get_float(std::string_view key) const {
    const value *v = find(key);
    if (v == nullptr) fail("missing required key '" + std::string(key) + "'");
    if (v->type == value_type::f32 || v->type == value_type::f64) return v->as_f64;
    if (is_integer(v->type))
        return is_signed(v->type) ? static_cast<double>(v->as_i64) : static_cast<double>(v->as_u64);
    fail("key '" + std::string(key) + "': expected a number, found " + value_type_name(v->type));
}

double gguf_file::opt_float(std::string_view key, double fallback) const {
    return find(key) == nullptr ? fallback : get_float(key);
}

std::string_view gguf_file::get_string(std::string_view key) const {
    const value *v = find(key);
    if (v == nullptr) fail("missing required key '" + std::string(key) + "'");
    if (v->type != value_type::string)
        fail("key '" + std::string(key) + "': expected a string, found " + value_type_name(v->type));
    return v->str;
}

std::string_view gguf_file::opt_string(std::string_view key, std::string_view fallback) const {
    return find(key) == nullptr ? fallback : get_string(key);
}

bool gguf_file::opt_bool(std::string_view key, bool fallback) const {
    const value *v = find(key);
    if (v == nullptr) return fallback;
    if (v->type != value_type::boolean && !is_integer(v->type))
        fail("key '" + std::string(key) + "': expected a bool, found " + value_type_name(v->type));
    return v->as_u64 != 0;
}

const value *gguf_file::opt_array(std::string_view key, value_type elem_type) const {
    const value *v = find(key);
    if (v == nullptr) return nullptr;
    if (v->type != value_type::array || v->elem_type != elem_type)
        fail("key '" + std::string(key) + "': expected an array of " + value_type_name(elem_type) + ", found " +
             (v->type == value_type::array ? std::string("an array of ") + value_type_name(v->elem_type)
                                           : std::string(value_type_name(v->type))));
    return v;
}

}  // namespace abi::gguf
