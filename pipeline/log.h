// Logging for the pipeline: every message of every job goes through ONE callback that the front
// end installs (the CLI writes to stderr, the GUI to its log panel, tests collect records).
// Libraries never print; with no callback installed, messages are dropped.
//
// A Logger is cheap to copy (copies share the sink, the level and the "once" set) and is safe
// to use from several stage threads at once: the sink is called under a mutex, so it never runs
// concurrently with itself and must not log through the same Logger.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace clipmind::pipeline {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

// "error", "warning", "info", "debug".
const char* to_string(LogLevel level);
// Parses the names above (and "warn", "quiet" = error, "verbose" = debug); throws
// clipmind::Error(kInvalidArgument) for anything else.
LogLevel parse_log_level(std::string_view text);

struct LogRecord {
  LogLevel level = LogLevel::kInfo;
  std::string component;  // "decode", "encode", "cache", "caption", ...
  std::string message;
};

using LogSink = std::function<void(const LogRecord&)>;

class Logger {
 public:
  // A logger that drops everything.
  Logger();
  // Passes records at `level` or more severe to `sink`.
  explicit Logger(LogSink sink, LogLevel level = LogLevel::kInfo);

  bool enabled(LogLevel level) const;
  LogLevel level() const;

  void log(LogLevel level, std::string_view component, std::string message) const;
  void error(std::string_view component, std::string message) const {
    log(LogLevel::kError, component, std::move(message));
  }
  void warning(std::string_view component, std::string message) const {
    log(LogLevel::kWarning, component, std::move(message));
  }
  void info(std::string_view component, std::string message) const {
    log(LogLevel::kInfo, component, std::move(message));
  }
  void debug(std::string_view component, std::string message) const {
    log(LogLevel::kDebug, component, std::move(message));
  }

  // Logs only the first time `key` is seen by this logger (and its copies): for notes such as
  // "F2C needs a relevance model; using scene-aware selection" that would otherwise repeat for
  // every file of a batch or every question of a chat. Returns whether it logged.
  bool once(std::string_view key, LogLevel level, std::string_view component,
            std::string message) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace clipmind::pipeline
