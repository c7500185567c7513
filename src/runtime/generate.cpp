#include "runtime/generate.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"

namespace ponder {

const char* finish_reason_name(FinishReason r) {
    switch (r) {
        case FinishReason::Stop:
            return "stop";
        case FinishReason::Length:
            return "length";
        case FinishReason::Cancelled:
            return "cancelled";
        case FinishReason::ContextFull:
            return "length";
    }
    return "stop";
}

std::string StopMatcher::push(std::string_view text) {
    if (stopped_) return {};
    held_ += text;
    size_t cut = std::string::npos;
    for (const auto& s : stops_) {
        if (s.empty()) continue;
        const size_t p = held_.find(s);
        if (p != std::string::npos) cut = std::min(cut, p);
    }
    if (cut != std::string::npos) {
        stopped_ = true;
        std::string out = held_.substr(0, cut);
        held_.clear();
        return out;
    }
    // Keep the longest tail that is a proper prefix of some stop string.
    size_t keep = 0;
    for (const auto& s : stops_)
        for (size_t n = std::min(s.size() - (s.empty() ? 0 : 1), held_.size()); n > keep; --n)
            if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
                keep = n;
                break;
            }
    std::string out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return out;
}

std::string StopMatcher::flush() {
    if (stopped_) return {};
    std::string out;
    out.swap(held_);
    return out;
}

GenerateResult generate(Context& ctx, const Tokenizer& tok, Sampler& sampler,
                        std::span<const int32_t> prompt, const GenerateParams& params,
                        const TextCallback& on_text) {
    using clock = std::chrono::steady_clock;
    GenerateResult r;
    if (prompt.empty()) fail("generate: the prompt is empty");
    if (params.n_past < 0 || size_t(params.n_past) >= prompt.size() + 1)
        fail("generate: n_past ", params.n_past, " exceeds the prompt length ", prompt.size());
    const int32_t n_vocab = ctx.model().hparams().n_vocab;
    // Reuse at most prompt.size() - 1 tokens: the last one must run to produce logits.
    const int32_t n_past = std::min<int32_t>(params.n_past, int32_t(prompt.size()) - 1);
    if (int64_t(prompt.size()) > int64_t(ctx.n_ctx()))
        fail("the prompt has ", prompt.size(), " tokens but the context holds ", ctx.n_ctx(),
             " (raise the context size)");

    auto t0 = clock::now();
    Batch b;
    for (size_t i = size_t(n_past); i < prompt.size(); ++i)
        b.add(prompt[i], int32_t(i), params.seq, i + 1 == prompt.size());
    ctx.decode(b);
    r.n_prompt = int32_t(b.size());
    auto t1 = clock::now();
    r.prompt_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    for (int32_t t : prompt) sampler.accept(t);

    StreamDecoder dec(tok, false);
    StopMatcher stops(params.stop);
    int32_t pos = int32_t(prompt.size());
    const float* logits = ctx.logits(0);
    if (params.top_logits > 0) {
        std::vector<int32_t> idx(static_cast<size_t>(n_vocab));
        for (int32_t i = 0; i < n_vocab; ++i) idx[size_t(i)] = i;
        const size_t k = std::min<size_t>(size_t(params.top_logits), idx.size());
        std::partial_sort(idx.begin(), idx.begin() + ptrdiff_t(k), idx.end(),
                          [&](int32_t a, int32_t c) { return logits[a] > logits[c]; });
        for (size_t i = 0; i < k; ++i) r.first_step_top.emplace_back(idx[i], logits[idx[i]]);
    }
    auto emit = [&](const std::string& s) {
        if (s.empty()) return true;
        r.text += s;
        return on_text ? on_text(s) : true;
    };
    ThinkingControl thinking(tok, params.thinking);
    r.finish = FinishReason::Length;
    for (int32_t n = 0; params.max_tokens < 0 || n < params.max_tokens; ++n) {
        int32_t id;
        const int32_t forced_before = thinking.n_forced();
        if (auto f = thinking.next_forced()) {
            id = *f;
        } else {
            id = sampler.sample(logits, n_vocab, thinking.bias());
            id = thinking.steer(id, logits, n_vocab, sampler.params().logit_bias);
        }
        const bool forced = thinking.n_forced() != forced_before;
        sampler.accept(id);
        if (!forced && !params.ignore_eog && tok.is_eog(id)) {
            r.finish = FinishReason::Stop;
            break;
        }
        r.ids.push_back(id);
        thinking.accept(id);
        r.n_reasoning_tokens = thinking.n_thinking();
        r.n_content_tokens = thinking.n_content();
        r.n_forced_tokens = thinking.n_forced();
        if (!emit(stops.push(dec.push(id)))) {
            r.finish = FinishReason::Cancelled;
            break;
        }
        if (stops.stopped()) {
            r.finish = FinishReason::Stop;
            break;
        }
        if (params.max_tokens >= 0 && n + 1 >= params.max_tokens) break;
        if (ctx.kv().n_used() >= ctx.n_ctx()) {
            r.finish = FinishReason::ContextFull;
            break;
        }
        Batch nb;
        nb.add(id, pos++, params.seq, true);
        ctx.decode(nb);
        logits = ctx.logits(0);
    }
    if (r.finish != FinishReason::Cancelled && !stops.stopped()) {
        emit(stops.push(dec.flush()));
        emit(stops.flush());
    }
    r.generate_ms = std::chrono::duration<double, std::milli>(clock::now() - t1).count();
    return r;
}

}  // namespace ponder
