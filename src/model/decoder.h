// The decoder-only transformer shared by the llama, qwen2 and qwen3 families: pre-norm
// attention (GQA, RoPE, optional QKV bias and Q/K norm) and a SwiGLU MLP.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "model/architecture.h"
#include "model/kv_cache.h"

namespace ponder {

// One forward batch. All spans have one entry per token, except out_rows.
struct ForwardBatch {
    std::span<const int32_t> tokens;
    std::span<const int32_t> pos;
    std::span<const int32_t> seq;
    std::span<const int32_t> cells;     // KV cell allocated for each token
    std::span<const int32_t> out_rows;  // batch indices whose logits are wanted, ascending
};

// Work buffers reused across calls (grown on demand; owned by the caller's context).
struct ForwardScratch {
    std::vector<float> x, h, q, k, v, att, o, g, u, out_x, scores;
    // [n_tokens, n_rot]: kernels::rope_cos_sin of each token's position, filled once per
    // forward call and used by every layer.
    std::vector<float> rope_cs;
    // Attention jobs of the current batch (rebuilt per forward call, reused by every layer).
    struct AttnJob {
        kernels::AttentionRows rows;
        int32_t kv_head = 0;
        const int32_t* cells = nullptr;  // the sequence's cells in position order
        int64_t cost = 0;                // sum of visible cells over the rows
    };
    std::vector<AttnJob> attn_jobs;
    // Set when the jobs are too few or too uneven for the pool's threads: each layer shares
    // their spans out instead (kernels::attention_split).
    bool attn_split = false;
    std::vector<kernels::AttentionJob> split_jobs;
    kernels::AttentionSplitBuffers split_buf;
};

// What distinguishes one decoder family from another.
struct DecoderTraits {
    bool rope_neox = false;
    bool qkv_bias = false;
    bool qk_norm = false;
};

// A family that is the shared decoder with its own switches.
class DecoderArchitecture final : public Architecture {
  public:
    DecoderArchitecture(std::string name, DecoderTraits traits)
        : name_(std::move(name)), traits_(traits) {}
    std::string_view name() const override { return name_; }
    HParams read_hparams(const GgufFile& f) const override;
    ModelWeights bind(const GgufFile& f, const HParams& hp) const override;
    void forward(const HParams& hp, const ModelWeights& w, const ForwardBatch& batch, KvCache& kv,
                 ForwardScratch& scratch, ThreadPool& pool, float* logits) const override;

  private:
    std::string name_;
    DecoderTraits traits_;
};

// Reads the keys every decoder family uses. `arch` is the key prefix.
HParams read_decoder_hparams(const GgufFile& f, const std::string& arch);
// Binds the standard tensor names; hp.qkv_bias / hp.qk_norm decide the optional ones.
ModelWeights bind_decoder(const GgufFile& f, const HParams& hp);
// The forward pass. logits: [out_rows.size(), n_vocab].
void decoder_forward(const HParams& hp, const ModelWeights& w, const ForwardBatch& batch,
                     KvCache& kv, ForwardScratch& s, ThreadPool& pool, float* logits);

}  // namespace ponder
