// The OpenAI-compatible HTTP server: endpoints, authentication, limits, logging.
//
// HTTP threads parse and validate JSON, render the chat template and tokenize; one scheduler
// thread (server/scheduler.h) owns the engine. Lifecycle: start() binds and serves at once
// (/health answers 503 "loading"), load() loads the model (then /health answers 200), and
// shutdown() stops accepting, lets in-flight requests finish within a grace period, cancels
// the rest and stops every thread.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ponder::server {

struct ServerOptions {
    std::string model_path;
    std::string host = "127.0.0.1";
    int port = 8080;                    // 0: any free port (start() returns it)
    int32_t parallel = 4;               // slots decoded together
    int32_t n_ctx = 0;                  // total KV cells; 0: parallel * min(train context, 4096)
    int32_t n_threads = 0;              // 0: all hardware threads
    std::vector<std::string> api_keys;  // empty: no authentication
    int32_t max_queue = 64;             // requests waiting beyond the slots; more get 429
    std::string alias;                  // model id reported; default: the file's name
    std::string chat_template_file;     // overrides the model's template
    size_t max_body_bytes = 8u << 20;   // larger request bodies get 413
    bool log_requests = true;           // one line per request on stderr
};

class Server {
  public:
    explicit Server(ServerOptions opts);
    ~Server();  // shutdown(0) if still running
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds and serves on background threads. Returns the bound port. Throws Error.
    int start();
    // Loads the model, tokenizer, template and engine. Throws Error (the server keeps
    // answering 503 on /health).
    void load();
    // Stops accepting (503 for new requests), waits up to `grace` for in-flight requests,
    // cancels what is left and stops. Idempotent.
    void shutdown(std::chrono::milliseconds grace);

    int port() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ponder::server
