#include "app/clipmind/cli_terminal.h"

#include <chrono>
#include <cstdio>

#include <sys/ioctl.h>
#include <unistd.h>

namespace clipmind::cli {
namespace {

int terminal_width() {
  winsize w{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
  return 80;
}

}  // namespace

Terminal::Terminal(bool bar)
    : bar_enabled_(bar && ::isatty(STDERR_FILENO)), bar_(terminal_width()) {}

void Terminal::log(const pipeline::LogRecord& r) {
  std::lock_guard lock(mutex_);
  clear_bar();
  if (r.level == pipeline::LogLevel::kInfo) {
    std::fprintf(stderr, "clipmind: %s\n", terminal_safe(r.message).c_str());
  } else {
    std::fprintf(stderr, "clipmind: %s: %s\n", pipeline::to_string(r.level),
                 terminal_safe(r.message).c_str());
  }
}

void Terminal::progress(const pipeline::JobProgress& p) {
  if (!bar_enabled_) return;
  std::lock_guard lock(mutex_);
  if (streaming_) return;
  const double now =
      std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  if (auto text = bar_.render(p, now)) {
    std::fputs(text->c_str(), stderr);
    std::fflush(stderr);
  }
}

void Terminal::text(std::string_view piece) {
  std::lock_guard lock(mutex_);
  clear_bar();
  streaming_ = true;
  const std::string safe = answer_.feed(piece);
  std::fwrite(safe.data(), 1, safe.size(), stdout);
  std::fflush(stdout);
  last_char_ = safe.empty() ? last_char_ : safe.back();
}

void Terminal::end_answer() {
  std::lock_guard lock(mutex_);
  const std::string rest = answer_.finish();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  if (!rest.empty()) last_char_ = rest.back();
  if (streaming_ && last_char_ != '\n') std::fputc('\n', stdout);
  std::fflush(stdout);
  streaming_ = false;
  last_char_ = '\n';
}

void Terminal::clear() {
  std::lock_guard lock(mutex_);
  clear_bar();
}

void Terminal::message(const std::string& text) {
  std::lock_guard lock(mutex_);
  clear_bar();
  std::fprintf(stderr, "%s\n", terminal_safe(text).c_str());
}

void Terminal::clear_bar() {
  const std::string c = bar_.clear();
  if (!c.empty()) {
    std::fputs(c.c_str(), stderr);
    std::fflush(stderr);
  }
}

}  // namespace clipmind::cli
