// A loopback HTTP server that answers like the Hugging Face hub, for the hub tests. Plain POSIX
// sockets on 127.0.0.1 (port chosen by the kernel), one thread, one request per connection
// (every answer says "Connection: close"). It never talks to anything but its own clients.
//
//   GET /api/models/OWNER/NAME[?...]      model info JSON: siblings[].rfilename, size, lfs.sha256
//   GET /OWNER/NAME/resolve/main/FILE     LFS file: 302 to /cdn/SHA with X-Linked-Etag (sha256),
//                                         X-Linked-Size, ETag; plain file: 200 with the bytes
//   GET /cdn/SHA                          the bytes; honours "Range: bytes=N-" (206 +
//                                         Content-Range, 416 past the end)
// Gated repos answer 401 unless "Authorization: Bearer <token>" matches. Faults can be armed per
// file: cut the connection after N body bytes (for the next K requests), serve corrupted bytes,
// ignore Range headers.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hub/sha256.h"

namespace ponder::test {

struct FakeFile {
    std::string content;
    bool lfs = true;  // LFS files are redirected to the CDN and carry a sha256
    // Faults.
    size_t cut_after = 0;  // with cuts_left > 0: close after this many body bytes
    int cuts_left = 0;
    bool corrupt = false;       // flip one byte of what is served (headers stay truthful)
    bool ignore_range = false;  // answer 200 with everything even when a Range is asked
};

struct FakeRepo {
    std::map<std::string, FakeFile> files;
    bool gated = false;
};

struct SeenRequest {
    std::string path;
    std::map<std::string, std::string> headers;  // lower-case names
    int status = 0;
};

class FakeHub {
  public:
    std::string token = "hf_test_token";

    FakeHub() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) throw std::runtime_error("socket");
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0)
            throw std::runtime_error("bind/listen on 127.0.0.1");
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeHub() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    FakeHub(const FakeHub&) = delete;
    FakeHub& operator=(const FakeHub&) = delete;

    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

    // Adds (or replaces) a file; returns its sha256.
    std::string add(const std::string& repo, const std::string& file, std::string content,
                    bool lfs = true) {
        std::lock_guard<std::mutex> l(mu_);
        FakeFile f;
        f.content = std::move(content);
        f.lfs = lfs;
        repos_[repo].files[file] = f;
        return hub::sha256_hex(repos_[repo].files[file].content);
    }
    void set_gated(const std::string& repo, bool gated) {
        std::lock_guard<std::mutex> l(mu_);
        repos_[repo].gated = gated;
    }
    // Runs `fn` on the file under the lock (to arm faults).
    template <typename Fn>
    void with_file(const std::string& repo, const std::string& file, Fn fn) {
        std::lock_guard<std::mutex> l(mu_);
        fn(repos_.at(repo).files.at(file));
    }
    std::vector<SeenRequest> requests() const {
        std::lock_guard<std::mutex> l(mu_);
        return seen_;
    }
    void clear_requests() {
        std::lock_guard<std::mutex> l(mu_);
        seen_.clear();
    }

  private:
    void serve() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) continue;
            timeval tv{2, 0};
            ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            handle(c);
            ::close(c);
        }
    }

    static void send_all(int c, const std::string& s) {
        size_t off = 0;
        while (off < s.size()) {
            const ssize_t n = ::send(c, s.data() + off, s.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return;
            off += size_t(n);
        }
    }

    static std::string head(int status, const std::string& reason,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            size_t content_length) {
        std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
        for (const auto& [k, v] : headers) h += k + ": " + v + "\r\n";
        h += "Content-Length: " + std::to_string(content_length) + "\r\nConnection: close\r\n\r\n";
        return h;
    }

    void respond(int c, SeenRequest& r, int status, const std::string& reason,
                 const std::string& body,
                 std::vector<std::pair<std::string, std::string>> headers = {}) {
        r.status = status;
        send_all(c, head(status, reason, headers, body.size()) + body);
    }

    void handle(int c) {
        std::string req;
        char buf[4096];
        while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
            const ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) return;
            req.append(buf, size_t(n));
        }
        SeenRequest r;
        const size_t eol = req.find("\r\n");
        const std::string first = req.substr(0, eol);
        const size_t sp1 = first.find(' '), sp2 = first.rfind(' ');
        if (sp1 == std::string::npos || sp2 <= sp1) return;
        r.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
        size_t pos = eol + 2;
        while (true) {
            const size_t e = req.find("\r\n", pos);
            if (e == std::string::npos || e == pos) break;
            const std::string line = req.substr(pos, e - pos);
            const size_t colon = line.find(':');
            if (colon != std::string::npos) {
                std::string k = line.substr(0, colon);
                for (char& ch : k) ch = char(std::tolower(static_cast<unsigned char>(ch)));
                std::string v = line.substr(colon + 1);
                while (!v.empty() && v.front() == ' ') v.erase(0, 1);
                r.headers[k] = v;
            }
            pos = e + 2;
        }
        std::unique_lock<std::mutex> l(mu_);
        route(c, r);
        seen_.push_back(r);
    }

    bool authorized(const FakeRepo& repo, const SeenRequest& r) const {
        if (!repo.gated) return true;
        auto it = r.headers.find("authorization");
        return it != r.headers.end() && it->second == "Bearer " + token;
    }

    // Called with mu_ held.
    void route(int c, SeenRequest& r) {
        std::string path = r.path.substr(0, r.path.find('?'));
        if (path.rfind("/api/models/", 0) == 0) {
            const std::string repo = path.substr(12);
            auto it = repos_.find(repo);
            if (it == repos_.end())
                return respond(c, r, 404, "Not Found", R"({"error":"Repository not found"})");
            if (!authorized(it->second, r))
                return respond(c, r, 401, "Unauthorized", R"({"error":"Access restricted"})");
            nlohmann::json sib = nlohmann::json::array();
            for (const auto& [name, f] : it->second.files) {
                nlohmann::json s = {{"rfilename", name}, {"size", f.content.size()}};
                if (f.lfs)
                    s["lfs"] = {{"sha256", hub::sha256_hex(f.content)},
                                {"size", f.content.size()},
                                {"pointerSize", 134}};
                sib.push_back(s);
            }
            const nlohmann::json j = {{"id", repo}, {"siblings", sib}};
            return respond(c, r, 200, "OK", j.dump(), {{"Content-Type", "application/json"}});
        }
        if (path.rfind("/cdn/", 0) == 0) {
            const std::string sha = path.substr(5);
            for (auto& [rn, repo] : repos_)
                for (auto& [fn, f] : repo.files)
                    if (hub::sha256_hex(f.content) == sha) return serve_bytes(c, r, f, sha);
            return respond(c, r, 404, "Not Found", "no such object");
        }
        const size_t marker = path.find("/resolve/main/");
        if (marker != std::string::npos) {
            const std::string repo = path.substr(1, marker - 1);
            const std::string file = path.substr(marker + 14);
            auto it = repos_.find(repo);
            if (it == repos_.end())
                return respond(c, r, 404, "Not Found", "Repository not found",
                               {{"X-Error-Code", "RepoNotFound"}});
            if (!authorized(it->second, r))
                return respond(c, r, 401, "Unauthorized", "Access to this model is restricted",
                               {{"X-Error-Code", "GatedRepo"}});
            auto f = it->second.files.find(file);
            if (f == it->second.files.end())
                return respond(c, r, 404, "Not Found", "Entry not found",
                               {{"X-Error-Code", "EntryNotFound"}});
            const std::string sha = hub::sha256_hex(f->second.content);
            if (!f->second.lfs) return serve_bytes(c, r, f->second, "");
            return respond(c, r, 302, "Found", "",
                           {{"Location", endpoint() + "/cdn/" + sha},
                            {"X-Linked-Etag", "\"" + sha + "\""},
                            {"X-Linked-Size", std::to_string(f->second.content.size())},
                            {"ETag", "\"" + sha + "\""},
                            {"X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567"}});
        }
        respond(c, r, 404, "Not Found", "no route");
    }

    // `sha` empty: a plain (non-LFS) file, whose ETag is not a sha256.
    void serve_bytes(int c, SeenRequest& r, FakeFile& f, const std::string& sha) {
        std::string body = f.content;
        if (f.corrupt && !body.empty()) body[body.size() / 2] ^= 0x5a;
        const size_t total = body.size();
        std::vector<std::pair<std::string, std::string>> h = {
            {"Accept-Ranges", "bytes"},
            {"ETag", sha.empty() ? "\"plain-" + std::to_string(total) + "\"" : "\"" + sha + "\""}};
        int status = 200;
        size_t start = 0;
        auto range = r.headers.find("range");
        if (range != r.headers.end() && !f.ignore_range && range->second.rfind("bytes=", 0) == 0) {
            start = std::stoull(range->second.substr(6));
            if (start >= total) {
                h.push_back({"Content-Range", "bytes */" + std::to_string(total)});
                return respond(c, r, 416, "Range Not Satisfiable", "", h);
            }
            status = 206;
            h.push_back({"Content-Range", "bytes " + std::to_string(start) + "-" +
                                              std::to_string(total - 1) + "/" +
                                              std::to_string(total)});
        }
        r.status = status;
        const std::string part = body.substr(start);
        std::string out = head(status, status == 206 ? "Partial Content" : "OK", h, part.size());
        if (f.cuts_left > 0) {
            --f.cuts_left;
            send_all(c, out + part.substr(0, std::min(f.cut_after, part.size())));
            return;  // the caller closes the socket mid-body
        }
        send_all(c, out + part);
    }

    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    mutable std::mutex mu_;
    std::map<std::string, FakeRepo> repos_;
    std::vector<SeenRequest> seen_;
};

}  // namespace ponder::test
