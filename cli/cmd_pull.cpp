// ponder pull NAME [--quant Q] [--force]   download a model into the cache
// ponder list [--json]                      the cached models
// ponder rm NAME                            remove a cached model
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "hub/hub_resolver.h"
#include "hub/model_cache.h"
#include "hub/pull.h"
#include "model/model_summary.h"

namespace ponder::cli {
namespace {

std::string human_bytes(uint64_t b) {
    char buf[64];
    if (b >= (1ull << 30))
        std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(1ull << 30));
    else if (b >= (1ull << 20))
        std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / double(1ull << 20));
    else if (b >= 1024)
        std::snprintf(buf, sizeof buf, "%.1f KiB", double(b) / 1024.0);
    else
        std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
    return buf;
}

std::string human_eta(double s) {
    if (s < 0) return "--:--";
    const long t = long(s + 0.5);
    char buf[32];
    if (t >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
    g_interrupted = true;
}

// Draws download progress on stderr: a redrawn bar on a terminal, a line every few seconds
// otherwise. Returns false after Ctrl-C so the download stops (and can be resumed).
class ProgressPrinter {
  public:
    explicit ProgressPrinter(std::string label)
        : label_(std::move(label)), tty_(isatty(STDERR_FILENO) != 0) {}

    bool operator()(const hub::DownloadProgress& p) {
        if (g_interrupted) return false;
        const auto now = std::chrono::steady_clock::now();
        if (!tty_ && !p.done && now - last_line_ < std::chrono::seconds(5) && printed_) return true;
        last_line_ = now;
        printed_ = true;
        const double frac = p.bytes_total ? double(p.bytes_done) / double(p.bytes_total) : 0;
        std::string size = human_bytes(p.bytes_done);
        if (p.bytes_total) size += " / " + human_bytes(p.bytes_total);
        const std::string speed = human_bytes(uint64_t(p.bytes_per_second)) + "/s";
        if (tty_) {
            constexpr int width = 30;
            const int fill = int(frac * width);
            std::string bar(size_t(fill), '=');
            if (fill < width) bar += '>' + std::string(size_t(width - fill - 1), ' ');
            std::fprintf(stderr, "\r%s [%s] %5.1f%%  %s  %s  ETA %s   ", label_.c_str(),
                         bar.c_str(), frac * 100, size.c_str(), speed.c_str(),
                         human_eta(p.eta_seconds).c_str());
            if (p.done) std::fprintf(stderr, "\n");
        } else {
            std::fprintf(stderr, "%s: %5.1f%%  %s  %s  ETA %s\n", label_.c_str(), frac * 100,
                         size.c_str(), speed.c_str(), human_eta(p.eta_seconds).c_str());
        }
        std::fflush(stderr);
        return true;
    }

  private:
    std::string label_;
    bool tty_;
    bool printed_ = false;
    std::chrono::steady_clock::time_point last_line_{};
};

struct PullOptionsCli {
    std::string name;
    std::string quant;
    bool force = false;
};

void add_pull(CLI::App& app) {
    auto opt = std::make_shared<PullOptionsCli>();
    std::string names;
    for (const auto& m : hub::curated_models())
        names += std::string("\n  ") + m.name + "  " + m.about;
    auto* cmd =
        app.add_subcommand("pull", "Download a GGUF model from Hugging Face into the local cache");
    cmd->footer("NAME is OWNER/REPO[:QUANT] or one of:" + names +
                "\nEnvironment: PONDER_HOME (cache, default ~/.cache/ponder), HF_TOKEN (gated "
                "repositories), PONDER_HF_ENDPOINT (default https://huggingface.co).");
    cmd->add_option("name", opt->name, "Short name or OWNER/REPO[:QUANT]")->required();
    cmd->add_option("--quant,-q", opt->quant, "Quantization to pick, e.g. Q4_K_M");
    cmd->add_flag("--force,-f", opt->force, "Download again even if cached");
    cmd->callback([opt] {
        hub::PullOptions po;
        po.quant = opt->quant;
        po.force = opt->force;
        ProgressPrinter printer(opt->name);
        po.progress = [&printer](const hub::DownloadProgress& p) { return printer(p); };
        po.log = [](const std::string& s) { std::fprintf(stderr, "pull: %s\n", s.c_str()); };
        g_interrupted = false;
        auto old = std::signal(SIGINT, on_sigint);
        hub::PullResult r;
        try {
            r = hub::pull_model(opt->name, po);
        } catch (...) {
            std::signal(SIGINT, old);
            throw;
        }
        std::signal(SIGINT, old);
        const auto& m = r.model;
        if (r.already_cached) {
            std::printf("%s is already cached: %s (%s)\n", m.display_name().c_str(), m.path.c_str(),
                        human_bytes(m.size).c_str());
            return;
        }
        std::printf("pulled %s: %s (%s, sha256 %s%s)\n", m.display_name().c_str(), m.path.c_str(),
                    human_bytes(m.size).c_str(), m.sha256.c_str(),
                    m.sha256_checked ? ", verified" : ", not published by the server");
    });
}

// "qwen3 Q8_0": the architecture and the type holding most parameters, from the GGUF header.
std::string model_type(const std::string& path, std::string& arch) {
    try {
        auto f = GgufFile::open(path);
        const ModelSummary s = summarize_model(*f);
        arch = s.architecture;
        std::string main_type;
        uint64_t most = 0;
        for (const auto& [t, n] : s.type_params)
            if (n > most) {
                most = n;
                main_type = t;
            }
        return (arch.empty() ? std::string("?") : arch) + " " + main_type;
    } catch (const Error& e) {
        return "invalid GGUF";
    }
}

void add_list(CLI::App& app) {
    auto json_out = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("list", "List the models in the local cache");
    cmd->add_flag("--json", *json_out, "Print a JSON array");
    cmd->callback([json_out] {
        const hub::ModelCache cache(hub::ModelCache::default_home());
        const auto models = cache.list();
        if (*json_out) {
            nlohmann::json arr = nlohmann::json::array();
            for (const auto& m : models) {
                std::string arch;
                const std::string type = model_type(m.path, arch);
                arr.push_back({{"name", m.display_name()},
                               {"repo", m.repo},
                               {"file", m.file},
                               {"quant", m.quant},
                               {"size", m.size},
                               {"type", type},
                               {"architecture", arch},
                               {"sha256", m.sha256},
                               {"sha256_checked", m.sha256_checked},
                               {"downloaded_at", m.downloaded_at},
                               {"path", m.path}});
            }
            std::printf("%s\n", arr.dump(2).c_str());
            return;
        }
        if (models.empty()) {
            std::printf("no cached models in %s; get one with `ponder pull qwen3-0.6b`\n",
                        cache.home().c_str());
            return;
        }
        std::printf("%-40s %10s  %-16s %s\n", "NAME", "SIZE", "TYPE", "PATH");
        for (const auto& m : models) {
            std::string arch;
            std::printf("%-40s %10s  %-16s %s\n", m.display_name().c_str(),
                        human_bytes(m.size).c_str(), model_type(m.path, arch).c_str(),
                        m.path.c_str());
        }
    });
}

void add_rm(CLI::App& app) {
    auto name = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("rm", "Remove a model from the local cache");
    cmd->add_option("name", *name, "Cached model name (as `ponder list` shows) or file name")
        ->required();
    cmd->callback([name] {
        const hub::ModelCache cache(hub::ModelCache::default_home());
        auto found = cache.find(*name);
        if (found.empty())
            for (const auto& m : cache.list())
                if (m.path == *name) found.push_back(m);
        if (found.empty()) fail("'", *name, "' is not a cached model (see `ponder list`)");
        if (found.size() > 1) {
            std::string names;
            for (const auto& m : found) names += (names.empty() ? "" : ", ") + m.display_name();
            fail("'", *name, "' matches several cached models (", names, "); name one of them");
        }
        cache.remove(found[0]);
        std::printf("removed %s (%s)\n", found[0].display_name().c_str(), found[0].path.c_str());
    });
}

const Registrar reg_pull("pull", 80, add_pull);
const Registrar reg_list("list", 81, add_list);
const Registrar reg_rm("rm", 82, add_rm);

}  // namespace
}  // namespace ponder::cli
