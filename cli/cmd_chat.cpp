// ponder chat -m MODEL: a conversation in the terminal, with the model's chat template,
// thinking shown dimmed (or hidden), budgets, and prefix reuse between turns.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>

#include "chat/line_editor.h"
#include "cli/commands.h"
#include "core/error.h"
#include "hub/model_ref.h"
#include "runtime/chat_session.h"

namespace ponder::cli {
namespace {

std::atomic<int> g_interrupts{0};

extern "C" void chat_on_sigint(int) {
    g_interrupts.fetch_add(1);
}

struct ChatOptions {
    std::string model, system, think = "on", prompt, wait_text = "\nWait", conclusion;
    int32_t n_ctx = 0, n_threads = 0, max_tokens = -1, max_thinking = -1, min_thinking = 0;
    SamplerParams sp;
    bool hide_thinking = false;
};

const char* kHelp =
    "Commands:\n"
    "  /reset            forget the conversation (settings stay)\n"
    "  /think on|off     let the model think, or make it answer at once\n"
    "  /budget MIN MAX   thinking tokens: at least MIN (\"Wait\" is forced), at most MAX\n"
    "                    (-1: no limit)\n"
    "  /save FILE        write the messages and settings as JSON\n"
    "  /load FILE        read them back\n"
    "  /help             this text\n"
    "  /quit             leave (also Ctrl-D, or Ctrl-C twice at the prompt)\n"
    "Input: end a line with \\ to continue it; \"\"\" starts and ends a block of lines.\n"
    "Ctrl-C during an answer stops it.\n";

bool parse_on_off(const std::string& v, const char* what) {
    if (v == "on") return true;
    if (v == "off") return false;
    fail(what, " must be 'on' or 'off', got '", v, "'");
}

class ChatCli {
  public:
    ChatCli(const ChatOptions& o, ChatSession& session)
        : o_(o), session_(session), color_(isatty(1) != 0) {}

    // Answers one message, streaming it; prints the speed to stderr.
    void answer(const std::string& text) {
        g_interrupts.store(0);
        in_reasoning_ = false;
        ChatTurn t;
        try {
            t = session_.send(text, [this](const ReasoningParser::Delta& d) {
                show(d);
                return g_interrupts.load() == 0;
            });
        } catch (const Error& e) {
            end_style();
            std::fprintf(stderr, "error: %s\n", e.what());
            return;
        }
        end_style();
        std::fputc('\n', stdout);
        std::fflush(stdout);
        const auto& g = t.gen;
        const double tps = g.generate_ms > 0 ? 1000.0 * double(g.ids.size()) / g.generate_ms : 0;
        std::fprintf(
            stderr,
            "[%d thinking + %d answer tokens, %.1f tokens/s | prompt %d tokens, %d "
            "reused | %s]\n",
            g.n_reasoning_tokens, g.n_content_tokens, tps, t.n_prompt_total, t.n_reused,
            g.finish == FinishReason::Cancelled ? "stopped" : finish_reason_name(g.finish));
        g_interrupts.store(0);
    }

    // Handles a /command; false when the user leaves.
    bool command(const std::string& line) {
        std::istringstream in(line);
        std::string cmd, a, b;
        in >> cmd >> a >> b;
        ChatSettings& s = session_.settings();
        try {
            if (cmd == "/quit" || cmd == "/exit") return false;
            if (cmd == "/help") {
                std::fputs(kHelp, stdout);
            } else if (cmd == "/reset") {
                session_.reset();
                std::puts("(conversation cleared)");
            } else if (cmd == "/think") {
                s.thinking = parse_on_off(a, "/think");
                std::printf("(thinking %s)\n", s.thinking ? "on" : "off");
            } else if (cmd == "/budget") {
                if (a.empty() || b.empty()) fail("usage: /budget MIN MAX (MAX -1: no limit)");
                ThinkingParams check;
                check.track = true;
                check.min_tokens = parse_int(a, "MIN");
                check.max_tokens = parse_int(b, "MAX");
                validate_thinking_params(check);
                s.min_thinking = check.min_tokens;
                s.max_thinking = check.max_tokens;
                std::printf("(thinking budget: min %d, max %d)\n", s.min_thinking, s.max_thinking);
            } else if (cmd == "/save") {
                if (a.empty()) fail("usage: /save FILE");
                session_.save(a);
                std::printf("(saved %zu messages to %s)\n", session_.messages().size(), a.c_str());
            } else if (cmd == "/load") {
                if (a.empty()) fail("usage: /load FILE");
                session_.load(a);
                std::printf("(loaded %zu messages from %s)\n", session_.messages().size(),
                            a.c_str());
            } else {
                std::printf("unknown command %s (/help lists them)\n", cmd.c_str());
            }
        } catch (const Error& e) {
            std::printf("error: %s\n", e.what());
        }
        std::fflush(stdout);
        return true;
    }

  private:
    static int32_t parse_int(const std::string& v, const char* what) {
        try {
            size_t used = 0;
            const long x = std::stol(v, &used);
            if (used == v.size() && x >= -1 && x <= (1 << 30)) return int32_t(x);
        } catch (const std::exception&) {
        }
        fail(what, " must be an integer >= -1, got '", v, "'");
    }

    void show(const ReasoningParser::Delta& d) {
        if (!d.reasoning.empty() && !o_.hide_thinking) {
            if (!in_reasoning_ && color_) std::fputs("\x1b[2m", stdout);
            in_reasoning_ = true;
            std::fwrite(d.reasoning.data(), 1, d.reasoning.size(), stdout);
        }
        if (!d.content.empty()) {
            if (in_reasoning_) {
                end_style();
                std::fputs("\n\n", stdout);
            }
            std::fwrite(d.content.data(), 1, d.content.size(), stdout);
        }
        std::fflush(stdout);
    }

    void end_style() {
        if (in_reasoning_ && color_) std::fputs("\x1b[0m", stdout);
        in_reasoning_ = false;
    }

    const ChatOptions& o_;
    ChatSession& session_;
    bool color_;
    bool in_reasoning_ = false;
};

// Reads one message: a line, lines joined by a trailing backslash, or a """ block.
LineReader::Status read_message(LineReader& reader, std::string& msg) {
    std::string line;
    auto st = reader.read_line("> ", line);
    if (st != LineReader::Status::Line) return st;
    if (line == "\"\"\"") {
        msg.clear();
        for (bool first = true;; first = false) {
            st = reader.read_line("... ", line);
            if (st != LineReader::Status::Line) return st;
            if (line == "\"\"\"") return LineReader::Status::Line;
            if (!first) msg += '\n';
            msg += line;
        }
    }
    msg = line;
    while (!msg.empty() && msg.back() == '\\') {
        msg.back() = '\n';
        st = reader.read_line("... ", line);
        if (st != LineReader::Status::Line) return st;
        msg += line;
    }
    return LineReader::Status::Line;
}

void chat(const ChatOptions& o) {
    auto model = Model::load(resolve_model_path(o.model));
    auto tok = Tokenizer::from_gguf(model->file());
    int32_t n_ctx = o.n_ctx;
    if (n_ctx <= 0) {
        n_ctx = model->hparams().n_ctx_train;
        if (n_ctx <= 0 || n_ctx > 4096) n_ctx = 4096;
    }
    Context ctx(*model, {.n_ctx = n_ctx, .n_threads = o.n_threads});
    ChatSettings s;
    s.system = o.system;
    s.thinking = parse_on_off(o.think, "--think");
    s.max_thinking = o.max_thinking;
    s.min_thinking = o.min_thinking;
    s.wait_text = o.wait_text;
    s.conclusion = o.conclusion;
    s.max_tokens = o.max_tokens;
    s.sampling = o.sp;
    {
        ThinkingParams check;
        check.track = true;
        check.max_tokens = s.max_thinking;
        check.min_tokens = s.min_thinking;
        check.wait_text = s.wait_text;
        validate_thinking_params(check);
        Sampler validate(s.sampling);
    }
    ChatSession session(ctx, *tok, model_chat_template(*model, o.model), s);
    ChatCli cli(o, session);

    struct sigaction sa = {};
    sa.sa_handler = chat_on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocked read returns, so that Ctrl-C is seen
    sigaction(SIGINT, &sa, nullptr);

    if (!o.prompt.empty()) {
        cli.answer(o.prompt);
        return;
    }
    LineReader reader;
    reader.set_interrupt_probe([] { return g_interrupts.exchange(0) > 0; });
    std::fprintf(stderr,
                 "ponder chat: %s (%d tokens of context). /help lists commands; Ctrl-C stops "
                 "an answer.\n",
                 o.model.c_str(), n_ctx);
    int interrupts_at_prompt = 0;
    for (;;) {
        std::string msg;
        const auto st = read_message(reader, msg);
        if (st == LineReader::Status::Eof) break;
        if (st == LineReader::Status::Interrupted) {
            g_interrupts.store(0);
            if (++interrupts_at_prompt >= 2) break;
            std::fputs("(Ctrl-C again, or /quit, to leave)\n", stdout);
            std::fflush(stdout);
            continue;
        }
        interrupts_at_prompt = 0;
        if (msg.find_first_not_of(" \t\n") == std::string::npos) continue;
        reader.add_history(msg);
        if (msg[0] == '/') {
            if (!cli.command(msg)) break;
            continue;
        }
        cli.answer(msg);
    }
}

void add_chat(CLI::App& app) {
    auto o = std::make_shared<ChatOptions>();
    auto* cmd = app.add_subcommand("chat", "Chat with a model in the terminal");
    cmd->add_option("-m,--model", o->model, "GGUF model file or cached model name")->required();
    cmd->add_option("-t,--threads", o->n_threads, "Threads (0: all cores)");
    cmd->add_option("-c,--ctx-size", o->n_ctx,
                    "Context size in tokens (0: the model's, at most 4096)");
    cmd->add_option("-n,--n-predict", o->max_tokens,
                    "Tokens per answer, thinking included (-1: no limit)");
    cmd->add_option("--temp", o->sp.temperature, "Temperature (0: greedy)");
    cmd->add_option("--top-k", o->sp.top_k, "Top-k (0: off)");
    cmd->add_option("--top-p", o->sp.top_p, "Top-p (1: off)");
    cmd->add_option("--min-p", o->sp.min_p, "Min-p (0: off)");
    cmd->add_option("--seed", o->sp.seed, "Random seed");
    cmd->add_option("--system", o->system, "System message");
    cmd->add_option("--think", o->think, "Let the model think: on or off")
        ->check(CLI::IsMember({"on", "off"}));
    cmd->add_option("--max-thinking", o->max_thinking,
                    "At most N thinking tokens, then the end of thinking is forced (-1: no limit)");
    cmd->add_option("--min-thinking", o->min_thinking,
                    "At least N thinking tokens: an early end becomes the wait text");
    cmd->add_option("--wait-text", o->wait_text, "Text forced to keep the model thinking");
    cmd->add_option("--conclusion", o->conclusion,
                    "Text forced before the end of thinking when --max-thinking is reached");
    cmd->add_flag("--hide-thinking", o->hide_thinking, "Do not print the thinking");
    cmd->add_option("--prompt", o->prompt, "Answer this message once and exit");
    cmd->callback([o] { chat(*o); });
}

const Registrar reg_chat("chat", 11, add_chat);

}  // namespace
}  // namespace ponder::cli
