// Text bound for a terminal: model answers, stored captions, file names and error messages can
// hold control characters (from a random or malicious model, a tampered index, a hostile file
// name) that would move the cursor, retitle the window or rewrite what the user already sees.
// Everything the CLI prints as text (never --json, which is escaped and must stay exact) goes
// through terminal_safe() or, for a streamed answer, a TerminalTextStream.
//
// Rules: C0 controls (U+0000-U+001F) except "\n" and "\t", DEL (U+007F), C1 controls
// (U+0080-U+009F, i.e. their two-byte UTF-8 form) and bytes that are not valid UTF-8 become
// U+FFFD (one per maximal invalid subsequence, as Unicode recommends), and so do the
// bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which would
// reorder the rest of the line; valid UTF-8 (CJK, emoji, right-to-left text and its
// direction marks U+200E/U+200F) passes through unchanged. In a table cell "\n" and "\t" become a
// space too, so a row stays one line. Pure functions on strings: no I/O, throw nothing but
// std::bad_alloc.
#pragma once

#include <string>
#include <string_view>

namespace clipmind::cli {

enum class TextContext {
  kStream,  // answers, summaries, messages: line breaks and tabs are kept
  kCell,    // one cell of a one-line table row: line breaks and tabs become spaces
};

// The replacement for anything that must not reach the terminal.
inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

std::string terminal_safe(std::string_view text, TextContext context = TextContext::kStream);

// Columns `text` (valid UTF-8, e.g. terminal_safe's output) takes on a terminal: East Asian wide
// and emoji code points take 2, combining marks and zero-width characters 0, others 1. A small
// built-in table, not the locale's wcwidth(): the result must not depend on the environment.
int display_columns(std::string_view text);

// `text` (valid UTF-8) if it fits in `columns`; else its longest prefix, cut between code points,
// that fits in `columns` - 1, followed by "…". columns < 1 gives "".
std::string fit_columns(std::string_view text, int columns);

// terminal_safe(text, kCell) shortened to `columns` display columns.
std::string table_cell(std::string_view text, int columns);

// Sanitizes a text that arrives in pieces (a streamed answer): a multi-byte UTF-8 sequence split
// across pieces is held back until it is complete, so it is neither cut nor replaced.
class TerminalTextStream {
 public:
  explicit TerminalTextStream(TextContext context = TextContext::kStream) : context_(context) {}

  // The safe text of everything fed so far that is complete.
  std::string feed(std::string_view piece);
  // The end of the text: an incomplete sequence still held back becomes U+FFFD.
  std::string finish();

 private:
  TextContext context_;
  std::string pending_;
};

}  // namespace clipmind::cli
