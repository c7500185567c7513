// `ponder quantize` against llama.cpp: quantizing tiny-llama-F16.gguf to each type must give
// the per-tensor types of the llama.cpp-made tiny-llama-<TYPE>.gguf and its bytes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/paths.h"
#include "core/error.h"
#include "core/quant.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "model/quantize.h"

namespace ponder {
namespace {

const char* const kReferenceTypes[] = {"F32",  "BF16",   "Q8_0",   "Q4_0",   "Q4_1", "Q5_0",
                                       "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"};

std::vector<uint8_t> quantize_to_memory(const GgufFile& in, std::string_view type) {
    GgufWriter w(uint32_t(in.alignment()));
    add_quantized_model(in, parse_quant_target(type), w);
    return w.write_to_memory();
}

TEST(Quantize, MatchesLlamaCppForEveryType) {
    auto src = GgufFile::open(test::model_path("tiny-llama-F16.gguf"));
    for (const char* type : kReferenceTypes) {
        SCOPED_TRACE(type);
        auto ref = GgufFile::open(test::model_path(std::string("tiny-llama-") + type + ".gguf"));
        const std::vector<uint8_t> bytes = quantize_to_memory(*src, type);
        auto out = GgufFile::from_memory(bytes.data(), bytes.size(), std::string("out-") + type);
        ASSERT_EQ(out->tensors().size(), ref->tensors().size());
        EXPECT_EQ(out->get_int("general.file_type"), ref->get_int("general.file_type"));
        EXPECT_EQ(out->metadata().size(), ref->metadata().size());
        int exact_checked = 0;
        for (const auto& rt : ref->tensors()) {
            SCOPED_TRACE(std::string(rt.name));
            const GgufTensorInfo* t = out->find_tensor(rt.name);
            ASSERT_NE(t, nullptr);
            EXPECT_EQ(dtype_name(t->type), dtype_name(rt.type));
            EXPECT_EQ(t->ne, rt.ne);
            const bool exact = rt.type == DType::Q8_0 || rt.type == DType::Q4_0 ||
                               rt.type == DType::Q4_1 || rt.type == DType::Q5_0;
            if (exact && t->type == rt.type && t->nbytes == rt.nbytes) {
                EXPECT_EQ(std::memcmp(t->data, rt.data, rt.nbytes), 0) << "tensor bytes differ";
                ++exact_checked;
            }
        }
        const std::string ts(type);
        if (ts == "Q8_0" || ts == "Q4_0" || ts == "Q4_1" || ts == "Q5_0") {
            EXPECT_GT(exact_checked, 0);
        }
        // Same metadata order, tensor order and search: the whole file equals llama.cpp's.
        std::ifstream f(ref->path(), std::ios::binary);
        const std::vector<uint8_t> want((std::istreambuf_iterator<char>(f)),
                                        std::istreambuf_iterator<char>());
        const bool identical = want == bytes;
        std::printf("quantize F16 -> %-6s: %zu bytes, %s llama.cpp's file\n", type, bytes.size(),
                    identical ? "identical to" : "DIFFERENT from");
        EXPECT_TRUE(identical);
    }
}

// A small synthetic model for the type rules that the tiny files do not reach.
std::vector<uint8_t> synthetic_model(bool with_nan = false) {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.attention.head_count", 8);
    w.set_u32("llama.attention.head_count_kv", 2);  // 4 query heads per KV head
    std::vector<float> data(256 * 4);
    for (size_t i = 0; i < data.size(); ++i) data[i] = std::sin(float(i)) * 0.1f;
    if (with_nan) data[5] = NAN;
    auto add = [&](const char* name, std::vector<int64_t> ne) {
        w.add_tensor(name, DType::F32, ne, data.data());
    };
    add("token_embd.weight", {96, 4});  // no output.weight: the embedding gets its rule
    add("blk.0.attn_norm.weight", {256});
    add("blk.0.attn_v.weight", {256, 4});
    add("blk.0.ffn_gate.weight", {96, 4});
    add("blk.0.ffn_up.weight", {48, 4});
    add("blk.0.ffn_gate_inp.weight", {256, 4});
    return w.write_to_memory();
}

TEST(Quantize, TypeRulesAndFallbacks) {
    const auto bytes = synthetic_model();
    auto in = GgufFile::from_memory(bytes.data(), bytes.size(), "synthetic");
    auto types_for = [&](const char* target) {
        std::map<std::string, std::string> m;
        const auto types = choose_tensor_types(*in, parse_quant_target(target));
        for (size_t i = 0; i < types.size(); ++i)
            m[std::string(in->tensors()[i].name)] = std::string(dtype_name(types[i]));
        return m;
    };
    auto q2 = types_for("Q2_K");
    EXPECT_EQ(q2["token_embd.weight"], "Q8_0");         // output rule, row not a multiple of 256
    EXPECT_EQ(q2["blk.0.attn_v.weight"], "Q4_K");       // Q2_K with >= 4 heads per KV head
    EXPECT_EQ(q2["blk.0.ffn_gate.weight"], "Q4_0");     // K fallback for Q2_K
    EXPECT_EQ(q2["blk.0.ffn_up.weight"], "F16");        // 48 fits neither 256 nor Q4_0 blocks of 32
    EXPECT_EQ(q2["blk.0.attn_norm.weight"], "F32");     // 1-D stays F32
    EXPECT_EQ(q2["blk.0.ffn_gate_inp.weight"], "F32");  // routers keep their type
    EXPECT_EQ(types_for("Q4_K_M")["blk.0.ffn_gate.weight"], "Q5_0");
    EXPECT_EQ(types_for("Q5_K")["blk.0.ffn_gate.weight"], "Q5_1");
    EXPECT_EQ(types_for("q6_k")["blk.0.ffn_gate.weight"], "Q8_0");
    EXPECT_EQ(types_for("Q4_0")["blk.0.ffn_up.weight"], "F16");
    EXPECT_EQ(types_for("BF16")["blk.0.attn_v.weight"], "BF16");
    EXPECT_EQ(types_for("F16")["token_embd.weight"], "F16");
}

TEST(Quantize, NonFiniteWeightsAreRejected) {
    const auto bytes = synthetic_model(true);
    auto in = GgufFile::from_memory(bytes.data(), bytes.size(), "synthetic");
    GgufWriter w;
    add_quantized_model(*in, parse_quant_target("Q8_0"), w);
    try {
        w.write_to_memory();
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("not finite"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("token_embd.weight"), std::string::npos);
    }
}

TEST(Quantize, UnknownTypeListsTheValidOnes) {
    try {
        parse_quant_target("Q7_K");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        const std::string msg = e.what();
        for (const char* t : {"Q7_K", "F16", "Q4_0", "Q4_K_M", "Q6_K"})
            EXPECT_NE(msg.find(t), std::string::npos) << msg;
    }
    EXPECT_EQ(parse_quant_target("q4_k").name, "Q4_K_M");
}

struct RunResult {
    int rc;
    std::string err;
};

RunResult run_cli(const std::string& args) {
    const auto dir = std::filesystem::path(test::binary_dir()) / "test_quantize_tmp";
    std::filesystem::create_directories(dir);
    const std::string err_path = (dir / "stderr.txt").string();
    const std::string cmd = test::cli_path() + " " + args + " 2>" + err_path + " >/dev/null";
    const int status = std::system(cmd.c_str());
    std::ifstream f(err_path);
    std::stringstream ss;
    ss << f.rdbuf();
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ss.str()};
}

TEST(QuantizeCli, WritesALoadableFileAndReportsErrors) {
    const auto dir = std::filesystem::path(test::binary_dir()) / "test_quantize_tmp";
    std::filesystem::create_directories(dir);
    const std::string out = (dir / "q4_0.gguf").string();
    std::filesystem::remove(out);
    const std::string in = test::model_path("tiny-llama-F16.gguf");
    auto r = run_cli("quantize " + in + " " + out + " Q4_0");
    ASSERT_EQ(r.rc, 0) << r.err;
    auto f = GgufFile::open(out);
    EXPECT_EQ(f->tensors().size(), GgufFile::open(in)->tensors().size());
    const std::string n = std::to_string(f->tensors().size());
    EXPECT_NE(r.err.find("1/" + n + "]"), std::string::npos) << r.err;  // progress on stderr
    EXPECT_NE(r.err.find(n + "/" + n + "]"), std::string::npos) << r.err;

    r = run_cli("quantize " + in + " " + out + " Q9_9");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.err.find("valid types"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Q5_K_M"), std::string::npos) << r.err;

    r = run_cli("quantize " + test::model_path("tiny-llama-Q4_0.gguf") + " " + out + " Q8_0");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.err.find("only F32, F16 and BF16"), std::string::npos) << r.err;
    GgufFile::open(out);  // the earlier output is untouched by the failed runs
}

}  // namespace
}  // namespace ponder
