// GGUF reader (versions 2 and 3): memory-mapped, zero-copy, strictly validated.
//
// Every structural problem in a file (bad magic, truncation, counts past the end, duplicate
// names, unknown types, out-of-bounds or misaligned tensor data, shape overflow) throws
// ponder::Error naming the file, the byte offset and the problem. No allocation is ever sized
// by a header field before that field has been checked against the bytes that remain.
//
// Beyond the byte layout it enforces: keys and tensor names non-empty and unique, bools 0 or 1,
// arrays nested at most 8 deep, general.alignment a u32 power of two up to 1 MiB, 1 to 4
// dimensions each >= 1 with a non-overflowing product, a known tensor type whose block size
// divides the row length, and each tensor's data offset aligned and its bytes inside the file.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"

namespace ponder {

enum class GgufType : uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
};

std::string_view gguf_type_name(GgufType t);

// One metadata value. Scalars are widened into u64/i64/f64; strings point into the file.
// Arrays of scalars keep a pointer to their little-endian elements in the file; arrays of
// strings and of arrays are expanded into `strings` / `items`.
struct GgufValue {
    GgufType type = GgufType::UINT8;
    uint64_t u64 = 0;  // UINT8..UINT64, BOOL
    int64_t i64 = 0;   // INT8..INT64
    double f64 = 0;    // FLOAT32, FLOAT64
    std::string_view str;
    // arrays
    GgufType elem_type = GgufType::UINT8;
    uint64_t count = 0;
    const uint8_t* raw = nullptr;  // scalar elements, packed, possibly unaligned
    std::vector<std::string_view> strings;
    std::vector<GgufValue> items;

    bool is_int() const;
    bool is_float() const { return type == GgufType::FLOAT32 || type == GgufType::FLOAT64; }
    bool is_array() const { return type == GgufType::ARRAY; }
    // Element i of a scalar array, converted. Throws Error if this is not an array of scalars
    // or i >= count; array_int also throws when the element does not fit an int64 (a float
    // that is NaN or out of range, a u64 above INT64_MAX). Floats are truncated toward zero.
    double array_number(uint64_t i) const;
    int64_t array_int(uint64_t i) const;
};

struct GgufKV {
    std::string_view key;
    GgufValue value;
    uint64_t offset;  // where the key starts in the file
};

struct GgufTensorInfo {
    std::string_view name;
    uint32_t n_dims = 0;
    std::array<int64_t, 4> ne{1, 1, 1, 1};  // ne[0] is the row length (innermost)
    DType type = DType::F32;
    uint64_t offset = 0;  // relative to the start of the data section
    uint64_t nbytes = 0;
    const uint8_t* data = nullptr;
    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
    std::string shape_str() const;  // "[64, 512]"
};

class GgufFile {
  public:
    // Maps and parses the file at `path`; throws Error on any problem.
    static std::unique_ptr<GgufFile> open(const std::string& path);
    // Parses bytes that the caller keeps alive for the lifetime of the result (tests, fuzzing).
    static std::unique_ptr<GgufFile> from_memory(const uint8_t* data, size_t size,
                                                 const std::string& name);
    ~GgufFile();
    GgufFile(const GgufFile&) = delete;
    GgufFile& operator=(const GgufFile&) = delete;

    const std::string& path() const { return path_; }
    uint32_t version() const { return version_; }
    size_t file_size() const { return size_; }
    size_t alignment() const { return alignment_; }
    size_t data_offset() const { return data_offset_; }
    const uint8_t* bytes() const { return base_; }
    // Whether bytes() is this object's read-only file mapping (open), not the caller's memory.
    bool mapped() const { return mapped_; }

    const std::vector<GgufKV>& metadata() const { return kvs_; }
    const GgufValue* find(std::string_view key) const;
    // Typed getters: throw Error naming the file and key if missing or of the wrong type.
    std::string_view get_string(std::string_view key) const;
    int64_t get_int(std::string_view key) const;   // any integer type
    double get_float(std::string_view key) const;  // float or integer types
    bool get_bool(std::string_view key) const;
    const GgufValue& get_array(std::string_view key) const;
    // Same, with a default when the key is absent (a present key of the wrong type still throws).
    std::string_view get_string_or(std::string_view key, std::string_view def) const;
    int64_t get_int_or(std::string_view key, int64_t def) const;
    double get_float_or(std::string_view key, double def) const;
    bool get_bool_or(std::string_view key, bool def) const;

    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(std::string_view name) const;

  private:
    GgufFile() = default;
    void parse();

    std::string path_;
    const uint8_t* base_ = nullptr;
    size_t size_ = 0;
    bool mapped_ = false;
    uint32_t version_ = 0;
    size_t alignment_ = 32;
    size_t data_offset_ = 0;
    std::vector<GgufKV> kvs_;
    std::unordered_map<std::string_view, size_t> kv_index_;
    std::vector<GgufTensorInfo> tensors_;
    std::unordered_map<std::string_view, size_t> tensor_index_;
};

}  // namespace ponder
