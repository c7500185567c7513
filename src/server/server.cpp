#include "server/server.h"

#include <httplib.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "chat/chat_template.h"
#include "chat/reasoning.h"
#include "core/error.h"
#include "server/completion.h"
#include "server/openai.h"
#include "server/scheduler.h"

namespace ponder::server {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// A plain ChatML template for models that carry none (our own minimal wording of the format).
constexpr const char* kFallbackTemplate =
    "{%- for m in messages -%}"
    "{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

// Per HTTP thread: when the current request began.
thread_local Clock::time_point t_request_start;

void send_json(httplib::Response& res, int status, const json& j) {
    res.status = status;
    res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
    send_json(res, e.status(), error_json(e.status(), e.what(), e.param()));
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("cannot open '", path, "'");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

json parse_object(const std::string& body) {
    json j;
    try {
        j = json::parse(body);
    } catch (const json::exception& e) {
        throw ApiError(400, std::string("invalid JSON in the request body: ") + e.what());
    }
    if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
    return j;
}

// Endpoint label for metrics: known routes by name, everything else "other".
std::string endpoint_label(const std::string& path) {
    static const char* known[] = {"/v1/chat/completions",
                                  "/v1/completions",
                                  "/v1/models",
                                  "/health",
                                  "/metrics",
                                  "/tokenize",
                                  "/detokenize",
                                  "/chat/completions",
                                  "/completions",
                                  "/models"};
    for (const char* k : known)
        if (path == k) return path;
    return "other";
}

}  // namespace

struct Server::Impl : ServerContext {
    ServerOptions opts;
    httplib::Server http;
    std::thread listen_thread;
    std::atomic<bool> ready{false}, draining{false}, stopped{false};
    int bound_port = 0;

    explicit Impl(ServerOptions o) : opts(std::move(o)) {}

    void routes();
    bool authorized(const httplib::Request& req) const;
    void handle_completion(const httplib::Request& req, httplib::Response& res, Endpoint ep);
    void handle_tokenize(const httplib::Request& req, httplib::Response& res);
    void handle_detokenize(const httplib::Request& req, httplib::Response& res);
    void need_ready() const {
        if (!ready) throw ApiError(503, "the model is still loading");
    }
};

bool Server::Impl::authorized(const httplib::Request& req) const {
    if (opts.api_keys.empty()) return true;
    std::string key;
    const std::string auth = req.get_header_value("Authorization");
    const std::string bearer = "Bearer ";
    if (auth.compare(0, bearer.size(), bearer) == 0) key = auth.substr(bearer.size());
    if (key.empty()) key = req.get_header_value("x-api-key");
    if (key.empty()) return false;
    bool ok = false;
    for (const auto& k : opts.api_keys) {
        // Compare every byte so the time taken does not reveal a matching prefix.
        if (k.size() != key.size()) continue;
        unsigned diff = 0;
        for (size_t i = 0; i < k.size(); ++i) diff |= unsigned(k[i] ^ key[i]);
        ok |= diff == 0;
    }
    return ok;
}

void Server::Impl::handle_completion(const httplib::Request& req, httplib::Response& res,
                                     Endpoint ep) {
    need_ready();
    CompletionRequest cr = parse_completion_request(req.body, ep);
    auto job = prepare_completion(*this, std::move(cr));
    start_completion(*this, std::move(job), res);
}

void Server::Impl::handle_tokenize(const httplib::Request& req, httplib::Response& res) {
    need_ready();
    const json j = parse_object(req.body);
    auto it = j.find("content");
    if (it == j.end() || !it->is_string()) throw ApiError(400, "'content' must be a string");
    bool add_special = false, with_pieces = false, parse_special = true;
    for (auto [key, dst] :
         {std::pair{"add_special", &add_special}, std::pair{"with_pieces", &with_pieces},
          std::pair{"parse_special", &parse_special}}) {
        auto f = j.find(key);
        if (f == j.end() || f->is_null()) continue;
        if (!f->is_boolean()) throw ApiError(400, std::string("'") + key + "' must be a boolean");
        *dst = f->get<bool>();
    }
    const auto ids = tok->encode(it->get<std::string>(), add_special, parse_special);
    json tokens = json::array();
    for (int32_t id : ids) {
        if (with_pieces)
            tokens.push_back({{"id", id}, {"piece", tok->token_to_piece(id, true)}});
        else
            tokens.push_back(id);
    }
    send_json(res, 200, {{"tokens", tokens}});
}

void Server::Impl::handle_detokenize(const httplib::Request& req, httplib::Response& res) {
    need_ready();
    const json j = parse_object(req.body);
    auto it = j.find("tokens");
    if (it == j.end() || !it->is_array()) throw ApiError(400, "'tokens' must be an array");
    std::vector<int32_t> ids;
    for (const auto& t : *it) {
        if (!t.is_number_integer()) throw ApiError(400, "'tokens' must hold integers");
        const int64_t v = t.get<int64_t>();
        if (v < 0 || v >= tok->n_vocab())
            throw ApiError(400, "token id " + std::to_string(v) + " is outside the vocabulary of " +
                                    std::to_string(tok->n_vocab()) + " tokens");
        ids.push_back(int32_t(v));
    }
    send_json(res, 200, {{"content", tok->decode(ids, false)}});
}

void Server::Impl::routes() {
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        t_request_start = Clock::now();
        request_log_extra().clear();
        if (req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
        if (!authorized(req)) {
            send_error(res, ApiError(401,
                                     "invalid or missing API key (send Authorization: "
                                     "Bearer KEY)"));
            return httplib::Server::HandlerResponse::Handled;
        }
        if (draining && req.path != "/metrics") {
            send_error(res, ApiError(503, "the server is shutting down"));
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    // Every handler reports its errors as OpenAI error objects.
    auto wrap = [this](auto fn) {
        return [this, fn](const httplib::Request& req, httplib::Response& res) {
            try {
                (this->*fn)(req, res);
            } catch (const ApiError& e) {
                send_error(res, e);
            } catch (const Error& e) {
                send_error(res, ApiError(500, e.what()));
            }
        };
    };
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
        if (draining)
            send_json(res, 503, {{"status", "shutting down"}});
        else if (ready)
            send_json(res, 200, {{"status", "ok"}});
        else
            send_json(res, 503, {{"status", "loading"}});
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
    });
    auto models = [this](const httplib::Request&, httplib::Response& res) {
        json data = json::array();
        if (ready)
            data.push_back({{"id", model_id},
                            {"object", "model"},
                            {"created", created},
                            {"owned_by", "ponder"}});
        send_json(res, 200, {{"object", "list"}, {"data", data}});
    };
    http.Get("/v1/models", models);
    http.Get("/models", models);
    auto chat = [this](const httplib::Request& req, httplib::Response& res) {
        handle_completion(req, res, Endpoint::Chat);
    };
    auto completion = [this](const httplib::Request& req, httplib::Response& res) {
        handle_completion(req, res, Endpoint::Completion);
    };
    auto guarded = [](auto fn) {
        return [fn](const httplib::Request& req, httplib::Response& res) {
            try {
                fn(req, res);
            } catch (const ApiError& e) {
                send_error(res, e);
            } catch (const Error& e) {
                send_error(res, ApiError(500, e.what()));
            }
        };
    };
    http.Post("/v1/chat/completions", guarded(chat));
    http.Post("/chat/completions", guarded(chat));
    http.Post("/v1/completions", guarded(completion));
    http.Post("/completions", guarded(completion));
    http.Post("/tokenize", wrap(&Impl::handle_tokenize));
    http.Post("/detokenize", wrap(&Impl::handle_detokenize));
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty() || res.is_chunked_content_provider_ || res.content_provider_)
                return httplib::Server::HandlerResponse::Unhandled;
            std::string msg = "HTTP " + std::to_string(res.status);
            if (res.status == 404) msg = "no route for " + req.method + " " + req.path;
            if (res.status == 413) msg = "the request body is larger than the server's limit";
            send_json(res, res.status, error_json(res.status, msg));
            return httplib::Server::HandlerResponse::Handled;
        }));
    http.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            std::string msg = "internal error";
            try {
                if (ep) std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                msg = e.what();
            } catch (...) {
            }
            send_json(res, 500, error_json(500, msg));
        });
    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
        metrics.count_request(endpoint_label(req.path), res.status);
        if (!opts.log_requests) return;
        const double ms =
            std::chrono::duration<double, std::milli>(Clock::now() - t_request_start).count();
        std::fprintf(stderr, "ponder serve: %s %s %d %.1f ms%s%s\n", req.method.c_str(),
                     req.path.c_str(), res.status, ms, request_log_extra().empty() ? "" : " ",
                     request_log_extra().c_str());
        request_log_extra().clear();
    });
}

Server::Server(ServerOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}

Server::~Server() {
    shutdown(std::chrono::milliseconds(0));
}

int Server::start() {
    Impl& s = *impl_;
    std::signal(SIGPIPE, SIG_IGN);  // a vanished client is a failed write, not a dead server
    s.routes();
    s.http.set_payload_max_length(s.opts.max_body_bytes);
    s.http.set_keep_alive_timeout(2);
    s.http.set_read_timeout(30, 0);
    s.http.set_write_timeout(30, 0);
    // One thread per connection that may be in flight: the slots, the queue and a margin for
    // cheap requests (health, metrics) and the connections that get 429.
    const size_t threads = size_t(std::max(1, s.opts.parallel) + std::max(0, s.opts.max_queue) + 8);
    s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    if (s.opts.port == 0) {
        s.bound_port = s.http.bind_to_any_port(s.opts.host);
        if (s.bound_port < 0) fail("cannot bind to ", s.opts.host, " on any port");
    } else {
        if (!s.http.bind_to_port(s.opts.host, s.opts.port))
            fail("cannot bind to ", s.opts.host, ":", s.opts.port,
                 " (in use, or not an address of this machine)");
        s.bound_port = s.opts.port;
    }
    s.listen_thread = std::thread([&s] { s.http.listen_after_bind(); });
    return s.bound_port;
}

void Server::load() {
    Impl& s = *impl_;
    s.model = Model::load(s.opts.model_path);
    s.tok = Tokenizer::from_gguf(s.model->file());
    const int32_t parallel = std::max(1, s.opts.parallel);
    int32_t n_ctx = s.opts.n_ctx;
    if (n_ctx <= 0) {
        int32_t per = s.model->hparams().n_ctx_train;
        if (per <= 0 || per > 4096) per = 4096;
        n_ctx = per * parallel;
    }
    s.ctx = std::make_unique<Context>(*s.model,
                                      ContextParams{.n_ctx = n_ctx, .n_threads = s.opts.n_threads});
    std::string source, name;
    if (!s.opts.chat_template_file.empty()) {
        source = read_file(s.opts.chat_template_file);
        name = s.opts.chat_template_file;
    } else if (s.model->file().find("tokenizer.chat_template")) {
        source = std::string(s.model->file().get_string("tokenizer.chat_template"));
        name = s.opts.model_path + ":tokenizer.chat_template";
    } else {
        source = kFallbackTemplate;
        name = "<built-in ChatML>";
    }
    s.delims = detect_reasoning_delimiters(source);
    s.template_thinks = source.find(s.delims.open) != std::string::npos;
    s.tmpl = std::make_unique<ChatTemplate>(std::move(source), std::move(name));
    s.bos_text = s.tok->bos_id() >= 0 ? s.tok->token_to_piece(s.tok->bos_id(), true) : "";
    s.eos_text = s.tok->eos_id() >= 0 ? s.tok->token_to_piece(s.tok->eos_id(), true) : "";
    s.model_id = s.opts.alias.empty() ? std::filesystem::path(s.opts.model_path).filename().string()
                                      : s.opts.alias;
    s.created = int64_t(std::time(nullptr));
    s.max_in_flight = parallel + std::max(0, s.opts.max_queue);
    s.scheduler =
        std::make_unique<Scheduler>(*s.ctx, *s.tok, EngineParams{.n_slots = parallel}, s.metrics);
    s.ready = true;
}

void Server::shutdown(std::chrono::milliseconds grace) {
    Impl& s = *impl_;
    if (s.stopped.exchange(true)) return;
    s.draining = true;
    const auto deadline = Clock::now() + grace;
    while (s.in_flight > 0 && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (s.scheduler) s.scheduler->cancel_all();
    const auto hard = Clock::now() + std::chrono::seconds(10);
    while (s.in_flight > 0 && Clock::now() < hard)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s.http.stop();
    if (s.listen_thread.joinable()) s.listen_thread.join();
    s.scheduler.reset();
}

int Server::port() const {
    return impl_->bound_port;
}

}  // namespace ponder::server
