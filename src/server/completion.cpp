#include "server/completion.h"

#include <httplib.h>

#include <cstdio>
#include <optional>
#include <random>

#include "core/error.h"

namespace ponder::server {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kHeartbeat = std::chrono::milliseconds(1000);

std::string random_id(const char* prefix) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char* hex = "0123456789abcdef";
    std::string s = prefix;
    for (int i = 0; i < 24; ++i) s += hex[rng() & 15];
    return s;
}

uint64_t random_seed() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return rng();
}

// The prompt's ids: the template's text tokenized with special tokens recognised; a BOS is
// added when the vocabulary wants one and the template did not write it.
std::vector<int32_t> tokenize_chat(const Tokenizer& tok, const std::string& text) {
    auto ids = tok.encode(text, false, true);
    if (tok.add_bos() && tok.bos_id() >= 0 && (ids.empty() || ids[0] != tok.bos_id()))
        ids.insert(ids.begin(), tok.bos_id());
    return ids;
}

}  // namespace

std::string& request_log_extra() {
    thread_local std::string extra;
    return extra;
}

// Everything one request needs on its HTTP thread. Destroyed when httplib drops the response:
// a request not finished by then lost its client and is cancelled.
struct CompletionJob {
    ServerContext* sc = nullptr;
    CompletionRequest cr;
    Request req;
    ResponseHeader hdr;
    bool track_reasoning = false;
    bool starts_inside = false;
    std::shared_ptr<Channel> ch;
    bool counted = false;  // holds one unit of sc->in_flight

    // Response state.
    std::vector<ChoiceResult> results;
    std::vector<std::optional<ReasoningParser>> parsers;
    std::vector<std::vector<TokenLogprob>> pending_lp;  // streamed: not yet sent
    bool preamble_sent = false, finished = false;
    std::string error;

    ~CompletionJob() {
        if (ch && !finished) sc->scheduler->cancel(ch);
        if (counted) --sc->in_flight;
    }

    PieceFn piece() const {
        const Tokenizer* tok = sc->tok.get();
        return [tok](int32_t id) { return tok->token_to_piece(id, true); };
    }

    // Splits a choice's new text into reasoning and content.
    ReasoningParser::Delta split(int32_t c, const std::string& text, bool final) {
        auto& p = parsers[size_t(c)];
        if (!p) {
            ReasoningParser::Delta d;
            d.content = text;
            return d;
        }
        ReasoningParser::Delta d = p->push(text);
        if (final) {
            ReasoningParser::Delta f = p->finish();
            d.reasoning += f.reasoning;
            d.content += f.content;
        }
        return d;
    }

    void log_line() {
        const Usage u = ch->usage();
        const double secs = std::chrono::duration<double>(Clock::now() - ch->arrival).count();
        const double gen_s = secs - u.ttft_ms / 1000.0;
        char buf[256];
        std::snprintf(
            buf, sizeof buf,
            "id=%s n=%d prompt=%d cached=%d completion=%d reasoning=%d ttft=%.1fms "
            "%.1f tokens/s%s",
            hdr.id.c_str(), cr.n, u.prompt_tokens, u.cached_prompt_tokens, u.completion_tokens,
            u.reasoning_tokens, u.ttft_ms,
            gen_s > 0 && u.completion_tokens > 1 ? (u.completion_tokens - 1) / gen_s : 0.0,
            error.empty() ? "" : " (engine error)");
        request_log_extra() = buf;
    }

    // Streaming: writes the SSE events for what arrived; false when the client is gone.
    bool pump_stream(httplib::DataSink& sink);
    // Not streaming: collects; writes the JSON when done (whitespace while waiting, so that a
    // vanished client is noticed). False when the client is gone.
    bool pump_json(httplib::DataSink& sink);
};

std::shared_ptr<CompletionJob> prepare_completion(ServerContext& sc, CompletionRequest cr) {
    auto job = std::make_shared<CompletionJob>();
    job->sc = &sc;
    const Tokenizer& tok = *sc.tok;
    std::vector<int32_t> ids;
    Request& req = job->req;
    if (cr.endpoint == Endpoint::Chat) {
        ChatRenderInput in;
        in.messages = cr.messages;
        in.add_generation_prompt = true;
        in.extra = {{"enable_thinking", cr.thinking_enabled}};
        in.bos_token = sc.bos_text;
        in.eos_token = sc.eos_text;
        std::string text;
        try {
            text = sc.tmpl->render(in);
        } catch (const Error& e) {
            throw ApiError(400, std::string("the chat template rejected the messages: ") + e.what(),
                           "messages");
        }
        ids = tokenize_chat(tok, text);
        if (sc.template_thinks) {
            job->track_reasoning = true;
            job->starts_inside = prompt_opens_reasoning(text, sc.delims);
            ThinkingParams& th = req.thinking;
            th.track = true;
            th.open = sc.delims.open;
            th.close = sc.delims.close;
            th.starts_inside = job->starts_inside;
            // Thinking off: a model that opens a block anyway has it closed at once.
            th.max_tokens = cr.thinking_enabled ? cr.max_thinking_tokens : 0;
            th.min_tokens = cr.thinking_enabled ? cr.min_thinking_tokens : 0;
        }
    } else if (!cr.prompt_ids.empty()) {
        ids = cr.prompt_ids;
        for (int32_t t : ids)
            if (t >= tok.n_vocab())
                throw ApiError(400,
                               "prompt token id " + std::to_string(t) +
                                   " is outside the vocabulary of " +
                                   std::to_string(tok.n_vocab()) + " tokens",
                               "prompt");
    } else {
        ids = tok.encode(cr.prompt, true, true);
    }
    if (ids.empty()) throw ApiError(400, "the prompt is empty", "prompt");
    const int32_t slot_ctx = sc.scheduler->slot_ctx();
    if (int64_t(ids.size()) >= slot_ctx)
        throw ApiError(400,
                       "the prompt has " + std::to_string(ids.size()) +
                           " tokens but the context holds " + std::to_string(slot_ctx) +
                           " tokens per sequence; shorten the prompt or start the server with "
                           "a larger -c",
                       cr.endpoint == Endpoint::Chat ? "messages" : "prompt");
    if (cr.n > sc.scheduler->n_slots())
        throw ApiError(400,
                       "'n' is " + std::to_string(cr.n) + " but the server decodes at most " +
                           std::to_string(sc.scheduler->n_slots()) +
                           " sequences together (--parallel)",
                       "n");
    req.prompt = std::move(ids);
    req.sampling = cr.sampling;
    if (!cr.seed_given) req.sampling.seed = random_seed();
    req.max_tokens = cr.max_tokens;
    req.stop = cr.stop;
    req.n_choices = cr.n;
    req.top_logprobs = cr.top_logprobs;
    job->hdr.id = random_id(cr.endpoint == Endpoint::Chat ? "chatcmpl-" : "cmpl-");
    job->hdr.created = int64_t(std::time(nullptr));
    job->hdr.model = sc.model_id;
    job->results.resize(size_t(cr.n));
    job->pending_lp.resize(size_t(cr.n));
    for (int32_t c = 0; c < cr.n; ++c) {
        if (job->track_reasoning)
            job->parsers.emplace_back(std::in_place, sc.delims, job->starts_inside);
        else
            job->parsers.emplace_back(std::nullopt);
    }
    job->cr = std::move(cr);
    return job;
}

void start_completion(ServerContext& sc, std::shared_ptr<CompletionJob> job,
                      httplib::Response& res) {
    // The queue limit: requests accepted and not yet answered, slots included.
    if (++sc.in_flight > sc.max_in_flight) {
        --sc.in_flight;
        throw ApiError(429, "the server is busy: " + std::to_string(sc.max_in_flight) +
                                " requests are in flight or queued; retry later");
    }
    job->counted = true;
    job->ch = sc.scheduler->submit(std::move(job->req));
    if (job->ch->wait_started() == Channel::State::Rejected) {
        job->finished = true;
        throw ApiError(400, job->ch->reject_reason());
    }
    if (job->cr.stream) {
        res.set_header("Cache-Control", "no-cache");
        res.set_chunked_content_provider(
            "text/event-stream",
            [job](size_t, httplib::DataSink& sink) { return job->pump_stream(sink); });
    } else {
        res.set_chunked_content_provider(
            "application/json",
            [job](size_t, httplib::DataSink& sink) { return job->pump_json(sink); });
    }
}

bool CompletionJob::pump_stream(httplib::DataSink& sink) {
    const Endpoint ep = cr.endpoint;
    std::string out;
    auto chunk = [&](int32_t c, const json& delta, const char* finish) {
        json lp;
        if (cr.top_logprobs >= 0 && !pending_lp[size_t(c)].empty()) {
            lp = ep == Endpoint::Chat ? chat_logprobs_json(pending_lp[size_t(c)], piece())
                                      : completion_logprobs_json(pending_lp[size_t(c)], piece());
            pending_lp[size_t(c)].clear();
        }
        json j = stream_chunk_json(hdr, ep, c, delta, finish, lp);
        if (cr.include_usage) j["usage"] = nullptr;
        out += sse_event(j);
    };
    auto deltas = [&](int32_t c, const ReasoningParser::Delta& d) {
        if (!d.reasoning.empty())
            chunk(c, {{"reasoning_content", d.reasoning}, {"reasoning", d.reasoning}}, nullptr);
        if (!d.content.empty()) chunk(c, {{"content", d.content}}, nullptr);
    };
    if (!preamble_sent) {
        preamble_sent = true;
        if (ep == Endpoint::Chat)
            for (int32_t c = 0; c < cr.n; ++c)
                chunk(c, {{"role", "assistant"}, {"content", ""}}, nullptr);
    }
    std::vector<Event> events;
    const Channel::State state = ch->take(events, kHeartbeat);
    for (const Event& e : events) {
        switch (e.kind) {
            case Event::Kind::Token:
                if (e.logprob) pending_lp[size_t(e.choice)].push_back(*e.logprob);
                deltas(e.choice, split(e.choice, e.text, false));
                break;
            case Event::Kind::ChoiceDone: {
                deltas(e.choice, split(e.choice, "", true));
                chunk(e.choice, json::object(), openai_finish_reason(e.finish));
                break;
            }
            case Event::Kind::Error:
                error = e.error;
                out += sse_event(error_json(500, e.error));
                break;
            case Event::Kind::RequestDone:
                break;
        }
    }
    if (state == Channel::State::Finished) {
        if (cr.include_usage) out += sse_event(stream_usage_json(hdr, ep, ch->usage()));
        out += "data: [DONE]\n\n";
    } else if (out.empty()) {
        out = ": keep-alive\n\n";  // an SSE comment: lets a vanished client show up
    }
    if (!sink.write(out.data(), out.size())) return false;
    if (state == Channel::State::Finished) {
        finished = true;
        log_line();
        sink.done();
    }
    return true;
}

bool CompletionJob::pump_json(httplib::DataSink& sink) {
    std::vector<Event> events;
    const Channel::State state = ch->take(events, kHeartbeat);
    for (const Event& e : events) {
        auto& r = results[size_t(e.choice)];
        switch (e.kind) {
            case Event::Kind::Token: {
                if (e.logprob) r.logprobs.push_back(*e.logprob);
                const auto d = split(e.choice, e.text, false);
                r.reasoning += d.reasoning;
                r.content += d.content;
                break;
            }
            case Event::Kind::ChoiceDone: {
                const auto d = split(e.choice, "", true);
                r.reasoning += d.reasoning;
                r.content += d.content;
                r.finish_reason = openai_finish_reason(e.finish);
                break;
            }
            case Event::Kind::Error:
                error = e.error;
                break;
            case Event::Kind::RequestDone:
                break;
        }
    }
    if (state != Channel::State::Finished) {
        // JSON allows leading whitespace; writing it is how a closed connection is noticed.
        if (events.empty()) return sink.write("\n", 1);
        return true;
    }
    json body;
    const bool lp = cr.top_logprobs >= 0;
    if (!error.empty())
        body = error_json(500, error);
    else if (cr.endpoint == Endpoint::Chat)
        body = chat_completion_json(hdr, results, ch->usage(), lp, piece());
    else
        body = text_completion_json(hdr, results, ch->usage(), lp, piece());
    const std::string s = body.dump(-1, ' ', false, json::error_handler_t::replace);
    if (!sink.write(s.data(), s.size())) return false;
    finished = true;
    log_line();
    sink.done();
    return true;
}

}  // namespace ponder::server
