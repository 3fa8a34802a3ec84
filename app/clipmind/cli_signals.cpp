#include "app/clipmind/cli_signals.h"

#include <cerrno>
#include <cstdlib>
#include <utility>

#include <unistd.h>

#include "clipmind/error.h"
#include "pipeline/errors.h"

namespace clipmind::cli {
namespace {

// The one piece of process-global state: a signal handler has nowhere else to write.
int g_signal_pipe[2] = {-1, -1};

}  // namespace

extern "C" void clipmind_on_signal(int) {
  const int saved = errno;
  const char byte = 1;
  [[maybe_unused]] const ssize_t n = ::write(g_signal_pipe[1], &byte, 1);
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
  const char stop = 0;
  [[maybe_unused]] const ssize_t n = ::write(g_signal_pipe[1], &stop, 1);
  watcher_.join();
  ::close(g_signal_pipe[0]);
  ::close(g_signal_pipe[1]);
  g_signal_pipe[0] = g_signal_pipe[1] = -1;
}

void CancelOnSignal::watch() {
  int count = 0;
  char byte = 0;
  while (::read(g_signal_pipe[0], &byte, 1) == 1 || errno == EINTR) {
    if (byte == 0) return;
    if (++count == 1) {
      if (notify_) notify_("clipmind: cancelling (press Ctrl-C again to quit at once)");
      token_.request();
    } else {
      std::_Exit(130);
    }
  }
}

void fail_with_hint(const std::exception_ptr& error) {
  const pipeline::UserError e = pipeline::describe_error(error);
  if (e.kind == ErrorKind::kCancelled) throw Cancelled();
  throw Error(e.kind, e.hint.empty() ? e.message : e.message + "\nhint: " + e.hint);
}

}  // namespace clipmind::cli
