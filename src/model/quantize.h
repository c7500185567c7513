// `ponder quantize`: converts an F32/F16/BF16 GGUF model to another tensor type, choosing each
// tensor's type the way llama.cpp's quantizer does (including its "_M" mixes).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"

namespace ponder {

// A target the user can name: the default tensor type and llama.cpp's number for the file type
// (general.file_type). The "_M" targets raise some tensors to a higher type (see
// choose_tensor_types).
struct QuantTarget {
    std::string name;  // canonical spelling, e.g. "Q4_K_M"
    DType type;        // type of ordinary weight matrices
    uint32_t ftype;    // llama.cpp's LLAMA_FTYPE_* number
};

// Parses a target name, case-insensitively; Q3_K, Q4_K and Q5_K mean the "_M" mixes.
// Throws Error naming the valid targets for anything else.
QuantTarget parse_quant_target(std::string_view name);
// "F32, F16, BF16, Q8_0, ..." (the canonical names, for messages and --help).
std::string quant_target_names();

// Type of every tensor of `in` (same order as in.tensors()) for the target:
//   - tensors llama.cpp never quantizes keep their type: anything not named "*weight", norms,
//     rope frequencies, position/type embeddings, MoE routers; 1-D tensors become F32;
//   - with a float target every other tensor gets that type;
//   - with a quantized target llama.cpp's rules apply: output.weight (or token_embd.weight when
//     there is no output tensor) gets Q6_K (Q8_0 stays Q8_0); Q2_K raises attn_v, attn_output
//     and ffn_down to Q3_K (attn_v to Q4_K with >= 4 query heads per KV head); Q3_K_M gives the
//     first two attn_v Q5_K and the rest Q4_K, attn_output and ffn_down Q4_K; Q4_K_M and Q5_K_M
//     give Q6_K to attn_v and ffn_down in the layers llama.cpp's use_more_bits picks
//     (the first and last eighth, and every third in between); the counters run over the
//     tensors in quantize_tensor_order;
//   - a K type whose row length is not a multiple of 256 falls back to Q5_0 (Q4_K), Q5_1 (Q5_K),
//     Q8_0 (Q6_K) or Q4_0 (Q2_K, Q3_K: llama.cpp now uses IQ4_NL, which ponder does not
//     support); a row length that still does not fit the block size falls back to F16.
// Throws Error if a tensor is not F32, F16 or BF16.
std::vector<DType> choose_tensor_types(const GgufFile& in, const QuantTarget& target);
// The same rules over tensor descriptions alone (name, n_dims, ne, type; data unused), for
// writers that have no source file (`ponder synth`). n_head / n_head_kv give the GQA ratio;
// `source` names the input in error messages.
std::vector<DType> choose_tensor_types(const std::vector<GgufTensorInfo>& tensors, int64_t n_head,
                                       int64_t n_head_kv, const QuantTarget& target,
                                       std::string_view source);

// The order llama.cpp's quantizer writes tensors in (indices into in.tensors()): tensors outside
// the "blk.N." layers first, then by layer number, by name within a layer.
std::vector<size_t> quantize_tensor_order(const GgufFile& in);
std::vector<size_t> quantize_tensor_order(const std::vector<GgufTensorInfo>& tensors);

// Called as each tensor is converted: index (0-based), count, name, source and target type.
using QuantProgress =
    std::function<void(size_t index, size_t count, std::string_view name, DType from, DType to)>;

// Adds every metadata key of `in` (in order) and every tensor (in quantize_tensor_order),
// converted per choose_tensor_types, to `out`, and sets general.file_type and
// general.quantization_version. The tensor data is produced while out.write() runs, one tensor at a
// time, so memory stays at one output tensor plus one row; `in` must stay open until then. A tensor
// holding a non-finite value throws Error (naming the tensor and row) from the write when the
// target is quantized.
void add_quantized_model(const GgufFile& in, const QuantTarget& target, GgufWriter& out,
                         QuantProgress progress = nullptr);

// Reads `in_path`, writes the converted model to `out_path` (atomically, see GgufWriter::write).
void quantize_model_file(const std::string& in_path, const std::string& out_path,
                         std::string_view target_name, QuantProgress progress = nullptr);

}  // namespace ponder
