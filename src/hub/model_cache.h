// The local model cache. Layout under the cache home ($PONDER_HOME, default ~/.cache/ponder):
//
//   models/<owner>/<repo>/<file>.gguf                 the model, only ever renamed in complete
//   models/<owner>/<repo>/<file>.gguf.manifest.json   {repo, file, alias, size, sha256, ...}
//   models/<owner>/<repo>/<file>.gguf.partial         a download in progress (never listed)
//
// A model is "cached" only when its manifest parses and its file exists with the recorded size;
// the manifest is written (atomically) after the model file is in place, so an interrupted
// download or a stray file is never listed or resolved. Nothing here touches the network.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ponder::hub {

struct CachedModel {
    std::string alias;            // curated short name it was pulled as, or ""
    std::string repo;             // "owner/name"
    std::string file;             // path of the file inside the repository
    std::string quant;            // quant_label(file), "" if none
    std::string path;             // where the model file is
    uint64_t size = 0;            // bytes
    std::string sha256;           // lowercase hex of the file
    bool sha256_checked = false;  // the digest was compared with the server's
    std::string downloaded_at;    // ISO 8601 UTC
    std::string source_url;
    // "alias" when set, else "repo:QUANT" (or "repo/file" without a recognised quant).
    std::string display_name() const;
};

class ModelCache {
  public:
    explicit ModelCache(std::string home);
    // $PONDER_HOME, else $XDG_CACHE_HOME/ponder, else $HOME/.cache/ponder.
    static std::string default_home();

    const std::string& home() const { return home_; }
    // Where the model `file` of `repo` lives (directories are not created).
    std::string model_path(const std::string& repo, const std::string& file) const;
    static std::string manifest_path(const std::string& model_path);

    // Every valid cached model, sorted by display name.
    std::vector<CachedModel> list() const;
    // The cached entry for repo/file, if valid.
    bool lookup(const std::string& repo, const std::string& file, CachedModel& out) const;
    // Records `m` (whose file is already at m.path) by writing its manifest atomically.
    void record(const CachedModel& m) const;
    // Deletes the model file, its manifest and any .partial; prunes empty directories.
    void remove(const CachedModel& m) const;

    // Cached models that `name` designates: a curated short name (optionally ":QUANT"),
    // "owner/repo", "owner/repo:QUANT" or a file name. For a repo with several cached files the
    // default quant wins. Case-insensitive. Empty when nothing matches; more than one entry only
    // when the name is ambiguous.
    std::vector<CachedModel> find(const std::string& name) const;

  private:
    std::string home_;
};

}  // namespace ponder::hub
