// HTTP(S) transfers for the model hub, on libcurl: a small text GET (API JSON) and a resumable,
// verified file download.
//
// download_file() contract:
//   - bytes go to `dest + ".partial"`; only a complete, size- and hash-checked file is renamed
//     (atomically, same directory) to `dest`. Nothing else ever writes `dest`.
//   - an existing `.partial` is resumed with an HTTP Range request; a server that ignores the
//     range (200) restarts it from zero; 416 discards it and starts over.
//   - redirects are followed (the hub sends LFS files to a CDN host); the SHA-256 and size come
//     from the request, else the hub's X-Linked-Etag / X-Linked-Size, else a final ETag that is
//     a SHA-256, else the Content-Range / Content-Length of the final answer.
//   - a hash or size mismatch deletes the `.partial` and throws; network loss is retried up to
//     `max_attempts` times (each retry resumes), then throws with a hint to run again.
//   - every failure throws ponder::Error naming `what` (e.g. "owner/repo/file.gguf"): 404,
//     401/403 (mentions HF_TOKEN), disk full (ENOSPC), cancelled, network loss.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace ponder::hub {

struct DownloadProgress {
    uint64_t bytes_done = 0;      // bytes in the .partial file so far (resumed ones included)
    uint64_t bytes_total = 0;     // 0 when the server has not said
    uint64_t resumed_from = 0;    // bytes that were already there when this attempt began
    double bytes_per_second = 0;  // over the current attempt
    double eta_seconds = -1;      // -1 when unknown
    bool done = false;            // the last call, after the final byte
};

// Called about every `progress_interval_s` and once at the end. Returning false cancels the
// download (the .partial file is kept for a later resume).
using ProgressCallback = std::function<bool(const DownloadProgress&)>;

struct DownloadRequest {
    std::string url;
    std::string dest;             // final path; its directory must exist
    std::string what;             // human name for messages, e.g. "owner/repo/file.gguf"
    std::string bearer_token;     // sent as "Authorization: Bearer ..." when not empty
    std::string expected_sha256;  // lowercase hex, or "" to trust the server's headers
    uint64_t expected_size = 0;   // 0 = unknown
    int max_attempts = 3;         // attempts on network loss, each resuming the last
    long connect_timeout_s = 30;
    long stall_timeout_s = 60;   // abort an attempt that moves < 1 byte/s for this long
    long retry_delay_ms = 1000;  // pause before a retry, times the attempt number
    double progress_interval_s = 0.2;
    ProgressCallback progress;  // may be empty
};

struct DownloadResult {
    uint64_t size = 0;
    std::string sha256;           // of the installed file (always computed)
    bool sha256_checked = false;  // true when it was compared with a known digest
    uint64_t resumed_from = 0;    // bytes reused from an earlier .partial (first attempt)
    int attempts = 0;
};

// The path of the in-progress file for `dest`.
std::string partial_path(const std::string& dest);

// Downloads req.url to req.dest as described above; returns what was installed.
DownloadResult download_file(const DownloadRequest& req);

// GETs `url` (following redirects) and returns the body, at most `max_bytes`; throws Error
// naming `what` on any HTTP error status or network failure.
std::string http_get_text(const std::string& url, const std::string& what,
                          const std::string& bearer_token, size_t max_bytes = 64u << 20,
                          long timeout_s = 60);

}  // namespace ponder::hub
