// A description of a GGUF model file for people: what `ponder info` shows.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf.h"

namespace ponder {

struct SpecialToken {
    std::string role;  // "bos", "eos", "eot", "pad", "unk", ...
    int64_t id;
    std::string text;  // the token's text, or "" when the id is outside the vocabulary
};

struct ModelSummary {
    std::string path;
    uint32_t gguf_version = 0;
    uint64_t file_size = 0;
    std::string architecture;  // general.architecture, "" if absent
    std::string name;          // general.name
    uint64_t n_params = 0;     // sum of tensor element counts
    uint64_t tensor_bytes = 0;
    std::map<std::string, uint64_t> type_tensors;  // dtype name -> number of tensors
    std::map<std::string, uint64_t> type_params;   // dtype name -> number of elements
    std::optional<int64_t> context_length, embedding_length, block_count, feed_forward_length;
    std::optional<int64_t> head_count, head_count_kv, key_length, value_length;
    std::optional<double> rope_freq_base, rms_eps;
    std::optional<int64_t> rope_dimension_count;
    std::string rope_scaling_type;  // "" when absent
    std::optional<double> rope_scaling_factor;
    bool has_rope_freqs_tensor = false;
    std::string vocab_model;  // tokenizer.ggml.model
    std::string vocab_pre;    // tokenizer.ggml.pre
    uint64_t vocab_size = 0;
    std::vector<SpecialToken> special_tokens;
    std::optional<bool> add_bos, add_eos;
    bool has_chat_template = false;
};

ModelSummary summarize_model(const GgufFile& f);

}  // namespace ponder
