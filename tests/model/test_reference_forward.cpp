// The engine agrees with the independent reference forward pass on every test model, at the
// prompt and after a few greedy steps (a second check beside the llama.cpp goldens).
#include <gtest/gtest.h>

#include <cmath>

#include "model/golden.h"
#include "model/reference_forward.h"
#include "runtime/context.h"

namespace ponder {
namespace {

class ReferenceForward : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceForward, EngineAgreesWithReference) {
    const auto g = test::load_golden(GetParam());
    auto model = Model::load(test::model_path(g.model_file));
    test::ReferenceModel ref(model->file());
    const int32_t n_vocab = model->hparams().n_vocab;
    bool quantized = false;
    for (const auto& t : model->file().tensors())
        quantized |= t.n_dims == 2 && dtype_traits(t.type).quantized;
    // Both round activations and K/V the same way but sum in different orders. For float
    // files that leaves ~1e-3. For quantized files most agree to 1e-5, but an activation that
    // lands within an ulp of a Q8 rounding boundary can round the other way in one of the two
    // and move logits by up to ~0.08 on these random-weight models (seen: Q4_1, Q4_K_M); the
    // llama.cpp goldens hold the engine to 0.05 separately.
    const float tol = quantized ? 0.1f : 0.01f;
    const auto& c = g.cases.front();
    Context ctx(*model, {.n_ctx = 128, .n_threads = 2});
    std::vector<int32_t> seq = c.prompt_ids;
    Batch b;
    for (size_t i = 0; i < seq.size(); ++i) b.add(seq[i], int32_t(i), 0, i + 1 == seq.size());
    ctx.decode(b);
    float worst = 0;
    for (int step = 0; step < 4; ++step) {
        const auto want = ref.logits(seq);
        const float* got = ctx.logits(0);
        int32_t best = 0;
        for (int32_t i = 0; i < n_vocab; ++i) {
            worst = std::max(worst, std::fabs(got[i] - want[size_t(i)]));
            if (want[size_t(i)] > want[size_t(best)]) best = i;
        }
        seq.push_back(best);
        Batch nb;
        nb.add(best, int32_t(seq.size() - 1), 0, true);
        ctx.decode(nb);
    }
    std::printf("[%s] max |engine - reference| = %.5f\n", GetParam().c_str(), worst);
    EXPECT_LE(worst, tol);
}

INSTANTIATE_TEST_SUITE_P(All, ReferenceForward, ::testing::ValuesIn(test::golden_model_names()),
                         [](const auto& info) {
                             std::string n = info.param;
                             for (char& ch : n)
                                 if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                             return n;
                         });

}  // namespace
}  // namespace ponder
