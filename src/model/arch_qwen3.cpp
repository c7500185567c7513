// Family `qwen3`: Qwen3: per-head RMSNorm on Q and K (attn_q_norm, attn_k_norm), head size from
// attention.key_length (Q may be wider than the embedding), NEOX RoPE, no QKV bias.
#include "model/decoder.h"

namespace ponder {

const Architecture& qwen3_architecture() {
    static const DecoderArchitecture a("qwen3", DecoderTraits{.rope_neox = true, .qk_norm = true});
    return a;
}

}  // namespace ponder
