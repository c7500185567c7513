// Family `llama`: Llama 2/3.x, TinyLlama, SmolLM, Mistral-style models: RMSNorm, RoPE on adjacent
// pairs (the GGUF converter permutes Q/K for it), GQA, SwiGLU, optional tied output, and Llama 3
// RoPE frequency factors from rope_freqs.weight.
#include "model/decoder.h"

namespace ponder {

const Architecture& llama_architecture() {
    static const DecoderArchitecture a("llama", DecoderTraits{});
    return a;
}

}  // namespace ponder
