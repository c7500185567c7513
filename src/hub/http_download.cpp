#include "hub/http_download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.h"
#include "hub/sha256.h"

namespace ponder::hub {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(std::string_view s) {
    size_t a = 0, b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
    return std::string(s.substr(a, b - a));
}

// An ETag value without weak prefix and quotes: W/"abc" -> abc.
std::string strip_etag(std::string v) {
    v = trim(v);
    if (v.rfind("W/", 0) == 0) v = v.substr(2);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
}

bool parse_u64(const std::string& s, uint64_t& out) {
    if (s.empty() || s.size() > 19) return false;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + uint64_t(c - '0');
    }
    out = v;
    return true;
}

// Headers of one HTTP answer in a redirect chain.
struct Answer {
    long status = 0;
    std::string etag, content_range, linked_etag;
    uint64_t content_length = 0, linked_size = 0;
    bool has_content_length = false;
};

// Everything the curl callbacks share for one request.
struct Transfer {
    std::vector<Answer> answers;  // one per status line, in order
    Answer& cur() { return answers.back(); }

    // Body handling: either into a file (download) or a string (text GET / error bodies).
    FILE* file = nullptr;
    Sha256* hasher = nullptr;
    uint64_t offset = 0;   // bytes already in the file when the body started
    uint64_t written = 0;  // body bytes written in this attempt
    bool body_started = false;
    bool restart_from_zero = false;  // the server ignored our Range: file was truncated
    bool bad_range = false;          // 206 at an offset we did not ask for
    int write_errno = 0;
    std::string text;
    size_t text_limit = 0;
    bool text_overflow = false;

    // Progress.
    const DownloadRequest* req = nullptr;
    uint64_t total = 0;
    Clock::time_point start = Clock::now();
    Clock::time_point last_report{};
    bool cancelled = false;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t len = size * n;
    std::string line(data, len);
    if (line.rfind("HTTP/", 0) == 0) {
        Answer a;
        const size_t sp = line.find(' ');
        if (sp != std::string::npos) a.status = std::strtol(line.c_str() + sp + 1, nullptr, 10);
        t->answers.push_back(a);
        return len;
    }
    if (t->answers.empty()) return len;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) return len;
    const std::string key = lower(trim(line.substr(0, colon)));
    const std::string value = trim(line.substr(colon + 1));
    Answer& a = t->cur();
    if (key == "etag") {
        a.etag = strip_etag(value);
    } else if (key == "x-linked-etag") {
        a.linked_etag = strip_etag(value);
    } else if (key == "x-linked-size") {
        parse_u64(value, a.linked_size);
    } else if (key == "content-length") {
        a.has_content_length = parse_u64(value, a.content_length);
    } else if (key == "content-range") {
        a.content_range = value;
    }
    return len;
}

// "bytes START-END/TOTAL" -> start, total (total 0 when '*').
bool parse_content_range(const std::string& v, uint64_t& start, uint64_t& total) {
    if (v.rfind("bytes ", 0) != 0) return false;
    const size_t dash = v.find('-', 6), slash = v.find('/', 6);
    if (dash == std::string::npos || slash == std::string::npos || dash > slash) return false;
    if (!parse_u64(v.substr(6, dash - 6), start)) return false;
    const std::string tot = v.substr(slash + 1);
    total = 0;
    return tot == "*" || parse_u64(tot, total);
}

void report(Transfer& t, bool done) {
    if (!t.req || !t.req->progress) return;
    const auto now = Clock::now();
    if (!done && now - t.last_report < std::chrono::duration<double>(t.req->progress_interval_s))
        return;
    t.last_report = now;
    DownloadProgress p;
    p.bytes_done = t.offset + t.written;
    p.bytes_total = t.total;
    p.resumed_from = t.offset;
    const double secs = std::chrono::duration<double>(now - t.start).count();
    p.bytes_per_second = secs > 0 ? double(t.written) / secs : 0;
    if (t.total > p.bytes_done && p.bytes_per_second > 0)
        p.eta_seconds = double(t.total - p.bytes_done) / p.bytes_per_second;
    else if (t.total != 0 && t.total <= p.bytes_done)
        p.eta_seconds = 0;
    p.done = done;
    if (!t.req->progress(p)) t.cancelled = true;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t len = size * n;
    const long status = t->answers.empty() ? 0 : t->cur().status;
    if (!t->file || status < 200 || status >= 300) {
        // Text mode, or an error page: keep (a bounded amount of) it for the message.
        const size_t room = t->text_limit > t->text.size() ? t->text_limit - t->text.size() : 0;
        if (len > room) t->text_overflow = true;
        t->text.append(data, std::min(len, room));
        return (t->file || !t->text_overflow) ? len : 0;
    }
    if (!t->body_started) {
        t->body_started = true;
        if (status == 206) {
            uint64_t start = 0, total = 0;
            if (!parse_content_range(t->cur().content_range, start, total) || start != t->offset) {
                t->bad_range = true;
                return 0;
            }
        } else if (t->offset > 0) {
            // The server sent the whole file: start the partial file over.
            if (std::fflush(t->file) != 0 || ftruncate(fileno(t->file), 0) != 0 ||
                std::fseek(t->file, 0, SEEK_SET) != 0) {
                t->write_errno = errno;
                return 0;
            }
            *t->hasher = Sha256();
            t->offset = 0;
            t->restart_from_zero = true;
        }
    }
    if (std::fwrite(data, 1, len, t->file) != len) {
        t->write_errno = errno ? errno : EIO;
        return 0;
    }
    t->hasher->update(data, len);
    t->written += len;
    return len;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* t = static_cast<Transfer*>(user);
    report(*t, false);
    return t->cancelled ? 1 : 0;
}

struct CurlDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
    void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

// A handle configured with what every hub request needs.
std::unique_ptr<CURL, CurlDeleter> make_handle(const std::string& url, const std::string& token,
                                               long connect_timeout_s, Transfer& t,
                                               std::unique_ptr<curl_slist, SlistDeleter>& hdrs,
                                               char* errbuf) {
    global_init();
    std::unique_ptr<CURL, CurlDeleter> h(curl_easy_init());
    if (!h) fail("cannot initialise libcurl");
    CURL* c = h.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ponder/0.1");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    if (!token.empty()) {
        // curl sends a custom Authorization header only to the original host, so a redirect
        // to the CDN does not leak the token.
        const std::string auth = "Authorization: Bearer " + token;
        hdrs.reset(curl_slist_append(nullptr, auth.c_str()));
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs.get());
    }
    return h;
}

// The message for an HTTP error status; `what` names the repo/file.
[[noreturn]] void fail_http(long status, const std::string& what, const std::string& url,
                            bool have_token, const std::string& body) {
    if (status == 404)
        fail("not found (HTTP 404): ", what, " does not exist on the hub (", url,
             "); check the repository and file name");
    if (status == 401 || status == 403) {
        if (have_token)
            fail("access denied (HTTP ", status, ") to ", what,
                 ": the token in HF_TOKEN was rejected or has no access to this repository "
                 "(gated repositories must be accepted on the website first)");
        fail("access denied (HTTP ", status, ") to ", what,
             ": the repository is gated or private; set HF_TOKEN to a Hugging Face access "
             "token that can read it");
    }
    std::string snippet = body.substr(0, 200);
    for (char& ch : snippet)
        if (ch == '\n' || ch == '\r') ch = ' ';
    fail("HTTP ", status, " from ", url, " for ", what, snippet.empty() ? "" : ": ", snippet);
}

bool is_network_error(CURLcode rc) {
    switch (rc) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
            return true;
        default:
            return false;
    }
}

std::string curl_message(CURLcode rc, const char* errbuf) {
    std::string m = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return m;
}

// Outcome of one attempt that did not throw.
enum class Attempt { Complete, Retry };

uint64_t file_size_or_zero(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    return uint64_t(st.st_size);
}

}  // namespace

std::string partial_path(const std::string& dest) {
    return dest + ".partial";
}

std::string http_get_text(const std::string& url, const std::string& what,
                          const std::string& bearer_token, size_t max_bytes, long timeout_s) {
    Transfer t;
    t.text_limit = max_bytes;
    char errbuf[CURL_ERROR_SIZE] = {0};
    std::unique_ptr<curl_slist, SlistDeleter> hdrs;
    auto h = make_handle(url, bearer_token, std::min(timeout_s, 30L), t, hdrs, errbuf);
    curl_easy_setopt(h.get(), CURLOPT_TIMEOUT, timeout_s);
    const CURLcode rc = curl_easy_perform(h.get());
    const long status = t.answers.empty() ? 0 : t.cur().status;
    if (rc == CURLE_WRITE_ERROR && t.text_overflow)
        fail("answer from ", url, " is larger than ", max_bytes, " bytes");
    if (rc != CURLE_OK)
        fail("network error fetching ", what, " from ", url, ": ", curl_message(rc, errbuf),
             " (check the connection, or PONDER_HF_ENDPOINT)");
    if (status < 200 || status >= 300) fail_http(status, what, url, !bearer_token.empty(), t.text);
    return t.text;
}

DownloadResult download_file(const DownloadRequest& req) {
    const std::string part = partial_path(req.dest);
    DownloadResult result;
    const int max_attempts = std::max(1, req.max_attempts);
    std::string last_error;
    for (int attempt = 1; attempt <= max_attempts; ++attempt) {
        result.attempts = attempt;
        if (attempt > 1 && req.retry_delay_ms > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(req.retry_delay_ms * attempt));

        // Reopen the partial file and hash what it already holds.
        const uint64_t have = file_size_or_zero(part);
        std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(part.c_str(), "ab"), &std::fclose);
        if (!file)
            fail("cannot write ", part, ": ", std::strerror(errno),
                 " (check that the cache directory is writable; see PONDER_HOME)");
        Sha256 hasher;
        if (have > 0) {
            std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(part.c_str(), "rb"), &std::fclose);
            if (!in) fail("cannot read ", part, ": ", std::strerror(errno));
            std::vector<char> buf(1 << 20);
            uint64_t left = have;
            while (left > 0) {
                const size_t want = size_t(std::min<uint64_t>(left, buf.size()));
                const size_t got = std::fread(buf.data(), 1, want, in.get());
                if (got == 0) fail("read error in ", part, " while resuming");
                hasher.update(buf.data(), got);
                left -= got;
            }
        }
        if (attempt == 1) result.resumed_from = have;

        Transfer t;
        t.file = file.get();
        t.hasher = &hasher;
        t.offset = have;
        t.text_limit = 4096;
        t.req = &req;
        t.total = req.expected_size;
        char errbuf[CURL_ERROR_SIZE] = {0};
        std::unique_ptr<curl_slist, SlistDeleter> hdrs;
        auto h = make_handle(req.url, req.bearer_token, req.connect_timeout_s, t, hdrs, errbuf);
        CURL* c = h.get();
        const std::string range = std::to_string(have) + "-";
        if (have > 0) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, req.stall_timeout_s);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
        const CURLcode rc = curl_easy_perform(c);
        const int flush_rc = std::fflush(file.get());
        const int flush_errno = errno;
        const long status = t.answers.empty() ? 0 : t.cur().status;
        const uint64_t now_have = t.offset + t.written;

        if (t.write_errno != 0 || (rc == CURLE_OK && flush_rc != 0)) {
            const int e = t.write_errno ? t.write_errno : flush_errno;
            if (e == ENOSPC || e == EDQUOT)
                fail("disk full (", e == ENOSPC ? "ENOSPC" : "EDQUOT", ") while writing ", part,
                     " for ", req.what, ": free some space and run the same command again; ",
                     "the download resumes from the ", now_have, " bytes already saved");
            fail("cannot write ", part, ": ", std::strerror(e));
        }
        if (rc == CURLE_ABORTED_BY_CALLBACK || t.cancelled)
            fail("download of ", req.what, " cancelled at ", now_have, " of ",
                 t.total ? std::to_string(t.total) : std::string("?"),
                 " bytes; run the same command again to resume");
        if (t.bad_range) {
            // The server answered a range we did not ask for: drop what we have, start over.
            file.reset();
            fs::remove(part);
            last_error = "server answered an unexpected byte range";
            continue;
        }
        if (rc != CURLE_OK) {
            last_error = curl_message(rc, errbuf);
            if (is_network_error(rc)) continue;
            fail("download of ", req.what, " failed: ", last_error);
        }
        if (status == 416) {
            file.reset();
            fs::remove(part);
            last_error = "server refused to resume (HTTP 416)";
            continue;
        }
        if (status >= 500) {
            last_error = "server error (HTTP " + std::to_string(status) + ")";
            continue;
        }
        if (status < 200 || status >= 300)
            fail_http(status, req.what, req.url, !req.bearer_token.empty(), t.text);

        // Complete: decide the expected size and digest, then verify.
        uint64_t expect_size = req.expected_size;
        std::string expect_sha = lower(req.expected_sha256);
        const Answer& fin = t.cur();
        for (const Answer& a : t.answers) {
            if (!expect_size && a.linked_size) expect_size = a.linked_size;
            if (expect_sha.empty() && looks_like_sha256(a.linked_etag))
                expect_sha = lower(a.linked_etag);
        }
        if (expect_sha.empty() && looks_like_sha256(fin.etag)) expect_sha = lower(fin.etag);
        if (!expect_size) {
            uint64_t start = 0, total = 0;
            if (status == 206 && parse_content_range(fin.content_range, start, total))
                expect_size = total;
            else if (status == 200 && fin.has_content_length)
                expect_size = fin.content_length;
        }
        if (fsync(fileno(file.get())) != 0 && errno == ENOSPC)
            fail("disk full (ENOSPC) while writing ", part, " for ", req.what);
        file.reset();
        const uint64_t size = file_size_or_zero(part);
        if (expect_size && size != expect_size) {
            if (size < expect_size) {
                last_error = "connection ended early (" + std::to_string(size) + " of " +
                             std::to_string(expect_size) + " bytes)";
                continue;
            }
            fs::remove(part);
            fail("download of ", req.what, " is ", size, " bytes but the server announced ",
                 expect_size, "; the file was discarded, run the command again");
        }
        const std::string got_sha = hasher.finish_hex();
        if (!expect_sha.empty() && got_sha != expect_sha) {
            fs::remove(part);
            fail("download of ", req.what, " is corrupted: SHA-256 ", got_sha, " but expected ",
                 expect_sha, "; the file was discarded, run the command again");
        }
        std::error_code ec;
        fs::rename(part, req.dest, ec);
        if (ec) fail("cannot move ", part, " to ", req.dest, ": ", ec.message());
        t.written = size - t.offset;
        t.total = size;
        report(t, true);
        result.size = size;
        result.sha256 = got_sha;
        result.sha256_checked = !expect_sha.empty();
        return result;
    }
    const uint64_t kept = file_size_or_zero(part);
    fail("network error downloading ", req.what, ": ", last_error, " (after ", max_attempts,
         " attempt", max_attempts == 1 ? "" : "s", "); ", kept, " bytes are kept in ", part,
         ", run the same command again to resume");
}

}  // namespace ponder::hub
