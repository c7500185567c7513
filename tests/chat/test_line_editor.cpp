// The chat line editor's key handling, byte by byte.
#include <gtest/gtest.h>

#include <string>

#include "chat/line_editor.h"

namespace ponder {
namespace {

using R = LineEditState::Result;

R type(LineEditState& e, const std::string& bytes) {
    R r = R::Continue;
    for (unsigned char c : bytes) {
        r = e.feed(c);
        if (r != R::Continue) break;
    }
    return r;
}

const std::string kLeft = "\x1b[D", kRight = "\x1b[C", kHome = "\x1b[H", kEnd = "\x1b[F",
                  kUp = "\x1b[A", kDown = "\x1b[B", kDel = "\x1b[3~";

TEST(LineEditor, InsertsMovesAndDeletes) {
    LineEditState e;
    e.begin();
    EXPECT_EQ(type(e, "helo"), R::Continue);
    EXPECT_EQ(type(e, kLeft + "l"), R::Continue);
    EXPECT_EQ(e.buffer(), "hello");
    EXPECT_EQ(type(e, kHome + "> " + kEnd + "!"), R::Continue);
    EXPECT_EQ(e.buffer(), "> hello!");
    EXPECT_EQ(type(e, std::string("\x7f\x7f") + kHome + kDel + kRight + "\x7f"), R::Continue);
    EXPECT_EQ(e.buffer(), "hell");
    EXPECT_EQ(e.cursor(), 0u);
    EXPECT_EQ(type(e,
                   "\x05"
                   "o\x01"
                   "O"),
              R::Continue);  // Ctrl-E, Ctrl-A
    EXPECT_EQ(e.buffer(), "Ohello");
    EXPECT_EQ(type(e, "\r"), R::Done);
}

TEST(LineEditor, Utf8CharactersMoveAndDeleteWhole) {
    LineEditState e;
    e.begin();
    type(e, "a\xc3\xa9\xe2\x82\xac");  // a é €
    EXPECT_EQ(e.cursor_columns(), 3u);
    type(e, kLeft);
    EXPECT_EQ(e.cursor_columns(), 2u);
    type(e, "\x7f");  // removes é (two bytes)
    EXPECT_EQ(e.buffer(), "a\xe2\x82\xac");
    type(e, kDel);  // removes € (three bytes)
    EXPECT_EQ(e.buffer(), "a");
}

TEST(LineEditor, HistoryUpAndDownKeepsTheDraft) {
    LineEditState e;
    e.add_history("first");
    e.add_history("second");
    e.add_history("second");  // repeats are skipped
    e.add_history("");
    EXPECT_EQ(e.history().size(), 2u);
    e.begin();
    type(e, "draft");
    type(e, kUp);
    EXPECT_EQ(e.buffer(), "second");
    type(e, kUp + kUp);
    EXPECT_EQ(e.buffer(), "first");
    type(e, kDown);
    EXPECT_EQ(e.buffer(), "second");
    type(e, kDown);
    EXPECT_EQ(e.buffer(), "draft");
    type(e, "\x10");  // Ctrl-P
    EXPECT_EQ(e.buffer(), "second");
}

TEST(LineEditor, ControlKeys) {
    LineEditState e;
    e.begin();
    EXPECT_EQ(type(e, "\x04"), R::Eof);  // Ctrl-D on an empty line
    e.begin();
    EXPECT_EQ(type(e, "ab\x01\x04"), R::Continue);  // Ctrl-D deletes under the cursor
    EXPECT_EQ(e.buffer(), "b");
    EXPECT_EQ(type(e, "xyz\x15"), R::Continue);  // Ctrl-U clears
    EXPECT_EQ(e.buffer(), "");
    EXPECT_EQ(type(e, "abc" + kLeft + kLeft + "\x0b"), R::Continue);  // Ctrl-K cuts
    EXPECT_EQ(e.buffer(), "a");
    EXPECT_EQ(type(e, "\x03"), R::Interrupt);
    e.begin();
    EXPECT_EQ(type(e, "x\x1b[5~y\n"), R::Done);  // unknown sequences are ignored
    EXPECT_EQ(e.buffer(), "xy");
}

}  // namespace
}  // namespace ponder
