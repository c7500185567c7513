#include "hub/model_cache.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/error.h"
#include "hub/hub_resolver.h"

namespace ponder::hub {
namespace fs = std::filesystem;
namespace {

constexpr const char* kManifestSuffix = ".manifest.json";

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string base_name(const std::string& p) {
    const size_t s = p.rfind('/');
    return s == std::string::npos ? p : p.substr(s + 1);
}

// Reads one manifest; false when it is unreadable, malformed or its model file is missing,
// has another size, or is a .partial.
bool read_manifest(const fs::path& manifest, CachedModel& m) {
    const std::string mp = manifest.string();
    const std::string model = mp.substr(0, mp.size() - std::string(kManifestSuffix).size());
    if (ends_with(model, ".partial")) return false;
    std::ifstream in(manifest);
    if (!in) return false;
    nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return false;
    auto str = [&](const char* k) {
        return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
    };
    m.repo = str("repo");
    m.file = str("file");
    m.alias = str("alias");
    m.sha256 = str("sha256");
    m.downloaded_at = str("downloaded_at");
    m.source_url = str("url");
    m.sha256_checked = j.contains("sha256_checked") && j["sha256_checked"].is_boolean() &&
                       j["sha256_checked"].get<bool>();
    if (!j.contains("size") || !j["size"].is_number_unsigned()) return false;
    m.size = j["size"].get<uint64_t>();
    if (m.repo.empty() || m.file.empty()) return false;
    m.quant = quant_label(m.file);
    m.path = model;
    std::error_code ec;
    if (!fs::is_regular_file(model, ec)) return false;
    const auto sz = fs::file_size(model, ec);
    return !ec && sz == m.size;
}

}  // namespace

std::string CachedModel::display_name() const {
    if (!alias.empty()) return alias;
    if (!quant.empty()) return repo + ":" + quant;
    return repo + "/" + file;
}

ModelCache::ModelCache(std::string home) : home_(std::move(home)) {
    while (home_.size() > 1 && home_.back() == '/') home_.pop_back();
}

std::string ModelCache::default_home() {
    if (const char* p = std::getenv("PONDER_HOME"); p && *p) return p;
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/ponder";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/ponder";
    fail("cannot find a cache directory: set PONDER_HOME (or HOME)");
}

std::string ModelCache::model_path(const std::string& repo, const std::string& file) const {
    return home_ + "/models/" + repo + "/" + file;
}

std::string ModelCache::manifest_path(const std::string& model_path) {
    return model_path + kManifestSuffix;
}

std::vector<CachedModel> ModelCache::list() const {
    std::vector<CachedModel> out;
    const fs::path root = fs::path(home_) / "models";
    std::error_code ec;
    if (!fs::is_directory(root, ec)) return out;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const std::string p = it->path().string();
        if (!ends_with(p, kManifestSuffix) || !it->is_regular_file(ec)) continue;
        CachedModel m;
        if (read_manifest(it->path(), m)) out.push_back(std::move(m));
    }
    std::sort(out.begin(), out.end(), [](const CachedModel& a, const CachedModel& b) {
        return a.display_name() < b.display_name();
    });
    return out;
}

bool ModelCache::lookup(const std::string& repo, const std::string& file, CachedModel& out) const {
    const std::string mp = manifest_path(model_path(repo, file));
    std::error_code ec;
    if (!fs::is_regular_file(mp, ec)) return false;
    return read_manifest(mp, out);
}

void ModelCache::record(const CachedModel& m) const {
    nlohmann::json j = {{"repo", m.repo},
                        {"file", m.file},
                        {"alias", m.alias},
                        {"size", m.size},
                        {"sha256", m.sha256},
                        {"sha256_checked", m.sha256_checked},
                        {"downloaded_at", m.downloaded_at},
                        {"url", m.source_url}};
    const std::string mp = manifest_path(m.path);
    const std::string tmp = mp + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << j.dump(2) << "\n";
        out.flush();
        if (!out) fail("cannot write ", tmp, " (disk full or not writable?)");
    }
    std::error_code ec;
    fs::rename(tmp, mp, ec);
    if (ec) fail("cannot move ", tmp, " to ", mp, ": ", ec.message());
}

void ModelCache::remove(const CachedModel& m) const {
    std::error_code ec;
    // The manifest goes first: from then on the model is no longer "cached".
    fs::remove(manifest_path(m.path), ec);
    if (ec) fail("cannot remove ", manifest_path(m.path), ": ", ec.message());
    fs::remove(m.path, ec);
    if (ec) fail("cannot remove ", m.path, ": ", ec.message());
    fs::remove(m.path + ".partial", ec);
    // Prune empty directories up to models/.
    const fs::path root = fs::path(home_) / "models";
    for (fs::path d = fs::path(m.path).parent_path(); d != root && d.has_parent_path();
         d = d.parent_path()) {
        if (!fs::is_directory(d, ec) || !fs::is_empty(d, ec)) break;
        if (!fs::remove(d, ec)) break;
    }
}

std::vector<CachedModel> ModelCache::find(const std::string& name) const {
    const std::vector<CachedModel> all = list();
    if (all.empty() || name.empty()) return {};
    const std::string n = lower(name);

    // A file name (or the tail of a path inside the repo).
    std::vector<CachedModel> by_file;
    for (const auto& m : all)
        if (lower(m.file) == n || lower(base_name(m.file)) == n) by_file.push_back(m);
    if (!by_file.empty()) return by_file;

    // A curated alias or a repo, with an optional quant.
    const size_t colon = n.find(':');
    const std::string base = n.substr(0, colon);
    const std::string quant = colon == std::string::npos ? "" : n.substr(colon + 1);
    std::string repo = base;
    std::string alias;
    if (const CuratedModel* c = find_curated(base)) {
        repo = lower(c->repo);
        alias = c->name;
    }
    std::vector<CachedModel> in_repo;
    for (const auto& m : all)
        if (lower(m.repo) == repo) in_repo.push_back(m);
    if (in_repo.empty()) return {};
    std::vector<std::string> files;
    for (const auto& m : in_repo) files.push_back(m.file);
    if (!quant.empty()) {
        std::vector<CachedModel> out;
        for (size_t i : quant_matches(files, quant)) out.push_back(in_repo[i]);
        return out;
    }
    if (!alias.empty()) {
        // The file pulled under this alias, then the curated default file.
        for (const auto& m : in_repo)
            if (m.alias == alias) return {m};
        for (const auto& m : in_repo)
            if (lower(m.file) == lower(find_curated(alias)->file)) return {m};
    }
    if (in_repo.size() == 1) return in_repo;
    const int i = default_choice(files);
    if (i >= 0) return {in_repo[size_t(i)]};
    return in_repo;
}

}  // namespace ponder::hub
