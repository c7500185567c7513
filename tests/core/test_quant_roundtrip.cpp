// Round trips through every format: quantize -> dequantize of random and real rows stays
// within a per-format RMS bound; fp16/bf16 conversions are exact, special values included;
// Q8_K's bsums are the sums of its quants.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "common/paths.h"
#include "core/fp16.h"
#include "core/quant.h"
#include "gguf/gguf.h"

namespace ponder {
namespace {

struct Format {
    DType type;
    int group;     // elements sharing one scale (the format's finest scale group)
    float levels;  // quantization levels spanning the group's range (step = range / levels)
    bool affine;   // scale + min (range = max - min) or symmetric (range = max |x|)
};

// Allowance over uniform rounding noise for the quantized scales, fp16 rounding and clipping.
// (The searched K-format scales normally do better than the plain range step.)
constexpr double kSlack = 1.15;

// Resolution of each format from its layout: a group's step is its range over the number of
// levels; uniform rounding noise has RMS step / sqrt(12).
const Format kFormats[] = {
    {DType::Q8_0, 32, 127, false}, {DType::Q4_0, 32, 8, false},    {DType::Q4_1, 32, 15, true},
    {DType::Q5_0, 32, 16, false},  {DType::Q5_1, 32, 31, true},    {DType::Q2_K, 16, 3, true},
    {DType::Q3_K, 16, 4, false},   {DType::Q4_K, 32, 15, true},    {DType::Q5_K, 32, 31, true},
    {DType::Q6_K, 16, 32, false},  {DType::Q8_K, 256, 127, false},
};

// RMS of the expected rounding noise of x under format f.
double expected_rms_noise(const Format& f, const std::vector<float>& x) {
    double sum = 0;
    for (size_t g = 0; g < x.size(); g += size_t(f.group)) {
        float lo = 0, hi = 0, amax = 0;
        for (int i = 0; i < f.group; ++i) {
            lo = std::min(lo, x[g + i]);
            hi = std::max(hi, x[g + i]);
            amax = std::max(amax, std::fabs(x[g + i]));
        }
        const double step = (f.affine ? hi - lo : amax) / f.levels;
        sum += f.group * step * step / 12.0;
    }
    return std::sqrt(sum / double(x.size()));
}

double round_trip_rms(DType type, const std::vector<float>& x) {
    std::vector<uint8_t> q(row_size(type, int64_t(x.size())));
    quantize_row(type, x.data(), q.data(), int64_t(x.size()));
    std::vector<float> y(x.size());
    dequantize_row(type, q.data(), y.data(), int64_t(y.size()));
    double s = 0;
    for (size_t i = 0; i < x.size(); ++i) s += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    return std::sqrt(s / double(x.size()));
}

void check_round_trips(const std::vector<float>& x, const char* what) {
    for (const auto& f : kFormats) {
        SCOPED_TRACE(std::string(what) + " " + std::string(dtype_name(f.type)));
        const double rms = round_trip_rms(f.type, x);
        const double expected = expected_rms_noise(f, x);
        std::printf("round trip %-6s %-5s rms error %.4g (uniform-noise estimate %.4g)\n", what,
                    std::string(dtype_name(f.type)).c_str(), rms, expected);
        EXPECT_LE(rms, kSlack * expected);
        EXPECT_GT(rms, 0.0);  // a lossy format that returns its input exactly is suspicious
    }
}

TEST(QuantRoundTrip, RandomGaussianRows) {
    std::mt19937 rng(1234);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(256 * 64);
    for (auto& v : x) v = nd(rng);
    // Outliers and an all-positive and an all-zero super-block exercise the edge paths.
    x[17] = 9.0f;
    x[300] = -12.0f;
    for (int i = 512; i < 768; ++i) x[i] = std::fabs(x[i]) + 0.5f;
    check_round_trips(x, "random");
    std::fill(x.begin(), x.begin() + 256, 0.0f);
    for (const auto& f : kFormats) {
        std::vector<uint8_t> q(row_size(f.type, 256));
        quantize_row(f.type, x.data(), q.data(), 256);
        std::vector<float> y(256, 1.0f);
        dequantize_row(f.type, q.data(), y.data(), 256);
        for (float v : y) ASSERT_EQ(v, 0.0f) << dtype_name(f.type);
    }
}

TEST(QuantRoundTrip, RealRowsFromTheF16Model) {
    auto f = GgufFile::open(test::model_path("tiny-llama-F16.gguf"));
    for (const char* name : {"token_embd.weight", "blk.0.ffn_down.weight"}) {
        const GgufTensorInfo* t = f->find_tensor(name);
        ASSERT_NE(t, nullptr);
        const int64_t n = std::min<int64_t>(t->n_elements(), 256 * 128);
        std::vector<float> x(static_cast<size_t>(n));
        dequantize_row(t->type, t->data, x.data(), n);
        check_round_trips(x, "real");
    }
}

TEST(QuantRoundTrip, Fp16EveryPatternIsExact) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const int sign = (h >> 15) ? -1 : 1;
        const int exp = int(h >> 10) & 31;
        const int man = int(h & 0x3ff);
        float want;
        if (exp == 31)
            want = man ? NAN : sign * INFINITY;
        else if (exp == 0)
            want = sign * std::ldexp(float(man), -24);  // subnormal
        else
            want = sign * std::ldexp(float(1024 + man), exp - 25);
        float got;
        const uint16_t bits = uint16_t(h);
        dequantize_row(DType::F16, &bits, &got, 1);
        if (std::isnan(want)) {
            ASSERT_TRUE(std::isnan(got)) << h;
            uint16_t back;
            quantize_row(DType::F16, &got, &back, 1);
            ASSERT_EQ(back & 0x7c00, 0x7c00) << h;
            ASSERT_NE(back & 0x3ff, 0) << h;  // still a NaN, not inf
            continue;
        }
        ASSERT_EQ(f32_to_bits(got), f32_to_bits(want)) << h;  // also keeps -0
        uint16_t back;
        quantize_row(DType::F16, &got, &back, 1);
        ASSERT_EQ(back, bits) << h;
    }
}

TEST(QuantRoundTrip, Fp16RoundsToNearestEven) {
    const float in[] = {
        1.0f + 0x1p-11f,      // halfway between 1 and 1 + 2^-10: to even (1)
        1.0f + 3 * 0x1p-11f,  // halfway: to even (1 + 2^-9)
        65519.0f,             // below the overflow threshold: the largest half
        65520.0f,             // halfway to 2^16: overflows to inf
        0x1p-25f,             // half the smallest subnormal: to even (0)
        3 * 0x1p-25f,         // 1.5 subnormal steps: to even (2 steps)
        -0x1p-24f,            // smallest negative subnormal
        0x1p-14f - 0x1p-25f,  // rounds up to the smallest normal
        1e-10f,               // underflow to zero
        -INFINITY,
    };
    const uint16_t want[] = {0x3c00, 0x3c02, 0x7bff, 0x7c00, 0x0000,
                             0x0002, 0x8001, 0x0400, 0x0000, 0xfc00};
    uint16_t got[10];
    quantize_row(DType::F16, in, got, 10);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(got[i], want[i]) << i;
}

TEST(QuantRoundTrip, Bf16EveryPatternIsExact) {
    for (uint32_t b = 0; b < 65536; ++b) {
        const uint16_t bits = uint16_t(b);
        float got;
        dequantize_row(DType::BF16, &bits, &got, 1);
        ASSERT_EQ(f32_to_bits(got), b << 16);
        uint16_t back;
        quantize_row(DType::BF16, &got, &back, 1);
        if (std::isnan(got))
            ASSERT_TRUE(std::isnan(bf16_to_f32(back))) << b;
        else
            ASSERT_EQ(back, bits) << b;
    }
    // Round to nearest even, overflow to inf, subnormals kept.
    const float in[] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 0x1.ffffp127f, 0x1p-133f, -0.0f};
    const uint16_t want[] = {0x3f80, 0x3f82, 0x7f80, 0x0001, 0x8000};
    uint16_t got[5];
    quantize_row(DType::BF16, in, got, 5);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(got[i], want[i]) << i;
}

TEST(QuantRoundTrip, Q8KBsumsAreSumsOfQuants) {
    std::mt19937 rng(99);
    std::uniform_real_distribution<float> ud(-3.0f, 3.0f);
    std::vector<float> x(256 * 8);
    for (auto& v : x) v = ud(rng);
    std::vector<BlockQ8_K> q(8);
    quantize_row(DType::Q8_K, x.data(), q.data(), int64_t(x.size()));
    std::vector<float> y(x.size());
    dequantize_row(DType::Q8_K, q.data(), y.data(), int64_t(y.size()));
    for (int b = 0; b < 8; ++b) {
        float amax = 0;
        for (int i = 0; i < 256; ++i) amax = std::max(amax, std::fabs(x[256 * b + i]));
        EXPECT_FLOAT_EQ(std::fabs(q[b].d), amax / 127);
        for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int i = 0; i < 16; ++i) sum += q[b].qs[16 * g + i];
            EXPECT_EQ(q[b].bsums[g], sum);
        }
        // Half a step of the block's own scale (plus float rounding of the product).
        for (int i = 0; i < 256; ++i)
            EXPECT_LE(std::fabs(x[256 * b + i] - y[256 * b + i]),
                      0.5f * std::fabs(q[b].d) * (1 + 1e-5f))
                << b << " " << i;
    }
}

}  // namespace
}  // namespace ponder
