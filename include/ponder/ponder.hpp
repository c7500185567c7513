// RAII wrappers over the C API (ponder.h). Failures throw ponder::ApiError with the message
// of ponder_last_error().
#pragma once
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ponder/ponder.h"

namespace ponder::api {

class ApiError : public std::runtime_error {
  public:
    ApiError(ponder_status s, const std::string& m) : std::runtime_error(m), status(s) {}
    ponder_status status;
};

inline void check(ponder_status s) {
    if (s != PONDER_OK) throw ApiError(s, ponder_last_error());
}

struct ModelDeleter {
    void operator()(ponder_model* m) const { ponder_model_free(m); }
};
struct ContextDeleter {
    void operator()(ponder_context* c) const { ponder_context_free(c); }
};
struct SamplerDeleter {
    void operator()(ponder_sampler* s) const { ponder_sampler_free(s); }
};

class Model {
  public:
    explicit Model(const std::string& path,
                   const ponder_model_params& p = ponder_model_default_params()) {
        ponder_model* m = nullptr;
        check(ponder_model_load(path.c_str(), &p, &m));
        m_.reset(m);
    }
    ponder_model* get() const { return m_.get(); }
    int32_t n_vocab() const { return ponder_model_n_vocab(m_.get()); }

    std::vector<ponder_token> tokenize(std::string_view text, bool add_special = true,
                                       bool parse_special = true) const {
        std::vector<ponder_token> ids(text.size() + 8);
        size_t n = 0;
        ponder_status s = ponder_tokenize(m_.get(), text.data(), text.size(), add_special,
                                          parse_special, ids.data(), ids.size(), &n);
        if (s == PONDER_ERR_BUFFER_TOO_SMALL) {
            ids.resize(n);
            s = ponder_tokenize(m_.get(), text.data(), text.size(), add_special, parse_special,
                                ids.data(), ids.size(), &n);
        }
        check(s);
        ids.resize(n);
        return ids;
    }

    std::string detokenize(const std::vector<ponder_token>& ids, bool show_special = false) const {
        std::string out(ids.size() * 8 + 16, '\0');
        size_t n = 0;
        ponder_status s = ponder_detokenize(m_.get(), ids.data(), ids.size(), show_special,
                                            out.data(), out.size(), &n);
        if (s == PONDER_ERR_BUFFER_TOO_SMALL) {
            out.resize(n);
            s = ponder_detokenize(m_.get(), ids.data(), ids.size(), show_special, out.data(),
                                  out.size(), &n);
        }
        check(s);
        out.resize(n);
        return out;
    }

  private:
    std::unique_ptr<ponder_model, ModelDeleter> m_;
};

class Context {
  public:
    Context(const Model& model, const ponder_context_params& p = ponder_context_default_params()) {
        ponder_context* c = nullptr;
        check(ponder_context_init(model.get(), &p, &c));
        c_.reset(c);
    }
    ponder_context* get() const { return c_.get(); }

  private:
    std::unique_ptr<ponder_context, ContextDeleter> c_;
};

class Sampler {
  public:
    explicit Sampler(const ponder_sampler_params& p = ponder_sampler_default_params()) {
        ponder_sampler* s = nullptr;
        check(ponder_sampler_init(&p, &s));
        s_.reset(s);
    }
    ponder_sampler* get() const { return s_.get(); }

  private:
    std::unique_ptr<ponder_sampler, SamplerDeleter> s_;
};

// Generates a completion of `prompt` and returns its text.
inline std::string generate(Context& ctx, Sampler& s, const std::string& prompt,
                            int32_t max_tokens) {
    std::string out;
    ponder_generate_params p = ponder_generate_default_params();
    p.max_tokens = max_tokens;
    p.user_data = &out;
    p.on_text = [](const char* t, size_t n, void* u) {
        static_cast<std::string*>(u)->append(t, n);
        return true;
    };
    check(ponder_generate(ctx.get(), s.get(), prompt.c_str(), &p, nullptr));
    return out;
}

}  // namespace ponder::api
