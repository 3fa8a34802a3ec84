#include "app/clipmind/cli_signals.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <utility>

#include <unistd.h>

#include "clipmind/error.h"
#include "pipeline/errors.h"

namespace clipmind::cli {
namespace {

// The one piece of process-global state: a signal handler has nowhere else to write.
int g_signal_pipe[2] = {-1, -1};

// What goes through the pipe: a signal and when it came, or the destructor's stop. Smaller
// than PIPE_BUF, so each write arrives whole.
struct PipeNote {
  int64_t monotonic_ns = 0;  // CLOCK_MONOTONIC
  bool stop = false;
};

int64_t monotonic_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe (POSIX.1-2008)
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

}  // namespace

extern "C" void clipmind_on_signal(int) {
  const int saved = errno;
  const PipeNote note{monotonic_ns(), false};
  [[maybe_unused]] const ssize_t n = ::write(g_signal_pipe[1], &note, sizeof note);
  errno = saved;
}

CancelOnSignal::CancelOnSignal(CancelToken token, std::function<void(const std::string&)> notify)
    : token_(std::move(token)), notify_(std::move(notify)) {
  if (::pipe(g_signal_pipe) != 0) return;
  struct sigaction action {};
  action.sa_handler = clipmind_on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (const int signal : {SIGINT, SIGTERM}) {
    const int slot = signal == SIGINT ? 0 : 1;
    struct sigaction previous {};
    ::sigaction(signal, nullptr, &previous);
    if (previous.sa_handler == SIG_IGN && signal == SIGINT) continue;
    ::sigaction(signal, &action, &previous_[slot]);
    installed_[slot] = true;
  }
  watcher_ = std::thread([this] { watch(); });
}

CancelOnSignal::~CancelOnSignal() {
  if (!watcher_.joinable()) return;
  for (int i = 0; i < 2; ++i) {
    if (installed_[i]) ::sigaction(i == 0 ? SIGINT : SIGTERM, &previous_[i], nullptr);
  }
  const PipeNote stop{0, true};
  [[maybe_unused]] const ssize_t n = ::write(g_signal_pipe[1], &stop, sizeof stop);
  watcher_.join();
  ::close(g_signal_pipe[0]);
  ::close(g_signal_pipe[1]);
  g_signal_pipe[0] = g_signal_pipe[1] = -1;
}

void CancelOnSignal::watch() {
  int count = 0;
  PipeNote note;
  while (true) {
    const ssize_t n = ::read(g_signal_pipe[0], &note, sizeof note);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof note) || note.stop) return;
    if (++count == 1) {
      requested_ns_ = note.monotonic_ns;
      if (notify_) notify_("clipmind: cancelling (press Ctrl-C again to quit at once)");
      token_.request();
    } else {
      std::_Exit(130);
    }
  }
}

std::optional<double> CancelOnSignal::seconds_since_request() const {
  const int64_t requested = requested_ns_.load();
  if (requested < 0) return std::nullopt;
  return static_cast<double>(monotonic_ns() - requested) / 1e9;
}

void CancelOnSignal::report_stop(const pipeline::Logger& log) {
  const std::optional<double> seconds = seconds_since_request();
  if (!seconds || reported_) return;
  reported_ = true;
  try {
    char text[96];
    std::snprintf(text, sizeof text, "the job stopped %.3f s after the cancel request", *seconds);
    log.debug("cancel", text);
  } catch (...) {
    // Only a measurement: failing to log it must not replace the job's own outcome.
  }
}

void fail_with_hint(const std::exception_ptr& error) {
  const pipeline::UserError e = pipeline::describe_error(error);
  if (e.kind == ErrorKind::kCancelled) throw Cancelled();
  throw Error(e.kind, e.hint.empty() ? e.message : e.message + "\nhint: " + e.hint);
}

}  // namespace clipmind::cli
