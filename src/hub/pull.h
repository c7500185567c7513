// `ponder pull`: resolve a model name on the hub, download it into the cache, record it.
#pragma once
#include <functional>
#include <string>

#include "hub/http_download.h"
#include "hub/model_cache.h"

namespace ponder::hub {

struct PullOptions {
    std::string quant;     // overrides/adds ":QUANT"; "" = from the name or the default
    bool force = false;    // download again even when cached (and drop any .partial)
    std::string endpoint;  // "" = hub_endpoint()
    std::string token;     // "" = hub_token()
    std::string home;      // "" = ModelCache::default_home()
    ProgressCallback progress;
    int max_attempts = 3;
    long retry_delay_ms = 1000;
    long stall_timeout_s = 60;
    std::function<void(const std::string&)> log;  // one-line status messages; may be empty
};

struct PullResult {
    CachedModel model;
    bool already_cached = false;  // nothing was downloaded
    DownloadResult download;      // meaningful when !already_cached
};

// Pulls `name` (see parse_model_ref). A curated short name without a quant downloads its listed
// file directly; anything else reads the repository listing to pick the file and learn its
// size and SHA-256. Only one pull of a given file runs at a time (a lock file beside it).
PullResult pull_model(const std::string& name, const PullOptions& opts);

}  // namespace ponder::hub
