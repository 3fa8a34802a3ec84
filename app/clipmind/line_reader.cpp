#include "app/clipmind/line_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <poll.h>
#include <unistd.h>

#include "clipmind/error.h"

namespace clipmind::cli {
namespace {

// How long one poll() waits before the token is checked again: a cancelled chat stops within
// this (plus the watcher thread's reaction), and an idle chat wakes 10 times a second, which
// costs nothing measurable.
constexpr int kPollSliceMs = 100;
constexpr size_t kReadSize = 64 * 1024;

}  // namespace

LineReader::LineReader(int fd, CancelToken cancel, size_t max_line_bytes, std::string what)
    : fd_(fd),
      cancel_(std::move(cancel)),
      max_line_bytes_(max_line_bytes),
      what_(std::move(what)),
      buffer_(kReadSize) {}

std::optional<LineReader::Line> LineReader::next() {
  Line line;
  bool started = false;  // some bytes of this line were seen (an empty last line is no line)
  while (true) {
    cancel_.throw_if_cancelled();
    if (begin_ < end_) {
      started = true;
      const char* from = buffer_.data() + begin_;
      const size_t available = end_ - begin_;
      const void* newline = std::memchr(from, '\n', available);
      const size_t length =
          newline ? static_cast<size_t>(static_cast<const char*>(newline) - from) : available;
      const size_t room = max_line_bytes_ - line.text.size();
      if (length > room) line.too_long = true;
      line.text.append(from, std::min(length, room));
      line.bytes += length;
      begin_ += newline ? length + 1 : length;
      if (newline) return line;
      continue;
    }
    if (eof_) {
      if (started) return line;
      return std::nullopt;
    }
    wait_readable();
    const ssize_t n = ::read(fd_, buffer_.data(), buffer_.size());
    if (n > 0) {
      begin_ = 0;
      end_ = static_cast<size_t>(n);
    } else if (n == 0) {
      eof_ = true;
    } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      throw Error(ErrorKind::kIo, "cannot read " + what_ + ": " + std::strerror(errno));
    }
  }
}

void LineReader::wait_readable() {
  while (true) {
    cancel_.throw_if_cancelled();
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, kPollSliceMs);
    if (r > 0) return;  // readable, at its end, or broken: read() tells which
    if (r < 0 && errno != EINTR) {
      throw Error(ErrorKind::kIo, "cannot wait for " + what_ + ": " + std::strerror(errno));
    }
  }
}

}  // namespace clipmind::cli
