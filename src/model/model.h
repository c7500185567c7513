// A loaded model: the mapped GGUF file, its family, hyper-parameters and bound weights.
// Weights are never copied out of the mapping (quantized data stays in the page cache).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "gguf/gguf.h"
#include "model/architecture.h"

namespace ponder {

class Model {
  public:
    // Progress in [0, 1]; return false to cancel loading (load then throws Error "cancelled").
    using Progress = std::function<bool(float)>;

    // Opens, validates and binds the model at path. With `prefetch`, reads every weight page
    // once (reporting progress) so the first tokens do not stall on disk.
    static std::unique_ptr<Model> load(const std::string& path, const Progress& progress = {},
                                       bool prefetch = false);
    static std::unique_ptr<Model> from_file(std::shared_ptr<const GgufFile> file);

    const GgufFile& file() const { return *file_; }
    std::shared_ptr<const GgufFile> file_ptr() const { return file_; }
    const Architecture& arch() const { return *arch_; }
    const HParams& hparams() const { return hp_; }
    const ModelWeights& weights() const { return w_; }
    // Bytes of weights read per generated token (every matrix once): the bandwidth bound.
    uint64_t weight_bytes() const;

  private:
    std::shared_ptr<const GgufFile> file_;
    const Architecture* arch_ = nullptr;
    HParams hp_;
    ModelWeights w_;
};

}  // namespace ponder
