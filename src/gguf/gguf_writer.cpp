#include "gguf/gguf_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace ponder {
namespace {

template <typename T>
void put(std::vector<uint8_t>& b, T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
}
void put_str(std::vector<uint8_t>& b, std::string_view s) {
    put<uint64_t>(b, s.size());
    b.insert(b.end(), s.begin(), s.end());
}
size_t elem_size(GgufType t) {
    switch (t) {
        case GgufType::UINT8:
        case GgufType::INT8:
        case GgufType::BOOL:
            return 1;
        case GgufType::UINT16:
        case GgufType::INT16:
            return 2;
        case GgufType::UINT32:
        case GgufType::INT32:
        case GgufType::FLOAT32:
            return 4;
        default:
            return 8;
    }
}

// Serializes the payload of v (without its leading type tag).
void put_payload(std::vector<uint8_t>& b, const GgufValue& v) {
    switch (v.type) {
        case GgufType::UINT8:
            put<uint8_t>(b, uint8_t(v.u64));
            break;
        case GgufType::INT8:
            put<int8_t>(b, int8_t(v.i64));
            break;
        case GgufType::UINT16:
            put<uint16_t>(b, uint16_t(v.u64));
            break;
        case GgufType::INT16:
            put<int16_t>(b, int16_t(v.i64));
            break;
        case GgufType::UINT32:
            put<uint32_t>(b, uint32_t(v.u64));
            break;
        case GgufType::INT32:
            put<int32_t>(b, int32_t(v.i64));
            break;
        case GgufType::UINT64:
            put<uint64_t>(b, v.u64);
            break;
        case GgufType::INT64:
            put<int64_t>(b, v.i64);
            break;
        case GgufType::FLOAT32:
            put<float>(b, float(v.f64));
            break;
        case GgufType::FLOAT64:
            put<double>(b, v.f64);
            break;
        case GgufType::BOOL:
            put<uint8_t>(b, v.u64 ? 1 : 0);
            break;
        case GgufType::STRING:
            put_str(b, v.str);
            break;
        case GgufType::ARRAY:
            put<uint32_t>(b, uint32_t(v.elem_type));
            put<uint64_t>(b, v.count);
            if (v.elem_type == GgufType::STRING) {
                for (auto s : v.strings) put_str(b, s);
            } else if (v.elem_type == GgufType::ARRAY) {
                for (const auto& item : v.items) put_payload(b, item);
            } else {
                b.insert(b.end(), v.raw, v.raw + v.count * elem_size(v.elem_type));
            }
            break;
    }
}

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)))
        fail("GGUF alignment ", alignment, " is not a power of two");
    if (alignment != 32) set_u32("general.alignment", alignment);
}

void GgufWriter::set_raw(std::string_view key, std::vector<uint8_t> bytes) {
    for (auto& kv : kvs_)
        if (kv.first == key) {
            kv.second = std::move(bytes);
            return;
        }
    kvs_.emplace_back(std::string(key), std::move(bytes));
}

void GgufWriter::remove(std::string_view key) {
    std::erase_if(kvs_, [&](const auto& kv) { return kv.first == key; });
}
bool GgufWriter::has(std::string_view key) const {
    for (const auto& kv : kvs_)
        if (kv.first == key) return true;
    return false;
}

#define PONDER_SCALAR_SETTER(fn, T, tag)             \
    void GgufWriter::fn(std::string_view key, T v) { \
        std::vector<uint8_t> b;                      \
        put<uint32_t>(b, uint32_t(GgufType::tag));   \
        put<T>(b, v);                                \
        set_raw(key, std::move(b));                  \
    }
PONDER_SCALAR_SETTER(set_u8, uint8_t, UINT8)
PONDER_SCALAR_SETTER(set_u32, uint32_t, UINT32)
PONDER_SCALAR_SETTER(set_i32, int32_t, INT32)
PONDER_SCALAR_SETTER(set_u64, uint64_t, UINT64)
PONDER_SCALAR_SETTER(set_f32, float, FLOAT32)
#undef PONDER_SCALAR_SETTER

void GgufWriter::set_bool(std::string_view key, bool v) {
    std::vector<uint8_t> b;
    put<uint32_t>(b, uint32_t(GgufType::BOOL));
    put<uint8_t>(b, v ? 1 : 0);
    set_raw(key, std::move(b));
}

void GgufWriter::set_string(std::string_view key, std::string_view v) {
    std::vector<uint8_t> b;
    put<uint32_t>(b, uint32_t(GgufType::STRING));
    put_str(b, v);
    set_raw(key, std::move(b));
}

void GgufWriter::set_array_strings(std::string_view key, const std::vector<std::string>& v) {
    std::vector<uint8_t> b;
    put<uint32_t>(b, uint32_t(GgufType::ARRAY));
    put<uint32_t>(b, uint32_t(GgufType::STRING));
    put<uint64_t>(b, v.size());
    for (const auto& s : v) put_str(b, s);
    set_raw(key, std::move(b));
}

void GgufWriter::set_array_f32(std::string_view key, const std::vector<float>& v) {
    std::vector<uint8_t> b;
    put<uint32_t>(b, uint32_t(GgufType::ARRAY));
    put<uint32_t>(b, uint32_t(GgufType::FLOAT32));
    put<uint64_t>(b, v.size());
    for (float x : v) put<float>(b, x);
    set_raw(key, std::move(b));
}

void GgufWriter::set_array_i32(std::string_view key, const std::vector<int32_t>& v) {
    std::vector<uint8_t> b;
    put<uint32_t>(b, uint32_t(GgufType::ARRAY));
    put<uint32_t>(b, uint32_t(GgufType::INT32));
    put<uint64_t>(b, v.size());
    for (int32_t x : v) put<int32_t>(b, x);
    set_raw(key, std::move(b));
}

void GgufWriter::set_value(std::string_view key, const GgufValue& v) {
    std::vector<uint8_t> b;
    put<uint32_t>(b, uint32_t(v.type));
    put_payload(b, v);
    set_raw(key, std::move(b));
}

void GgufWriter::add_tensor(std::string_view name, DType type, const std::vector<int64_t>& ne,
                            Fill fill) {
    if (name.empty()) fail("GGUF writer: empty tensor name");
    if (ne.empty() || ne.size() > 4) fail("tensor '", name, "': ", ne.size(), " dimensions");
    for (const auto& t : tensors_)
        if (t.name == name) fail("tensor '", name, "' added twice");
    for (int64_t d : ne)
        if (d < 1) fail("tensor '", name, "': dimension ", d, " (each must be >= 1)");
    const auto& tr = dtype_traits(type);
    if (ne[0] % tr.block_size != 0)
        fail("tensor '", name, "': row length ", ne[0], " is not a multiple of the ", tr.name,
             " block size ", tr.block_size);
    // Bytes = blocks per row * block size * rows, refused when it overflows (the reader would
    // refuse such a file).
    int64_t nbytes = ne[0] / tr.block_size;
    bool overflow = __builtin_mul_overflow(nbytes, int64_t(tr.type_size), &nbytes);
    for (size_t i = 1; i < ne.size() && !overflow; ++i)
        overflow = __builtin_mul_overflow(nbytes, ne[i], &nbytes);
    if (overflow) fail("tensor '", name, "': byte size overflows");
    tensors_.push_back({std::string(name), type, ne, uint64_t(nbytes), std::move(fill)});
}

void GgufWriter::add_tensor(std::string_view name, DType type, const std::vector<int64_t>& ne,
                            const void* data) {
    add_tensor(name, type, ne, [data](uint8_t* dst, size_t n) { std::memcpy(dst, data, n); });
}

void GgufWriter::emit(const std::function<void(const void*, size_t)>& out) const {
    // general.alignment, if present, must say what the data is aligned to; absent means 32.
    std::vector<uint8_t> want;
    put<uint32_t>(want, uint32_t(GgufType::UINT32));
    put<uint32_t>(want, alignment_);
    bool declared = false;
    for (const auto& [key, bytes] : kvs_)
        if (key == "general.alignment") {
            if (bytes != want)
                fail("GGUF writer: general.alignment does not hold the u32 ", alignment_,
                     " this writer aligns to");
            declared = true;
        }
    if (!declared && alignment_ != 32)
        fail("GGUF writer: general.alignment was removed but the alignment is ", alignment_);
    std::vector<uint8_t> h;
    put<uint32_t>(h, 0x46554747);
    put<uint32_t>(h, 3);
    put<uint64_t>(h, tensors_.size());
    put<uint64_t>(h, kvs_.size());
    for (const auto& [key, bytes] : kvs_) {
        put_str(h, key);
        h.insert(h.end(), bytes.begin(), bytes.end());
    }
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
        put_str(h, t.name);
        put<uint32_t>(h, uint32_t(t.ne.size()));
        for (int64_t d : t.ne) put<uint64_t>(h, uint64_t(d));
        put<uint32_t>(h, uint32_t(t.type));
        put<uint64_t>(h, offset);
        offset += (t.nbytes + alignment_ - 1) / alignment_ * alignment_;
    }
    h.resize((h.size() + alignment_ - 1) / alignment_ * alignment_, 0);
    out(h.data(), h.size());
    std::vector<uint8_t> buf;
    static const uint8_t zeros[64] = {};
    for (const auto& t : tensors_) {
        buf.assign(t.nbytes, 0);
        t.fill(buf.data(), buf.size());
        out(buf.data(), buf.size());
        size_t pad = (alignment_ - t.nbytes % alignment_) % alignment_;
        while (pad > 0) {
            const size_t n = std::min(pad, sizeof(zeros));
            out(zeros, n);
            pad -= n;
        }
    }
}

std::vector<uint8_t> GgufWriter::write_to_memory() const {
    std::vector<uint8_t> all;
    emit([&](const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        all.insert(all.end(), b, b + n);
    });
    return all;
}

void GgufWriter::write(const std::string& path) const {
    const std::string tmp = path + ".partial";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail(tmp, ": cannot create: ", std::strerror(errno));
    try {
        emit([&](const void* p, size_t n) {
            if (std::fwrite(p, 1, n, f) != n) fail(tmp, ": write failed: ", std::strerror(errno));
        });
        if (std::fflush(f) != 0) fail(tmp, ": write failed: ", std::strerror(errno));
    } catch (...) {
        std::fclose(f);
        std::remove(tmp.c_str());
        throw;
    }
    if (std::fclose(f) != 0) {
        std::remove(tmp.c_str());
        fail(tmp, ": close failed: ", std::strerror(errno));
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        fail(path, ": cannot rename from ", tmp, ": ", ec.message());
    }
}

}  // namespace ponder
