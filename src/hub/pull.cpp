#include "hub/pull.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "core/error.h"
#include "hub/hub_resolver.h"

namespace ponder::hub {
namespace fs = std::filesystem;
namespace {

std::string utc_now_iso() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// An exclusive advisory lock on `path` for the lifetime of the object.
class FileLock {
  public:
    FileLock(const std::string& path, const std::string& what) {
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) fail("cannot create lock file ", path, ": ", std::strerror(errno));
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            ::close(fd_);
            fail("another `ponder pull` is already downloading ", what, "; wait for it to finish");
        }
        path_ = path;
    }
    ~FileLock() {
        ::unlink(path_.c_str());
        ::close(fd_);
    }
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

  private:
    int fd_ = -1;
    std::string path_;
};

}  // namespace

PullResult pull_model(const std::string& name, const PullOptions& opts) {
    auto log = [&](const std::string& s) {
        if (opts.log) opts.log(s);
    };
    ModelRef ref = parse_model_ref(name);
    if (!opts.quant.empty()) {
        if (!ref.quant.empty() && ref.quant != opts.quant)
            fail("two different quants given: '", ref.quant, "' in the name and '", opts.quant,
                 "' with --quant");
        ref.quant = opts.quant;
    }
    const std::string endpoint = opts.endpoint.empty() ? hub_endpoint() : opts.endpoint;
    const std::string token = opts.token.empty() ? hub_token() : opts.token;
    const ModelCache cache(opts.home.empty() ? ModelCache::default_home() : opts.home);

    RepoFile file;
    const CuratedModel* curated = ref.alias.empty() ? nullptr : find_curated(ref.alias);
    if (curated && ref.quant.empty()) {
        file.name = curated->file;
    } else {
        log("listing " + ref.repo + " on " + endpoint);
        file = pick_gguf(fetch_repo_files(endpoint, ref.repo, token), ref.quant, ref.repo);
    }

    PullResult result;
    const std::string dest = cache.model_path(ref.repo, file.name);
    if (!opts.force && cache.lookup(ref.repo, file.name, result.model)) {
        if (!ref.alias.empty() && result.model.alias.empty()) {
            result.model.alias = ref.alias;
            cache.record(result.model);
        }
        result.already_cached = true;
        return result;
    }
    std::error_code ec;
    fs::create_directories(fs::path(dest).parent_path(), ec);
    if (ec) fail("cannot create ", fs::path(dest).parent_path().string(), ": ", ec.message());
    const std::string what = ref.repo + "/" + file.name;
    FileLock lock(dest + ".lock", what);
    if (opts.force) {
        fs::remove(ModelCache::manifest_path(dest), ec);
        fs::remove(partial_path(dest), ec);
    }

    DownloadRequest req;
    req.url = file_url(endpoint, ref.repo, file.name);
    req.dest = dest;
    req.what = what;
    req.bearer_token = token;
    req.expected_sha256 = file.sha256;
    req.expected_size = file.size;
    req.max_attempts = opts.max_attempts;
    req.retry_delay_ms = opts.retry_delay_ms;
    req.stall_timeout_s = opts.stall_timeout_s;
    req.progress = opts.progress;
    log("downloading " + req.url);
    result.download = download_file(req);

    CachedModel& m = result.model;
    m.alias = ref.alias;
    m.repo = ref.repo;
    m.file = file.name;
    m.quant = quant_label(file.name);
    m.path = dest;
    m.size = result.download.size;
    m.sha256 = result.download.sha256;
    m.sha256_checked = result.download.sha256_checked;
    m.downloaded_at = utc_now_iso();
    m.source_url = req.url;
    cache.record(m);
    return result;
}

}  // namespace ponder::hub
