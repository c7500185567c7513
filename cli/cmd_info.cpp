// ponder info MODEL [--tensors] [--json]: what a GGUF model file holds.
// ponder info --system [--json]: the CPU, its detected features and the kernel level chosen
// (MODEL is optional with --system; with both, both are printed).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>

#include "cli/commands.h"
#include "core/cpu_features.h"
#include "kernels/dispatch.h"
#include "gguf/gguf.h"
#include "hub/model_ref.h"
#include "model/model_summary.h"

namespace ponder::cli {
namespace {

struct InfoOptions {
    std::string model;
    bool tensors = false;
    bool json = false;
    bool system = false;
};

// The features the kernels care about, as (name, detected) pairs in a stable order.
std::vector<std::pair<std::string, bool>> feature_list(const CpuFeatures& f) {
    return {{"sse4.2", f.sse42},
            {"avx", f.avx},
            {"avx2", f.avx2},
            {"fma", f.fma},
            {"f16c", f.f16c},
            {"bmi2", f.bmi2},
            {"avx512f", f.avx512f},
            {"avx512bw", f.avx512bw},
            {"avx512vl", f.avx512vl},
            {"avx512dq", f.avx512dq},
            {"avx512vnni", f.avx512vnni},
            {"avx512bf16", f.avx512bf16},
            {"avxvnni", f.avxvnni},
            {"amx-int8", f.amx_int8},
            {"neon", f.neon},
            {"dotprod", f.dotprod},
            {"fp16", f.fp16}};
}

nlohmann::json system_json() {
    using nlohmann::json;
    const CpuFeatures& f = cpu_features();
    json j;
    j["cpu"] = f.brand;
    j["vendor"] = f.vendor;
    json feats = json::array();
    for (const auto& [name, on] : feature_list(f))
        if (on) feats.push_back(name);
    j["features"] = feats;
    j["best_isa"] = std::string(kernels::isa_name(kernels::best_isa()));
    // active_isa() fails on a bad PONDER_ISA: the message then reaches the user as an error.
    j["active_isa"] = std::string(kernels::isa_name(kernels::active_isa()));
    const char* env = std::getenv("PONDER_ISA");
    j["ponder_isa_env"] = env ? json(env) : json(nullptr);
    j["amx"] = kernels::amx_enabled();
    j["threads"] = int(std::max(1u, std::thread::hardware_concurrency()));
    j["llc_bytes"] = f.llc_bytes;
    return j;
}

void print_system() {
    const auto j = system_json();
    auto line = [](const char* k, const std::string& v) {
        std::printf("%-16s %s\n", k, v.c_str());
    };
    line("cpu", j["cpu"].get<std::string>().empty() ? "-" : j["cpu"].get<std::string>());
    line("vendor", j["vendor"].get<std::string>().empty() ? "-" : j["vendor"].get<std::string>());
    std::string feats;
    for (const auto& x : j["features"]) feats += (feats.empty() ? "" : " ") + x.get<std::string>();
    line("features", feats.empty() ? "-" : feats);
    line("best level", j["best_isa"].get<std::string>());
    std::string active = j["active_isa"].get<std::string>();
    if (!j["ponder_isa_env"].is_null())
        active += " (PONDER_ISA=" + j["ponder_isa_env"].get<std::string>() + ")";
    line("active level", active);
    if (cpu_features().amx_int8)
        line("amx", j["amx"].get<bool>()
                        ? "on (avx512 level: prompts of Q4_0, Q5_0 and Q8_0 weights)"
                        : "off (PONDER_AMX=0, or the OS refused the tile state)");
    line("threads", std::to_string(j["threads"].get<int>()) + " (the default for -t)");
    const uint64_t llc = j["llc_bytes"].get<uint64_t>();
    line("last-level cache", llc ? std::to_string(llc >> 20) + " MiB" : "-");
}

std::string human_bytes(uint64_t b) {
    char buf[64];
    if (b >= (1ull << 30))
        std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(1ull << 30));
    else if (b >= (1ull << 20))
        std::snprintf(buf, sizeof buf, "%.2f MiB", double(b) / double(1ull << 20));
    else if (b >= 1024)
        std::snprintf(buf, sizeof buf, "%.2f KiB", double(b) / 1024.0);
    else
        std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
    return buf;
}

std::string human_count(uint64_t n) {
    char buf[64];
    if (n >= 1000000000ull)
        std::snprintf(buf, sizeof buf, "%.2fB", double(n) / 1e9);
    else if (n >= 1000000ull)
        std::snprintf(buf, sizeof buf, "%.2fM", double(n) / 1e6);
    else if (n >= 1000ull)
        std::snprintf(buf, sizeof buf, "%.2fK", double(n) / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
    return buf;
}

nlohmann::json to_json(const ModelSummary& s, const GgufFile& f, bool tensors) {
    using nlohmann::json;
    json j;
    j["path"] = s.path;
    j["gguf_version"] = s.gguf_version;
    j["file_size"] = s.file_size;
    j["architecture"] = s.architecture;
    j["name"] = s.name;
    j["n_params"] = s.n_params;
    j["tensor_bytes"] = s.tensor_bytes;
    j["tensor_count"] = f.tensors().size();
    json types = json::object();
    for (const auto& [t, n] : s.type_tensors)
        types[t] = {{"tensors", n}, {"params", s.type_params.at(t)}};
    j["tensor_types"] = types;
    auto opt = [&](const char* k, const auto& v) {
        if (v)
            j[k] = *v;
        else
            j[k] = nullptr;
    };
    opt("context_length", s.context_length);
    opt("embedding_length", s.embedding_length);
    opt("block_count", s.block_count);
    opt("feed_forward_length", s.feed_forward_length);
    opt("head_count", s.head_count);
    opt("head_count_kv", s.head_count_kv);
    opt("key_length", s.key_length);
    opt("value_length", s.value_length);
    opt("rms_epsilon", s.rms_eps);
    json rope;
    rope["freq_base"] = s.rope_freq_base ? json(*s.rope_freq_base) : json(nullptr);
    rope["dimension_count"] =
        s.rope_dimension_count ? json(*s.rope_dimension_count) : json(nullptr);
    rope["scaling_type"] = s.rope_scaling_type;
    rope["scaling_factor"] = s.rope_scaling_factor ? json(*s.rope_scaling_factor) : json(nullptr);
    rope["freqs_tensor"] = s.has_rope_freqs_tensor;
    j["rope"] = rope;
    json vocab;
    vocab["model"] = s.vocab_model;
    vocab["pre"] = s.vocab_pre;
    vocab["size"] = s.vocab_size;
    json specials = json::object();
    for (const auto& t : s.special_tokens) specials[t.role] = {{"id", t.id}, {"text", t.text}};
    vocab["special_tokens"] = specials;
    vocab["add_bos"] = s.add_bos ? json(*s.add_bos) : json(nullptr);
    vocab["add_eos"] = s.add_eos ? json(*s.add_eos) : json(nullptr);
    j["vocab"] = vocab;
    j["chat_template"] = s.has_chat_template;
    if (tensors) {
        json list = json::array();
        for (const auto& t : f.tensors()) {
            json shape = json::array();
            for (uint32_t d = 0; d < t.n_dims; ++d) shape.push_back(t.ne[d]);
            list.push_back({{"name", std::string(t.name)},
                            {"type", std::string(dtype_name(t.type))},
                            {"shape", shape},
                            {"offset", f.data_offset() + t.offset},
                            {"bytes", t.nbytes}});
        }
        j["tensors"] = list;
    }
    return j;
}

// Text from the file with control characters shown as escapes, so a token such as "\n" or a
// hostile name cannot break the layout or drive the terminal.
std::string printable(std::string_view in) {
    std::string out;
    for (char c : in) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (u < 0x20 || u == 0x7f) {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", unsigned(u));
            out += b;
        } else {
            out += c;
        }
    }
    return out;
}

void print_text(const ModelSummary& s, const GgufFile& f, bool tensors) {
    auto line = [](const char* k, const std::string& v) {
        std::printf("%-16s %s\n", k, v.c_str());
    };
    auto num = [](const auto& v) { return v ? std::to_string(*v) : std::string("-"); };
    auto flt = [](const std::optional<double>& v) {
        if (!v) return std::string("-");
        char b[32];
        std::snprintf(b, sizeof b, "%g", *v);
        return std::string(b);
    };
    line("file", printable(s.path) + " (" + human_bytes(s.file_size) + ", GGUF v" +
                     std::to_string(s.gguf_version) + ")");
    line("architecture", s.architecture.empty() ? "-" : printable(s.architecture));
    if (!s.name.empty()) line("name", printable(s.name));
    line("parameters", human_count(s.n_params) + " (" + std::to_string(s.n_params) + ")");
    std::string mix;
    for (const auto& [t, n] : s.type_tensors) {
        if (!mix.empty()) mix += ", ";
        mix += t + " x" + std::to_string(n);
    }
    line("tensor types", mix.empty() ? "-" : mix);
    line("context length", num(s.context_length));
    line("embedding", num(s.embedding_length));
    line("layers", num(s.block_count));
    line("feed-forward", num(s.feed_forward_length));
    line("heads", num(s.head_count) + " (KV heads " + num(s.head_count_kv) + ")");
    if (s.key_length) line("head size", num(s.key_length));
    std::string rope = "base " + flt(s.rope_freq_base);
    if (s.rope_dimension_count) rope += ", dims " + std::to_string(*s.rope_dimension_count);
    if (!s.rope_scaling_type.empty()) rope += ", scaling " + printable(s.rope_scaling_type);
    if (s.rope_scaling_factor) rope += " x" + flt(s.rope_scaling_factor);
    if (s.has_rope_freqs_tensor) rope += ", rope_freqs tensor";
    line("rope", rope);
    line("rms epsilon", flt(s.rms_eps));
    std::string vocab = s.vocab_model.empty() ? "-" : printable(s.vocab_model);
    if (!s.vocab_pre.empty()) vocab += " (pre " + printable(s.vocab_pre) + ")";
    vocab += ", " + std::to_string(s.vocab_size) + " tokens";
    line("vocabulary", vocab);
    std::string sp;
    for (const auto& t : s.special_tokens) {
        if (!sp.empty()) sp += ", ";
        sp += t.role + " " + std::to_string(t.id) + " '" + printable(t.text) + "'";
    }
    line("special tokens", sp.empty() ? "-" : sp);
    line("add bos/eos", std::string(s.add_bos ? (*s.add_bos ? "yes" : "no") : "-") + " / " +
                            (s.add_eos ? (*s.add_eos ? "yes" : "no") : "-"));
    line("chat template", s.has_chat_template ? "yes" : "no");
    if (tensors) {
        std::printf("\n%-40s %-8s %-24s %12s\n", "tensor", "type", "shape", "bytes");
        for (const auto& t : f.tensors())
            std::printf("%-40s %-8s %-24s %12llu\n", printable(t.name).c_str(),
                        std::string(dtype_name(t.type)).c_str(), t.shape_str().c_str(),
                        static_cast<unsigned long long>(t.nbytes));
    }
}

void add_info(CLI::App& app) {
    auto opt = std::make_shared<InfoOptions>();
    auto* cmd = app.add_subcommand("info", "Describe a GGUF model file");
    cmd->add_option("model", opt->model, "GGUF model file or cached model name");
    cmd->add_flag("--tensors", opt->tensors, "List every tensor");
    cmd->add_flag("--json", opt->json, "Print one JSON object");
    cmd->add_flag("--system", opt->system,
                  "Describe this machine: CPU, features, kernel level (MODEL optional)");
    cmd->callback([opt] {
        if (opt->model.empty() && !opt->system) throw CLI::RequiredError("model (or --system)");
        if (opt->system && opt->model.empty()) {
            if (opt->json)
                std::printf("%s\n", system_json().dump(2).c_str());
            else
                print_system();
            return;
        }
        auto f = GgufFile::open(resolve_model_path(opt->model));
        const ModelSummary s = summarize_model(*f);
        if (opt->json) {
            // Strings from the file need not be valid UTF-8: replace bad bytes with U+FFFD
            // rather than fail. With --system the machine is one more member, "system".
            auto j = to_json(s, *f, opt->tensors);
            if (opt->system) j["system"] = system_json();
            std::printf("%s\n",
                        j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        } else {
            print_text(s, *f, opt->tensors);
            if (opt->system) {
                std::printf("\n");
                print_system();
            }
        }
    });
}

const Registrar reg_info("info", 90, add_info);

}  // namespace
}  // namespace ponder::cli
