// `ponder synth`: random-weight GGUF files with the exact shapes, hyper-parameters and vocabulary
// size of real models, for benchmarks (the weights mean nothing; the speed they give is real).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_writer.h"

namespace ponder {

// Which real vocabulary a model family uses (the tokenizer.* keys to copy when available).
// SmolLM2's is not among the shared files: its files get a synthesized one (pre-tokenizer
// "smollm").
enum class SynthVocab { Qwen2, Llama3, Smollm };

// The published configuration of a model (its Hugging Face config.json, as llama.cpp's converter
// maps it to GGUF keys).
struct SynthShape {
    std::string_view name;        // what --like accepts, e.g. "qwen2.5-0.5b"
    std::string_view model_name;  // general.name, e.g. "Qwen2.5-0.5B"
    std::string_view arch;        // general.architecture: "qwen2", "qwen3" or "llama"
    int32_t n_vocab;              // rows of token_embd (vocab_size; may exceed the token list)
    int32_t n_embd, n_layer, n_head, n_head_kv;
    int32_t head_dim;  // attention.key_length when it is not n_embd / n_head (qwen3), else 0
    int32_t n_ff;
    int32_t n_ctx_train;
    float rope_base;
    float rms_eps;
    bool tied;  // no output.weight: the output projection is token_embd
    // Llama 3 RoPE scaling (rope_freqs.weight); factor 0 means none.
    float rope_factor = 0, rope_low_freq = 0, rope_high_freq = 0;
    int32_t rope_orig_ctx = 0;
    SynthVocab vocab = SynthVocab::Qwen2;

    int32_t head_size() const { return head_dim > 0 ? head_dim : n_embd / n_head; }
};

// The shape named `name` (case-insensitive); throws Error listing the known names otherwise.
const SynthShape& find_synth_shape(std::string_view name);
// All known shapes, in a stable order.
const std::vector<SynthShape>& synth_shapes();
std::string synth_shape_names();  // "qwen2.5-0.5b, qwen2.5-1.5b, ..."

struct SynthOptions {
    std::string like;  // a SynthShape name
    std::string type;  // a `ponder quantize` target name (F32 ... Q6_K, with the _M mixes)
    uint64_t seed = 0;
    int32_t n_layers = 0;  // > 0: override the layer count
    // A GGUF file whose tokenizer.* keys are copied (the token list padded to n_vocab); empty:
    // synthesize a byte-level BPE vocabulary of n_vocab tokens.
    std::string vocab_path;
    int n_threads = 0;  // quantization threads; 0: all hardware threads
};

// Called before each tensor is produced: index (0-based), count, name, type, bytes.
using SynthProgress =
    std::function<void(size_t index, size_t count, std::string_view name, DType type, size_t n)>;

// Adds the metadata and every tensor of the synthetic model to `out`. Tensor data is generated
// while out.write() runs, one tensor at a time (memory: one output tensor plus one float row
// per thread); the vocabulary file is read (and copied into `out`) before this returns.
// Weights are N(0, 1/fan_in) (approximately: a sum of four uniforms), norms are 1, biases
// N(0, 1/fan_in); the values depend only on (seed, tensor name), never on the type or threads.
// Tensor types follow choose_tensor_types for the target, tensors are in quantize order.
// Throws Error for an unknown name or type, a bad layer count, or an unusable vocabulary file.
void add_synth_model(const SynthOptions& opt, GgufWriter& out, SynthProgress progress = nullptr);

// add_synth_model into a writer with the default alignment, written to `path` atomically.
void synth_model_file(const SynthOptions& opt, const std::string& path,
                      SynthProgress progress = nullptr);

// Llama 3 frequency factors (rope_freqs.weight, [n_rot / 2]) for a shape with rope_factor > 0:
// 1 for high frequencies, rope_factor for low ones, a smooth blend in between; RoPE divides
// each pair's angle by its factor.
std::vector<float> llama3_rope_factors(const SynthShape& s);

}  // namespace ponder
