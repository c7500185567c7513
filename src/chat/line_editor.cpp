#include "chat/line_editor.h"

#include <cerrno>
#include <termios.h>
#include <unistd.h>

namespace ponder {
namespace {

bool is_continuation(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

}  // namespace

void LineEditState::begin() {
    buf_.clear();
    cursor_ = 0;
    esc_.clear();
    draft_.clear();
    hist_pos_ = history_.size();
}

size_t LineEditState::cursor_columns() const {
    size_t cols = 0;
    for (size_t i = 0; i < cursor_; ++i)
        if (!is_continuation(static_cast<unsigned char>(buf_[i]))) ++cols;
    return cols;
}

void LineEditState::move_left() {
    while (cursor_ > 0) {
        --cursor_;
        if (!is_continuation(static_cast<unsigned char>(buf_[cursor_]))) break;
    }
}

void LineEditState::move_right() {
    if (cursor_ >= buf_.size()) return;
    ++cursor_;
    while (cursor_ < buf_.size() && is_continuation(static_cast<unsigned char>(buf_[cursor_])))
        ++cursor_;
}

void LineEditState::delete_at_cursor() {
    const size_t at = cursor_;
    move_right();
    buf_.erase(at, cursor_ - at);
    cursor_ = at;
}

void LineEditState::show_history(size_t index) {
    if (hist_pos_ == history_.size()) draft_ = buf_;
    hist_pos_ = index;
    buf_ = index == history_.size() ? draft_ : history_[index];
    cursor_ = buf_.size();
}

void LineEditState::add_history(const std::string& line) {
    if (line.empty() || (!history_.empty() && history_.back() == line)) return;
    history_.push_back(line);
}

LineEditState::Result LineEditState::feed(unsigned char c) {
    if (!esc_.empty()) {
        esc_ += char(c);
        // ESC [ or ESC O, then optional digits, then a final byte.
        if (esc_.size() == 2) {
            if (c != '[' && c != 'O') esc_.clear();
            return Result::Continue;
        }
        if (c >= '0' && c <= '9') return Result::Continue;
        const std::string seq = esc_.substr(2);
        esc_.clear();
        if (seq == "D") {
            move_left();
        } else if (seq == "C") {
            move_right();
        } else if (seq == "H" || seq == "1~" || seq == "7~") {
            cursor_ = 0;
        } else if (seq == "F" || seq == "4~" || seq == "8~") {
            cursor_ = buf_.size();
        } else if (seq == "3~") {
            delete_at_cursor();
        } else if (seq == "A") {
            if (hist_pos_ > 0) show_history(hist_pos_ - 1);
        } else if (seq == "B") {
            if (hist_pos_ < history_.size()) show_history(hist_pos_ + 1);
        }
        return Result::Continue;
    }
    switch (c) {
        case 0x1b:
            esc_ = "\x1b";
            return Result::Continue;
        case '\r':
        case '\n':
            return Result::Done;
        case 0x03:  // Ctrl-C
            return Result::Interrupt;
        case 0x04:  // Ctrl-D
            if (buf_.empty()) return Result::Eof;
            delete_at_cursor();
            return Result::Continue;
        case 0x7f:
        case 0x08: {
            const size_t end = cursor_;
            move_left();
            buf_.erase(cursor_, end - cursor_);
            return Result::Continue;
        }
        case 0x01:
            cursor_ = 0;
            return Result::Continue;
        case 0x05:
            cursor_ = buf_.size();
            return Result::Continue;
        case 0x02:
            move_left();
            return Result::Continue;
        case 0x06:
            move_right();
            return Result::Continue;
        case 0x10:
            if (hist_pos_ > 0) show_history(hist_pos_ - 1);
            return Result::Continue;
        case 0x0e:
            if (hist_pos_ < history_.size()) show_history(hist_pos_ + 1);
            return Result::Continue;
        case 0x15:
            buf_.clear();
            cursor_ = 0;
            return Result::Continue;
        case 0x0b:
            buf_.erase(cursor_);
            return Result::Continue;
        default:
            break;
    }
    if (c < 0x20) return Result::Continue;  // other control keys are ignored
    buf_.insert(cursor_, 1, char(c));
    ++cursor_;
    return Result::Continue;
}

// ---- the terminal ---------------------------------------------------------------------------

struct LineReader::Saved {
    termios tio;
};

LineReader::LineReader(int in_fd, int out_fd)
    : in_(in_fd), out_(out_fd), tty_(isatty(in_fd) != 0) {}

LineReader::~LineReader() {
    leave_raw();
    delete saved_;
}

bool LineReader::enter_raw() {
    if (raw_) return true;
    if (!saved_) saved_ = new Saved;
    if (tcgetattr(in_, &saved_->tio) != 0) return false;
    termios raw = saved_->tio;
    // No echo, no line buffering, no signals from keys (Ctrl-C arrives as a byte).
    raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN);
    raw.c_iflag &= ~tcflag_t(IXON | ICRNL | INLCR);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(in_, TCSANOW, &raw) != 0) return false;  // keep typed-ahead input
    raw_ = true;
    return true;
}

void LineReader::leave_raw() {
    if (!raw_) return;
    tcsetattr(in_, TCSAFLUSH, &saved_->tio);
    raw_ = false;
}

void LineReader::write_out(std::string_view s) {
    while (!s.empty()) {
        const ssize_t n = ::write(out_, s.data(), s.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        s.remove_prefix(size_t(n));
    }
}

void LineReader::redraw(std::string_view prompt) {
    std::string s = "\r";
    s += prompt;
    s += state_.buffer();
    s += "\x1b[K\r";
    const size_t col = prompt.size() + state_.cursor_columns();
    if (col > 0) s += "\x1b[" + std::to_string(col) + "C";
    write_out(s);
}

LineReader::Status LineReader::read_line(std::string_view prompt, std::string& line) {
    line.clear();
    if (!tty_ || !enter_raw()) {
        // Plain reading: bytes up to a newline. A signal (Ctrl-C) interrupts the read.
        for (;;) {
            if (const size_t nl = pending_.find('\n'); nl != std::string::npos) {
                line = pending_.substr(0, nl);
                pending_.erase(0, nl + 1);
                if (!line.empty() && line.back() == '\r') line.pop_back();
                return Status::Line;
            }
            char buf[4096];
            const ssize_t n = ::read(in_, buf, sizeof buf);
            if (n < 0 && errno == EINTR) return Status::Interrupted;
            if (n <= 0) {
                if (pending_.empty()) return Status::Eof;
                line.swap(pending_);
                return Status::Line;
            }
            pending_.append(buf, size_t(n));
        }
    }
    if (probe_ && probe_()) {
        leave_raw();
        return Status::Interrupted;
    }
    state_.begin();
    redraw(prompt);
    Status st = Status::Eof;
    for (;;) {
        unsigned char c;
        const ssize_t n = ::read(in_, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        const auto r = state_.feed(c);
        if (r == LineEditState::Result::Continue) {
            redraw(prompt);
            continue;
        }
        if (r == LineEditState::Result::Done) {
            line = state_.buffer();
            st = Status::Line;
        } else if (r == LineEditState::Result::Interrupt) {
            write_out("^C");
            st = Status::Interrupted;
        }
        break;
    }
    write_out("\r\n");
    leave_raw();
    return st;
}

}  // namespace ponder
