// Reads lines from a file descriptor (the chat's questions on stdin) without ever blocking past a
// cancellation: it waits with poll() in short slices and checks the CancelToken between them,
// so Ctrl-C / SIGTERM (CancelOnSignal) end a chat that is waiting for its next question. It
// reads the fd with read() and keeps its own buffer: nothing else may read the same fd (no
// std::cin alongside it).
//
// A line is the text up to "\n" (not included); text after the last "\n" is a last line of its
// own. A line longer than `max_line_bytes` is not kept whole: the reader returns its first
// `max_line_bytes` bytes marked too_long and skips the rest of it, so memory stays bounded
// whatever arrives. EINTR and EAGAIN (a non-blocking fd) are waited out.
// Throws Cancelled when the token is set before a line is complete; Error(kIo) naming `what`
// when the fd cannot be read.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "clipmind/progress.h"

namespace clipmind::cli {

class LineReader {
 public:
  struct Line {
    std::string text;  // at most max_line_bytes bytes
    bool too_long = false;
    size_t bytes = 0;  // the whole line's length, also when too long
  };

  // `what` names the input in error messages ("standard input"). The fd stays open (not owned).
  LineReader(int fd, CancelToken cancel, size_t max_line_bytes, std::string what);

  // The next line, or nullopt at the end of the input.
  std::optional<Line> next();

 private:
  void wait_readable();

  int fd_;
  CancelToken cancel_;
  size_t max_line_bytes_;
  std::string what_;
  std::vector<char> buffer_;
  size_t begin_ = 0, end_ = 0;  // unread bytes of buffer_
  bool eof_ = false;
};

}  // namespace clipmind::cli
