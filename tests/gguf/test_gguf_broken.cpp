// Broken GGUF files: every truncation and every corrupted header field must be refused with a
// ponder::Error naming the file and a byte offset, without a crash (this test also runs under
// ASan+UBSan) and without an allocation sized by the corrupt field.
//
// The files are built here with GgufWriter; a small independent walker (below) records where
// each header field lies so that each can be corrupted in turn.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include "common/paths.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"

// ---- allocation probe --------------------------------------------------------------------------
// The largest single operator-new request made while `g_probe` is set. Replacing the global
// operator new is allowed by the standard and works under AddressSanitizer (it sees malloc/free).
// They are kept out of line so the compiler never pairs an inlined free() with a new-expression.
namespace {
std::atomic<bool> g_probe{false};
std::atomic<size_t> g_largest{0};
}  // namespace

[[gnu::noinline]] void* operator new(size_t n) {
    if (g_probe.load(std::memory_order_relaxed) && n > g_largest.load(std::memory_order_relaxed))
        g_largest.store(n, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](size_t n) {
    return ::operator new(n);
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
    std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p) noexcept {
    std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, size_t) noexcept {
    std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p, size_t) noexcept {
    std::free(p);
}

namespace ponder {
namespace {

const std::string kName = "broken.gguf";

// What parsing `bytes` (an exact-size heap copy, so ASan sees any over-read) produced.
struct Outcome {
    bool ok = false;
    std::string message;  // the Error's message when !ok
    size_t largest = 0;   // largest single allocation during the parse
    size_t tensors = 0;   // when ok
};

Outcome parse(const uint8_t* data, size_t size, const std::string& name = kName) {
    std::vector<uint8_t> copy(data, data + size);
    Outcome o;
    g_largest = 0;
    g_probe = true;
    try {
        auto f = GgufFile::from_memory(copy.data(), copy.size(), name);
        o.ok = true;
        o.tensors = f->tensors().size();
    } catch (const Error& e) {
        o.message = e.what();
    }
    g_probe = false;
    o.largest = g_largest;
    return o;
}
Outcome parse(const std::vector<uint8_t>& b) {
    return parse(b.data(), b.size());
}

// The reader may build an index of what it read, but nothing out of proportion to the input.
size_t allocation_limit(size_t file_size) {
    return 64 * 1024 + 64 * file_size;
}

// Checks that `o` is a refusal naming `name` and a byte offset inside the file, and that the
// parse allocated little. `what` describes the input for failure messages.
void expect_refused(const Outcome& o, size_t size, const std::string& what,
                    const std::string& name = kName, const std::string& want = "") {
    SCOPED_TRACE(what);
    ASSERT_FALSE(o.ok) << "accepted a broken file";
    EXPECT_NE(o.message.find(name), std::string::npos) << o.message;
    // "byte offset N" (found by hand: std::regex trips GCC 12 warnings in sanitizer builds)
    const std::string tag = "byte offset ";
    const size_t at = o.message.find(tag);
    const size_t digits = at == std::string::npos ? 0 : at + tag.size();
    const bool has_offset = digits && digits < o.message.size() &&
                            std::isdigit(static_cast<unsigned char>(o.message[digits]));
    EXPECT_TRUE(has_offset) << o.message;
    if (has_offset) {
        EXPECT_LE(std::stoull(o.message.substr(digits)), size) << o.message;
    }
    if (!want.empty()) {
        EXPECT_NE(o.message.find(want), std::string::npos) << o.message;
    }
    EXPECT_LE(o.largest, allocation_limit(size)) << o.message;
}

// ---- the valid base file -----------------------------------------------------------------------

GgufValue scalar_array(GgufType elem, const std::vector<uint8_t>& raw, uint64_t count) {
    GgufValue v;
    v.type = GgufType::ARRAY;
    v.elem_type = elem;
    v.count = count;
    v.raw = raw.data();
    return v;
}
GgufValue array_of_arrays(std::vector<GgufValue> items) {
    GgufValue v;
    v.type = GgufType::ARRAY;
    v.elem_type = GgufType::ARRAY;
    v.count = items.size();
    v.items = std::move(items);
    return v;
}

// Owns the bytes that GgufValues and tensors point at while the file is written.
struct BaseFile {
    std::vector<uint8_t> i32_raw, bool_raw, tensor_bytes;
    std::vector<uint8_t> bytes;
};

// A valid file with every value kind (scalars, strings, string arrays, bool arrays, an array of
// arrays holding ints, strings and an empty array), an explicit general.alignment, and tensors
// of several types and ranks. Keys "k.u8a"/"k.u8b" and tensors "t.aa"/"t.ab" have equal-length
// names so one can be turned into the other. t.aa takes 96 bytes (an odd multiple of 32) so that
// an alignment of 64 misaligns the tensor after it.
const BaseFile& base_file() {
    static const BaseFile base = [] {
        BaseFile b;
        const std::vector<int32_t> ints = {7, -1, 1 << 20};
        b.i32_raw.resize(ints.size() * 4);
        std::memcpy(b.i32_raw.data(), ints.data(), b.i32_raw.size());
        b.bool_raw = {1, 0, 1};
        b.tensor_bytes.resize(4096);
        for (size_t i = 0; i < b.tensor_bytes.size(); ++i) b.tensor_bytes[i] = uint8_t(i * 7);

        GgufWriter w;
        w.set_string("general.architecture", "llama");
        w.set_u8("k.u8a", 1);
        w.set_u8("k.u8b", 2);
        w.set_u32("general.alignment", 32);
        w.set_i32("k.i32", -3);
        w.set_u64("k.u64", 1ull << 40);
        w.set_f32("k.f32", 0.5f);
        w.set_bool("k.bool", true);
        w.set_array_strings("k.strs", {"alpha", "", "\xce\xb3"});
        w.set_array_f32("k.f32s", {1.0f, -2.5f});
        w.set_value("k.bools", scalar_array(GgufType::BOOL, b.bool_raw, 3));
        GgufValue strs;
        strs.type = GgufType::ARRAY;
        strs.elem_type = GgufType::STRING;
        strs.count = 2;
        strs.strings = {"x", "yz"};
        w.set_value("k.nested", array_of_arrays({scalar_array(GgufType::INT32, b.i32_raw, 3), strs,
                                                 scalar_array(GgufType::UINT8, b.i32_raw, 0)}));
        const uint8_t* d = b.tensor_bytes.data();
        w.add_tensor("t.aa", DType::F32, {8, 3}, d);
        w.add_tensor("t.ab", DType::Q4_0, {64, 2}, d);
        w.add_tensor("t.k", DType::Q4_K, {256}, d);
        w.add_tensor("t.h", DType::F16, {4, 2, 3, 2}, d);
        b.bytes = w.write_to_memory();
        return b;
    }();
    return base;
}

// ---- where the fields are ----------------------------------------------------------------------

enum class Kind {
    Magic,
    Version,
    TensorCount,
    KvCount,
    KeyLength,
    ValueType,
    BoolValue,
    ArrayElemType,
    ArrayLength,
    StringLength,
    TensorNameLength,
    NDims,
    Dim,
    TensorType,
    TensorOffset,
    AlignmentType,
    AlignmentValue,
    kCount,
};

struct Field {
    Kind kind;
    size_t at;     // byte offset of the field
    size_t width;  // 4 or 8 (1 for a bool)
    std::string label;
    uint32_t tensor_type = 0;  // Dim, TensorType: the tensor's type id
    uint32_t dim = 0;          // Dim: which dimension
};

// Walks a file that GgufWriter produced (so valid by construction) and lists its header
// fields in order. Written from the GGUF specification, independently of the reader.
class Walker {
  public:
    explicit Walker(const std::vector<uint8_t>& b) : b_(b) {
        add(Kind::Magic, 4, "magic");
        add(Kind::Version, 4, "version");
        const uint64_t n_tensors = add(Kind::TensorCount, 8, "tensor count");
        const uint64_t n_kv = add(Kind::KvCount, 8, "kv count");
        for (uint64_t i = 0; i < n_kv; ++i) {
            const std::string key = string(Kind::KeyLength, "key length");
            const bool alignment = key == "general.alignment";
            const auto type = uint32_t(
                add(alignment ? Kind::AlignmentType : Kind::ValueType, 4, "value type of " + key));
            if (alignment)
                add(Kind::AlignmentValue, 4, "general.alignment value");
            else
                value(type, key);
        }
        for (uint64_t i = 0; i < n_tensors; ++i) {
            const std::string name = string(Kind::TensorNameLength, "tensor name length");
            const size_t dims_at = pos_;
            const auto n_dims = uint32_t(add(Kind::NDims, 4, "n_dims of " + name));
            pos_ += 8 * n_dims;
            const size_t type_at = pos_;
            const auto type = uint32_t(read(type_at, 4));
            for (uint32_t d = 0; d < n_dims; ++d)
                fields_.push_back({Kind::Dim, dims_at + 4 + 8 * d, 8,
                                   "dim " + std::to_string(d) + " of " + name, type, d});
            add(Kind::TensorType, 4, "type of " + name);
            fields_.back().tensor_type = type;
            add(Kind::TensorOffset, 8, "offset of " + name);
        }
    }
    const std::vector<Field>& fields() const { return fields_; }

  private:
    uint64_t read(size_t at, size_t width) const {
        uint64_t v = 0;
        std::memcpy(&v, &b_.at(at + width - 1) - (width - 1), width);
        return v;
    }
    uint64_t add(Kind k, size_t width, const std::string& label) {
        fields_.push_back({k, pos_, width, label});
        const uint64_t v = read(pos_, width);
        pos_ += width;
        return v;
    }
    std::string string(Kind k, const std::string& label) {
        const uint64_t n = add(k, 8, label);
        std::string s(reinterpret_cast<const char*>(&b_.at(pos_)), size_t(n));
        pos_ += size_t(n);
        return s;
    }
    void value(uint32_t type, const std::string& key) {
        switch (GgufType(type)) {
            case GgufType::STRING:
                string(Kind::StringLength, "string length of " + key);
                break;
            case GgufType::BOOL:
                add(Kind::BoolValue, 1, "bool " + key);
                break;
            case GgufType::ARRAY: {
                const auto elem = uint32_t(add(Kind::ArrayElemType, 4, "element type of " + key));
                const uint64_t n = add(Kind::ArrayLength, 8, "array length of " + key);
                for (uint64_t i = 0; i < n; ++i) {
                    value(elem, key + "[" + std::to_string(i) + "]");
                }
                break;
            }
            default:
                pos_ += scalar_width(type);
        }
    }
    static size_t scalar_width(uint32_t t) {
        switch (GgufType(t)) {
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

    const std::vector<uint8_t>& b_;
    size_t pos_ = 0;
    std::vector<Field> fields_;
};

struct Corruption {
    uint64_t value;
    std::string want;  // a word the message must contain ("" when several problems may show)
};

// Values that make each kind of field invalid, whatever the rest of the file holds.
std::vector<Corruption> corruptions(const Field& f, const std::vector<uint8_t>& file) {
    const uint64_t size = file.size();
    const uint64_t huge = ~0ull;
    uint64_t orig = 0;
    std::memcpy(&orig, &file[f.at], f.width);
    switch (f.kind) {
        case Kind::Magic:
            return {{0x58554747, "magic"}, {0, "magic"}, {0x47475546, "magic"}};
        case Kind::Version:
            return {{0, "version"},
                    {1, "version"},
                    {4, "version"},
                    {0x03000000, "version"},
                    {0xffffffff, "version"}};
        case Kind::TensorCount:
        case Kind::KvCount:
            return {{huge, "count"}, {1ull << 40, "count"}, {size, "count"}, {orig + 1, ""}};
        case Kind::KeyLength:
            return {{0, "empty metadata key"}, {huge, "length"}, {size, "length"}};
        case Kind::TensorNameLength:
            return {{0, "empty tensor name"}, {huge, "length"}, {size, "length"}};
        case Kind::StringLength:
            return {{huge, "length"}, {size, "length"}, {1ull << 63, "length"}};
        case Kind::ValueType:
        case Kind::ArrayElemType:
            return {{13, "unknown"}, {0xffffffff, "unknown"}, {0x80000008, "unknown"}};
        case Kind::BoolValue:
            return {{2, "bool"}, {0xff, "bool"}};
        case Kind::ArrayLength:
            return {{huge, "exceeds"}, {1ull << 62, "exceeds"}, {size, "exceeds"}};
        case Kind::NDims:
            return {{0, "dimensions"}, {5, "dimensions"}, {0xffffffff, "dimensions"}};
        case Kind::Dim: {
            std::vector<Corruption> c = {{0, "dimension"},
                                         {1ull << 63, "dimension"},
                                         {huge, "dimension"},
                                         {1ull << 62, ""},  // overflows, or lies past the end
                                         {1ull << 40, "past the end"}};
            if (f.dim == 0 && dtype_traits(DType(f.tensor_type)).block_size > 1)
                c.push_back({orig + 1, "block size"});
            return c;
        }
        case Kind::TensorType: {
            std::vector<Corruption> c = {
                {4, "unknown tensor type"}, {31, "unknown tensor type"}, {0xffffffff, "unknown"}};
            if (f.tensor_type == uint32_t(DType::F32)) c.push_back({2, "block size"});  // ne0 = 8
            return c;
        }
        case Kind::TensorOffset:
            return {{orig + 1, "alignment"},
                    {orig + 32 * 1000, "past the end"},
                    {huge & ~31ull, "past the end"},
                    {huge, "alignment"}};
        case Kind::AlignmentType:
            return {{uint32_t(GgufType::INT32), "alignment"},
                    {uint32_t(GgufType::FLOAT32), "alignment"}};
        case Kind::AlignmentValue:
            return {{0, "alignment"},
                    {3, "alignment"},
                    {48, "alignment"},
                    {1u << 21, "alignment"},
                    {0x80000000, "alignment"},
                    {64, "alignment"}};  // t.ab's offset (96) is then misaligned
        case Kind::kCount:
            break;
    }
    return {};
}

std::vector<uint8_t> with(std::vector<uint8_t> b, size_t at, size_t width, uint64_t v) {
    std::memcpy(&b[at], &v, width);
    return b;
}

// ---- tests -------------------------------------------------------------------------------------

TEST(GgufBroken, BaseFileIsValidAndEveryFieldKindIsFound) {
    const auto& b = base_file().bytes;
    auto f = GgufFile::from_memory(b.data(), b.size(), kName);
    EXPECT_EQ(f->metadata().size(), 12u);
    EXPECT_EQ(f->tensors().size(), 4u);
    EXPECT_EQ(f->alignment(), 32u);
    const auto& nested = f->get_array("k.nested");
    ASSERT_EQ(nested.items.size(), 3u);
    EXPECT_EQ(nested.items[0].array_int(2), 1 << 20);
    EXPECT_EQ(nested.items[1].strings.at(1), "yz");
    EXPECT_EQ(nested.items[2].count, 0u);
    EXPECT_EQ(f->find_tensor("t.aa")->nbytes % 64, 32u);
    EXPECT_EQ(f->find_tensor("t.ab")->offset, 96u);
    const Walker w(b);
    std::vector<int> seen(size_t(Kind::kCount), 0);
    for (const auto& fld : w.fields()) seen[size_t(fld.kind)]++;
    for (size_t k = 0; k < seen.size(); ++k) EXPECT_GT(seen[k], 0) << "field kind " << k;
    // The walker and the reader agree on where the header ends.
    EXPECT_EQ((w.fields().back().at + 8 + 31) / 32 * 32, f->data_offset());
}

TEST(GgufBroken, TruncatedAtEveryOffset) {
    const auto& b = base_file().bytes;
    const auto full = GgufFile::from_memory(b.data(), b.size(), kName);
    // The file is complete once the last tensor's bytes are there (its padding is optional).
    size_t needed = 0;
    for (const auto& t : full->tensors())
        needed = std::max<size_t>(needed, full->data_offset() + t.offset + t.nbytes);
    ASSERT_LE(needed, b.size());
    for (size_t cut = 0; cut < b.size(); ++cut) {
        const Outcome o = parse(b.data(), cut);
        if (cut < needed)
            expect_refused(o, cut, "truncated to " + std::to_string(cut) + " bytes");
        else
            EXPECT_TRUE(o.ok) << "cut " << cut << ": " << o.message;
        if (HasFatalFailure()) return;
    }
}

TEST(GgufBroken, EveryHeaderFieldCorrupted) {
    const auto& b = base_file().bytes;
    size_t n = 0;
    const Walker walker(b);
    for (const auto& f : walker.fields()) {
        for (const auto& c : corruptions(f, b)) {
            const auto bad = with(b, f.at, f.width, c.value);
            expect_refused(
                parse(bad), bad.size(),
                f.label + " at " + std::to_string(f.at) + " set to " + std::to_string(c.value),
                kName, c.want);
            ++n;
        }
    }
    EXPECT_GT(n, 150u);
}

TEST(GgufBroken, DuplicateKeysAndTensorNames) {
    const auto& b = base_file().bytes;
    auto rename = [&](const std::string& from, const std::string& to) {
        auto bad = b;
        const auto it = std::search(bad.begin(), bad.end(), from.begin(), from.end());
        EXPECT_NE(it, bad.end());
        std::copy(to.begin(), to.end(), it);
        return bad;
    };
    const auto dup_key = rename("k.u8b", "k.u8a");
    expect_refused(parse(dup_key), dup_key.size(), "duplicate key", kName,
                   "duplicate metadata key 'k.u8a'");
    const auto dup_tensor = rename("t.ab", "t.aa");
    expect_refused(parse(dup_tensor), dup_tensor.size(), "duplicate tensor", kName,
                   "duplicate tensor name 't.aa'");
}

TEST(GgufBroken, ShapeOverflow) {
    // t.h has four dimensions: 2^16 in each multiplies to 2^64 elements.
    const auto& b = base_file().bytes;
    auto bad = b;
    const Walker walker(b);
    for (const auto& f : walker.fields())
        if (f.kind == Kind::Dim && f.label.ends_with("t.h")) bad = with(bad, f.at, 8, 1ull << 16);
    expect_refused(parse(bad), bad.size(), "2^64 elements", kName, "overflows");
}

TEST(GgufBroken, ArraysNestedTooDeep) {
    const std::vector<uint8_t> raw = {1, 2};
    auto nest = [&](int levels) {
        GgufValue v = scalar_array(GgufType::UINT8, raw, 2);
        for (int i = 1; i < levels; ++i) v = array_of_arrays({v});
        GgufWriter w;
        w.set_value("deep", v);
        return w.write_to_memory();
    };
    const auto ok = nest(8);
    EXPECT_TRUE(parse(ok).ok) << parse(ok).message;
    const auto bad = nest(9);
    expect_refused(parse(bad), bad.size(), "9 levels of arrays", kName, "nested");
}

TEST(GgufBroken, EmptyAndTinyInputs) {
    const uint8_t gguf[] = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
    for (size_t n = 0; n <= sizeof gguf; ++n)
        expect_refused(parse(gguf, n), n, std::to_string(n) + " bytes");
    const std::string text = "this is not a GGUF file at all";
    expect_refused(parse(reinterpret_cast<const uint8_t*>(text.data()), text.size()), text.size(),
                   "text", kName, "magic");
}

TEST(GgufBroken, SharedModelsTruncated) {
    std::vector<std::string> models;
    for (auto& e : std::filesystem::directory_iterator(test::shared_dir() + "/models"))
        if (e.path().extension() == ".gguf") models.push_back(e.path().string());
    std::sort(models.begin(), models.end());
    ASSERT_GE(models.size(), 10u);
    for (const auto& path : models) {
        SCOPED_TRACE(path);
        const auto full = GgufFile::open(path);
        size_t needed = 0;
        for (const auto& t : full->tensors())
            needed = std::max<size_t>(needed, full->data_offset() + t.offset + t.nbytes);
        // Cuts spread over the header (where parsing happens), at its end, and in the data.
        std::vector<size_t> cuts = {0, 3, 4, 7, 8, 16, 23, 24, 25, 100};
        const size_t header = full->data_offset();
        for (size_t i = 1; i < 24; ++i) cuts.push_back(header * i / 24);
        for (size_t i = 0; i < 6; ++i) cuts.push_back(header + (needed - header) * i / 6);
        cuts.insert(cuts.end(), {header - 1, header, needed - 1});
        for (size_t cut : cuts) {
            if (cut >= needed) continue;
            expect_refused(parse(full->bytes(), cut, path), cut,
                           "cut at " + std::to_string(cut) + " of " + std::to_string(needed), path);
            if (HasFatalFailure()) return;
        }
    }
}

}  // namespace
}  // namespace ponder
