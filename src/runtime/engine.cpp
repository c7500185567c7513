#include "runtime/engine.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace ponder {
namespace {

constexpr int32_t kPrefillChunk = 512;  // prompt tokens per step, across all prefilling jobs

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    size_t n = std::min(a.size(), b.size()), i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return i;
}

using Clock = std::chrono::steady_clock;

}  // namespace

struct Engine::Slot {
    int32_t seq = 0;
    std::vector<int32_t> cached;  // tokens whose K/V the cache holds for seq, positions 0..
    Job* job = nullptr;
    int32_t choice = 0;
    bool done = true;
    int32_t next_token = -1;  // emitted, to be fed at the next step
    std::unique_ptr<Sampler> sampler;
    std::unique_ptr<StreamDecoder> dec;
    std::unique_ptr<StopMatcher> stop;
    std::unique_ptr<ThinkingControl> thinking;
    int32_t n_generated = 0;
};

struct Engine::Job {
    int64_t id = 0;
    Request req;
    EventSink sink;
    Usage usage;
    std::vector<Slot*> slots;  // one per choice; slots[0] runs the prompt
    size_t n_prefilled = 0;    // prompt tokens in slots[0]'s cache
    bool prefill_done = false;
    bool cancelled = false;
    bool any_token = false;
    int32_t choices_left = 0;
    Clock::time_point submitted;
};

Engine::Engine(Context& ctx, const Tokenizer& tok, const EngineParams& params)
    : ctx_(ctx), tok_(tok) {
    const int32_t n = std::max(1, params.n_slots);
    if (n > KvCache::kMaxSeqs)
        fail("at most ", KvCache::kMaxSeqs, " parallel slots, asked for ", n);
    slot_ctx_ = ctx.n_ctx() / n;
    if (slot_ctx_ < 8)
        fail("a context of ", ctx.n_ctx(), " tokens is too small for ", n, " parallel slots");
    for (int32_t i = 0; i < n; ++i) {
        slots_.push_back(std::make_unique<Slot>());
        slots_.back()->seq = i;
        ctx.kv().seq_rm(i, 0, -1);
    }
}

Engine::~Engine() = default;

int64_t Engine::submit(Request req, EventSink sink) {
    if (req.prompt.empty()) fail("the prompt is empty");
    if (int64_t(req.prompt.size()) >= int64_t(slot_ctx_))
        fail("the prompt has ", req.prompt.size(), " tokens but the context holds ", slot_ctx_,
             " tokens per sequence (raise the context size or shorten the prompt)");
    if (req.n_choices < 1 || req.n_choices > int32_t(slots_.size()))
        fail("n must be between 1 and ", slots_.size(), " (the parallel slots), got ",
             req.n_choices);
    if (req.top_logprobs > 20) fail("top_logprobs must be at most 20, got ", req.top_logprobs);
    for (int32_t t : req.prompt)
        if (t < 0 || t >= tok_.n_vocab()) fail("prompt token id ", t, " is outside the vocabulary");
    Sampler check(req.sampling);  // validates the sampling parameters now, not mid-run
    validate_thinking_params(req.thinking);
    auto job = std::make_unique<Job>();
    job->id = next_id_++;
    job->req = std::move(req);
    job->sink = std::move(sink);
    job->submitted = Clock::now();
    job->choices_left = job->req.n_choices;
    const int64_t id = job->id;
    queue_.push_back(std::move(job));
    return id;
}

void Engine::cancel(int64_t id) {
    for (auto& j : queue_)
        if (j->id == id) j->cancelled = true;
    for (auto& j : running_)
        if (j->id == id) j->cancelled = true;
}

bool Engine::idle() const {
    return queue_.empty() && running_.empty();
}

EngineStats Engine::stats() const {
    EngineStats s = stats_;
    s.queued = int32_t(queue_.size());
    s.active_slots = 0;
    for (const auto& sl : slots_) s.active_slots += sl->job ? 1 : 0;
    s.kv_used = ctx_.kv().n_used();
    s.kv_size = ctx_.kv().n_cells();
    return s;
}

void Engine::start_jobs() {
    // Cancelled jobs that never started finish at once.
    for (auto it = queue_.begin(); it != queue_.end();) {
        if ((*it)->cancelled) {
            Job& j = **it;
            for (int32_t c = 0; c < j.req.n_choices; ++c) {
                Event e;
                e.kind = Event::Kind::ChoiceDone;
                e.choice = c;
                e.finish = FinishReason::Cancelled;
                j.sink(e, j.usage);
            }
            Event done;
            done.kind = Event::Kind::RequestDone;
            j.sink(done, j.usage);
            it = queue_.erase(it);
        } else {
            ++it;
        }
    }
    while (!queue_.empty()) {
        Job& job = *queue_.front();
        std::vector<Slot*> free;
        for (auto& s : slots_)
            if (!s->job) free.push_back(s.get());
        if (int32_t(free.size()) < job.req.n_choices) return;  // FIFO: wait for room
        const auto& prompt = job.req.prompt;
        // The main slot: the free slot whose cache shares the longest prefix with the prompt.
        Slot* main = free[0];
        size_t best = common_prefix(main->cached, prompt);
        for (Slot* s : free) {
            const size_t n = common_prefix(s->cached, prompt);
            if (n > best) best = n, main = s;
        }
        // A running slot may hold a longer prefix (a shared system prompt): share its cells.
        Slot* donor = nullptr;
        size_t donor_n = best;
        for (auto& s : slots_) {
            if (s.get() == main) continue;
            const size_t n = common_prefix(s->cached, prompt);
            if (n > donor_n) donor_n = n, donor = s.get();
        }
        size_t reuse = donor ? donor_n : best;
        reuse = std::min(reuse, prompt.size() - 1);  // the last token must run for logits
        auto& kv = ctx_.kv();
        if (donor) {
            kv.seq_rm(main->seq, 0, -1);
            kv.seq_cp(donor->seq, main->seq, 0, int32_t(reuse));
        } else {
            kv.seq_rm(main->seq, int32_t(reuse), -1);
        }
        main->cached.assign(prompt.begin(), prompt.begin() + ptrdiff_t(reuse));
        job.slots.push_back(main);
        // The other choices take the free slots with the least cached (keeping useful caches).
        std::sort(free.begin(), free.end(),
                  [](Slot* a, Slot* b) { return a->cached.size() < b->cached.size(); });
        for (Slot* s : free) {
            if (int32_t(job.slots.size()) == job.req.n_choices) break;
            if (s == main) continue;
            kv.seq_rm(s->seq, 0, -1);
            s->cached.clear();
            job.slots.push_back(s);
        }
        for (size_t c = 0; c < job.slots.size(); ++c) {
            Slot& s = *job.slots[c];
            s.job = &job;
            s.choice = int32_t(c);
            s.done = false;
        }
        job.n_prefilled = reuse;
        job.usage.prompt_tokens = int32_t(prompt.size());
        job.usage.cached_prompt_tokens = int32_t(reuse);
        stats_.cached_tokens += reuse;
        running_.push_back(std::move(queue_.front()));
        queue_.pop_front();
    }
}

void Engine::emit_token(Job& job, Slot& slot, int32_t id, bool forced, const float* logits) {
    if (!forced && !job.req.ignore_eog && tok_.is_eog(id)) {
        finish_choice(job, slot, FinishReason::Stop);
        return;
    }
    ++slot.n_generated;
    ++job.usage.completion_tokens;
    ++stats_.generated_tokens;
    const int32_t thinking_before = slot.thinking->n_thinking();
    slot.thinking->accept(id);
    // Inside the block, or opening or closing it (a late close may reclassify earlier tokens).
    const int32_t thinking_added = slot.thinking->n_thinking() - thinking_before;
    const bool thinking = thinking_added > 0;
    job.usage.reasoning_tokens += thinking_added;
    if (!job.any_token) {
        job.any_token = true;
        job.usage.ttft_ms =
            std::chrono::duration<double, std::milli>(Clock::now() - job.submitted).count();
    }
    const std::string piece = slot.dec->push(id);
    Event e;
    e.kind = Event::Kind::Token;
    e.choice = slot.choice;
    e.token = id;
    e.text = slot.stop->push(piece);
    e.thinking = thinking;
    e.forced = forced;
    if (job.req.top_logprobs >= 0 && logits && !forced) {
        const int32_t n = tok_.n_vocab();
        float mx = logits[0];
        for (int32_t i = 1; i < n; ++i) mx = std::max(mx, logits[i]);
        double sum = 0;
        for (int32_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - mx);
        const float lse = mx + float(std::log(sum));
        TokenLogprob lp{id, logits[id] - lse, {}};
        if (job.req.top_logprobs > 0) {
            std::vector<int32_t> idx(static_cast<size_t>(n));
            for (int32_t i = 0; i < n; ++i) idx[size_t(i)] = i;
            const auto k = std::min<size_t>(size_t(job.req.top_logprobs), idx.size());
            std::partial_sort(idx.begin(), idx.begin() + ptrdiff_t(k), idx.end(),
                              [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
            for (size_t i = 0; i < k; ++i) lp.top.emplace_back(idx[i], logits[idx[i]] - lse);
        }
        e.logprob = std::move(lp);
    }
    job.sink(e, job.usage);
    if (slot.stop->stopped()) {
        finish_choice(job, slot, FinishReason::Stop);
    } else if (job.req.max_tokens >= 0 && slot.n_generated >= job.req.max_tokens) {
        finish_choice(job, slot, FinishReason::Length);
    } else {
        slot.next_token = id;
    }
}

void Engine::advance(Job& job, Slot& slot, const float* logits) {
    ThinkingControl& tc = *slot.thinking;
    if (auto forced = tc.next_forced()) {
        slot.sampler->accept(*forced);
        emit_token(job, slot, *forced, true, nullptr);
        return;
    }
    const int32_t n_vocab = tok_.n_vocab();
    const int32_t forced_before = tc.n_forced();
    int32_t id = slot.sampler->sample(logits, n_vocab, tc.bias());
    id = tc.steer(id, logits, n_vocab, job.req.sampling.logit_bias);
    slot.sampler->accept(id);
    const bool forced = tc.n_forced() != forced_before;
    emit_token(job, slot, id, forced, forced ? nullptr : logits);
}

void Engine::after_prefill(Job& job, const float* logits) {
    job.prefill_done = true;
    Slot& main = *job.slots[0];
    main.cached = job.req.prompt;
    for (size_t c = 0; c < job.slots.size(); ++c) {
        Slot& s = *job.slots[c];
        if (c > 0) {
            ctx_.kv().seq_rm(s.seq, 0, -1);
            ctx_.kv().seq_cp(main.seq, s.seq, 0, -1);
            s.cached = job.req.prompt;
        }
        SamplerParams sp = job.req.sampling;
        sp.seed += uint64_t(c);  // choices differ, yet each is reproducible
        s.sampler = std::make_unique<Sampler>(sp);
        for (int32_t t : job.req.prompt) s.sampler->accept(t);
        s.dec = std::make_unique<StreamDecoder>(tok_, false);
        s.stop = std::make_unique<StopMatcher>(job.req.stop);
        s.thinking = std::make_unique<ThinkingControl>(tok_, job.req.thinking);
        s.n_generated = 0;
        s.next_token = -1;
    }
    if (job.req.max_tokens == 0) {
        for (Slot* s : job.slots) finish_choice(job, *s, FinishReason::Length);
        return;
    }
    for (Slot* s : job.slots)
        if (!s->done && s->job == &job) advance(job, *s, logits);
}

void Engine::finish_choice(Job& job, Slot& slot, FinishReason why) {
    if (slot.done || slot.job != &job) return;  // already finished (the slot may be reused)
    slot.done = true;
    if (slot.dec && slot.stop && !slot.stop->stopped() && why != FinishReason::Cancelled) {
        std::string rest = slot.stop->push(slot.dec->flush());
        rest += slot.stop->flush();
        if (!rest.empty()) {
            Event e;
            e.kind = Event::Kind::Token;
            e.choice = slot.choice;
            e.text = std::move(rest);
            e.thinking = slot.thinking && slot.thinking->in_thinking();
            job.sink(e, job.usage);
        }
    }
    Event e;
    e.kind = Event::Kind::ChoiceDone;
    e.choice = slot.choice;
    e.finish = why;
    job.sink(e, job.usage);
    slot.job = nullptr;
    --job.choices_left;
}

void Engine::finish_job(Job& job) {
    Event e;
    e.kind = Event::Kind::RequestDone;
    job.sink(e, job.usage);
}

bool Engine::step() {
    start_jobs();
    for (auto& jp : running_) {
        if (!jp->cancelled) continue;
        for (Slot* s : jp->slots) finish_choice(*jp, *s, FinishReason::Cancelled);
    }
    // Build the batch: one token per generating slot, then prompt chunks.
    Batch batch;
    struct Out {
        Job* job;
        Slot* slot;  // null: the prompt's last token
    };
    std::vector<Out> outs;
    std::vector<std::pair<Slot*, int32_t>> fed;  // tokens entering a slot's cache
    for (auto& jp : running_) {
        Job& job = *jp;
        if (!job.prefill_done || job.cancelled) continue;
        for (Slot* s : job.slots) {
            if (s->done || s->job != &job) continue;
            if (int32_t(s->cached.size()) >= slot_ctx_) {
                finish_choice(job, *s, FinishReason::ContextFull);
                continue;
            }
            batch.add(s->next_token, int32_t(s->cached.size()), s->seq, true);
            outs.push_back({&job, s});
            fed.emplace_back(s, s->next_token);
        }
    }
    int32_t budget = std::max<int32_t>(kPrefillChunk - int32_t(batch.size()), 32);
    for (auto& jp : running_) {
        Job& job = *jp;
        if (job.prefill_done || job.cancelled || budget <= 0) continue;
        Slot& main = *job.slots[0];
        const auto& prompt = job.req.prompt;
        const size_t end = std::min(prompt.size(), job.n_prefilled + size_t(budget));
        for (size_t i = job.n_prefilled; i < end; ++i) {
            const bool last = i + 1 == prompt.size();
            batch.add(prompt[i], int32_t(i), main.seq, last);
            if (last) outs.push_back({&job, nullptr});
        }
        budget -= int32_t(end - job.n_prefilled);
        stats_.prompt_tokens += end - job.n_prefilled;
        job.n_prefilled = end;
    }
    bool worked = false;
    if (batch.size() > 0) {
        try {
            ctx_.decode(batch);
        } catch (const Error& err) {
            // The cache is unchanged; every running request fails with the message.
            for (auto& jp : running_) {
                Event e;
                e.kind = Event::Kind::Error;
                e.error = err.what();
                jp->sink(e, jp->usage);
                jp->cancelled = true;
                for (Slot* s : jp->slots) finish_choice(*jp, *s, FinishReason::Cancelled);
                if (!jp->prefill_done) jp->slots[0]->cached.clear();
            }
            outs.clear();
            fed.clear();
        }
        ++stats_.steps;
        worked = true;
        for (auto& [s, t] : fed) s->cached.push_back(t);
        for (auto& jp : running_)
            if (!jp->prefill_done) {
                Slot& m = *jp->slots[0];
                m.cached.assign(jp->req.prompt.begin(),
                                jp->req.prompt.begin() + ptrdiff_t(jp->n_prefilled));
            }
        for (size_t i = 0; i < outs.size(); ++i) {
            Out& o = outs[i];
            const float* logits = ctx_.logits(int32_t(i));
            if (o.job->cancelled) continue;
            if (o.slot) {
                if (!o.slot->done && o.slot->job == o.job) advance(*o.job, *o.slot, logits);
            } else {
                after_prefill(*o.job, logits);
            }
        }
    }
    // Retire finished jobs.
    for (auto it = running_.begin(); it != running_.end();) {
        Job& job = **it;
        if (job.cancelled)
            for (Slot* s : job.slots) finish_choice(job, *s, FinishReason::Cancelled);
        if (job.choices_left == 0) {
            finish_job(job);
            it = running_.erase(it);
            worked = true;
        } else {
            ++it;
        }
    }
    return worked;
}

}  // namespace ponder
