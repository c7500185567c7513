// Reading the user's lines in `ponder chat`: a small line editor for terminals (cursor
// movement, home/end, backspace/delete, history up/down, UTF-8 aware) and plain reading for
// pipes and files.
//
// LineEditState is the pure editing logic (bytes in, buffer and cursor out), tested on its
// own; LineReader adds the terminal (raw mode while a line is edited, redrawing) or a plain
// byte reader when the input is not a terminal.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ponder {

class LineEditState {
  public:
    enum class Result { Continue, Done, Eof, Interrupt };

    // Starts a new, empty line (history browsing starts after the newest entry).
    void begin();
    // Consumes one input byte. Keys: printable bytes insert; Enter ends the line (Done);
    // Backspace / Ctrl-H; Delete (ESC [ 3 ~) / Ctrl-D on a non-empty line; Ctrl-D on an empty
    // line is Eof; Ctrl-C is Interrupt; left/right (ESC [ D / C, Ctrl-B / Ctrl-F); Home/End
    // (ESC [ H / F, ESC [ 1 ~ / 4 ~, ESC O H / F, Ctrl-A / Ctrl-E); Up/Down (ESC [ A / B,
    // Ctrl-P / Ctrl-N) browse history; Ctrl-U clears the line; Ctrl-K cuts to the end.
    Result feed(unsigned char c);

    const std::string& buffer() const { return buf_; }
    size_t cursor() const { return cursor_; }  // byte offset, on a UTF-8 boundary
    // Display columns before the cursor (one per code point).
    size_t cursor_columns() const;
    // Adds a line to the history (empty lines and repeats of the newest are skipped).
    void add_history(const std::string& line);
    const std::vector<std::string>& history() const { return history_; }

  private:
    void move_left();
    void move_right();
    void delete_at_cursor();
    void show_history(size_t index);

    std::string buf_;
    size_t cursor_ = 0;
    std::vector<std::string> history_;
    size_t hist_pos_ = 0;  // == history_.size(): the line being edited
    std::string draft_;    // the line being edited, kept while browsing history
    std::string esc_;      // an escape sequence in progress
};

class LineReader {
  public:
    // Reads from in_fd; echoes and redraws on out_fd when in_fd is a terminal.
    explicit LineReader(int in_fd = 0, int out_fd = 1);
    ~LineReader();
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    enum class Status { Line, Eof, Interrupted };
    // Shows the prompt (terminal only), reads one line without its newline.
    Status read_line(std::string_view prompt, std::string& line);
    void add_history(const std::string& line) { state_.add_history(line); }
    bool is_terminal() const { return tty_; }
    // Asked right after the terminal enters raw mode: true when a Ctrl-C arrived as a signal
    // just before (while the terminal still turned it into SIGINT); read_line then returns
    // Interrupted at once instead of losing it.
    void set_interrupt_probe(std::function<bool()> probe) { probe_ = std::move(probe); }

  private:
    void redraw(std::string_view prompt);
    void write_out(std::string_view s);
    bool enter_raw();
    void leave_raw();

    int in_, out_;
    bool tty_;
    bool raw_ = false;
    LineEditState state_;
    std::function<bool()> probe_;
    std::string pending_;  // bytes read past the end of a line (plain mode)
    struct Saved;
    Saved* saved_ = nullptr;  // the terminal's settings while in raw mode
};

}  // namespace ponder
