#include "model/synth.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <numbers>

#include "core/error.h"
#include "core/quant.h"
#include "core/thread_pool.h"
#include "model/quantize.h"

namespace ponder {
namespace {

// The configurations as published on Hugging Face (config.json of each repository).
// qwen2.5-1.5b is DeepSeek-R1-Distill-Qwen-1.5B (untied output, rope_theta 10000), not the
// Qwen2.5-1.5B base (tied, 1e6); qwen2.5-7b and qwen2.5-32b are the base models (131072
// context), whose shapes the R1 distills, s1-32B and Sky-T1-32B share.
const std::vector<SynthShape> kShapes = {
    {.name = "qwen2.5-0.5b",
     .model_name = "Qwen2.5-0.5B",
     .arch = "qwen2",
     .n_vocab = 151936,
     .n_embd = 896,
     .n_layer = 24,
     .n_head = 14,
     .n_head_kv = 2,
     .head_dim = 0,
     .n_ff = 4864,
     .n_ctx_train = 32768,
     .rope_base = 1000000.0f,
     .rms_eps = 1e-6f,
     .tied = true},
    {.name = "qwen2.5-1.5b",
     .model_name = "DeepSeek-R1-Distill-Qwen-1.5B",
     .arch = "qwen2",
     .n_vocab = 151936,
     .n_embd = 1536,
     .n_layer = 28,
     .n_head = 12,
     .n_head_kv = 2,
     .head_dim = 0,
     .n_ff = 8960,
     .n_ctx_train = 131072,
     .rope_base = 10000.0f,
     .rms_eps = 1e-6f,
     .tied = false},
    {.name = "qwen2.5-7b",
     .model_name = "Qwen2.5-7B",
     .arch = "qwen2",
     .n_vocab = 152064,
     .n_embd = 3584,
     .n_layer = 28,
     .n_head = 28,
     .n_head_kv = 4,
     .head_dim = 0,
     .n_ff = 18944,
     .n_ctx_train = 131072,
     .rope_base = 1000000.0f,
     .rms_eps = 1e-6f,
     .tied = false},
    {.name = "qwen2.5-32b",
     .model_name = "Qwen2.5-32B",
     .arch = "qwen2",
     .n_vocab = 152064,
     .n_embd = 5120,
     .n_layer = 64,
     .n_head = 40,
     .n_head_kv = 8,
     .head_dim = 0,
     .n_ff = 27648,
     .n_ctx_train = 131072,
     .rope_base = 1000000.0f,
     .rms_eps = 1e-5f,
     .tied = false},
    {.name = "qwen3-0.6b",
     .model_name = "Qwen3-0.6B",
     .arch = "qwen3",
     .n_vocab = 151936,
     .n_embd = 1024,
     .n_layer = 28,
     .n_head = 16,
     .n_head_kv = 8,
     .head_dim = 128,
     .n_ff = 3072,
     .n_ctx_train = 40960,
     .rope_base = 1000000.0f,
     .rms_eps = 1e-6f,
     .tied = true},
    {.name = "qwen3-1.7b",
     .model_name = "Qwen3-1.7B",
     .arch = "qwen3",
     .n_vocab = 151936,
     .n_embd = 2048,
     .n_layer = 28,
     .n_head = 16,
     .n_head_kv = 8,
     .head_dim = 128,
     .n_ff = 6144,
     .n_ctx_train = 40960,
     .rope_base = 1000000.0f,
     .rms_eps = 1e-6f,
     .tied = true},
    {.name = "llama3.2-1b",
     .model_name = "Llama-3.2-1B",
     .arch = "llama",
     .n_vocab = 128256,
     .n_embd = 2048,
     .n_layer = 16,
     .n_head = 32,
     .n_head_kv = 8,
     .head_dim = 64,
     .n_ff = 8192,
     .n_ctx_train = 131072,
     .rope_base = 500000.0f,
     .rms_eps = 1e-5f,
     .tied = true,
     .rope_factor = 32.0f,
     .rope_low_freq = 1.0f,
     .rope_high_freq = 4.0f,
     .rope_orig_ctx = 8192,
     .vocab = SynthVocab::Llama3},
    // SmolLM2: Llama blocks, 3 and 5 KV heads (odd job counts for attention on 2 threads).
    {.name = "smollm2-135m",
     .model_name = "SmolLM2-135M",
     .arch = "llama",
     .n_vocab = 49152,
     .n_embd = 576,
     .n_layer = 30,
     .n_head = 9,
     .n_head_kv = 3,
     .head_dim = 0,
     .n_ff = 1536,
     .n_ctx_train = 8192,
     .rope_base = 100000.0f,
     .rms_eps = 1e-5f,
     .tied = true,
     .vocab = SynthVocab::Smollm},
    {.name = "smollm2-360m",
     .model_name = "SmolLM2-360M",
     .arch = "llama",
     .n_vocab = 49152,
     .n_embd = 960,
     .n_layer = 32,
     .n_head = 15,
     .n_head_kv = 5,
     .head_dim = 0,
     .n_ff = 2560,
     .n_ctx_train = 8192,
     .rope_base = 100000.0f,
     .rms_eps = 1e-5f,
     .tied = true,
     .vocab = SynthVocab::Smollm},
};

// GGUF token types (llama.cpp's llama_token_type).
constexpr int32_t kTokenNormal = 1, kTokenControl = 3, kTokenUnused = 5;
constexpr uint32_t kQuantizationVersion = 2;  // ggml's GGML_QNT_VERSION

std::string lower(std::string_view s) {
    std::string r;
    for (char c : s) r += char(std::tolower(static_cast<unsigned char>(c)));
    return r;
}

// ---- random numbers ----------------------------------------------------------------------------

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t hash_name(uint64_t seed, std::string_view name) {
    uint64_t h = 0xcbf29ce484222325ull ^ seed;  // FNV-1a over the name, then mixed
    for (char c : name) h = (h ^ uint8_t(c)) * 0x100000001b3ull;
    return splitmix64(h);
}

// dst[0..n) ~ N(0, sigma^2), approximately: the sum of four 16-bit uniforms (Irwin-Hall),
// centred and scaled to unit variance. Deterministic in (stream, row).
void random_row(uint64_t stream, int64_t row, float sigma, float* dst, int64_t n) {
    uint64_t state = stream ^ (uint64_t(row) * 0xd1342543de82ef95ull);
    splitmix64(state);
    constexpr float kMean = 4 * 32767.5f;
    const float scale = sigma / (65536.0f / std::sqrt(3.0f));
    for (int64_t i = 0; i < n; ++i) {
        const uint64_t r = splitmix64(state);
        const uint32_t s = uint32_t(r & 0xffff) + uint32_t((r >> 16) & 0xffff) +
                           uint32_t((r >> 32) & 0xffff) + uint32_t(r >> 48);
        dst[i] = (float(s) - kMean) * scale;
    }
}

// ---- tensors -----------------------------------------------------------------------------------

enum class Init { Random, Ones, RopeFreqs };

struct TensorPlan {
    std::string name;
    std::vector<int64_t> ne;  // ne[0] is the row length
    Init init = Init::Random;
    float sigma = 0;  // Random: standard deviation
};

std::vector<TensorPlan> plan_tensors(const SynthShape& s, int32_t n_layer) {
    const int64_t E = s.n_embd, F = s.n_ff, V = s.n_vocab, hd = s.head_size();
    const int64_t Q = s.n_head * hd, KV = s.n_head_kv * hd;
    auto w = [](std::string name, int64_t fan_in, int64_t rows) {
        return TensorPlan{
            std::move(name), {fan_in, rows}, Init::Random, 1.0f / std::sqrt(float(fan_in))};
    };
    auto ones = [](std::string name, int64_t n) {
        return TensorPlan{std::move(name), {n}, Init::Ones, 0};
    };
    auto bias = [](std::string name, int64_t n, int64_t fan_in) {
        return TensorPlan{std::move(name), {n}, Init::Random, 1.0f / std::sqrt(float(fan_in))};
    };
    std::vector<TensorPlan> t;
    t.push_back(w("token_embd.weight", E, V));
    t.push_back(ones("output_norm.weight", E));
    if (!s.tied) t.push_back(w("output.weight", E, V));
    if (s.rope_factor > 0) t.push_back({"rope_freqs.weight", {hd / 2}, Init::RopeFreqs, 0});
    for (int32_t l = 0; l < n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        t.push_back(ones(p + "attn_norm.weight", E));
        t.push_back(w(p + "attn_q.weight", E, Q));
        t.push_back(w(p + "attn_k.weight", E, KV));
        t.push_back(w(p + "attn_v.weight", E, KV));
        if (s.arch == "qwen2") {
            t.push_back(bias(p + "attn_q.bias", Q, E));
            t.push_back(bias(p + "attn_k.bias", KV, E));
            t.push_back(bias(p + "attn_v.bias", KV, E));
        }
        if (s.arch == "qwen3") {
            t.push_back(ones(p + "attn_q_norm.weight", hd));
            t.push_back(ones(p + "attn_k_norm.weight", hd));
        }
        t.push_back(w(p + "attn_output.weight", Q, E));
        t.push_back(ones(p + "ffn_norm.weight", E));
        t.push_back(w(p + "ffn_gate.weight", E, F));
        t.push_back(w(p + "ffn_up.weight", E, F));
        t.push_back(w(p + "ffn_down.weight", F, E));
    }
    return t;
}

// ---- vocabulary --------------------------------------------------------------------------------

void set_hparams(const SynthShape& s, int32_t n_layer, GgufWriter& out) {
    const std::string a = std::string(s.arch) + ".";
    out.set_u32(a + "context_length", uint32_t(s.n_ctx_train));
    out.set_u32(a + "embedding_length", uint32_t(s.n_embd));
    out.set_u32(a + "block_count", uint32_t(n_layer));
    out.set_u32(a + "feed_forward_length", uint32_t(s.n_ff));
    out.set_u32(a + "attention.head_count", uint32_t(s.n_head));
    out.set_u32(a + "attention.head_count_kv", uint32_t(s.n_head_kv));
    out.set_f32(a + "rope.freq_base", s.rope_base);
    out.set_f32(a + "attention.layer_norm_rms_epsilon", s.rms_eps);
    if (s.head_dim > 0) {
        out.set_u32(a + "attention.key_length", uint32_t(s.head_dim));
        out.set_u32(a + "attention.value_length", uint32_t(s.head_dim));
    }
    if (s.arch == "llama") {
        out.set_u32(a + "vocab_size", uint32_t(s.n_vocab));
        out.set_u32(a + "rope.dimension_count", uint32_t(s.head_size()));
    }
}

// Copies every tokenizer.* key of `path`, padding the token list (and its parallel arrays) with
// unused "[PAD<id>]" tokens up to n_vocab, as llama.cpp's converter pads Qwen vocabularies.
void copy_vocab(const std::string& path, int32_t n_vocab, GgufWriter& out) {
    auto f = GgufFile::open(path);
    const GgufValue* tokens = f->find("tokenizer.ggml.tokens");
    if (!tokens || !tokens->is_array() || tokens->elem_type != GgufType::STRING)
        fail("synth: ", path, ": tokenizer.ggml.tokens is missing or not an array of strings");
    const size_t n_tok = tokens->strings.size();
    if (n_tok > size_t(n_vocab))
        fail("synth: ", path, ": the vocabulary has ", n_tok, " tokens, more than the ", n_vocab,
             " rows of the model's embedding");
    for (const auto& kv : f->metadata()) {
        if (kv.key.substr(0, 10) != "tokenizer.") continue;
        const GgufValue& v = kv.value;
        const bool parallel =
            v.is_array() && v.count == n_tok &&
            (kv.key == "tokenizer.ggml.token_type" || kv.key == "tokenizer.ggml.scores");
        if (kv.key == "tokenizer.ggml.tokens") {
            std::vector<std::string> t(v.strings.begin(), v.strings.end());
            for (size_t i = n_tok; i < size_t(n_vocab); ++i)
                t.push_back("[PAD" + std::to_string(i) + "]");
            out.set_array_strings(kv.key, t);
        } else if (parallel && kv.key == "tokenizer.ggml.token_type") {
            std::vector<int32_t> t(size_t(n_vocab), kTokenUnused);
            for (size_t i = 0; i < n_tok; ++i) t[i] = int32_t(v.array_int(i));
            out.set_array_i32(kv.key, t);
        } else if (parallel) {
            std::vector<float> t(size_t(n_vocab), 0.0f);
            for (size_t i = 0; i < n_tok; ++i) t[i] = float(v.array_number(i));
            out.set_array_f32(kv.key, t);
        } else if (kv.key == "tokenizer.ggml.token_type" || kv.key == "tokenizer.ggml.scores") {
            fail("synth: ", path, ": ", kv.key, " does not have one entry per token");
        } else {
            out.set_value(kv.key, v);
        }
    }
}

// GPT-2's reversible byte -> code point map: printable Latin-1 bytes stand for themselves, the
// rest are moved to 256 and up, in byte order.
std::string byte_token(int b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    uint32_t cp = uint32_t(b);
    if (!printable) {
        cp = 256;
        for (int c = 0; c < b; ++c)
            if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174)) ++cp;
    }
    std::string s;
    if (cp < 0x80) {
        s += char(cp);
    } else {
        s += char(0xc0 | (cp >> 6));
        s += char(0x80 | (cp & 0x3f));
    }
    return s;
}

// A byte-level BPE vocabulary of exactly n_vocab tokens: the 256 byte tokens, two-byte tokens
// with their merges (as many as fit, up to 65536), unused padding, and an end-of-text control
// token as the last id (bos = eos = it; no BOS added).
void synth_vocab(const SynthShape& s, int32_t n_vocab, GgufWriter& out) {
    if (n_vocab < 258) fail("synth: a vocabulary needs at least 258 tokens, not ", n_vocab);
    std::vector<std::string> tokens, merges;
    std::vector<int32_t> types;
    std::vector<std::string> bytes;
    for (int b = 0; b < 256; ++b) bytes.push_back(byte_token(b));
    for (int b = 0; b < 256; ++b) {
        tokens.push_back(bytes[size_t(b)]);
        types.push_back(kTokenNormal);
    }
    const size_t n_pairs = std::min<size_t>(65536, size_t(n_vocab) - 257);
    for (size_t i = 0; i < n_pairs; ++i) {
        const std::string& a = bytes[i / 256];
        const std::string& b = bytes[i % 256];
        tokens.push_back(a + b);
        types.push_back(kTokenNormal);
        merges.push_back(a + " " + b);
    }
    while (tokens.size() + 1 < size_t(n_vocab)) {
        tokens.push_back("[PAD" + std::to_string(tokens.size()) + "]");
        types.push_back(kTokenUnused);
    }
    tokens.push_back("<|endoftext|>");
    types.push_back(kTokenControl);
    out.set_string("tokenizer.ggml.model", "gpt2");
    out.set_string("tokenizer.ggml.pre", s.vocab == SynthVocab::Llama3   ? "llama-bpe"
                                         : s.vocab == SynthVocab::Smollm ? "smollm"
                                                                         : "qwen2");
    out.set_array_strings("tokenizer.ggml.tokens", tokens);
    out.set_array_i32("tokenizer.ggml.token_type", types);
    out.set_array_strings("tokenizer.ggml.merges", merges);
    out.set_u32("tokenizer.ggml.bos_token_id", uint32_t(n_vocab - 1));
    out.set_u32("tokenizer.ggml.eos_token_id", uint32_t(n_vocab - 1));
    out.set_bool("tokenizer.ggml.add_bos_token", false);
}

}  // namespace

const std::vector<SynthShape>& synth_shapes() {
    return kShapes;
}

std::string synth_shape_names() {
    std::string r;
    for (const auto& s : kShapes) {
        if (!r.empty()) r += ", ";
        r += s.name;
    }
    return r;
}

const SynthShape& find_synth_shape(std::string_view name) {
    const std::string n = lower(name);
    for (const auto& s : kShapes)
        if (s.name == n) return s;
    fail("synth: unknown model '", name, "'; known: ", synth_shape_names());
}

std::vector<float> llama3_rope_factors(const SynthShape& s) {
    const int32_t n_rot = s.head_size();
    std::vector<float> f(size_t(n_rot / 2), 1.0f);
    if (!(s.rope_factor > 0)) return f;
    const double low_wavelen = double(s.rope_orig_ctx) / s.rope_low_freq;
    const double high_wavelen = double(s.rope_orig_ctx) / s.rope_high_freq;
    for (int32_t i = 0; i < n_rot / 2; ++i) {
        const double freq = 1.0 / std::pow(double(s.rope_base), 2.0 * i / n_rot);
        const double wavelen = 2 * std::numbers::pi / freq;
        if (wavelen < high_wavelen) {
            f[size_t(i)] = 1.0f;
        } else if (wavelen > low_wavelen) {
            f[size_t(i)] = s.rope_factor;
        } else {
            const double smooth = (s.rope_orig_ctx / wavelen - s.rope_low_freq) /
                                  (s.rope_high_freq - s.rope_low_freq);
            f[size_t(i)] = float(1.0 / ((1 - smooth) / s.rope_factor + smooth));
        }
    }
    return f;
}

void add_synth_model(const SynthOptions& opt, GgufWriter& out, SynthProgress progress) {
    const SynthShape& s = find_synth_shape(opt.like);
    const QuantTarget target = parse_quant_target(opt.type);
    if (opt.n_layers < 0 || opt.n_layers > 1024)
        fail("synth: --layers ", opt.n_layers, " is outside [1, 1024]");
    const int32_t n_layer = opt.n_layers > 0 ? opt.n_layers : s.n_layer;

    out.set_string("general.architecture", s.arch);
    out.set_string("general.type", "model");
    out.set_string("general.name", std::string(s.model_name) + " (synthetic, random weights)");
    out.set_string("ponder.synth.like", s.name);
    out.set_u64("ponder.synth.seed", opt.seed);
    set_hparams(s, n_layer, out);
    if (opt.vocab_path.empty())
        synth_vocab(s, s.n_vocab, out);
    else
        copy_vocab(opt.vocab_path, s.n_vocab, out);
    out.set_u32("general.quantization_version", kQuantizationVersion);
    out.set_u32("general.file_type", target.ftype);

    // Tensor descriptions in F32 (the notional source) decide the per-tensor types.
    auto plans = std::make_shared<std::vector<TensorPlan>>(plan_tensors(s, n_layer));
    std::vector<GgufTensorInfo> infos(plans->size());
    for (size_t i = 0; i < plans->size(); ++i) {
        const TensorPlan& p = (*plans)[i];
        GgufTensorInfo& t = infos[i];
        t.name = p.name;
        t.n_dims = uint32_t(p.ne.size());
        for (size_t d = 0; d < p.ne.size(); ++d) t.ne[d] = p.ne[d];
        t.type = DType::F32;
    }
    const std::vector<DType> types =
        choose_tensor_types(infos, s.n_head, s.n_head_kv, target, "synth");
    const std::vector<size_t> order = quantize_tensor_order(infos);
    auto pool = std::make_shared<ThreadPool>(opt.n_threads);
    const auto rope = std::make_shared<std::vector<float>>(llama3_rope_factors(s));
    const size_t count = order.size();
    for (size_t k = 0; k < count; ++k) {
        const size_t i = order[k];
        const DType type = types[i];
        const uint64_t stream = hash_name(opt.seed, (*plans)[i].name);
        out.add_tensor(
            (*plans)[i].name, type, (*plans)[i].ne,
            [plans, i, k, count, type, stream, pool, rope, progress](uint8_t* dst, size_t nbytes) {
                const TensorPlan& p = (*plans)[i];
                if (progress) progress(k, count, p.name, type, nbytes);
                const int64_t n = p.ne[0];
                const int64_t rows = p.ne.size() > 1 ? p.ne[1] : 1;
                const size_t row_bytes = row_size(type, n);
                pool->run([&](int ith, int nth) {
                    int64_t r0, r1;
                    ThreadPool::split(rows, ith, nth, r0, r1);
                    std::vector<float> row(static_cast<size_t>(n));
                    for (int64_t r = r0; r < r1; ++r) {
                        if (p.init == Init::Ones)
                            std::fill(row.begin(), row.end(), 1.0f);
                        else if (p.init == Init::RopeFreqs)
                            std::copy(rope->begin(), rope->end(), row.begin());
                        else
                            random_row(stream, r, p.sigma, row.data(), n);
                        quantize_row(type, row.data(), dst + size_t(r) * row_bytes, n);
                    }
                });
            });
    }
}

void synth_model_file(const SynthOptions& opt, const std::string& path, SynthProgress progress) {
    GgufWriter out;
    add_synth_model(opt, out, std::move(progress));
    out.write(path);
}

}  // namespace ponder
