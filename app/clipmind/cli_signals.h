// Shared by the long-running CLI commands (ask, chat, caption, index, search): Ctrl-C handling
// and the conversion of pipeline failures into errors main() prints with their hint.
#pragma once

#include <atomic>
#include <csignal>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "clipmind/progress.h"
#include "pipeline/log.h"

namespace clipmind::cli {

// Ctrl-C (SIGINT) and SIGTERM request cancellation of `token`; a second one ends the process
// at once (exit 130). The handler only reads the monotonic clock and writes that time to a pipe
// (both async-signal-safe, from whichever thread the kernel picks: OpenBLAS and FFmpeg start
// threads of their own); a watcher thread reads it, calls `notify` with a user message and
// cancels. A SIGINT the shell told us to ignore (a background job's) stays ignored. Handlers
// are restored on destruction.
//
// "Cancellation takes effect within a second" is about the job, not about process teardown
// (LibTorch and FFmpeg unloading, which a loaded machine can stretch): report_stop(), called
// where the job has unwound, logs at debug level (--verbose) how long after the signal that was
// ("clipmind: debug: the job stopped 0.042 s after the cancel request"), so it can be checked.
class CancelOnSignal {
 public:
  CancelOnSignal(CancelToken token, std::function<void(const std::string&)> notify);
  ~CancelOnSignal();
  CancelOnSignal(const CancelOnSignal&) = delete;
  CancelOnSignal& operator=(const CancelOnSignal&) = delete;

  // Seconds from the first signal (the handler's clock reading) to now; nullopt before one.
  std::optional<double> seconds_since_request() const;
  // Call where the job has returned or thrown: after a signal, logs the seconds since it on
  // `log` at debug level, once; otherwise does nothing. Never throws.
  void report_stop(const pipeline::Logger& log);

 private:
  void watch();

  CancelToken token_;
  std::function<void(const std::string&)> notify_;
  struct sigaction previous_[2]{};
  bool installed_[2] = {false, false};
  std::atomic<int64_t> requested_ns_{-1};  // CLOCK_MONOTONIC of the first signal
  bool reported_ = false;
  std::thread watcher_;
};

// Turns any failure into a clipmind::Error whose message carries the pipeline's hint (or
// rethrows Cancelled), so main() prints both and exits with the code of its kind.
[[noreturn]] void fail_with_hint(const std::exception_ptr& error);

}  // namespace clipmind::cli
