// From a model name to a file on the hub: curated short names, REPO[:QUANT] parsing, the
// repository file listing (GET {endpoint}/api/models/{repo}?blobs=true) and the choice of one
// GGUF file in it. Only fetch_repo_files() touches the network.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ponder::hub {

// A short name for a known public GGUF repository and its default file.
struct CuratedModel {
    const char* name;   // e.g. "qwen3-0.6b"
    const char* repo;   // "owner/name" on the hub
    const char* file;   // the file pulled when no quant is given
    const char* about;  // one line for help texts
};

// The curated list, in the order shown to users.
const std::vector<CuratedModel>& curated_models();
// The entry whose name equals `name` (case-insensitive), or nullptr.
const CuratedModel* find_curated(std::string_view name);

// A parsed model name. `alias` is set when the name was a curated short name.
struct ModelRef {
    std::string repo;   // "owner/name"
    std::string quant;  // "" when none was given
    std::string alias;  // curated short name, or ""
};

// Parses "short-name[:QUANT]" or "owner/repo[:QUANT]" (an "https://huggingface.co/" or "hf.co/"
// prefix is accepted). Throws Error for anything else, listing the short names.
ModelRef parse_model_ref(const std::string& text);

// PONDER_HF_ENDPOINT without a trailing slash, default "https://huggingface.co".
std::string hub_endpoint();
// HF_TOKEN, or "".
std::string hub_token();

// One file of a repository listing. size/sha256 are 0/"" when the listing does not say.
struct RepoFile {
    std::string name;  // path inside the repository ("x.gguf" or "dir/x.gguf")
    uint64_t size = 0;
    std::string sha256;  // lowercase hex (LFS files only)
};

// Parses the hub's model-info JSON (`siblings[].rfilename`, optional `size`, `lfs.sha256`).
// Throws Error naming `repo` when the text is not such a document. Unsafe file names (absolute,
// "..", backslashes) are rejected with an Error.
std::vector<RepoFile> parse_repo_listing(const std::string& json_text, const std::string& repo);

// GETs and parses the listing of `repo` from `endpoint` (network).
std::vector<RepoFile> fetch_repo_files(const std::string& endpoint, const std::string& repo,
                                       const std::string& token);

// The quantization label in a GGUF file name, upper-cased ("Qwen3-0.6B-Q8_0.gguf" -> "Q8_0",
// "x-bf16.gguf" -> "BF16"), or "" when none is recognised.
std::string quant_label(std::string_view file_name);

// Index into `names` of the default choice among GGUF file names (Q4_K_M first, then Q4_K_S,
// Q4_0, Q5_K_M, Q8_0, ...; a lone file is its own default), or -1 when there is no clear one.
int default_choice(const std::vector<std::string>& names);

// Indices into `names` that match `quant` (case-insensitive substring; names whose label equals
// it exactly win over mere substrings).
std::vector<size_t> quant_matches(const std::vector<std::string>& names, const std::string& quant);

// Picks the GGUF file for `quant` ("" = default) among a repository's files. Split GGUF parts
// and mmproj files are never picked. Throws Error listing the available quants when nothing
// or more than one file matches.
RepoFile pick_gguf(const std::vector<RepoFile>& files, const std::string& quant,
                   const std::string& repo);

// {endpoint}/{repo}/resolve/main/{file}, with the file path percent-encoded.
std::string file_url(const std::string& endpoint, const std::string& repo, const std::string& file);

}  // namespace ponder::hub
