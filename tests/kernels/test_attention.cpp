// The fused GQA attention kernel (kernels.h `attention`) on every ISA level this CPU supports
// against the scalar reference (ref::attention), for F16 and Q8_0 caches, head_dim 64 / 128 /
// 96, GQA groups 1 / 2 / 7, 1..300 visible cells, two sequences with interleaved cells.
//
// Bounds. The kernels compute the same quantities as the reference (query rounded to half or
// quantized bit-identically, probabilities rounded to half, p * v summed in float in cell
// order within spans of kAttentionSpan cells, the spans added in order). They differ in exp (a
// polynomial of about 1-2 ulp against std::exp) and in the score sums: the SIMD kernels sum in
// float (products exact; F16: 8 lanes per cell of hd / 8 products then a tree;
// Q8_0: each exact integer block sum times d_k * d_q rounded once, then the block sum), a relative
// score error of a few float ulps, i.e. a few 1e-7 absolute for scores of a few units. Either
// change of an unrounded probability can move its half rounding by one half-ulp step (2^-11
// relative), so |out - ref| <= 2^-10 * sum_j p_j |v_j| + float rounding of the sum; we check |out -
// ref| <= 2e-3 * sum_j p_j |v_j| + 1e-6, a bound of about twice that. Measured worst error / bound
// over all cases here: AVX2 0.022 (F16 hd=128 group=2), AVX-512 0.11 (one probability of ~0.4 whose
// half rounding moved a step; F16 hd=20 group=7), so the bound keeps a margin of 9. The reference
// itself is checked against a plain double-precision softmax attention with the half/Q8_0 rounding
// of its inputs stated separately (RefMatchesDoubleAttention).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "core/fp16.h"
#include "core/quant.h"
#include "core/quant_blocks.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/ref/kernels_ref.h"

namespace ponder::kernels {
namespace {

std::vector<Isa> isas() {
    return supported_isas();
}

// A cache of one layer: n_cells cells of n_kv heads, keys and values random normal.
struct TestCache {
    DType type;
    int n_kv, hd;
    size_t head_bytes, row_bytes;
    std::vector<uint8_t> k, v;
    std::vector<float> kf, vf;  // the stored values, decoded (for the double check)

    TestCache(DType t, int n_cells, int n_kv_, int hd_, uint32_t seed)
        : type(t), n_kv(n_kv_), hd(hd_) {
        head_bytes = row_size(t, hd);
        row_bytes = head_bytes * size_t(n_kv);
        k.resize(row_bytes * size_t(n_cells));
        v.resize(row_bytes * size_t(n_cells));
        kf.resize(size_t(n_cells) * size_t(n_kv) * size_t(hd));
        vf.resize(kf.size());
        std::mt19937 rng(seed);
        std::normal_distribution<float> nd(0.0f, 1.0f);
        std::vector<float> x(static_cast<size_t>(hd));
        for (int c = 0; c < n_cells; ++c)
            for (int h = 0; h < n_kv; ++h)
                for (int which = 0; which < 2; ++which) {
                    for (auto& e : x) e = nd(rng);
                    uint8_t* dst = (which ? v.data() : k.data()) + size_t(c) * row_bytes +
                                   size_t(h) * head_bytes;
                    ref::store_kv_row(t, x.data(), hd, dst);
                    float* dec = (which ? vf.data() : kf.data()) +
                                 (size_t(c) * size_t(n_kv) + size_t(h)) * size_t(hd);
                    dequantize_row(t, dst, dec, hd);
                }
    }
    KvHeadView head(int h) const {
        return {type, k.data() + size_t(h) * head_bytes, v.data() + size_t(h) * head_bytes,
                row_bytes};
    }
};

struct Case {
    DType type;
    int hd, group, n_cells;
};

// Jobs as the decoder builds them: the queries of consecutive tokens of one sequence and all
// heads of one KV group; token t of a sequence sees its first base + t cells.
struct Jobs {
    std::vector<float> q;
    std::vector<AttentionRows> rows;
    std::vector<int> kv_head;
    std::vector<const int32_t*> cells;
};

void run_case(const Case& cs, uint32_t seed) {
    SCOPED_TRACE(testing::Message() << dtype_name(cs.type) << " hd=" << cs.hd
                                    << " group=" << cs.group << " cells=" << cs.n_cells);
    const int n_kv = 2;
    const int n_head = n_kv * cs.group;
    TestCache cache(cs.type, cs.n_cells, n_kv, cs.hd, seed);
    // Two sequences: the cells alternate between them in a shuffled order.
    std::vector<int32_t> all(size_t(cs.n_cells));
    std::iota(all.begin(), all.end(), 0);
    std::mt19937 rng(seed + 1);
    std::shuffle(all.begin(), all.end(), rng);
    std::vector<int32_t> seq_cells[2];
    for (size_t i = 0; i < all.size(); ++i) seq_cells[i % 2].push_back(all[i]);

    const int tokens_per_seq = 5;
    std::normal_distribution<float> nd(0.0f, 1.5f);
    std::vector<float> q(size_t(2 * tokens_per_seq * n_head * cs.hd));
    for (auto& x : q) x = nd(rng);
    const size_t n_q_rows = q.size() / size_t(cs.hd);
    std::vector<float> out_ref(q.size()), out(q.size());
    std::vector<AttentionRows> jobs;
    std::vector<int> job_head, job_seq;
    for (int s = 0; s < 2; ++s) {
        const int32_t n_seq = int32_t(seq_cells[s].size());
        if (n_seq == 0) continue;
        for (int h = 0; h < n_kv; ++h) {
            AttentionRows job;
            for (int t = 0; t < tokens_per_seq; ++t)
                for (int g = 0; g < cs.group; ++g) {
                    if (job.n_rows == kMaxAttentionRows) {
                        jobs.push_back(job);
                        job_head.push_back(h);
                        job_seq.push_back(s);
                        job = AttentionRows{};
                    }
                    const size_t row = size_t((s * tokens_per_seq + t) * n_head + h * cs.group + g);
                    job.q[job.n_rows] = q.data() + row * size_t(cs.hd);
                    job.out[job.n_rows] = out.data() + row * size_t(cs.hd);
                    job.n_vis[job.n_rows] = std::max(1, n_seq - (tokens_per_seq - 1 - t));
                    ++job.n_rows;
                }
            jobs.push_back(job);
            job_head.push_back(h);
            job_seq.push_back(s);
        }
    }
    std::vector<float> scratch(
        attention_scratch_floats(kMaxAttentionRows, int32_t(cs.n_cells), cs.hd));

    // Reference outputs.
    for (size_t i = 0; i < jobs.size(); ++i) {
        AttentionRows rj = jobs[i];
        for (int r = 0; r < rj.n_rows; ++r)
            rj.out[r] = out_ref.data() + (jobs[i].out[r] - out.data());
        ref::attention(rj, cache.head(job_head[i]), seq_cells[job_seq[i]].data(), cs.hd,
                       1.0f / std::sqrt(float(cs.hd)), scratch.data());
    }
    // The bound's scale per output element: sum_j p_j |v_j| <= max_j |v_j| over visible cells.
    std::vector<float> vmax(n_q_rows, -1.0f);  // -1: a row of no job (its sequence is empty)
    for (size_t i = 0; i < jobs.size(); ++i)
        for (int r = 0; r < jobs[i].n_rows; ++r) {
            const size_t row = size_t(jobs[i].out[r] - out.data()) / size_t(cs.hd);
            vmax[row] = 0.0f;
            for (int32_t j = 0; j < jobs[i].n_vis[r]; ++j) {
                const float* vr =
                    cache.vf.data() + (size_t(seq_cells[job_seq[i]][size_t(j)]) * size_t(n_kv) +
                                       size_t(job_head[i])) *
                                          size_t(cs.hd);
                for (int d = 0; d < cs.hd; ++d) vmax[row] = std::max(vmax[row], std::fabs(vr[d]));
            }
        }

    for (Isa isa : isas()) {
        SCOPED_TRACE(isa_name(isa));
        const AttentionSteps& steps = kernel_table(isa).attention;
        ASSERT_NE(steps.scores, nullptr);
        std::fill(out.begin(), out.end(), NAN);
        for (size_t i = 0; i < jobs.size(); ++i)
            attention_in_steps(steps, jobs[i], cache.head(job_head[i]),
                               seq_cells[job_seq[i]].data(), cs.hd, 1.0f / std::sqrt(float(cs.hd)),
                               scratch.data());
        double worst = 0;
        for (size_t row = 0; row < n_q_rows; ++row)
            for (int d = 0; d < cs.hd && vmax[row] >= 0.0f; ++d) {
                const size_t e = row * size_t(cs.hd) + size_t(d);
                const double err = std::fabs(double(out[e]) - double(out_ref[e]));
                const double bound = 2e-3 * vmax[row] + 1e-6;
                worst = std::max(worst, err / bound);
                ASSERT_LE(err, bound)
                    << "row " << row << " d " << d << ": " << out[e] << " vs " << out_ref[e];
            }
        std::printf("  %s %s hd=%d group=%d cells=%d: worst error / bound = %.3g\n",
                    std::string(isa_name(isa)).c_str(), std::string(dtype_name(cs.type)).c_str(),
                    cs.hd, cs.group, cs.n_cells, worst);
    }
}

TEST(Attention, IsaVariantsMatchReference) {
    uint32_t seed = 1;
    for (DType t : {DType::F16, DType::Q8_0})
        for (int hd : {64, 128, 96})
            for (int group : {1, 2, 7})
                for (int n_cells : {1, 2, 17, 64, 300}) run_case({t, hd, group, n_cells}, seed++);
}

TEST(Attention, OddHeadDimF16) {
    // F16 caches accept any head size (tails of the 8-wide loops).
    run_case({DType::F16, 8, 2, 40}, 99);
    run_case({DType::F16, 20, 7, 33}, 100);
}

TEST(Attention, ManySpansMatchReference) {
    // Jobs of up to 700 cells: three spans, the middle one crossed by the rows' visibility.
    run_case({DType::F16, 64, 7, 700}, 200);
    run_case({DType::Q8_0, 128, 2, 700}, 201);
}

// attention_split (the spans of a few jobs shared out among a pool's threads) gives the bits of
// `attention` run on each whole job, on every level, with 1 to 4 threads: two sequences (1100
// and 513 cells, interleaved), two tokens each, so rows of one job see different numbers of
// cells and one job's rows end on both sides of a span boundary (512, 513).
TEST(Attention, SplitGivesTheBitsOfWholeJobs) {
    const Isa before = active_isa();
    for (Isa isa : isas()) {
        set_active_isa(isa);
        for (DType t : {DType::F16, DType::Q8_0}) {
            SCOPED_TRACE(testing::Message() << isa_name(isa) << " " << dtype_name(t));
            const int hd = 64, group = 7, n_kv = 2, tokens = 2;
            const int32_t n_seq[2] = {1100, 513};
            TestCache cache(t, n_seq[0] + n_seq[1], n_kv, hd, 300);
            std::vector<int32_t> all(size_t(n_seq[0] + n_seq[1]));
            std::iota(all.begin(), all.end(), 0);
            std::mt19937 rng(301);
            std::shuffle(all.begin(), all.end(), rng);
            std::vector<int32_t> cells[2];
            cells[0].assign(all.begin(), all.begin() + n_seq[0]);
            cells[1].assign(all.begin() + n_seq[0], all.end());
            const int n_head = n_kv * group;
            std::normal_distribution<float> nd(0.0f, 1.5f);
            std::vector<float> q(size_t(2 * tokens * n_head * hd));
            for (auto& x : q) x = nd(rng);
            std::vector<float> whole(q.size()), split(q.size());
            std::vector<AttentionJob> jobs;
            for (int s = 0; s < 2; ++s)
                for (int h = 0; h < n_kv; ++h) {
                    AttentionJob job;
                    job.kv = cache.head(h);
                    job.cells = cells[s].data();
                    for (int tk = 0; tk < tokens; ++tk)
                        for (int g = 0; g < group; ++g) {
                            const size_t row = size_t((s * tokens + tk) * n_head + h * group + g);
                            auto& r = job.rows;
                            r.q[r.n_rows] = q.data() + row * size_t(hd);
                            r.out[r.n_rows] = whole.data() + row * size_t(hd);
                            r.n_vis[r.n_rows] = n_seq[s] - (tokens - 1 - tk);
                            ++r.n_rows;
                        }
                    jobs.push_back(job);
                }
            const float scale = 1.0f / std::sqrt(float(hd));
            std::vector<float> scratch(attention_scratch_floats(kMaxAttentionRows, n_seq[0], hd));
            for (const auto& j : jobs) attention(j.rows, j.kv, j.cells, hd, scale, scratch.data());
            for (auto& j : jobs)
                for (int r = 0; r < j.rows.n_rows; ++r)
                    j.rows.out[r] = split.data() + (j.rows.out[r] - whole.data());
            AttentionSplitBuffers buf;
            for (int threads = 1; threads <= 4; ++threads) {
                ThreadPool pool(threads);
                std::fill(split.begin(), split.end(), NAN);
                attention_split(jobs.data(), jobs.size(), hd, scale, pool, buf);
                EXPECT_EQ(std::memcmp(split.data(), whole.data(), split.size() * sizeof(float)), 0)
                    << threads << " threads";
            }
        }
    }
    set_active_isa(before);
}

// The SIMD kernels quantize Q8_0 queries with their level's activation quantizer: it must give
// ref::quantize_q8_0's bits (random blocks of several scales, an all-zero block, and values on
// rounding ties: multiples of max / 254).
TEST(Attention, Q8_0QueryQuantizerIsTheReference) {
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (Isa isa : isas()) {
        const QuantizeFn quantize = kernel_table(isa).gemm_for(DType::Q8_0).quantize;
        if (isa == Isa::Scalar || quantize == nullptr) continue;
        for (int trial = 0; trial < 200; ++trial) {
            std::vector<float> x(128);
            const float scale = std::ldexp(1.0f, trial % 40 - 20);
            for (auto& e : x) e = nd(rng) * scale;
            if (trial % 7 == 0) std::fill(x.begin(), x.begin() + 32, 0.0f);
            if (trial % 5 == 0)
                for (int i = 32; i < 64; ++i) x[size_t(i)] = float(i - 48) * (scale / 254.0f);
            std::vector<BlockQ8_0> want(4), got(4);
            ref::quantize_q8_0(x.data(), 128, want.data());
            quantize(x.data(), 128, reinterpret_cast<uint8_t*>(got.data()));
            ASSERT_EQ(std::memcmp(want.data(), got.data(), sizeof(BlockQ8_0) * 4), 0)
                << isa_name(isa) << " trial " << trial;
        }
    }
}

// The reference against attention in double precision over the values the cache holds, with
// the query rounded as the reference rounds it: only the float score sum, exp and the half
// rounding of the probabilities differ, so |ref - exact| <= 2^-10 * max|v| (+ float sums).
TEST(Attention, RefMatchesDoubleAttention) {
    for (DType t : {DType::F16, DType::Q8_0}) {
        const int hd = 64, n = 100;
        TestCache cache(t, n, 1, hd, 7);
        std::vector<int32_t> cells(n);
        std::iota(cells.begin(), cells.end(), 0);
        std::mt19937 rng(8);
        std::normal_distribution<float> nd(0.0f, 1.5f);
        std::vector<float> q(hd), out(hd);
        for (auto& x : q) x = nd(rng);
        // The query as the reference sees it.
        std::vector<float> qr(hd);
        if (t == DType::F16) {
            for (int d = 0; d < hd; ++d) qr[d] = fp16_to_f32(f32_to_fp16(q[d]));
        } else {
            std::vector<BlockQ8_0> qb(hd / kQK);
            ref::quantize_q8_0(q.data(), hd, qb.data());
            dequantize_row(DType::Q8_0, qb.data(), qr.data(), hd);
        }
        AttentionRows job;
        job.n_rows = 1;
        job.q[0] = q.data();
        job.out[0] = out.data();
        job.n_vis[0] = n;
        std::vector<float> scratch(attention_scratch_floats(1, n, hd));
        const float scale = 1.0f / std::sqrt(float(hd));
        ref::attention(job, cache.head(0), cells.data(), hd, scale, scratch.data());
        std::vector<double> s(n);
        double mx = -1e300, sum = 0, vmax = 0;
        for (int j = 0; j < n; ++j) {
            double acc = 0;
            for (int d = 0; d < hd; ++d) acc += double(qr[d]) * cache.kf[size_t(j * hd + d)];
            s[j] = acc * scale;
            mx = std::max(mx, s[j]);
        }
        for (int j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - mx));
        for (int d = 0; d < hd; ++d) {
            double o = 0;
            for (int j = 0; j < n; ++j) {
                o += s[j] / sum * cache.vf[size_t(j * hd + d)];
                vmax = std::max(vmax, std::fabs(double(cache.vf[size_t(j * hd + d)])));
            }
            EXPECT_NEAR(out[d], o, 1.5e-3 * vmax) << dtype_name(t) << " d " << d;
        }
    }
}

}  // namespace
}  // namespace ponder::kernels
