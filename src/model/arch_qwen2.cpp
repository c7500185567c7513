// Family `qwen2`: Qwen2/2.5 and DeepSeek-R1-Distill-Qwen: biases on Q, K and V, NEOX RoPE, tied
// embeddings when output.weight is absent.
#include "model/decoder.h"

namespace ponder {

const Architecture& qwen2_architecture() {
    static const DecoderArchitecture a("qwen2", DecoderTraits{.rope_neox = true, .qkv_bias = true});
    return a;
}

}  // namespace ponder
