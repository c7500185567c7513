#include "gguf/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace ponder {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr int kMaxArrayDepth = 8;        // levels of array, the outermost included
constexpr size_t kMaxAlignment = 1u << 20;

size_t scalar_size(GgufType t) {
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
        case GgufType::UINT64:
        case GgufType::INT64:
        case GgufType::FLOAT64:
            return 8;
        default:
            return 0;
    }
}

bool valid_type(uint32_t t) {
    return t <= uint32_t(GgufType::FLOAT64);
}

template <typename T>
T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

// Reads a scalar of type t at p into the widened fields of v.
void decode_scalar(GgufType t, const uint8_t* p, GgufValue& v) {
    switch (t) {
        case GgufType::UINT8:
            v.u64 = load<uint8_t>(p);
            break;
        case GgufType::INT8:
            v.i64 = load<int8_t>(p);
            break;
        case GgufType::UINT16:
            v.u64 = load<uint16_t>(p);
            break;
        case GgufType::INT16:
            v.i64 = load<int16_t>(p);
            break;
        case GgufType::UINT32:
            v.u64 = load<uint32_t>(p);
            break;
        case GgufType::INT32:
            v.i64 = load<int32_t>(p);
            break;
        case GgufType::UINT64:
            v.u64 = load<uint64_t>(p);
            break;
        case GgufType::INT64:
            v.i64 = load<int64_t>(p);
            break;
        case GgufType::FLOAT32:
            v.f64 = load<float>(p);
            break;
        case GgufType::FLOAT64:
            v.f64 = load<double>(p);
            break;
        case GgufType::BOOL:
            v.u64 = load<uint8_t>(p);
            break;
        default:
            break;
    }
}

// Bounds-checked cursor over the file; every failure names the file and offset.
class Cursor {
  public:
    Cursor(const std::string& name, const uint8_t* base, size_t size)
        : name_(name), base_(base), size_(size) {}

    size_t pos() const { return pos_; }
    size_t remaining() const { return size_ - pos_; }
    size_t offset_of(const uint8_t* p) const { return size_t(p - base_); }

    [[noreturn]] void error(size_t at, const std::string& what) const {
        fail(name_, ": invalid GGUF at byte offset ", at, ": ", what);
    }

    const uint8_t* take(size_t n, const char* what) {
        if (n > remaining())
            error(pos_, cat("truncated file: need ", n, " bytes for ", what, ", only ", remaining(),
                            " left (file size ", size_, ")"));
        const uint8_t* p = base_ + pos_;
        pos_ += n;
        return p;
    }
    template <typename T>
    T read(const char* what) {
        return load<T>(take(sizeof(T), what));
    }
    std::string_view read_string(const char* what) {
        const size_t at = pos_;
        const uint64_t len = read<uint64_t>(what);
        if (len > remaining())
            error(at, cat(what, " length ", len, " exceeds the ", remaining(),
                          " bytes left in the file"));
        const uint8_t* p = take(size_t(len), what);
        return {reinterpret_cast<const char*>(p), size_t(len)};
    }

  private:
    const std::string& name_;
    const uint8_t* base_;
    size_t size_;
    size_t pos_ = 0;
};

void read_value(Cursor& c, GgufType type, GgufValue& v, int depth, const std::string& key);

void read_array(Cursor& c, GgufValue& v, int depth, const std::string& key) {
    const size_t at = c.pos();
    const uint32_t et = c.read<uint32_t>("array element type");
    if (!valid_type(et)) c.error(at, cat("key '", key, "': unknown array element type ", et));
    v.elem_type = GgufType(et);
    const size_t count_at = c.pos();
    v.count = c.read<uint64_t>("array length");
    // `depth` counts the arrays enclosing this one; its elements would be level depth + 2.
    if (v.elem_type == GgufType::ARRAY && depth + 2 > kMaxArrayDepth)
        c.error(at, cat("key '", key, "': arrays nested deeper than ", kMaxArrayDepth));
    // Minimum bytes per element, checked before anything is sized by the count.
    const size_t min_elem = v.elem_type == GgufType::STRING  ? 8
                            : v.elem_type == GgufType::ARRAY ? 12
                                                             : scalar_size(v.elem_type);
    if (v.count > c.remaining() / min_elem)
        c.error(count_at,
                cat("key '", key, "': array of ", v.count, " ", gguf_type_name(v.elem_type),
                    " elements exceeds the ", c.remaining(), " bytes left in the file"));
    if (v.elem_type == GgufType::STRING) {
        v.strings.reserve(size_t(v.count));
        for (uint64_t i = 0; i < v.count; ++i) v.strings.push_back(c.read_string("array string"));
    } else if (v.elem_type == GgufType::ARRAY) {
        v.items.resize(size_t(v.count));
        for (auto& item : v.items) {
            item.type = GgufType::ARRAY;
            read_array(c, item, depth + 1, key);
        }
    } else {
        v.raw = c.take(size_t(v.count) * min_elem, "array data");
        if (v.elem_type == GgufType::BOOL)
            for (uint64_t i = 0; i < v.count; ++i)
                if (v.raw[i] > 1)
                    c.error(c.offset_of(v.raw + i),
                            cat("key '", key, "': bool array element ", i, " is ", int(v.raw[i])));
    }
}

void read_value(Cursor& c, GgufType type, GgufValue& v, int depth, const std::string& key) {
    v.type = type;
    if (type == GgufType::STRING) {
        v.str = c.read_string("string value");
    } else if (type == GgufType::ARRAY) {
        read_array(c, v, depth, key);
    } else {
        const size_t at = c.pos();
        decode_scalar(type, c.take(scalar_size(type), "scalar value"), v);
        if (type == GgufType::BOOL && v.u64 > 1)
            c.error(at, cat("key '", key, "': bool value is ", v.u64));
    }
}

bool mul_overflows(int64_t a, int64_t b, int64_t* out) {
    return __builtin_mul_overflow(a, b, out);
}

}  // namespace

std::string_view gguf_type_name(GgufType t) {
    static constexpr std::string_view names[] = {"u8",   "i8",  "u16",   "i16", "u32", "i32", "f32",
                                                 "bool", "str", "array", "u64", "i64", "f64"};
    const auto i = uint32_t(t);
    return i < std::size(names) ? names[i] : std::string_view("?");
}

bool GgufValue::is_int() const {
    switch (type) {
        case GgufType::UINT8:
        case GgufType::INT8:
        case GgufType::UINT16:
        case GgufType::INT16:
        case GgufType::UINT32:
        case GgufType::INT32:
        case GgufType::UINT64:
        case GgufType::INT64:
            return true;
        default:
            return false;
    }
}

double GgufValue::array_number(uint64_t i) const {
    if (type != GgufType::ARRAY || !raw || i >= count)
        fail("GGUF value is not a numeric array or has no element ", i, " (", count,
             " elements of ", gguf_type_name(elem_type), ")");
    GgufValue e;
    decode_scalar(elem_type, raw + i * scalar_size(elem_type), e);
    switch (elem_type) {
        case GgufType::FLOAT32:
        case GgufType::FLOAT64:
            return e.f64;
        case GgufType::INT8:
        case GgufType::INT16:
        case GgufType::INT32:
        case GgufType::INT64:
            return double(e.i64);
        default:
            return double(e.u64);
    }
}

int64_t GgufValue::array_int(uint64_t i) const {
    if (type != GgufType::ARRAY || !raw || i >= count)
        fail("GGUF value is not a numeric array or has no element ", i, " (", count,
             " elements of ", gguf_type_name(elem_type), ")");
    GgufValue e;
    decode_scalar(elem_type, raw + i * scalar_size(elem_type), e);
    switch (elem_type) {
        case GgufType::FLOAT32:
        case GgufType::FLOAT64:
            // A cast of NaN or of a value outside int64's range is undefined: refuse it.
            if (!(e.f64 >= -0x1p63 && e.f64 < 0x1p63))
                fail("GGUF array element ", i, " (", e.f64, ") is not representable as an integer");
            return int64_t(e.f64);
        case GgufType::INT8:
        case GgufType::INT16:
        case GgufType::INT32:
        case GgufType::INT64:
            return e.i64;
        default:
            if (e.u64 > uint64_t(std::numeric_limits<int64_t>::max()))
                fail("GGUF array element ", i, " (", e.u64, ") is too large for int64");
            return int64_t(e.u64);
    }
}

std::string GgufTensorInfo::shape_str() const {
    std::string s = "[";
    for (uint32_t i = 0; i < n_dims; ++i) {
        if (i) s += ", ";
        s += std::to_string(ne[i]);
    }
    return s + "]";
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path, ": cannot open: ", std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        fail(path, ": cannot stat: ", std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(path, ": not a regular file");
    }
    std::unique_ptr<GgufFile> f(new GgufFile());
    f->path_ = path;
    f->size_ = size_t(st.st_size);
    if (f->size_ > 0) {
        void* p = mmap(nullptr, f->size_, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            const int e = errno;
            ::close(fd);
            fail(path, ": cannot map ", f->size_, " bytes: ", std::strerror(e));
        }
        f->base_ = static_cast<const uint8_t*>(p);
        f->mapped_ = true;
    }
    ::close(fd);
    f->parse();
    return f;
}

std::unique_ptr<GgufFile> GgufFile::from_memory(const uint8_t* data, size_t size,
                                                const std::string& name) {
    std::unique_ptr<GgufFile> f(new GgufFile());
    f->path_ = name;
    f->base_ = data;
    f->size_ = size;
    f->parse();
    return f;
}

GgufFile::~GgufFile() {
    if (mapped_) munmap(const_cast<uint8_t*>(base_), size_);
}

void GgufFile::parse() {
    static const uint8_t kEmpty[1] = {0};
    Cursor c(path_, base_ ? base_ : kEmpty, size_);
    if (size_ < 4) c.error(0, cat("not a GGUF file: only ", size_, " bytes"));
    const uint32_t magic = c.read<uint32_t>("magic");
    if (magic != kMagic) {
        char m[5] = {};
        std::memcpy(m, base_, 4);
        for (int i = 0; i < 4; ++i)
            if (m[i] < 32 || m[i] > 126) m[i] = '?';  // NUL included, so all four show
        c.error(0, cat("bad magic '", m, "' (expected 'GGUF'): not a GGUF file"));
    }
    version_ = c.read<uint32_t>("version");
    if (version_ != 2 && version_ != 3) {
        if (version_ == 1) c.error(4, "GGUF version 1 is not supported (re-convert the model)");
        if ((version_ & 0xffff) == 0 && (version_ >> 16) != 0)
            c.error(4, cat("unsupported version ", version_, " (big-endian GGUF?)"));
        c.error(4, cat("unsupported version ", version_, " (supported: 2, 3)"));
    }
    const size_t counts_at = c.pos();
    const uint64_t n_tensors = c.read<uint64_t>("tensor count");
    const uint64_t n_kv = c.read<uint64_t>("metadata count");
    // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at
    // least 8 + 4 + 4 + 8 bytes.
    if (n_kv > c.remaining() / 13)
        c.error(counts_at + 8, cat("metadata count ", n_kv, " exceeds what the ", c.remaining(),
                                   " remaining bytes can hold"));
    if (n_tensors > c.remaining() / 24)
        c.error(counts_at, cat("tensor count ", n_tensors, " exceeds what the ", c.remaining(),
                               " remaining bytes can hold"));

    kvs_.reserve(size_t(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
        GgufKV kv;
        kv.offset = c.pos();
        kv.key = c.read_string("metadata key");
        if (kv.key.empty()) c.error(kv.offset, "empty metadata key");
        const std::string key(kv.key);
        const size_t type_at = c.pos();
        const uint32_t t = c.read<uint32_t>("metadata value type");
        if (!valid_type(t)) c.error(type_at, cat("key '", key, "': unknown value type ", t));
        read_value(c, GgufType(t), kv.value, 0, key);
        if (!kv_index_.emplace(kv.key, kvs_.size()).second)
            c.error(kv.offset, cat("duplicate metadata key '", key, "'"));
        kvs_.push_back(std::move(kv));
    }

    if (const GgufValue* a = find("general.alignment")) {
        const size_t at = kvs_[kv_index_.at("general.alignment")].offset;
        // The specification types it u32; a reader that accepted other types would place the
        // data section differently from other engines.
        if (a->type != GgufType::UINT32)
            c.error(at, cat("general.alignment must be u32, got ", gguf_type_name(a->type)));
        const uint64_t al = a->u64;
        if (al == 0 || (al & (al - 1)) != 0 || al > kMaxAlignment)
            c.error(at,
                    cat("general.alignment ", al, " is not a power of two up to ", kMaxAlignment));
        alignment_ = size_t(al);
    }

    tensors_.reserve(size_t(n_tensors));
    std::vector<size_t> offset_fields;  // where each tensor's data offset is written
    offset_fields.reserve(size_t(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        GgufTensorInfo ti;
        const size_t at = c.pos();
        ti.name = c.read_string("tensor name");
        if (ti.name.empty()) c.error(at, "empty tensor name");
        const std::string name(ti.name);
        const size_t dims_at = c.pos();
        ti.n_dims = c.read<uint32_t>("tensor dimension count");
        if (ti.n_dims == 0 || ti.n_dims > 4)
            c.error(dims_at,
                    cat("tensor '", name, "': ", ti.n_dims, " dimensions (1 to 4 allowed)"));
        for (uint32_t d = 0; d < ti.n_dims; ++d) {
            const size_t d_at = c.pos();
            const uint64_t v = c.read<uint64_t>("tensor dimension");
            if (v == 0 || v > uint64_t(std::numeric_limits<int64_t>::max()))
                c.error(d_at, cat("tensor '", name, "': dimension ", d, " is ", v));
            ti.ne[d] = int64_t(v);
        }
        int64_t n = 1;
        for (int64_t d : ti.ne)
            if (mul_overflows(n, d, &n))
                c.error(dims_at, cat("tensor '", name, "': element count overflows"));
        const size_t type_at = c.pos();
        const uint32_t t = c.read<uint32_t>("tensor type");
        const auto traits = dtype_traits_of(t);
        if (!traits) c.error(type_at, cat("tensor '", name, "': unknown tensor type ", t));
        ti.type = DType(t);
        if (ti.ne[0] % traits->block_size != 0)
            c.error(dims_at,
                    cat("tensor '", name, "': row length ", ti.ne[0], " is not a multiple of the ",
                        traits->name, " block size ", traits->block_size));
        int64_t nbytes = 0;
        if (mul_overflows(n / traits->block_size, int64_t(traits->type_size), &nbytes))
            c.error(dims_at, cat("tensor '", name, "': byte size overflows"));
        ti.nbytes = uint64_t(nbytes);
        const size_t off_at = c.pos();
        offset_fields.push_back(off_at);
        ti.offset = c.read<uint64_t>("tensor offset");
        if (ti.offset % alignment_ != 0)
            c.error(off_at, cat("tensor '", name, "': data offset ", ti.offset,
                                " is not a multiple of the alignment ", alignment_));
        if (!tensor_index_.emplace(ti.name, tensors_.size()).second)
            c.error(at, cat("duplicate tensor name '", name, "'"));
        tensors_.push_back(ti);
    }

    // The data section starts at the next multiple of the alignment.
    const size_t header_end = c.pos();
    data_offset_ = (header_end + alignment_ - 1) / alignment_ * alignment_;
    if (!tensors_.empty() && data_offset_ > size_)
        c.error(header_end, cat("truncated file: data section would start at ", data_offset_,
                                " but the file has ", size_, " bytes"));
    const uint64_t avail = size_ > data_offset_ ? size_ - data_offset_ : 0;
    for (size_t i = 0; i < tensors_.size(); ++i) {
        GgufTensorInfo& ti = tensors_[i];
        if (ti.offset > avail || ti.nbytes > avail - ti.offset)
            c.error(offset_fields[i], cat("tensor '", ti.name, "' (", dtype_name(ti.type), " ",
                                          ti.shape_str(), ", ", ti.nbytes, " bytes at data offset ",
                                          ti.offset, ") extends past the end of the file (", avail,
                                          " data bytes from offset ", data_offset_, ")"));
        ti.data = base_ + data_offset_ + ti.offset;
    }
}

const GgufValue* GgufFile::find(std::string_view key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
[[noreturn]] void wrong_type(const std::string& path, std::string_view key, const char* want,
                             const GgufValue& v) {
    fail(path, ": metadata key '", key, "' should be ", want, " but is ", gguf_type_name(v.type));
}
}  // namespace

std::string_view GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) fail(path_, ": missing metadata key '", key, "'");
    if (v->type != GgufType::STRING) wrong_type(path_, key, "a string", *v);
    return v->str;
}

int64_t GgufFile::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) fail(path_, ": missing metadata key '", key, "'");
    if (!v->is_int()) wrong_type(path_, key, "an integer", *v);
    if (v->type == GgufType::UINT64 && v->u64 > uint64_t(std::numeric_limits<int64_t>::max()))
        fail(path_, ": metadata key '", key, "' value ", v->u64, " is too large");
    return v->u64 ? int64_t(v->u64) : v->i64;
}

double GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) fail(path_, ": missing metadata key '", key, "'");
    if (v->is_float()) return v->f64;
    if (v->is_int()) return double(get_int(key));
    wrong_type(path_, key, "a number", *v);
}

bool GgufFile::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) fail(path_, ": missing metadata key '", key, "'");
    if (v->type != GgufType::BOOL) wrong_type(path_, key, "a bool", *v);
    return v->u64 != 0;
}

const GgufValue& GgufFile::get_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) fail(path_, ": missing metadata key '", key, "'");
    if (v->type != GgufType::ARRAY) wrong_type(path_, key, "an array", *v);
    return *v;
}

std::string_view GgufFile::get_string_or(std::string_view key, std::string_view def) const {
    return find(key) ? get_string(key) : def;
}
int64_t GgufFile::get_int_or(std::string_view key, int64_t def) const {
    return find(key) ? get_int(key) : def;
}
double GgufFile::get_float_or(std::string_view key, double def) const {
    return find(key) ? get_float(key) : def;
}
bool GgufFile::get_bool_or(std::string_view key, bool def) const {
    return find(key) ? get_bool(key) : def;
}

}  // namespace ponder
