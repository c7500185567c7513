#include "hub/hub_resolver.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "hub/http_download.h"
#include "hub/sha256.h"

namespace ponder::hub {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && lower(s.substr(s.size() - suffix.size())) == suffix;
}

bool valid_repo_part(std::string_view p) {
    if (p.empty() || p.size() > 96 || p == "." || p == "..") return false;
    for (char c : p)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
            return false;
    return true;
}

std::string curated_names() {
    std::string s;
    for (const auto& m : curated_models()) s += (s.empty() ? "" : ", ") + std::string(m.name);
    return s;
}

// "model-00001-of-00003.gguf": one part of a split model.
bool is_split_part(std::string_view name) {
    const std::string n = lower(name);
    const size_t of = n.rfind("-of-");
    return of != std::string::npos && of >= 6 &&
           std::isdigit(static_cast<unsigned char>(n[of - 1]));
}

bool is_model_gguf(std::string_view name) {
    return ends_with_ci(name, ".gguf") && lower(name).find("mmproj") == std::string::npos &&
           !is_split_part(name);
}

bool is_quant_token(const std::string& t) {
    if (t == "F32" || t == "F16" || t == "BF16" || t == "FP16" || t == "FP32") return true;
    size_t i = 0;
    if (t.rfind("IQ", 0) == 0 || t.rfind("TQ", 0) == 0)
        i = 2;
    else if (t.rfind("Q", 0) == 0)
        i = 1;
    else
        return false;
    if (i >= t.size() || !std::isdigit(static_cast<unsigned char>(t[i]))) return false;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
    if (i == t.size()) return true;
    // Then groups "_X..." of letters/digits: Q4_K_M, Q4_0, IQ4_XS.
    if (t[i] != '_') return false;
    for (; i < t.size(); ++i)
        if (!(std::isalnum(static_cast<unsigned char>(t[i])) || t[i] == '_')) return false;
    return true;
}

std::string available_quants(const std::vector<std::string>& names) {
    std::vector<std::string> labels;
    for (const auto& n : names) {
        std::string l = quant_label(n);
        if (l.empty()) l = n;
        if (std::find(labels.begin(), labels.end(), l) == labels.end()) labels.push_back(l);
    }
    std::string s;
    for (const auto& l : labels) s += (s.empty() ? "" : ", ") + l;
    return s.empty() ? "none" : s;
}

}  // namespace

const std::vector<CuratedModel>& curated_models() {
    // Public GGUF repositories (no token needed) with the file each short name pulls.
    static const std::vector<CuratedModel> models = {
        {"qwen3-0.6b", "Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf",
         "Qwen3 0.6B, thinking and non-thinking modes (Q8_0, ~640 MB)"},
        {"qwen3-1.7b", "Qwen/Qwen3-1.7B-GGUF", "Qwen3-1.7B-Q8_0.gguf",
         "Qwen3 1.7B, thinking and non-thinking modes (Q8_0, ~1.8 GB)"},
        {"r1-distill-1.5b", "unsloth/DeepSeek-R1-Distill-Qwen-1.5B-GGUF",
         "DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf",
         "DeepSeek-R1 distilled into Qwen2.5 1.5B (Q4_K_M, ~1.1 GB)"},
        {"llama3.2-1b", "bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
         "Llama 3.2 1B Instruct (Q4_K_M, ~0.8 GB)"},
        {"smollm2-360m", "HuggingFaceTB/SmolLM2-360M-Instruct-GGUF",
         "smollm2-360m-instruct-q8_0.gguf", "SmolLM2 360M Instruct (Q8_0, ~390 MB)"},
    };
    return models;
}

const CuratedModel* find_curated(std::string_view name) {
    const std::string n = lower(name);
    for (const auto& m : curated_models())
        if (n == m.name) return &m;
    return nullptr;
}

ModelRef parse_model_ref(const std::string& text) {
    std::string s = text;
    for (const char* prefix : {"https://huggingface.co/", "http://huggingface.co/",
                               "huggingface.co/", "https://hf.co/", "hf.co/"})
        if (s.rfind(prefix, 0) == 0) {
            s = s.substr(std::string(prefix).size());
            break;
        }
    ModelRef ref;
    const size_t colon = s.find(':');
    std::string base = s.substr(0, colon);
    if (colon != std::string::npos) {
        ref.quant = s.substr(colon + 1);
        if (ref.quant.empty() || ref.quant.find_first_of(":/ ") != std::string::npos)
            fail("bad quant in model name '", text, "': expected NAME:QUANT, e.g. ", base,
                 ":Q4_K_M");
    }
    if (const CuratedModel* c = find_curated(base)) {
        ref.repo = c->repo;
        ref.alias = c->name;
        return ref;
    }
    const size_t slash = base.find('/');
    if (slash == std::string::npos || !valid_repo_part(base.substr(0, slash)) ||
        !valid_repo_part(base.substr(slash + 1)))
        fail("'", text, "' is not a model name: use one of ", curated_names(),
             ", or OWNER/REPO[:QUANT] of a Hugging Face repository with GGUF files");
    ref.repo = base;
    return ref;
}

std::string hub_endpoint() {
    const char* e = std::getenv("PONDER_HF_ENDPOINT");
    std::string s = (e && *e) ? e : "https://huggingface.co";
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
}

std::string hub_token() {
    const char* t = std::getenv("HF_TOKEN");
    return t ? std::string(t) : std::string();
}

std::vector<RepoFile> parse_repo_listing(const std::string& json_text, const std::string& repo) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(json_text);
    } catch (const nlohmann::json::exception& e) {
        fail("the hub's file listing for ", repo, " is not valid JSON: ", e.what());
    }
    if (!j.is_object() || !j.contains("siblings") || !j["siblings"].is_array())
        fail("the hub's file listing for ", repo, " has no 'siblings' array");
    std::vector<RepoFile> files;
    for (const auto& s : j["siblings"]) {
        if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string())
            fail("the hub's file listing for ", repo, " has a sibling without 'rfilename'");
        RepoFile f;
        f.name = s["rfilename"].get<std::string>();
        if (f.name.empty() || f.name.front() == '/' || f.name.find('\\') != std::string::npos ||
            f.name.find('\0') != std::string::npos ||
            ("/" + f.name + "/").find("/../") != std::string::npos ||
            ("/" + f.name + "/").find("/./") != std::string::npos)
            fail("the hub's file listing for ", repo, " has an unsafe file name '", f.name, "'");
        if (s.contains("size") && s["size"].is_number_unsigned()) f.size = s["size"];
        if (s.contains("lfs") && s["lfs"].is_object()) {
            const auto& lfs = s["lfs"];
            if (lfs.contains("sha256") && lfs["sha256"].is_string() &&
                looks_like_sha256(lfs["sha256"].get<std::string>()))
                f.sha256 = lower(lfs["sha256"].get<std::string>());
            if (lfs.contains("size") && lfs["size"].is_number_unsigned()) f.size = lfs["size"];
        }
        files.push_back(std::move(f));
    }
    return files;
}

std::vector<RepoFile> fetch_repo_files(const std::string& endpoint, const std::string& repo,
                                       const std::string& token) {
    const std::string url = endpoint + "/api/models/" + repo + "?blobs=true";
    return parse_repo_listing(http_get_text(url, "repository " + repo, token), repo);
}

std::string quant_label(std::string_view file_name) {
    std::string base(file_name);
    const size_t slash = base.rfind('/');
    if (slash != std::string::npos) base = base.substr(slash + 1);
    if (ends_with_ci(base, ".gguf")) base.resize(base.size() - 5);
    // Tokens separated by '-' or '.', scanned from the end: the label is usually last.
    std::vector<std::string> tokens;
    std::string cur;
    for (char c : base) {
        if (c == '-' || c == '.') {
            tokens.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    tokens.push_back(cur);
    for (auto it = tokens.rbegin(); it != tokens.rend(); ++it) {
        const std::string t = upper(*it);
        if (is_quant_token(t)) return t;
    }
    return "";
}

int default_choice(const std::vector<std::string>& names) {
    static const char* prefs[] = {"Q4_K_M", "Q4_K_S", "Q4_0", "Q5_K_M", "Q5_K_S", "Q8_0",
                                  "Q6_K",   "Q4_1",   "Q5_0", "Q5_1",   "IQ4_XS", "IQ4_NL",
                                  "Q3_K_M", "Q3_K_L", "BF16", "F16",    "F32"};
    for (const char* p : prefs) {
        int best = -1;
        for (size_t i = 0; i < names.size(); ++i)
            if (quant_label(names[i]) == p &&
                (best < 0 || names[i].size() < names[size_t(best)].size()))
                best = int(i);
        if (best >= 0) return best;
    }
    return names.size() == 1 ? 0 : -1;
}

std::vector<size_t> quant_matches(const std::vector<std::string>& names, const std::string& quant) {
    const std::string q = lower(quant);
    std::vector<size_t> exact, partial;
    for (size_t i = 0; i < names.size(); ++i) {
        if (lower(quant_label(names[i])) == q)
            exact.push_back(i);
        else if (lower(names[i]).find(q) != std::string::npos)
            partial.push_back(i);
    }
    return exact.empty() ? partial : exact;
}

RepoFile pick_gguf(const std::vector<RepoFile>& files, const std::string& quant,
                   const std::string& repo) {
    std::vector<RepoFile> ggufs;
    std::vector<std::string> names;
    bool has_split = false;
    for (const auto& f : files) {
        if (is_model_gguf(f.name)) {
            ggufs.push_back(f);
            names.push_back(f.name);
        } else if (ends_with_ci(f.name, ".gguf") && is_split_part(f.name)) {
            has_split = true;
        }
    }
    if (ggufs.empty())
        fail("repository ", repo, " has no single-file GGUF model",
             has_split ? " (only split GGUF parts, which ponder does not load yet)" : "",
             "; pick a repository with .gguf files");
    if (quant.empty()) {
        const int i = default_choice(names);
        if (i < 0)
            fail("repository ", repo, " has several GGUF files and none is an obvious default; ",
                 "choose one with ", repo, ":QUANT (available: ", available_quants(names), ")");
        return ggufs[size_t(i)];
    }
    const auto m = quant_matches(names, quant);
    if (m.empty())
        fail("repository ", repo, " has no GGUF file for quant '", quant,
             "' (available: ", available_quants(names), ")");
    if (m.size() > 1) {
        std::string list;
        for (size_t i : m) list += (list.empty() ? "" : ", ") + names[i];
        fail("quant '", quant, "' matches several files in ", repo, ": ", list,
             "; use a longer quant name");
    }
    return ggufs[m[0]];
}

std::string file_url(const std::string& endpoint, const std::string& repo,
                     const std::string& file) {
    static const char* hex = "0123456789ABCDEF";
    std::string enc;
    for (unsigned char c : file) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            enc += char(c);
        } else {
            enc += '%';
            enc += hex[c >> 4];
            enc += hex[c & 15];
        }
    }
    return endpoint + "/" + repo + "/resolve/main/" + enc;
}

}  // namespace ponder::hub
