// The C boundary: every entry point catches every exception and turns it into a status code
// plus a per-thread message (DESIGN rule 2).
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "core/error.h"
#include "ponder/ponder.h"
#include "runtime/generate.h"

struct ponder_model {
    std::unique_ptr<ponder::Model> model;
    std::unique_ptr<ponder::Tokenizer> tok;
    std::string arch;
    ponder::ThinkingTemplate thinking;  // from tokenizer.chat_template (none: not thinking)
};
struct ponder_context {
    ponder_model* model;
    std::unique_ptr<ponder::Context> ctx;
};
struct ponder_sampler {
    std::unique_ptr<ponder::Sampler> sampler;
};

namespace {

thread_local std::string g_last_error;

ponder_status set_error(ponder_status s, const std::string& msg) {
    g_last_error = msg;
    return s;
}

// Runs fn, mapping exceptions to statuses. `fallback` is the status for ponder::Error.
template <typename Fn>
ponder_status guard(ponder_status fallback, Fn&& fn) {
    try {
        g_last_error.clear();
        return fn();
    } catch (const ponder::Error& e) {
        const std::string m = e.what();
        if (m.find("context is full") != std::string::npos)
            return set_error(PONDER_ERR_CONTEXT_FULL, m);
        if (m.find("cancelled") != std::string::npos) return set_error(PONDER_ERR_CANCELLED, m);
        return set_error(fallback, m);
    } catch (const std::bad_alloc&) {
        return set_error(PONDER_ERR_FAILED, "out of memory");
    } catch (const std::exception& e) {
        return set_error(PONDER_ERR_FAILED, std::string("internal error: ") + e.what());
    } catch (...) {
        return set_error(PONDER_ERR_FAILED, "internal error");
    }
}

#define PONDER_REQUIRE(cond, what) \
    if (!(cond)) return set_error(PONDER_ERR_INVALID_ARGUMENT, what)

ponder::SamplerParams to_cpp(const ponder_sampler_params& p) {
    ponder::SamplerParams s;
    s.temperature = p.temperature;
    s.top_k = p.top_k;
    s.top_p = p.top_p;
    s.min_p = p.min_p;
    s.repeat_penalty = p.repeat_penalty;
    s.presence_penalty = p.presence_penalty;
    s.frequency_penalty = p.frequency_penalty;
    s.penalty_last_n = p.penalty_last_n;
    s.seed = p.seed;
    return s;
}
}  // namespace

extern "C" {

const char* ponder_last_error(void) {
    return g_last_error.c_str();
}
const char* ponder_version(void) {
    return "0.1.0";
}

ponder_model_params ponder_model_default_params(void) {
    return {nullptr, nullptr, false};
}

ponder_status ponder_model_load(const char* path, const ponder_model_params* params,
                                ponder_model** out) {
    PONDER_REQUIRE(path && out, "ponder_model_load: path and out must not be NULL");
    *out = nullptr;
    return guard(PONDER_ERR_LOAD, [&] {
        const ponder_model_params p = params ? *params : ponder_model_default_params();
        ponder::Model::Progress progress;
        if (p.progress) progress = [p](float f) { return p.progress(f, p.progress_user_data); };
        auto m = std::make_unique<ponder_model>();
        m->model = ponder::Model::load(path, progress, p.prefetch);
        m->tok = ponder::Tokenizer::from_gguf(m->model->file());
        m->arch = m->model->hparams().arch;
        if (m->model->file().find("tokenizer.chat_template"))
            m->thinking =
                ponder::thinking_template(m->model->file().get_string("tokenizer.chat_template"));
        *out = m.release();
        return PONDER_OK;
    });
}

void ponder_model_free(ponder_model* model) {
    delete model;
}

int32_t ponder_model_n_vocab(const ponder_model* m) {
    return m ? m->model->hparams().n_vocab : 0;
}
int32_t ponder_model_n_ctx_train(const ponder_model* m) {
    return m ? m->model->hparams().n_ctx_train : 0;
}
const char* ponder_model_arch(const ponder_model* m) {
    return m ? m->arch.c_str() : "";
}
ponder_token ponder_model_bos(const ponder_model* m) {
    return m ? m->tok->bos_id() : -1;
}
ponder_token ponder_model_eos(const ponder_model* m) {
    return m ? m->tok->eos_id() : -1;
}
bool ponder_model_is_eog(const ponder_model* m, ponder_token t) {
    return m && m->tok->is_eog(t);
}

ponder_status ponder_tokenize(const ponder_model* m, const char* text, size_t len, bool add_special,
                              bool parse_special, ponder_token* out, size_t capacity,
                              size_t* n_out) {
    PONDER_REQUIRE(m && (text || len == 0) && n_out, "ponder_tokenize: NULL argument");
    PONDER_REQUIRE(out || capacity == 0, "ponder_tokenize: out is NULL with a capacity");
    return guard(PONDER_ERR_FAILED, [&] {
        const auto ids =
            m->tok->encode(std::string_view(text ? text : "", len), add_special, parse_special);
        *n_out = ids.size();
        if (ids.size() > capacity)
            return set_error(
                PONDER_ERR_BUFFER_TOO_SMALL,
                ponder::cat("ponder_tokenize: ", ids.size(), " ids do not fit in ", capacity));
        std::memcpy(out, ids.data(), ids.size() * sizeof(ponder_token));
        return PONDER_OK;
    });
}

ponder_status ponder_detokenize(const ponder_model* m, const ponder_token* ids, size_t n,
                                bool show_special, char* out, size_t capacity, size_t* n_out) {
    PONDER_REQUIRE(m && (ids || n == 0) && n_out, "ponder_detokenize: NULL argument");
    PONDER_REQUIRE(out || capacity == 0, "ponder_detokenize: out is NULL with a capacity");
    return guard(PONDER_ERR_FAILED, [&] {
        for (size_t i = 0; i < n; ++i)
            if (ids[i] < 0 || ids[i] >= m->model->hparams().n_vocab)
                return set_error(PONDER_ERR_INVALID_ARGUMENT,
                                 ponder::cat("ponder_detokenize: id ", ids[i], " at index ", i,
                                             " is outside the vocabulary"));
        const std::string s = m->tok->decode(std::span<const int32_t>(ids, n), show_special);
        *n_out = s.size();
        if (s.size() > capacity)
            return set_error(
                PONDER_ERR_BUFFER_TOO_SMALL,
                ponder::cat("ponder_detokenize: ", s.size(), " bytes do not fit in ", capacity));
        std::memcpy(out, s.data(), s.size());
        return PONDER_OK;
    });
}

ponder_context_params ponder_context_default_params(void) {
    return {0, 0, 512, PONDER_KV_F16};
}

ponder_status ponder_context_init(ponder_model* m, const ponder_context_params* params,
                                  ponder_context** out) {
    PONDER_REQUIRE(m && out, "ponder_context_init: NULL argument");
    *out = nullptr;
    const ponder_context_params p = params ? *params : ponder_context_default_params();
    PONDER_REQUIRE(p.n_ctx >= 0 && p.n_threads >= 0 && p.n_batch >= 0,
                   "ponder_context_init: n_ctx, n_threads and n_batch must be >= 0");
    PONDER_REQUIRE(p.kv_type == PONDER_KV_F16 || p.kv_type == PONDER_KV_Q8_0,
                   "ponder_context_init: kv_type must be PONDER_KV_F16 or PONDER_KV_Q8_0");
    return guard(PONDER_ERR_FAILED, [&] {
        auto c = std::make_unique<ponder_context>();
        c->model = m;
        c->ctx = std::make_unique<ponder::Context>(
            *m->model, ponder::ContextParams{
                           p.n_ctx, p.n_threads, p.n_batch > 0 ? p.n_batch : 512,
                           p.kv_type == PONDER_KV_Q8_0 ? ponder::DType::Q8_0 : ponder::DType::F16});
        *out = c.release();
        return PONDER_OK;
    });
}

void ponder_context_free(ponder_context* ctx) {
    delete ctx;
}
int32_t ponder_context_n_ctx(const ponder_context* ctx) {
    return ctx ? ctx->ctx->n_ctx() : 0;
}

ponder_status ponder_decode(ponder_context* ctx, const ponder_batch* batch) {
    PONDER_REQUIRE(ctx && batch, "ponder_decode: NULL argument");
    PONDER_REQUIRE(batch->n_tokens > 0 && batch->tokens && batch->pos && batch->seq_id,
                   "ponder_decode: the batch needs n_tokens > 0, tokens, pos and seq_id");
    return guard(PONDER_ERR_FAILED, [&] {
        ponder::Batch b;
        for (int32_t i = 0; i < batch->n_tokens; ++i) {
            const bool want = batch->want_logits ? batch->want_logits[i] : i + 1 == batch->n_tokens;
            b.add(batch->tokens[i], batch->pos[i], batch->seq_id[i], want);
        }
        ctx->ctx->decode(b);
        return PONDER_OK;
    });
}

const float* ponder_get_logits(ponder_context* ctx, int32_t i) {
    if (!ctx || i < 0 || i >= ctx->ctx->n_outputs()) {
        set_error(PONDER_ERR_INVALID_ARGUMENT, "ponder_get_logits: no such output");
        return nullptr;
    }
    return ctx->ctx->logits(i);
}

ponder_status ponder_kv_seq_rm(ponder_context* ctx, int32_t seq, int32_t p0, int32_t p1) {
    PONDER_REQUIRE(ctx, "ponder_kv_seq_rm: NULL context");
    return guard(PONDER_ERR_INVALID_ARGUMENT, [&] {
        ctx->ctx->kv().seq_rm(seq, p0, p1);
        return PONDER_OK;
    });
}

ponder_status ponder_kv_seq_cp(ponder_context* ctx, int32_t src, int32_t dst, int32_t p0,
                               int32_t p1) {
    PONDER_REQUIRE(ctx, "ponder_kv_seq_cp: NULL context");
    return guard(PONDER_ERR_INVALID_ARGUMENT, [&] {
        ctx->ctx->kv().seq_cp(src, dst, p0, p1);
        return PONDER_OK;
    });
}

int32_t ponder_kv_seq_pos_max(const ponder_context* ctx, int32_t seq) {
    if (!ctx || seq < 0 || seq >= ponder::KvCache::kMaxSeqs) return -1;
    return ctx->ctx->kv().pos_max(seq);
}

ponder_sampler_params ponder_sampler_default_params(void) {
    const ponder::SamplerParams d;
    return {d.temperature,
            d.top_k,
            d.top_p,
            d.min_p,
            d.repeat_penalty,
            d.presence_penalty,
            d.frequency_penalty,
            d.penalty_last_n,
            d.seed};
}

ponder_status ponder_sampler_init(const ponder_sampler_params* params, ponder_sampler** out) {
    PONDER_REQUIRE(out, "ponder_sampler_init: NULL out");
    *out = nullptr;
    return guard(PONDER_ERR_INVALID_ARGUMENT, [&] {
        auto s = std::make_unique<ponder_sampler>();
        s->sampler = std::make_unique<ponder::Sampler>(
            to_cpp(params ? *params : ponder_sampler_default_params()));
        *out = s.release();
        return PONDER_OK;
    });
}

void ponder_sampler_free(ponder_sampler* s) {
    delete s;
}

ponder_status ponder_sampler_sample(ponder_sampler* s, ponder_context* ctx, int32_t i,
                                    ponder_token* out) {
    PONDER_REQUIRE(s && ctx && out, "ponder_sampler_sample: NULL argument");
    PONDER_REQUIRE(i >= 0 && i < ctx->ctx->n_outputs(), "ponder_sampler_sample: no such output");
    return guard(PONDER_ERR_FAILED, [&] {
        *out = s->sampler->sample(ctx->ctx->logits(i), ctx->ctx->model().hparams().n_vocab);
        s->sampler->accept(*out);
        return PONDER_OK;
    });
}

ponder_generate_params ponder_generate_default_params(void) {
    ponder_generate_params p;
    p.max_tokens = 128;
    p.stop = nullptr;
    p.on_text = nullptr;
    p.user_data = nullptr;
    p.thinking = true;
    p.max_thinking_tokens = -1;
    p.min_thinking_tokens = 0;
    p.wait_text = nullptr;
    p.conclusion = nullptr;
    return p;
}

ponder_status ponder_generate(ponder_context* ctx, ponder_sampler* s, const char* prompt,
                              const ponder_generate_params* params,
                              ponder_generate_result* result) {
    PONDER_REQUIRE(ctx && s && prompt, "ponder_generate: NULL argument");
    return guard(PONDER_ERR_FAILED, [&] {
        const ponder_generate_params p = params ? *params : ponder_generate_default_params();
        ponder::GenerateParams gp;
        std::string text = prompt;
        const ponder::ThinkingTemplate& tt = ctx->model->thinking;
        const bool budgets = p.max_thinking_tokens >= 0 || p.min_thinking_tokens > 0;
        if (tt.thinks || budgets) {
            ponder::ThinkingParams& th = gp.thinking;
            th.track = true;
            th.open = tt.delims.open;
            th.close = tt.delims.close;
            if (!p.thinking && tt.thinks) text = ponder::prefill_empty_thinking(text, tt.delims);
            th.starts_inside = ponder::prompt_opens_reasoning(text, tt.delims);
            // Thinking off: a block the model opens anyway is closed at once.
            th.max_tokens = p.thinking ? p.max_thinking_tokens : 0;
            th.min_tokens = p.thinking ? p.min_thinking_tokens : 0;
            if (p.wait_text) th.wait_text = p.wait_text;
            if (p.conclusion) th.conclusion = p.conclusion;
            try {
                ponder::validate_thinking_params(th);
            } catch (const ponder::Error& e) {
                return set_error(PONDER_ERR_INVALID_ARGUMENT,
                                 ponder::cat("ponder_generate: ", e.what()));
            }
        }
        const auto ids = ctx->model->tok->encode(text, true, true);
        ctx->ctx->kv().seq_rm(0, 0, -1);
        gp.max_tokens = p.max_tokens;
        if (p.stop)
            for (const char* const* st = p.stop; *st; ++st) gp.stop.emplace_back(*st);
        ponder::TextCallback cb;
        if (p.on_text)
            cb = [&](std::string_view t) { return p.on_text(t.data(), t.size(), p.user_data); };
        const auto r = ponder::generate(*ctx->ctx, *ctx->model->tok, *s->sampler, ids, gp, cb);
        if (result) {
            result->n_prompt_tokens = r.n_prompt;
            result->n_generated_tokens = int32_t(r.ids.size());
            result->n_reasoning_tokens = r.n_reasoning_tokens;
            result->n_content_tokens = r.n_content_tokens;
            result->prompt_ms = r.prompt_ms;
            result->generate_ms = r.generate_ms;
            result->finish_reason = ponder::finish_reason_name(r.finish);
        }
        if (r.finish == ponder::FinishReason::Cancelled)
            return set_error(PONDER_ERR_CANCELLED, "ponder_generate: cancelled by on_text");
        return PONDER_OK;
    });
}

}  // extern "C"
