// Reference conversions against llama.cpp's own files: every tiny-llama-<TYPE>.gguf was made
// by llama.cpp's quantizer from tiny-llama-F16.gguf, so (1) decoding each tensor must land
// within the format's resolution of the F16 original, and (2) encoding the F16 original with
// our quantizer must give llama.cpp's bytes (32-element formats) or an equally good result
// (K formats).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common/paths.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/quant.h"
#include "gguf/gguf.h"

namespace ponder {
namespace {

const char* const kQuantFiles[] = {"F32",  "BF16",   "Q8_0",   "Q4_0",   "Q4_1", "Q5_0",
                                   "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"};

std::vector<float> decode(const GgufTensorInfo& t) {
    std::vector<float> out(size_t(t.n_elements()));
    const size_t rb = row_size(t.type, t.ne[0]);
    for (int64_t r = 0; r < t.n_rows(); ++r)
        dequantize_row(t.type, t.data + size_t(r) * rb, out.data() + r * t.ne[0], t.ne[0]);
    return out;
}

// Largest error of storing a value of magnitude |v| as fp16 (half an ulp, or half the
// smallest subnormal step).
float fp16_err(float v) {
    return std::max(std::fabs(v) * 0x1p-11f, 0x1p-25f);
}

// Per-element error bounds of one block, from the block's own stored parameters:
//   rounding to the nearest level (half a step; a full step where the format clips the
//   largest value on one side), plus for K formats the error of quantizing each sub-block's
//   scale (half a super-block scale step, times the largest quant) and min (half a step of
//   the min scale), plus the fp16 rounding of every stored scale.
std::vector<float> block_bounds(DType type, const uint8_t* p) {
    std::vector<float> b;
    auto fill = [&](int n, float v) { b.insert(b.end(), size_t(n), v); };
    switch (type) {
        case DType::Q8_0: {
            BlockQ8_0 x;
            std::memcpy(&x, p, sizeof x);
            const float d = std::fabs(fp16_to_f32(x.d));
            fill(32, 0.5f * d + 128 * fp16_err(d));
            break;
        }
        case DType::Q4_0: {  // d = max / -8: +8 steps clips to +7
            BlockQ4_0 x;
            std::memcpy(&x, p, sizeof x);
            const float d = std::fabs(fp16_to_f32(x.d));
            fill(32, d + 8 * fp16_err(d));
            break;
        }
        case DType::Q5_0: {  // d = max / -16: +16 steps clips to +15
            BlockQ5_0 x;
            std::memcpy(&x, p, sizeof x);
            const float d = std::fabs(fp16_to_f32(x.d));
            fill(32, d + 16 * fp16_err(d));
            break;
        }
        case DType::Q4_1: {
            BlockQ4_1 x;
            std::memcpy(&x, p, sizeof x);
            const float d = std::fabs(fp16_to_f32(x.d)), m = fp16_to_f32(x.m);
            fill(32, 0.5f * d + 16 * fp16_err(d) + fp16_err(m));
            break;
        }
        case DType::Q2_K: {
            // The Q2_K search weights each element by |x| and minimizes absolute error, so an
            // element near zero may be left past the top level: allow two steps there.
            BlockQ2_K x;
            std::memcpy(&x, p, sizeof x);
            const float d = fp16_to_f32(x.d), dm = fp16_to_f32(x.dmin);
            for (int j = 0; j < 16; ++j) {
                const float dl = d * float(x.scales[j] & 0xf);
                fill(16,
                     2 * dl + 3 * 0.5f * d + 0.5f * dm + 3 * 16 * fp16_err(d) + 16 * fp16_err(dm));
            }
            break;
        }
        case DType::Q3_K: {
            BlockQ3_K x;
            std::memcpy(&x, p, sizeof x);
            const float d = std::fabs(fp16_to_f32(x.d));
            int8_t sc[16];
            unpack_scales_q3_K(x.scales, sc);
            for (int j = 0; j < 16; ++j)
                fill(16, d * float(std::abs(sc[j])) + 4 * 0.5f * d + 4 * 32 * fp16_err(d));
            break;
        }
        case DType::Q4_K:
        case DType::Q5_K: {
            const int qmax = type == DType::Q4_K ? 15 : 31;
            uint16_t dh, dmh;
            std::memcpy(&dh, p, 2);
            std::memcpy(&dmh, p + 2, 2);
            const float d = fp16_to_f32(dh), dm = fp16_to_f32(dmh);
            for (int j = 0; j < 8; ++j) {
                uint8_t sc, m;
                unpack_scale_min_k4(j, p + 4, &sc, &m);
                fill(32, d * sc + qmax * 0.5f * d + 0.5f * dm + (qmax + 1) * 64 * fp16_err(d) +
                             64 * fp16_err(dm));
            }
            break;
        }
        case DType::Q6_K: {
            BlockQ6_K x;
            std::memcpy(&x, p, sizeof x);
            const float d = std::fabs(fp16_to_f32(x.d));
            for (int j = 0; j < 16; ++j)
                fill(16, d * float(std::abs(x.scales[j])) + 32 * d + 32 * 128 * fp16_err(d));
            break;
        }
        default:
            ADD_FAILURE() << "no bound for " << dtype_name(type);
    }
    return b;
}

struct ErrStats {
    double max_err = 0, max_ratio = 0, sum_sq = 0;
    int64_t n = 0, over = 0;
};

TEST(QuantFiles, DequantizeMatchesF16WithinFormatResolution) {
    auto ref = GgufFile::open(test::model_path("tiny-llama-F16.gguf"));
    std::map<std::string, ErrStats> per_type;
    for (const char* name : kQuantFiles) {
        auto f = GgufFile::open(test::model_path(std::string("tiny-llama-") + name + ".gguf"));
        ASSERT_EQ(f->tensors().size(), ref->tensors().size()) << name;
        for (const auto& t : f->tensors()) {
            SCOPED_TRACE(std::string(name) + " " + std::string(t.name));
            const GgufTensorInfo* r = ref->find_tensor(t.name);
            ASSERT_NE(r, nullptr);
            ASSERT_EQ(r->ne, t.ne);
            const std::vector<float> want = decode(*r);
            const std::vector<float> got = decode(t);
            auto& st = per_type[std::string(dtype_name(t.type))];
            const auto& tr = dtype_traits(t.type);
            for (size_t i0 = 0; i0 < got.size(); i0 += tr.block_size) {
                std::vector<float> bound(tr.block_size, 0.0f);
                if (t.type == DType::BF16) {
                    bound[0] =
                        std::fabs(want[i0]) * 0x1p-8f;  // half a bf16 ulp (8-bit significand)
                } else if (tr.quantized) {
                    const size_t row = i0 / size_t(t.ne[0]), col = i0 % size_t(t.ne[0]);
                    const uint8_t* blk = t.data + row * row_size(t.type, t.ne[0]) +
                                         col / tr.block_size * tr.type_size;
                    bound = block_bounds(t.type, blk);
                    ASSERT_EQ(bound.size(), tr.block_size);
                }
                for (size_t k = 0; k < tr.block_size; ++k) {
                    const size_t i = i0 + k;
                    const double e = std::fabs(double(got[i]) - double(want[i]));
                    st.max_err = std::max(st.max_err, e);
                    st.sum_sq += e * e;
                    ++st.n;
                    if (bound[k] > 0) st.max_ratio = std::max(st.max_ratio, e / bound[k]);
                    if (e > bound[k]) ++st.over;
                }
            }
        }
    }
    for (const auto& [type, st] : per_type) {
        std::printf(
            "dequantize %-5s max error %.3g  rms %.3g  max error/bound %.3f  (%lld values)\n",
            type.c_str(), st.max_err, std::sqrt(st.sum_sq / double(st.n)), st.max_ratio,
            static_cast<long long>(st.n));
        EXPECT_EQ(st.over, 0) << type << ": values outside the format's error bound";
    }
    // Every format the files use was checked.
    for (const char* t :
         {"F32", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
        EXPECT_TRUE(per_type.count(t)) << t;
}

double rms_error(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    return std::sqrt(s / double(a.size()));
}

// Quantizes the F16 original of every quantized tensor with our reference quantizer.
// Q8_0/Q4_0/Q4_1/Q5_0 must equal llama.cpp's bytes; K formats must be at least as accurate.
TEST(QuantFiles, QuantizeReproducesLlamaCpp) {
    auto ref = GgufFile::open(test::model_path("tiny-llama-F16.gguf"));
    struct Count {
        int64_t tensors = 0, identical = 0, blocks = 0, same_blocks = 0;
        double ours = 0, theirs = 0;  // sum over tensors of RMS error vs F16
    };
    std::map<std::string, Count> per_type;
    for (const char* name : kQuantFiles) {
        auto f = GgufFile::open(test::model_path(std::string("tiny-llama-") + name + ".gguf"));
        for (const auto& t : f->tensors()) {
            if (!dtype_traits(t.type).quantized) continue;
            SCOPED_TRACE(std::string(name) + " " + std::string(t.name));
            const GgufTensorInfo* r = ref->find_tensor(t.name);
            ASSERT_NE(r, nullptr);
            const std::vector<float> src = decode(*r);
            std::vector<uint8_t> mine(t.nbytes);
            const size_t rb = row_size(t.type, t.ne[0]);
            for (int64_t row = 0; row < t.n_rows(); ++row)
                quantize_row(t.type, src.data() + row * t.ne[0], mine.data() + row * rb, t.ne[0]);
            auto& c = per_type[std::string(dtype_name(t.type))];
            ++c.tensors;
            const bool same = std::memcmp(mine.data(), t.data, t.nbytes) == 0;
            c.identical += same;
            const size_t bs = dtype_traits(t.type).type_size;
            for (size_t o = 0; o < t.nbytes; o += bs) {
                ++c.blocks;
                c.same_blocks += std::memcmp(mine.data() + o, t.data + o, bs) == 0;
            }
            std::vector<float> back(src.size());
            for (int64_t row = 0; row < t.n_rows(); ++row)
                dequantize_row(t.type, mine.data() + row * rb, back.data() + row * t.ne[0],
                               t.ne[0]);
            const double e_ours = rms_error(back, src), e_theirs = rms_error(decode(t), src);
            c.ours += e_ours;
            c.theirs += e_theirs;
            const bool exact_format = t.type == DType::Q8_0 || t.type == DType::Q4_0 ||
                                      t.type == DType::Q4_1 || t.type == DType::Q5_0 ||
                                      t.type == DType::Q5_1;
            if (exact_format) {
                EXPECT_TRUE(same) << "bytes differ from llama.cpp's";
            } else {
                // Same search as llama.cpp: at worst a rounding-level difference in quality.
                EXPECT_LE(e_ours, e_theirs * 1.01) << "less accurate than llama.cpp";
            }
        }
    }
    for (const auto& [type, c] : per_type) {
        // K formats: byte equality is not promised, but the search is the same one, so almost
        // every block must agree; a systematic difference means the search diverged.
        EXPECT_GE(double(c.same_blocks), 0.99 * double(c.blocks)) << type;
    }
    for (const auto& [type, c] : per_type)
        std::printf(
            "quantize %-5s %lld/%lld tensors byte-identical, %lld/%lld blocks; rms error ours "
            "%.4g llama.cpp %.4g\n",
            type.c_str(), static_cast<long long>(c.identical), static_cast<long long>(c.tensors),
            static_cast<long long>(c.same_blocks), static_cast<long long>(c.blocks),
            c.ours / double(c.tensors), c.theirs / double(c.tensors));
    for (const char* t : {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
        EXPECT_TRUE(per_type.count(t)) << t;
}

TEST(Quant, UnsupportedTypesThrowNamingTheType) {
    float out[256];
    uint8_t in[512] = {};
    for (DType t :
         {DType::IQ2_XXS, DType::IQ4_NL, DType::TQ1_0, DType::MXFP4, DType::Q8_1, DType::I32}) {
        const std::string name(dtype_name(t));
        try {
            dequantize_row(t, in, out, int64_t(dtype_traits(t).block_size));
            ADD_FAILURE() << name << " did not throw";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("dequantize: type " + name + " is not supported"),
                      std::string::npos)
                << e.what();
        }
        EXPECT_THROW(quantize_row(t, out, in, int64_t(dtype_traits(t).block_size)), Error);
        EXPECT_FALSE(quant_supported(t));
    }
    EXPECT_THROW(dequantize_row(DType(77), in, out, 32), Error);
}

TEST(Quant, RowLengthMustBeAMultipleOfTheBlockSize) {
    std::vector<float> x(300, 1.0f);
    std::vector<uint8_t> buf(4096);
    EXPECT_THROW(quantize_row(DType::Q4_0, x.data(), buf.data(), 33), Error);
    EXPECT_THROW(quantize_row(DType::Q4_K, x.data(), buf.data(), 288), Error);
    EXPECT_THROW(dequantize_row(DType::Q6_K, buf.data(), x.data(), 128), Error);
    EXPECT_NO_THROW(quantize_row(DType::Q4_0, x.data(), buf.data(), 288));
}

}  // namespace
}  // namespace ponder
