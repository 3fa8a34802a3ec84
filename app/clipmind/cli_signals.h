// Shared by the long-running CLI commands (ask, chat, caption, index, search): Ctrl-C handling
// and the conversion of pipeline failures into errors main() prints with their hint.
#pragma once

#include <csignal>
#include <exception>
#include <functional>
#include <string>
#include <thread>

#include "clipmind/progress.h"

namespace clipmind::cli {

// Ctrl-C (SIGINT) and SIGTERM request cancellation of `token`; a second one ends the process
// at once (exit 130). The handler only writes a byte to a pipe (async-signal-safe, from
// whichever thread the kernel picks: OpenBLAS and FFmpeg start threads of their own); a watcher
// thread reads it, calls `notify` with a user message and cancels. A SIGINT the shell told us
// to ignore (a background job's) stays ignored. Handlers are restored on destruction.
class CancelOnSignal {
 public:
  CancelOnSignal(CancelToken token, std::function<void(const std::string&)> notify);
  ~CancelOnSignal();
  CancelOnSignal(const CancelOnSignal&) = delete;
  CancelOnSignal& operator=(const CancelOnSignal&) = delete;

 private:
  void watch();

  CancelToken token_;
  std::function<void(const std::string&)> notify_;
  struct sigaction previous_[2]{};
  bool installed_[2] = {false, false};
  std::thread watcher_;
};

// Turns any failure into a clipmind::Error whose message carries the pipeline's hint (or
// rethrows Cancelled), so main() prints both and exits with the code of its kind.
[[noreturn]] void fail_with_hint(const std::exception_ptr& error);

}  // namespace clipmind::cli
