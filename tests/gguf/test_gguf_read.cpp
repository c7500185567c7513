// The reader loads every shared model; the writer round-trips with the reader.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/paths.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"

namespace ponder {
namespace {

std::vector<std::string> shared_models() {
    std::vector<std::string> out;
    for (auto& e : std::filesystem::directory_iterator(test::shared_dir() + "/models"))
        if (e.path().extension() == ".gguf") out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
}

TEST(GgufRead, EverySharedModelLoadsConsistently) {
    const auto models = shared_models();
    ASSERT_GE(models.size(), 10u);
    for (const auto& path : models) {
        SCOPED_TRACE(path);
        auto f = GgufFile::open(path);
        EXPECT_TRUE(f->version() == 2 || f->version() == 3);
        ASSERT_FALSE(f->tensors().empty());
        const std::string arch(f->get_string("general.architecture"));
        const int64_t n_embd = f->get_int(arch + ".embedding_length");
        const auto& vocab = f->get_array("tokenizer.ggml.tokens");
        const GgufTensorInfo* emb = f->find_tensor("token_embd.weight");
        ASSERT_NE(emb, nullptr);
        EXPECT_EQ(emb->ne[0], n_embd);
        EXPECT_EQ(emb->ne[1], int64_t(vocab.count));
        // Tensors lie inside the file, aligned.
        for (const auto& t : f->tensors()) {
            EXPECT_EQ((t.data - f->bytes()) % f->alignment(), 0u);
            EXPECT_LE(size_t(t.data - f->bytes()) + t.nbytes, f->file_size());
        }
        // The vocabulary size matches what the reference engine produced logits for.
        const auto golden =
            test::golden_path("models/" + std::filesystem::path(path).stem().string() + ".json");
        std::ifstream in(golden);
        if (!in) continue;
        const auto j = nlohmann::json::parse(in);
        for (const auto& c : j["cases"]) {
            if (c.contains("first_step_logits")) {
                EXPECT_EQ(c["first_step_logits"].size(), vocab.count);
            }
        }
    }
}

TEST(GgufRead, MissingFileNamesThePath) {
    try {
        GgufFile::open("/nonexistent/model.gguf");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/model.gguf"), std::string::npos);
    }
}

TEST(GgufWrite, RoundTripsEveryValueType) {
    GgufWriter w(64);
    w.set_u8("a.u8", 200);
    w.set_u32("a.u32", 4000000000u);
    w.set_i32("a.i32", -7);
    w.set_u64("a.u64", 1ull << 40);
    w.set_f32("a.f32", 0.25f);
    w.set_bool("a.bool", true);
    w.set_string("a.str", "héllo");
    w.set_array_strings("a.strs", {"x", "", "yz"});
    w.set_array_f32("a.f32s", {1.5f, -2.0f});
    w.set_array_i32("a.i32s", {3, -4, 5});
    w.set_u32("a.u32", 7);  // replaces in place
    std::vector<float> t1(64 * 3);
    for (size_t i = 0; i < t1.size(); ++i) t1[i] = float(i) * 0.5f;
    std::vector<uint16_t> t2(32, 0x3c00);
    w.add_tensor("t1", DType::F32, {64, 3}, t1.data());
    w.add_tensor("t2", DType::F16, {32}, t2.data());
    const auto bytes = w.write_to_memory();

    auto f = GgufFile::from_memory(bytes.data(), bytes.size(), "mem");
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->alignment(), 64u);
    EXPECT_EQ(f->get_int("a.u8"), 200);
    EXPECT_EQ(f->get_int("a.u32"), 7);
    EXPECT_EQ(f->get_int("a.i32"), -7);
    EXPECT_EQ(f->get_int("a.u64"), int64_t(1) << 40);
    EXPECT_EQ(f->get_float("a.f32"), 0.25);
    EXPECT_TRUE(f->get_bool("a.bool"));
    EXPECT_EQ(f->get_string("a.str"), "héllo");
    const auto& strs = f->get_array("a.strs");
    ASSERT_EQ(strs.strings.size(), 3u);
    EXPECT_EQ(strs.strings[2], "yz");
    EXPECT_EQ(f->get_array("a.f32s").array_number(1), -2.0);
    EXPECT_EQ(f->get_array("a.i32s").array_int(1), -4);
    EXPECT_THROW(f->get_string("a.u32"), Error);
    EXPECT_THROW(f->get_int("missing"), Error);
    EXPECT_EQ(f->get_int_or("missing", 9), 9);

    const auto* a = f->find_tensor("t1");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->ne[0], 64);
    EXPECT_EQ(a->ne[1], 3);
    EXPECT_EQ(std::memcmp(a->data, t1.data(), t1.size() * 4), 0);
    const auto* b = f->find_tensor("t2");
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->type, DType::F16);
    EXPECT_EQ(std::memcmp(b->data, t2.data(), 64), 0);

    // Copying every value through set_value reproduces the same metadata bytes.
    GgufWriter w2(64);
    for (const auto& kv : f->metadata())
        if (kv.key != "general.alignment") w2.set_value(kv.key, kv.value);
    w2.add_tensor("t1", DType::F32, {64, 3}, t1.data());
    w2.add_tensor("t2", DType::F16, {32}, t2.data());
    EXPECT_EQ(w2.write_to_memory(), bytes);
}

TEST(GgufWrite, CopyOfASharedModelIsIdentical) {
    auto f = GgufFile::open(test::model_path("stories260K.gguf"));
    GgufWriter w(uint32_t(f->alignment()));
    for (const auto& kv : f->metadata())
        if (kv.key != "general.alignment") w.set_value(kv.key, kv.value);
    for (const auto& t : f->tensors())
        w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims),
                     t.data);
    const auto tmp = test::binary_dir() + "/copy-stories.gguf";
    w.write(tmp);
    auto g = GgufFile::open(tmp);
    ASSERT_EQ(g->tensors().size(), f->tensors().size());
    ASSERT_EQ(g->metadata().size(), f->metadata().size());
    for (size_t i = 0; i < f->tensors().size(); ++i) {
        EXPECT_EQ(g->tensors()[i].name, f->tensors()[i].name);
        EXPECT_EQ(std::memcmp(g->tensors()[i].data, f->tensors()[i].data, f->tensors()[i].nbytes),
                  0);
    }
    std::filesystem::remove(tmp);
}

}  // namespace
}  // namespace ponder
