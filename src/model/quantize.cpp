#include "model/quantize.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "core/quant.h"

namespace ponder {
namespace {

// llama.cpp's LLAMA_FTYPE_* numbers for the targets ponder writes.
const std::array<QuantTarget, 13> kTargets = {{
    {"F32", DType::F32, 0},
    {"F16", DType::F16, 1},
    {"BF16", DType::BF16, 32},
    {"Q8_0", DType::Q8_0, 7},
    {"Q4_0", DType::Q4_0, 2},
    {"Q4_1", DType::Q4_1, 3},
    {"Q5_0", DType::Q5_0, 8},
    {"Q5_1", DType::Q5_1, 9},
    {"Q2_K", DType::Q2_K, 10},
    {"Q3_K_M", DType::Q3_K, 12},
    {"Q4_K_M", DType::Q4_K, 15},
    {"Q5_K_M", DType::Q5_K, 17},
    {"Q6_K", DType::Q6_K, 18},
}};

constexpr uint32_t kQuantizationVersion = 2;  // ggml's GGML_QNT_VERSION for these layouts

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool contains(std::string_view s, std::string_view part) {
    return s.find(part) != std::string_view::npos;
}

// Number of dimensions counting up to the last one larger than 1 (as ggml_n_dims does).
int effective_dims(const GgufTensorInfo& t) {
    int n = 1;
    for (int d = 0; d < 4; ++d)
        if (t.ne[size_t(d)] > 1) n = d + 1;
    return n;
}

// Whether llama.cpp's quantizer converts this tensor at all.
bool is_quantizable(const GgufTensorInfo& t) {
    const std::string_view n = t.name;
    if (!ends_with(n, "weight") || effective_dims(t) < 2) return false;
    for (std::string_view skip : {"_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d.weight",
                                  "time_mix_first.weight", "attn_rel_b.weight"})
        if (contains(n, skip)) return false;
    return n != "position_embd.weight" && n != "token_types.weight" && n != "rope_freqs.weight";
}

// llama.cpp's choice of layers that get more bits in the _M mixes: the first and last eighth
// of the layers and every third layer in between.
bool use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

bool is_k_type(DType t) {
    return t == DType::Q2_K || t == DType::Q3_K || t == DType::Q4_K || t == DType::Q5_K ||
           t == DType::Q6_K;
}

// Counters over the tensors seen so far, as llama.cpp keeps them.
struct MixState {
    int n_attn_v = 0, n_ffn_down = 0;  // totals in the file
    int i_attn_v = 0, i_ffn_down = 0;  // seen so far
    int64_t n_gqa = 1;                 // query heads per KV head
    bool has_output = false;
};

DType mixed_type(const QuantTarget& target, const GgufTensorInfo& t, MixState& st) {
    const std::string_view name = t.name;
    const std::string_view ft = target.name;
    DType type = target.type;
    if (name == "output.weight" || (!st.has_output && name == "token_embd.weight")) {
        if (t.ne[0] % kQK_K != 0)
            type = DType::Q8_0;
        else if (type != DType::Q8_0)
            type = DType::Q6_K;
    } else if (contains(name, "attn_v.weight")) {
        if (ft == "Q2_K")
            type = st.n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
        else if (ft == "Q3_K_M")
            type = st.i_attn_v < 2 ? DType::Q5_K : DType::Q4_K;
        else if ((ft == "Q4_K_M" || ft == "Q5_K_M") && use_more_bits(st.i_attn_v, st.n_attn_v))
            type = DType::Q6_K;
        ++st.i_attn_v;
    } else if (contains(name, "ffn_down")) {
        if (ft == "Q2_K")
            type = DType::Q3_K;
        else if (ft == "Q3_K_M")
            type = st.i_ffn_down < st.n_ffn_down / 16 ? DType::Q5_K : DType::Q4_K;
        else if ((ft == "Q4_K_M" || ft == "Q5_K_M") && use_more_bits(st.i_ffn_down, st.n_ffn_down))
            type = DType::Q6_K;
        ++st.i_ffn_down;
    } else if (contains(name, "attn_output.weight")) {
        if (ft == "Q2_K")
            type = DType::Q3_K;
        else if (ft == "Q3_K_M")
            type = DType::Q4_K;
    } else if (contains(name, "attn_qkv.weight")) {
        if (ft == "Q3_K_M")
            type = DType::Q4_K;
        else if (ft == "Q4_K_M")
            type = DType::Q5_K;
        else if (ft == "Q5_K_M")
            type = DType::Q6_K;
    }
    if (is_k_type(type) && t.ne[0] % kQK_K != 0) {
        switch (type) {
            case DType::Q4_K:
                type = DType::Q5_0;
                break;
            case DType::Q5_K:
                type = DType::Q5_1;
                break;
            case DType::Q6_K:
                type = DType::Q8_0;
                break;
            default:  // Q2_K, Q3_K
                type = DType::Q4_0;
                break;
        }
    }
    if (t.ne[0] % int64_t(dtype_traits(type).block_size) != 0) type = DType::F16;
    return type;
}

// Layer number of a "blk.N." tensor, or -1.
int64_t layer_of(std::string_view name) {
    if (name.substr(0, 4) != "blk.") return -1;
    int64_t n = 0;
    size_t i = 4;
    for (; i < name.size() && i < 14 && std::isdigit(static_cast<unsigned char>(name[i])); ++i)
        n = n * 10 + (name[i] - '0');
    return i > 4 ? n : -1;
}

bool is_float_input(DType t) {
    return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

}  // namespace

QuantTarget parse_quant_target(std::string_view name) {
    std::string up;
    for (char c : name) up += char(std::toupper(static_cast<unsigned char>(c)));
    if (up == "Q3_K" || up == "Q4_K" || up == "Q5_K") up += "_M";
    for (const auto& t : kTargets)
        if (t.name == up) return t;
    fail("quantize: unknown type '", name, "'; valid types: ", quant_target_names(),
         " (Q3_K, Q4_K, Q5_K mean the _M mixes)");
}

std::string quant_target_names() {
    std::string s;
    for (const auto& t : kTargets) {
        if (!s.empty()) s += ", ";
        s += t.name;
    }
    return s;
}

std::vector<size_t> quantize_tensor_order(const GgufFile& in) {
    return quantize_tensor_order(in.tensors());
}

std::vector<size_t> quantize_tensor_order(const std::vector<GgufTensorInfo>& ts) {
    std::vector<size_t> order(ts.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        const int64_t la = layer_of(ts[a].name), lb = layer_of(ts[b].name);
        return la != lb ? la < lb : ts[a].name < ts[b].name;
    });
    return order;
}

std::vector<DType> choose_tensor_types(const GgufFile& in, const QuantTarget& target) {
    const std::string arch(in.get_string_or("general.architecture", ""));
    const int64_t n_head = in.get_int_or(arch + ".attention.head_count", 1);
    const int64_t n_head_kv = in.get_int_or(arch + ".attention.head_count_kv", n_head);
    return choose_tensor_types(in.tensors(), n_head, n_head_kv, target, in.path());
}

std::vector<DType> choose_tensor_types(const std::vector<GgufTensorInfo>& tensors, int64_t n_head,
                                       int64_t n_head_kv, const QuantTarget& target,
                                       std::string_view source) {
    MixState st;
    st.n_gqa = n_head_kv > 0 ? n_head / n_head_kv : 1;
    for (const auto& t : tensors) {
        if (!is_float_input(t.type))
            fail("quantize: ", source, ": tensor '", t.name, "' is ", dtype_name(t.type),
                 "; only F32, F16 and BF16 models can be quantized");
        if (t.name == "output.weight") st.has_output = true;
        if (contains(t.name, "attn_v.weight")) ++st.n_attn_v;
        if (contains(t.name, "ffn_down")) ++st.n_ffn_down;
    }
    const bool quantized_target = dtype_traits(target.type).quantized;
    std::vector<DType> types(tensors.size());
    for (size_t i : quantize_tensor_order(tensors)) {  // the layer counters follow this order
        const GgufTensorInfo& t = tensors[i];
        if (effective_dims(t) < 2)
            types[i] = DType::F32;
        else if (!is_quantizable(t))
            types[i] = t.type;
        else if (!quantized_target)
            types[i] = t.ne[0] % int64_t(dtype_traits(target.type).block_size) == 0 ? target.type
                                                                                    : DType::F16;
        else
            types[i] = mixed_type(target, t, st);
    }
    return types;
}

void add_quantized_model(const GgufFile& in, const QuantTarget& target, GgufWriter& out,
                         QuantProgress progress) {
    const std::vector<DType> types = choose_tensor_types(in, target);
    for (const auto& kv : in.metadata()) out.set_value(kv.key, kv.value);
    // Appended last, as llama.cpp does (it removes and re-adds both keys).
    out.remove("general.quantization_version");
    out.remove("general.file_type");
    out.set_u32("general.quantization_version", kQuantizationVersion);
    out.set_u32("general.file_type", target.ftype);
    const size_t count = in.tensors().size();
    const std::vector<size_t> order = quantize_tensor_order(in);
    for (size_t i = 0; i < count; ++i) {
        const GgufTensorInfo& t = in.tensors()[order[i]];
        const DType to = types[order[i]];
        std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + std::max<uint32_t>(t.n_dims, 1));
        const bool check_finite = dtype_traits(to).quantized;
        const std::string path = in.path();
        out.add_tensor(
            t.name, to, ne,
            [&t, to, i, count, progress, check_finite, path](uint8_t* dst, size_t nbytes) {
                if (progress) progress(i, count, t.name, t.type, to);
                const int64_t n = t.ne[0];
                const size_t src_row = row_size(t.type, n), dst_row = row_size(to, n);
                if (dst_row * size_t(t.n_rows()) != nbytes)
                    fail("quantize: tensor '", t.name, "': size mismatch");  // programmer error
                std::vector<float> row(static_cast<size_t>(n));
                for (int64_t r = 0; r < t.n_rows(); ++r) {
                    dequantize_row(t.type, t.data + size_t(r) * src_row, row.data(), n);
                    if (check_finite)
                        for (int64_t k = 0; k < n; ++k)
                            if (!std::isfinite(row[size_t(k)]))
                                fail("quantize: ", path, ": tensor '", t.name, "' row ", r,
                                     " element ", k, " is not finite (", row[size_t(k)], ")");
                    quantize_row(to, row.data(), dst + size_t(r) * dst_row, n);
                }
            });
    }
}

void quantize_model_file(const std::string& in_path, const std::string& out_path,
                         std::string_view target_name, QuantProgress progress) {
    const QuantTarget target = parse_quant_target(target_name);
    auto in = GgufFile::open(in_path);
    GgufWriter out(uint32_t(in->alignment()));
    add_quantized_model(*in, target, out, std::move(progress));
    out.write(out_path);
}

}  // namespace ponder
