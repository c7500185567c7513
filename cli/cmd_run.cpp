// ponder run -m MODEL -p PROMPT: stream a completion to stdout.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "hub/model_ref.h"
#include "runtime/generate.h"

namespace ponder::cli {
namespace {

struct RunOptions {
    std::string model, prompt;
    int32_t n_predict = 128, n_ctx = 0, n_threads = 0, top_logits = 0;
    SamplerParams sp;
    std::vector<std::string> stop;
    bool json = false;
    std::string kv_type = "f16";
    // Thinking control (runtime/thinking.h); off unless a budget is given.
    int32_t max_thinking = -1, min_thinking = 0;
    std::string wait_text = "\nWait", conclusion;
};

// Thinking is followed when a budget is set. The raw prompt may already have opened the block
// (a chat prompt ending in "<think>\n"): its last open delimiter comes after its last close.
ThinkingParams thinking_params(const RunOptions& o) {
    ThinkingParams th;
    th.track = o.max_thinking >= 0 || o.min_thinking > 0;
    th.max_tokens = o.max_thinking;
    th.min_tokens = o.min_thinking;
    th.wait_text = o.wait_text;
    th.conclusion = o.conclusion;
    const size_t open = o.prompt.rfind(th.open), close = o.prompt.rfind(th.close);
    th.starts_inside = open != std::string::npos && (close == std::string::npos || close < open);
    if (th.track) validate_thinking_params(th);
    return th;
}

void run(const RunOptions& o) {
    using clock = std::chrono::steady_clock;
    const ThinkingParams thinking = thinking_params(o);  // bad budgets fail before the load
    const auto t0 = clock::now();
    auto model = Model::load(resolve_model_path(o.model));
    auto tok = Tokenizer::from_gguf(model->file());
    const double load_s = std::chrono::duration<double>(clock::now() - t0).count();
    const auto ids = tok->encode(o.prompt, true, true);
    if (ids.empty()) fail("the prompt is empty (and the model adds no BOS token)");
    int32_t n_ctx = o.n_ctx;
    if (n_ctx <= 0)
        n_ctx = std::min<int32_t>(model->hparams().n_ctx_train,
                                  std::max<int32_t>(4096, int32_t(ids.size()) + o.n_predict));
    Context ctx(*model,
                {.n_ctx = n_ctx, .n_threads = o.n_threads, .kv_type = parse_kv_type(o.kv_type)});
    Sampler sampler(o.sp);
    GenerateParams gp;
    gp.max_tokens = o.n_predict;
    gp.stop = o.stop;
    gp.top_logits = o.top_logits;
    gp.thinking = thinking;
    GenerateResult r;
    if (o.json) {
        r = generate(ctx, *tok, sampler, ids, gp);
    } else {
        std::fputs(o.prompt.c_str(), stdout);
        std::fflush(stdout);
        r = generate(ctx, *tok, sampler, ids, gp, [](std::string_view s) {
            std::fwrite(s.data(), 1, s.size(), stdout);
            std::fflush(stdout);
            return true;
        });
        std::fputc('\n', stdout);
    }
    const double pp = r.prompt_ms > 0 ? 1000.0 * r.n_prompt / r.prompt_ms : 0;
    const double tg = r.generate_ms > 0 ? 1000.0 * double(r.ids.size()) / r.generate_ms : 0;
    if (o.json) {
        nlohmann::json j;
        j["prompt_ids"] = ids;
        j["ids"] = r.ids;
        j["text"] = r.text;
        j["finish_reason"] = finish_reason_name(r.finish);
        j["timings"] = {{"load_s", load_s},
                        {"prompt_tokens", r.n_prompt},
                        {"prompt_ms", r.prompt_ms},
                        {"prompt_tokens_per_s", pp},
                        {"generated_tokens", r.ids.size()},
                        {"generate_ms", r.generate_ms},
                        {"generate_tokens_per_s", tg}};
        if (thinking.track)
            j["thinking"] = {{"reasoning_tokens", r.n_reasoning_tokens},
                             {"content_tokens", r.n_content_tokens},
                             {"forced_tokens", r.n_forced_tokens}};
        if (o.top_logits > 0) {
            nlohmann::json top = nlohmann::json::array();
            for (const auto& [id, l] : r.first_step_top) top.push_back({id, l});
            j["first_step_top"] = top;
        }
        std::printf("%s\n",
                    j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    }
    std::fprintf(stderr,
                 "\nload %.2f s | prompt %d tokens, %.1f tokens/s | generated %zu tokens, "
                 "%.1f tokens/s | finish: %s\n",
                 load_s, r.n_prompt, pp, r.ids.size(), tg, finish_reason_name(r.finish));
    if (thinking.track)
        std::fprintf(stderr, "thinking %d tokens (%d forced) | answer %d tokens\n",
                     r.n_reasoning_tokens, r.n_forced_tokens, r.n_content_tokens);
}

void add_run(CLI::App& app) {
    auto o = std::make_shared<RunOptions>();
    auto* cmd = app.add_subcommand("run", "Generate a completion for a prompt");
    cmd->add_option("-m,--model", o->model, "GGUF model file or cached model name")->required();
    cmd->add_option("-p,--prompt", o->prompt, "Prompt text")->required();
    cmd->add_option("-n,--n-predict", o->n_predict, "Tokens to generate (-1: until the end)");
    cmd->add_option("-c,--ctx-size", o->n_ctx, "Context size in tokens (0: automatic)");
    cmd->add_option("-t,--threads", o->n_threads, "Threads (0: all cores)");
    cmd->add_option("--kv-type", o->kv_type, "KV cache type: f16 or q8_0")->capture_default_str();
    cmd->add_option("--temp", o->sp.temperature, "Temperature (0: greedy)");
    cmd->add_option("--top-k", o->sp.top_k, "Top-k (0: off)");
    cmd->add_option("--top-p", o->sp.top_p, "Top-p (1: off)");
    cmd->add_option("--min-p", o->sp.min_p, "Min-p (0: off)");
    cmd->add_option("--repeat-penalty", o->sp.repeat_penalty, "Repetition penalty (1: off)");
    cmd->add_option("--presence-penalty", o->sp.presence_penalty, "Presence penalty");
    cmd->add_option("--frequency-penalty", o->sp.frequency_penalty, "Frequency penalty");
    cmd->add_option("--repeat-last-n", o->sp.penalty_last_n, "Penalty window in tokens");
    cmd->add_option("--seed", o->sp.seed, "Random seed");
    cmd->add_option("--stop", o->stop, "Stop string (repeatable)");
    cmd->add_flag("--json", o->json, "Print one JSON object with ids, text and timings");
    cmd->add_option("--top-logits", o->top_logits, "With --json: the first step's top-K logits");
    cmd->add_option("--max-thinking", o->max_thinking,
                    "Thinking tokens at most, then </think> is forced (-1: no limit)");
    cmd->add_option("--min-thinking", o->min_thinking,
                    "Thinking tokens at least: an early </think> becomes the wait text");
    cmd->add_option("--wait-text", o->wait_text, "Text forced for an early </think>")
        ->capture_default_str();
    cmd->add_option("--conclusion", o->conclusion,
                    "Text forced before </think> when --max-thinking is reached");
    cmd->callback([o] { run(*o); });
}

const Registrar reg("run", 10, add_run);

}  // namespace
}  // namespace ponder::cli
