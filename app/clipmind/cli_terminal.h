// The CLI's owner of the terminal for the long-running commands (ask, chat, caption, index,
// search): log lines and, only when stderr is a terminal, the progress bar go to stderr; a
// streamed answer goes to stdout, and the bar is not drawn again while it streams (it would
// overwrite the answer). Thread-safe: progress and logs arrive from worker threads too.
// Everything but the bar passes through terminal_text.h first: control characters from a model
// or a file name never reach the terminal raw. Writes only to stdout/stderr; throws nothing of
// its own.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

#include "app/clipmind/terminal_text.h"
#include "pipeline/log.h"
#include "pipeline/progress_bar.h"

namespace clipmind::cli {

class Terminal {
 public:
  // bar: draw the progress bar (still only when stderr is a terminal), as wide as the terminal.
  explicit Terminal(bool bar);

  void log(const pipeline::LogRecord& r);
  void progress(const pipeline::JobProgress& p);
  // A piece of a streamed answer on stdout, sanitized (a UTF-8 sequence split across pieces is
  // held back until complete); the bar is erased first and held back until end_answer().
  void text(std::string_view piece);
  // Ends a streamed answer with a newline (once) and allows the bar again.
  void end_answer();
  // Erases the bar if one is shown.
  void clear();
  // A line on stderr (the bar erased first).
  void message(const std::string& text);

 private:
  void clear_bar();

  std::mutex mutex_;
  bool bar_enabled_;
  pipeline::ProgressBar bar_;
  bool streaming_ = false;
  TerminalTextStream answer_;
  char last_char_ = '\n';
};

}  // namespace clipmind::cli
