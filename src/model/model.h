// A loaded model: the mapped GGUF file, its family, hyper-parameters and bound weights.
// Weights are never copied out of the mapping (quantized data stays in the page cache).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "core/page_buffer.h"
#include "gguf/gguf.h"
#include "model/architecture.h"

namespace ponder {

class Model {
  public:
    // Progress in [0, 1]; return false to cancel loading (load then throws Error "cancelled").
    using Progress = std::function<bool(float)>;

    // Opens, validates and binds the model at path. With `prefetch`, reads every weight page
    // once (reporting progress) so the first tokens do not stall on disk. Both load and
    // from_file repack Q4_0, Q8_0, Q5_0, Q4_K and Q6_K matrices for the active kernel level
    // (repack_weights; set PONDER_REPACK=0 to keep every matrix in the mapped file).
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
    // Bytes of matrices copied into a repacked layout at load (0: none; see load()).
    size_t repacked_bytes() const { return repacked_.size(); }

  private:
    // Opens nothing and repacks nothing: the family, hyper-parameters and weights of `file`.
    static std::unique_ptr<Model> bind_file(std::shared_ptr<const GgufFile> file);
    // Copies the Q4_0 matrices (n_rows % 8 == 0) into the Q4_0x8 layout and the Q8_0, Q5_0,
    // Q4_K and Q6_K ones (n_rows % 16 == 0) into Q8_0x16 / Q5_0x16 / Q4_Kx16 / Q6_Kx16
    // (kernels/repack.h) when the active kernel level has a kernel for that layout,
    // PONDER_REPACK is not "0" and they take at most half of physical memory; the file pages
    // they came from are then released.
    void repack_weights();

    std::shared_ptr<const GgufFile> file_;
    const Architecture* arch_ = nullptr;
    HParams hp_;
    ModelWeights w_;
    PageBuffer repacked_;  // the repacked matrices (read-only once written)
};

}  // namespace ponder
