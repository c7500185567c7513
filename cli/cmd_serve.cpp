// ponder serve -m MODEL: the OpenAI-compatible HTTP server (see src/server/server.h).
// SIGTERM or SIGINT: stop accepting, let in-flight requests finish (up to --shutdown-grace
// seconds), cancel the rest, exit 0.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "core/error.h"
#include "hub/model_ref.h"
#include "server/server.h"

namespace ponder::cli {
namespace {

struct ServeOptions {
    server::ServerOptions s;
    std::string api_key, api_key_file;
    double grace_s = 30;
    size_t max_body_kib = 8192;
};

std::vector<std::string> read_keys(const std::string& path) {
    std::ifstream f(path);
    if (!f) fail("cannot open the API key file '", path, "'");
    std::vector<std::string> keys;
    std::string line;
    while (std::getline(f, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty() && line[0] != '#') keys.push_back(line);
    }
    if (keys.empty()) fail("the API key file '", path, "' holds no key");
    return keys;
}

void serve(ServeOptions o) {
    if (!o.api_key.empty()) o.s.api_keys.push_back(o.api_key);
    if (!o.api_key_file.empty())
        for (auto& k : read_keys(o.api_key_file)) o.s.api_keys.push_back(k);
    o.s.model_path = resolve_model_path(o.s.model_path);
    o.s.max_body_bytes = o.max_body_kib * 1024;
    // Signals go to one waiting thread, never to a worker in the middle of a request.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    server::Server srv(o.s);
    const int port = srv.start();
    std::fprintf(stderr, "ponder serve: listening on http://%s:%d (loading %s)\n", o.s.host.c_str(),
                 port, o.s.model_path.c_str());
    srv.load();
    std::fprintf(stderr, "ponder serve: ready, %d parallel sequences%s\n", o.s.parallel,
                 o.s.api_keys.empty() ? "" : ", API key required");
    int sig = 0;
    sigwait(&sigs, &sig);
    std::fprintf(stderr, "ponder serve: %s received, finishing in-flight requests\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
    srv.shutdown(std::chrono::milliseconds(int64_t(o.grace_s * 1000)));
    std::fprintf(stderr, "ponder serve: stopped\n");
}

void add_serve(CLI::App& app) {
    auto o = std::make_shared<ServeOptions>();
    auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server");
    cmd->add_option("-m,--model", o->s.model_path, "GGUF model file or cached model name")
        ->required();
    cmd->add_option("--host", o->s.host, "Address to bind (default: loopback only)");
    cmd->add_option("--port", o->s.port, "Port (0: any free port)");
    cmd->add_option("--parallel", o->s.parallel, "Sequences decoded together (slots)");
    cmd->add_option("-c,--ctx-size", o->s.n_ctx,
                    "Total context in tokens, shared by the slots (0: slots x min(train, 4096))");
    cmd->add_option("-t,--threads", o->s.n_threads, "Threads (0: all cores)");
    cmd->add_option("--api-key", o->api_key, "Require this key (Authorization: Bearer KEY)");
    cmd->add_option("--api-key-file", o->api_key_file, "File with accepted keys, one a line");
    cmd->add_option("--max-queue", o->s.max_queue,
                    "Requests that may wait beyond the slots; more get 429");
    cmd->add_option("--alias", o->s.alias, "Model id reported by the API (default: file name)");
    cmd->add_option("--chat-template", o->s.chat_template_file,
                    "Jinja chat template file (overrides the model's)");
    cmd->add_option("--max-body-kib", o->max_body_kib, "Largest request body; more get 413");
    cmd->add_option("--shutdown-grace", o->grace_s,
                    "Seconds in-flight requests may take to finish after SIGTERM");
    cmd->add_flag(
        "--no-log", [o](int64_t) { o->s.log_requests = false; }, "Do not log one line per request");
    cmd->callback([o] { serve(*o); });
}

const Registrar reg_serve("serve", 15, add_serve);

}  // namespace
}  // namespace ponder::cli
