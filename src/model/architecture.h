// One interface per model family (DESIGN rule 3). A family reads its hyper-parameters, binds
// its tensors, and runs its forward pass; the blocks they share live in decoder.h.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf.h"
#include "model/hparams.h"
#include "model/weights.h"

namespace ponder {

class KvCache;
struct ForwardBatch;
struct ForwardScratch;

class Architecture {
  public:
    virtual ~Architecture() = default;
    virtual std::string_view name() const = 0;
    // Reads and validates the `<arch>.*` keys; throws Error naming the file and key.
    virtual HParams read_hparams(const GgufFile& f) const = 0;
    // Binds every tensor, checking names, shapes and types against hp.
    virtual ModelWeights bind(const GgufFile& f, const HParams& hp) const = 0;
    // Runs the batch through the model: writes K/V of every batch token into the cache and
    // logits for the tokens the batch asks for.
    virtual void forward(const HParams& hp, const ModelWeights& w, const ForwardBatch& batch,
                         KvCache& kv, ForwardScratch& scratch, ThreadPool& pool,
                         float* logits) const = 0;
};

// The family registered for general.architecture `name`; throws Error listing the supported
// ones when there is none.
const Architecture& find_architecture(std::string_view name);
std::vector<std::string> supported_architectures();

// One accessor per family file (arch_<name>.cpp); architecture.cpp lists them.
const Architecture& llama_architecture();
const Architecture& qwen2_architecture();
const Architecture& qwen3_architecture();

}  // namespace ponder
