// GGUF writer (version 3): metadata in insertion order, tensors aligned, data streamed.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "gguf/gguf.h"

namespace ponder {

class GgufWriter {
  public:
    // Produces a tensor's bytes into dst (exactly nbytes) when the file is written.
    using Fill = std::function<void(uint8_t* dst, size_t nbytes)>;

    explicit GgufWriter(uint32_t alignment = 32);

    // Setting a key that exists replaces its value in place. The constructor sets
    // general.alignment when the alignment is not the default 32; write() refuses a file whose
    // general.alignment (if present) is not the u32 the writer aligns to.
    void set_u8(std::string_view key, uint8_t v);
    void set_u32(std::string_view key, uint32_t v);
    void set_i32(std::string_view key, int32_t v);
    void set_u64(std::string_view key, uint64_t v);
    void set_f32(std::string_view key, float v);
    void set_bool(std::string_view key, bool v);
    void set_string(std::string_view key, std::string_view v);
    void set_array_strings(std::string_view key, const std::vector<std::string>& v);
    void set_array_f32(std::string_view key, const std::vector<float>& v);
    void set_array_i32(std::string_view key, const std::vector<int32_t>& v);
    // Copies a value read from another file (any type, nested arrays included).
    void set_value(std::string_view key, const GgufValue& v);
    void remove(std::string_view key);
    bool has(std::string_view key) const;

    // Tensors are written in the order added. ne[0] is the row length. Throws Error for an
    // empty or duplicate name, 0 or more than 4 dims, a dim < 1, a row length that is not a
    // multiple of the type's block size, or a byte size that overflows.
    void add_tensor(std::string_view name, DType type, const std::vector<int64_t>& ne, Fill fill);
    // `data` (row_size * rows bytes) must stay valid until write() returns.
    void add_tensor(std::string_view name, DType type, const std::vector<int64_t>& ne,
                    const void* data);

    // Writes the file to `path` through a temporary file renamed on success, so a failed or
    // interrupted write never leaves a partial file under the final name.
    void write(const std::string& path) const;
    std::vector<uint8_t> write_to_memory() const;

  private:
    struct Tensor {
        std::string name;
        DType type;
        std::vector<int64_t> ne;
        uint64_t nbytes;
        Fill fill;
    };
    void set_raw(std::string_view key, std::vector<uint8_t> bytes);
    void emit(const std::function<void(const void*, size_t)>& out) const;

    uint32_t alignment_;
    std::vector<std::pair<std::string, std::vector<uint8_t>>> kvs_;  // key, type + payload
    std::vector<Tensor> tensors_;
};

}  // namespace ponder
