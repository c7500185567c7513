// `ponder chat`: --prompt for scripts (same answer as the library's ChatSession), and an
// interactive session in a pseudo-terminal: typing with line editing, an answer, /reset,
// Ctrl-C during a long answer, Ctrl-C twice at the prompt, /quit.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <pty.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "common/paths.h"
#include "runtime/chat_session.h"

namespace ponder {
namespace {

std::pair<std::string, int> run_cmd(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return {"", -1};
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    const int st = pclose(p);
    return {out, WEXITSTATUS(st)};
}

TEST(CliChat, PromptAnswersOnceLikeTheLibrary) {
    const std::string model = test::model_path("stories260K.gguf");
    const auto [out, rc] = run_cmd(test::cli_path() + " chat -m " + model +
                                   " --prompt 'Tell me about Lily' -n 24 --temp 0 -t 1 "
                                   "--system 'You tell stories.' 2>/dev/null");
    ASSERT_EQ(rc, 0) << out;
    auto m = Model::load(model);
    auto tok = Tokenizer::from_gguf(m->file());
    Context ctx(*m, {.n_ctx = 512, .n_threads = 1});
    ChatSettings s;
    s.system = "You tell stories.";
    s.max_tokens = 24;
    s.sampling.temperature = 0;
    ChatSession chat(ctx, *tok, model_chat_template(*m, "x"), s);
    const ChatTurn t = chat.send("Tell me about Lily");
    ASSERT_FALSE(t.content.empty());
    EXPECT_EQ(out, t.content + "\n");

    const auto [err, rc2] =
        run_cmd(test::cli_path() + " chat -m " + model + " --prompt hi -n 4 -t 1 2>&1 >/dev/null");
    EXPECT_EQ(rc2, 0);
    EXPECT_NE(err.find("tokens/s"), std::string::npos) << err;
}

TEST(CliChat, BadFlagsFailWithAMessage) {
    const std::string model = test::model_path("stories260K.gguf");
    auto [out, rc] = run_cmd(test::cli_path() + " chat -m " + model +
                             " --prompt hi --min-thinking 9 --max-thinking 3 2>&1");
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("exceeds"), std::string::npos) << out;
    std::tie(out, rc) = run_cmd(test::cli_path() + " chat -m /nonexistent.gguf --prompt hi 2>&1");
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("nonexistent"), std::string::npos) << out;
}

TEST(CliChat, PipedInputJoinsContinuedLinesAndBlocksAndSaves) {
    const std::string path = test::binary_dir() + "/cli_chat_piped.json";
    std::remove(path.c_str());
    const std::string input =
        "Once upon\\\na time\n\"\"\"\nline one\nline two\n\"\"\"\n/think off\n/save " + path +
        "\n/quit\n";
    const auto [out, rc] =
        run_cmd("printf '%s' '" + input + "' | " + test::cli_path() + " chat -m " +
                test::model_path("stories260K.gguf") + " -n 6 --temp 0 -t 1 2>/dev/null");
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("(saved 4 messages"), std::string::npos) << out;
    std::ifstream in(path);
    const auto j = nlohmann::json::parse(in);
    EXPECT_EQ(j["messages"][0]["content"], "Once upon\na time");
    EXPECT_EQ(j["messages"][2]["content"], "line one\nline two");
    EXPECT_EQ(j["settings"]["thinking"], false);
    std::remove(path.c_str());
}

// A child process on a pseudo-terminal; everything it prints is collected in `seen`.
class PtyChild {
  public:
    explicit PtyChild(const std::vector<std::string>& args) {
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        pid_ = forkpty(&fd_, nullptr, nullptr, nullptr);
        if (pid_ == 0) {
            execv(argv[0], argv.data());
            _exit(127);
        }
    }
    ~PtyChild() {
        if (pid_ > 0 && !exited_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (fd_ >= 0) close(fd_);
    }
    bool started() const { return pid_ > 0; }
    void send(const std::string& s) {
        ASSERT_EQ(write(fd_, s.data(), s.size()), ssize_t(s.size()));
    }
    // Reads until `needle` appears at or after `from`; returns its position (npos: timeout).
    size_t wait_for(const std::string& needle, size_t from = 0, int timeout_s = 120) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
        for (;;) {
            if (const size_t at = seen.find(needle, from); at != std::string::npos) return at;
            if (std::chrono::steady_clock::now() > end || !pump(200)) return std::string::npos;
        }
    }
    // Reads until at least `n` more bytes arrived.
    bool wait_bytes(size_t n, int timeout_s = 120) {
        const size_t goal = seen.size() + n;
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
        while (seen.size() < goal)
            if (std::chrono::steady_clock::now() > end || !pump(200)) return false;
        return true;
    }
    // Waits for the exit; returns the exit status (-1: timeout or killed).
    int wait_exit(int timeout_s = 60) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
        while (std::chrono::steady_clock::now() < end) {
            pump(100);
            int st = 0;
            if (waitpid(pid_, &st, WNOHANG) == pid_) {
                exited_ = true;
                return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            }
        }
        return -1;
    }
    std::string seen;

  private:
    // Reads what is available within ms; false at end of file.
    bool pump(int ms) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, ms) <= 0) return true;
        char buf[4096];
        const ssize_t n = read(fd_, buf, sizeof buf);
        if (n <= 0) return false;
        seen.append(buf, size_t(n));
        return true;
    }
    pid_t pid_ = -1;
    int fd_ = -1;
    bool exited_ = false;
};

TEST(CliChat, InteractiveSessionInAPseudoTerminal) {
    PtyChild c({test::cli_path(), "chat", "-m", test::model_path("stories260K.gguf"), "-n", "24",
                "--temp", "0", "-t", "1"});
    ASSERT_TRUE(c.started());
    size_t at = c.wait_for("> ");
    ASSERT_NE(at, std::string::npos) << c.seen;
    // Typed with a typo fixed by Backspace, and the cursor moved left and back.
    c.send(
        "Once upon a timf\x7f"
        "e\x1b[D\x1b[C\r");
    at = c.wait_for("tokens/s", at);
    ASSERT_NE(at, std::string::npos) << c.seen;
    at = c.wait_for("> ", at);
    ASSERT_NE(at, std::string::npos) << c.seen;
    c.send("/budgex\x7ft 2 7\r");
    at = c.wait_for("(thinking budget: min 2, max 7)", at);
    ASSERT_NE(at, std::string::npos) << c.seen;
    c.send("/reset\r");
    at = c.wait_for("(conversation cleared)", at);
    ASSERT_NE(at, std::string::npos) << c.seen;
    at = c.wait_for("> ", at);
    ASSERT_NE(at, std::string::npos) << c.seen;
    c.send("/quit\r");
    EXPECT_EQ(c.wait_exit(), 0) << c.seen;
}

TEST(CliChat, CtrlCStopsAnAnswerAndTwiceAtThePromptLeaves) {
    // A random-weights model rarely ends by itself: the answer runs until stopped.
    PtyChild c({test::cli_path(), "chat", "-m", test::model_path("tiny-qwen3-F16.gguf"), "-n",
                "100000", "-c", "4096", "-t", "1"});
    ASSERT_TRUE(c.started());
    size_t at = c.wait_for("> ");
    ASSERT_NE(at, std::string::npos) << c.seen;
    c.send("Tell me everything\r");
    at = c.wait_for("\r\n", at);  // Enter: the line is done, the answer starts
    ASSERT_NE(at, std::string::npos) << c.seen;
    ASSERT_TRUE(c.wait_bytes(64)) << c.seen;  // the answer is streaming
    c.send("\x03");
    at = c.wait_for("stopped]", at);
    ASSERT_NE(at, std::string::npos) << c.seen;
    at = c.wait_for("> ", at);
    ASSERT_NE(at, std::string::npos) << c.seen;
    c.send("\x03");
    at = c.wait_for("Ctrl-C again", at);
    ASSERT_NE(at, std::string::npos) << c.seen;
    c.send("\x03");
    EXPECT_EQ(c.wait_exit(), 0) << c.seen;
}

}  // namespace
}  // namespace ponder
