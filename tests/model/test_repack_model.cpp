// Repacking Q4_0 and Q8_0 matrices at load (Model::repack_weights, kernels/repack.h): which
// matrices are repacked, PONDER_REPACK=0 and the scalar level keep the file's layout, and the
// logits of a repacked model are bit-identical to those of the same model left row-major (the
// repacked kernels keep the row-major kernels' order; the golden tests compare both against
// llama.cpp).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/paths.h"
#include "kernels/dispatch.h"
#include "model/model.h"
#include "runtime/context.h"

namespace ponder {
namespace {

const char* kModel = "tiny-llama-Q4_0.gguf";

// Environment variable set for one scope.
struct ScopedEnv {
    ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
    ~ScopedEnv() { unsetenv(name_); }
    const char* name_;
};

std::vector<float> prompt_logits(const Model& m, int n_threads = 2) {
    Context ctx(m, {.n_ctx = 64, .n_threads = n_threads});
    Batch b;
    const int32_t ids[] = {1, 450, 4996, 17354, 1701, 432, 17204, 975, 278};
    const int32_t n = int32_t(sizeof ids / sizeof ids[0]);
    for (int32_t i = 0; i < n; ++i) b.add(ids[i] % m.hparams().n_vocab, i, 0, true);
    ctx.decode(b);
    std::vector<float> out;
    for (int32_t i = 0; i < n; ++i)
        out.insert(out.end(), ctx.logits(i), ctx.logits(i) + m.hparams().n_vocab);
    return out;
}

size_t q4_0_matrix_bytes(const Model& m) {
    size_t n = 0;
    auto add = [&](const kernels::Matrix& x) {
        if (x.type == DType::Q4_0 && x.n_rows % 8 == 0) n += x.row_bytes * size_t(x.n_rows);
    };
    for (const auto& L : m.weights().layers)
        for (const auto* x : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) add(*x);
    add(m.weights().output);
    return n;
}

TEST(RepackModel, Q4_0MatricesRepackedAndLogitsUnchanged) {
    const kernels::Isa saved = kernels::active_isa();
    if (!kernels::active_kernels().gemm_q4_0x8.gemm)
        GTEST_SKIP() << "the active level has no Q4_0x8 kernel";
    std::unique_ptr<Model> plain;
    {
        ScopedEnv off("PONDER_REPACK", "0");
        plain = Model::load(test::model_path(kModel));
    }
    auto packed = Model::load(test::model_path(kModel));
    EXPECT_EQ(plain->repacked_bytes(), 0u);
    const size_t want = q4_0_matrix_bytes(*plain);
    ASSERT_GT(want, 0u) << kModel << " has no Q4_0 matrix with rows in groups of 8";
    EXPECT_GE(packed->repacked_bytes(), want);
    int n_x8 = 0;
    for (const auto& L : packed->weights().layers)
        for (const auto* x : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
            const bool eligible = x->type == DType::Q4_0 && x->n_rows % 8 == 0;
            EXPECT_EQ(x->layout == kernels::Layout::Q4_0x8, eligible);
            n_x8 += x->layout == kernels::Layout::Q4_0x8;
        }
    EXPECT_GT(n_x8, 0);
    // The embedding rows stay readable in the file's layout.
    EXPECT_EQ(packed->weights().token_embd.layout, kernels::Layout::RowMajor);
    const auto a = prompt_logits(*plain), b = prompt_logits(*packed);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
    // A level without the kernel still computes a repacked model (from a row-major copy).
    kernels::set_active_isa(kernels::Isa::Scalar);
    const auto c = prompt_logits(*packed), d = prompt_logits(*plain);
    kernels::set_active_isa(saved);
    EXPECT_EQ(0, std::memcmp(c.data(), d.data(), c.size() * sizeof(float)));
}

// Q8_0: the matrices with n_rows % 16 == 0 in Q8_0x16, the logits of a prompt and of the
// single-token steps after it unchanged, with 1 and 2 threads.
TEST(RepackModel, Q8_0MatricesRepackedAndLogitsUnchanged) {
    const char* q8 = "tiny-llama-Q8_0.gguf";
    const kernels::Isa saved = kernels::active_isa();
    if (!kernels::active_kernels().gemm_q8_0x16.gemm)
        GTEST_SKIP() << "the active level has no Q8_0x16 kernel";
    std::unique_ptr<Model> plain;
    {
        ScopedEnv off("PONDER_REPACK", "0");
        plain = Model::load(test::model_path(q8));
    }
    auto packed = Model::load(test::model_path(q8));
    EXPECT_EQ(plain->repacked_bytes(), 0u);
    size_t want = 0;
    int n_x16 = 0;
    auto check = [&](const kernels::Matrix& x) {
        const bool eligible = x.type == DType::Q8_0 && x.n_rows % 16 == 0;
        EXPECT_EQ(x.layout == kernels::Layout::Q8_0x16, eligible);
        n_x16 += eligible;
        if (eligible) want += x.row_bytes * size_t(x.n_rows);
    };
    for (const auto& L : packed->weights().layers)
        for (const auto* x : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) check(*x);
    check(packed->weights().output);
    ASSERT_GT(n_x16, 0) << q8 << " has no Q8_0 matrix with rows in groups of 16";
    EXPECT_GE(packed->repacked_bytes(), want);
    EXPECT_EQ(packed->weights().token_embd.layout, kernels::Layout::RowMajor);
    for (int nth : {1, 2}) {
        const auto a = prompt_logits(*plain, nth), b = prompt_logits(*packed, nth);
        ASSERT_EQ(a.size(), b.size());
        EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << nth;
        // One token at a time (the decode kernels).
        const int32_t nv = plain->hparams().n_vocab;
        Context ca(*plain, {.n_ctx = 64, .n_threads = nth});
        Context cb(*packed, {.n_ctx = 64, .n_threads = nth});
        for (int32_t i = 0; i < 5; ++i) {
            Batch ba, bb;
            ba.add((7 + 31 * i) % nv, i, 0, true);
            bb.add((7 + 31 * i) % nv, i, 0, true);
            ca.decode(ba);
            cb.decode(bb);
            EXPECT_EQ(0, std::memcmp(ca.logits(0), cb.logits(0), size_t(nv) * sizeof(float)))
                << "step " << i << " threads " << nth;
        }
    }
    // A level without the kernel still computes a repacked model (from a row-major copy).
    kernels::set_active_isa(kernels::Isa::Scalar);
    const auto c = prompt_logits(*packed), d = prompt_logits(*plain);
    kernels::set_active_isa(saved);
    EXPECT_EQ(0, std::memcmp(c.data(), d.data(), c.size() * sizeof(float)));
}

TEST(RepackModel, ScalarLevelKeepsTheFileLayout) {
    const kernels::Isa saved = kernels::active_isa();
    kernels::set_active_isa(kernels::Isa::Scalar);
    auto m = Model::load(test::model_path(kModel));
    kernels::set_active_isa(saved);
    EXPECT_EQ(m->repacked_bytes(), 0u);
    for (const auto& L : m->weights().layers) EXPECT_EQ(L.w_up.layout, kernels::Layout::RowMajor);
}

}  // namespace
}  // namespace ponder
