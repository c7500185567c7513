#include "model/model_summary.h"

#include "core/error.h"

namespace ponder {

ModelSummary summarize_model(const GgufFile& f) {
    ModelSummary s;
    s.path = f.path();
    s.gguf_version = f.version();
    s.file_size = f.file_size();
    s.architecture = std::string(f.get_string_or("general.architecture", ""));
    s.name = std::string(f.get_string_or("general.name", ""));
    for (const auto& t : f.tensors()) {
        const std::string type(dtype_name(t.type));
        s.n_params += uint64_t(t.n_elements());
        s.tensor_bytes += t.nbytes;
        s.type_tensors[type] += 1;
        s.type_params[type] += uint64_t(t.n_elements());
        if (t.name == "rope_freqs.weight") s.has_rope_freqs_tensor = true;
    }
    const std::string a = s.architecture + ".";
    auto opt_int = [&](const std::string& key) -> std::optional<int64_t> {
        const GgufValue* v = f.find(key);
        if (!v) return std::nullopt;
        if (v->is_array()) return v->count ? std::optional<int64_t>(v->array_int(0)) : std::nullopt;
        return f.get_int(key);
    };
    auto opt_float = [&](const std::string& key) -> std::optional<double> {
        return f.find(key) ? std::optional<double>(f.get_float(key)) : std::nullopt;
    };
    if (!s.architecture.empty()) {
        s.context_length = opt_int(a + "context_length");
        s.embedding_length = opt_int(a + "embedding_length");
        s.block_count = opt_int(a + "block_count");
        s.feed_forward_length = opt_int(a + "feed_forward_length");
        s.head_count = opt_int(a + "attention.head_count");
        s.head_count_kv = opt_int(a + "attention.head_count_kv");
        s.key_length = opt_int(a + "attention.key_length");
        s.value_length = opt_int(a + "attention.value_length");
        s.rope_freq_base = opt_float(a + "rope.freq_base");
        s.rope_dimension_count = opt_int(a + "rope.dimension_count");
        s.rms_eps = opt_float(a + "attention.layer_norm_rms_epsilon");
        s.rope_scaling_type = std::string(f.get_string_or(a + "rope.scaling.type", ""));
        s.rope_scaling_factor = opt_float(a + "rope.scaling.factor");
    }
    s.vocab_model = std::string(f.get_string_or("tokenizer.ggml.model", ""));
    s.vocab_pre = std::string(f.get_string_or("tokenizer.ggml.pre", ""));
    const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
    if (tokens && tokens->is_array()) s.vocab_size = tokens->count;
    static const char* roles[] = {"bos",     "eos",       "eot",  "eom", "unknown",
                                  "padding", "separator", "mask", "cls"};
    for (const char* role : roles) {
        const std::string key = cat("tokenizer.ggml.", role, "_token_id");
        if (!f.find(key)) continue;
        SpecialToken t{role, f.get_int(key), ""};
        if (t.id < 0 || t.id == 0xffffffffll) continue;  // writers use -1 / UINT32_MAX for "none"
        if (tokens && tokens->elem_type == GgufType::STRING && t.id >= 0 &&
            uint64_t(t.id) < tokens->strings.size())
            t.text = std::string(tokens->strings[size_t(t.id)]);
        s.special_tokens.push_back(t);
    }
    if (f.find("tokenizer.ggml.add_bos_token"))
        s.add_bos = f.get_bool("tokenizer.ggml.add_bos_token");
    if (f.find("tokenizer.ggml.add_eos_token"))
        s.add_eos = f.get_bool("tokenizer.ggml.add_eos_token");
    s.has_chat_template = f.find("tokenizer.chat_template") != nullptr;
    return s;
}

}  // namespace ponder
