// Tensors of a decoder-only transformer bound to a mapped GGUF file. Matrices point into the
// file; small vectors (norms, biases) are converted to F32 and owned here.
#pragma once
#include <vector>

#include "kernels/kernels.h"

namespace ponder {

struct LayerWeights {
    std::vector<float> attn_norm;       // [n_embd]
    kernels::Matrix wq, wk, wv;         // [q_dim, n_embd], [kv_dim, n_embd] x2
    std::vector<float> bq, bk, bv;      // empty unless qkv_bias
    std::vector<float> q_norm, k_norm;  // [head_dim], empty unless qk_norm
    kernels::Matrix wo;                 // [n_embd, q_dim]
    std::vector<float> ffn_norm;        // [n_embd]
    kernels::Matrix w_gate, w_up;       // [n_ff, n_embd]
    kernels::Matrix w_down;             // [n_embd, n_ff]
};

struct ModelWeights {
    kernels::Matrix token_embd;  // [n_vocab, n_embd]: row t is token t's embedding
    std::vector<LayerWeights> layers;
    std::vector<float> output_norm;  // [n_embd]
    kernels::Matrix output;          // [n_vocab, n_embd]; token_embd when tied
    std::vector<float> rope_freqs;   // [n_rot/2] Llama 3 frequency factors, empty if absent
};

}  // namespace ponder
