// terminal_text.h against hand-written inputs and expected bytes: control characters replaced,
// valid UTF-8 kept, invalid UTF-8 replaced per maximal subpart, display columns, cutting with
// "…", and a stream whose multi-byte sequences are split across pieces.
#include "app/clipmind/terminal_text.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace clipmind::cli {
namespace {

const std::string R = "\xEF\xBF\xBD";          // U+FFFD
const std::string kEllipsis = "\xE2\x80\xA6";  // U+2026

TEST(TerminalSafe, ReplacesC0ControlsButKeepsNewlineAndTab) {
  EXPECT_EQ(terminal_safe("plain text"), "plain text");
  EXPECT_EQ(terminal_safe("a\nb\tc"), "a\nb\tc");
  EXPECT_EQ(terminal_safe("x\x1b[2Jy"), "x" + R + "[2Jy");  // clear screen
  EXPECT_EQ(terminal_safe("over\rwrite"), "over" + R + "write");
  EXPECT_EQ(terminal_safe("back\bspace"), "back" + R + "space");
  EXPECT_EQ(terminal_safe("bell\a"), "bell" + R);
  EXPECT_EQ(terminal_safe(std::string("nul\0end", 7)), "nul" + R + "end");
  EXPECT_EQ(terminal_safe("\x1b]0;title\x07"), R + "]0;title" + R);  // OSC window title
}

TEST(TerminalSafe, ReplacesDelAndC1Controls) {
  EXPECT_EQ(terminal_safe("a\x7f"
                          "b"),
            "a" + R + "b");
  EXPECT_EQ(terminal_safe("\xC2\x80"), R);  // U+0080
  EXPECT_EQ(terminal_safe("x\xC2\x9B"
                          "31m"),
            "x" + R + "31m");                        // U+009B CSI
  EXPECT_EQ(terminal_safe("\xC2\x9F"), R);           // U+009F
  EXPECT_EQ(terminal_safe("\xC2\xA0"), "\xC2\xA0");  // U+00A0 no-break space is text
}

TEST(TerminalSafe, ReplacesBidiOverridesButKeepsDirectionMarks) {
  // U+202E RIGHT-TO-LEFT OVERRIDE (E2 80 AE) would show "gpj.exe" as "exe.jpg".
  EXPECT_EQ(terminal_safe("clip\xE2\x80\xAEgpj.mp4"), "clip" + R + "gpj.mp4");
  EXPECT_EQ(terminal_safe("\xE2\x80\xAA"), R);                         // U+202A first embedding
  EXPECT_EQ(terminal_safe("\xE2\x81\xA6x\xE2\x81\xA9"), R + "x" + R);  // U+2066 .. U+2069
  // U+200F RIGHT-TO-LEFT MARK and Hebrew letters are ordinary text.
  const std::string hebrew = "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D\xE2\x80\x8F";
  EXPECT_EQ(terminal_safe(hebrew), hebrew);
  EXPECT_EQ(terminal_safe("\xE2\x80\xA9"), "\xE2\x80\xA9");  // U+2029 paragraph separator
}

TEST(TerminalSafe, KeepsValidUtf8) {
  const std::string text = "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80 \xE2\x80\xA6";
  EXPECT_EQ(terminal_safe(text), text);
  EXPECT_EQ(terminal_safe(text, TextContext::kCell), text);
}

TEST(TerminalSafe, ReplacesInvalidUtf8OncePerMaximalSubpart) {
  EXPECT_EQ(terminal_safe("a\xFF"
                          "b"),
            "a" + R + "b");
  EXPECT_EQ(terminal_safe("\xC0\xAF"), R + R);                  // overlong "/": C0 never starts one
  EXPECT_EQ(terminal_safe("\xE0\x80\x80"), R + R + R);          // overlong: E0 needs A0..BF next
  EXPECT_EQ(terminal_safe("\xED\xA0\x80"), R + R + R);          // surrogate U+D800
  EXPECT_EQ(terminal_safe("\xF4\x90\x80\x80"), R + R + R + R);  // above U+10FFFF
  EXPECT_EQ(terminal_safe("\xE4\xB8z"), R + "z");  // cut-short CJK: one U+FFFD for 2 bytes
  EXPECT_EQ(terminal_safe("\xF0\x9F\x98"), R);     // cut short by the end of the text
  EXPECT_EQ(terminal_safe("\x80\x80"), R + R);     // lone continuation bytes
}

TEST(TerminalSafe, TableCellsTurnLineBreaksAndTabsIntoSpaces) {
  EXPECT_EQ(terminal_safe("a\nb\tc\rd", TextContext::kCell), "a b c" + R + "d");
}

TEST(DisplayColumns, CountsWideAndZeroWidthCharacters) {
  EXPECT_EQ(display_columns(""), 0);
  EXPECT_EQ(display_columns("abc"), 3);
  EXPECT_EQ(display_columns("\xE4\xB8\xAD\xE6\x96\x87"), 4);  // 中文
  EXPECT_EQ(display_columns("\xF0\x9F\x98\x80"), 2);          // 😀
  EXPECT_EQ(display_columns("e\xCC\x81"), 1);                 // e + combining acute
  EXPECT_EQ(display_columns("\xEA\xB0\x80"), 2);              // Hangul 가
  EXPECT_EQ(display_columns(R), 1);
}

TEST(FitColumns, KeepsShortTextAndCutsLongTextWithAnEllipsis) {
  EXPECT_EQ(fit_columns("hello", 5), "hello");
  EXPECT_EQ(fit_columns("hello!", 5), "hell" + kEllipsis);
  EXPECT_EQ(fit_columns("hello", 1), kEllipsis);
  EXPECT_EQ(fit_columns("hello", 0), "");
  // 中文字 is 6 columns; in 5 only 中文 (4) fits before "…".
  EXPECT_EQ(fit_columns("\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97", 5),
            "\xE4\xB8\xAD\xE6\x96\x87" + kEllipsis);
  // In 4 columns: 中 (2) + "…" - the next wide character would need 2 more, never half of it.
  EXPECT_EQ(fit_columns("\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97", 4), "\xE4\xB8\xAD" + kEllipsis);
  // An emoji is never split into bytes: "ab" + 😀 needs 4 columns, 3 are there before "…".
  EXPECT_EQ(fit_columns("ab\xF0\x9F\x98\x80z", 4), "ab" + kEllipsis);
}

TEST(TableCell, SanitizesThenCutsTo120Columns) {
  std::string caption;
  for (int i = 0; i < 30; ++i)
    caption += "\xE4\xB8\xAD\x1b";  // 中 then ESC: 3 columns once ESC is U+FFFD
  const std::string cell = table_cell(caption, 120);
  EXPECT_EQ(cell.find('\x1b'), std::string::npos);
  EXPECT_EQ(display_columns(cell), 90);  // 30 x (2 + 1): fits, not cut
  const std::string longer = table_cell(caption + caption, 120);
  EXPECT_LE(display_columns(longer), 120);
  EXPECT_GE(display_columns(longer), 118);
  EXPECT_EQ(longer.substr(longer.size() - 3), kEllipsis);
  std::string expected;
  for (int i = 0; i < 39; ++i)
    expected += "\xE4\xB8\xAD" + R;  // 117 columns; the 40th 中 would make 119 + "…" = 120
  expected += "\xE4\xB8\xAD" + kEllipsis;
  EXPECT_EQ(longer, expected);
}

TEST(TerminalTextStream, HoldsBackSequencesSplitAcrossPieces) {
  // 中 = E4 B8 AD and 😀 = F0 9F 98 80, fed one byte at a time with an ESC in between.
  const std::string text = "a\xE4\xB8\xAD\x1b\xF0\x9F\x98\x80z";
  TerminalTextStream stream;
  std::vector<std::string> outputs;
  for (const char c : text)
    outputs.push_back(stream.feed(std::string(1, c)));
  const std::vector<std::string> expected = {"a", "", "", "\xE4\xB8\xAD",     R,
                                             "",  "", "", "\xF0\x9F\x98\x80", "z"};
  EXPECT_EQ(outputs, expected);
  EXPECT_EQ(stream.finish(), "");
}

TEST(TerminalTextStream, SplitC1ControlIsReplacedWhenComplete) {
  TerminalTextStream stream;
  EXPECT_EQ(stream.feed("x\xC2"), "x");
  EXPECT_EQ(stream.feed("\x9B"
                        "1m"),
            R + "1m");
}

TEST(TerminalTextStream, AnUnfinishedSequenceAtTheEndBecomesOneReplacement) {
  TerminalTextStream stream;
  EXPECT_EQ(stream.feed("ok \xF0\x9F"), "ok ");
  EXPECT_EQ(stream.finish(), R);
  EXPECT_EQ(stream.finish(), "");  // nothing held any more
  EXPECT_EQ(stream.feed("next"), "next");
}

TEST(TerminalTextStream, AnInvalidContinuationIsNotHeldBack) {
  TerminalTextStream stream;
  // E4 then "z": the sequence can never complete, so it is replaced at once.
  EXPECT_EQ(stream.feed("\xE4"), "");
  EXPECT_EQ(stream.feed("z"), R + "z");
}

}  // namespace
}  // namespace clipmind::cli
