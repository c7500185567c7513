// Hyper-parameters of a decoder-only transformer, read from `<arch>.*` GGUF keys.
#pragma once
#include <cstdint>
#include <string>

namespace ponder {

struct HParams {
    std::string arch;
    int32_t n_vocab = 0;
    int32_t n_ctx_train = 0;
    int32_t n_embd = 0;
    int32_t n_layer = 0;
    int32_t n_head = 0;
    int32_t n_head_kv = 0;
    int32_t head_dim = 0;  // key/value length per head (n_embd / n_head unless key_length says)
    int32_t n_ff = 0;
    int32_t n_rot = 0;  // rotated dimensions per head
    float rope_base = 10000.0f;
    float rope_scale = 1.0f;  // linear position scaling (positions are divided by it)
    bool rope_neox = false;   // pairs (i, i + n_rot/2) instead of (2i, 2i+1)
    float rms_eps = 1e-5f;
    // Family switches the shared decoder honours.
    bool qkv_bias = false;  // qwen2: biases on Q, K, V
    bool qk_norm = false;   // qwen3: per-head RMSNorm on Q and K

    int32_t q_dim() const { return n_head * head_dim; }
    int32_t kv_dim() const { return n_head_kv * head_dim; }
};

}  // namespace ponder
