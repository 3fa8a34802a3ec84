#include "pipeline/log.h"

#include <mutex>
#include <set>

#include "clipmind/error.h"

namespace clipmind::pipeline {

struct Logger::State {
  LogSink sink;
  LogLevel level = LogLevel::kInfo;
  std::mutex mutex;
  std::set<std::string, std::less<>> seen;
};

const char* to_string(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "info";
}

LogLevel parse_log_level(std::string_view text) {
  if (text == "error" || text == "quiet") return LogLevel::kError;
  if (text == "warning" || text == "warn") return LogLevel::kWarning;
  if (text == "info") return LogLevel::kInfo;
  if (text == "debug" || text == "verbose") return LogLevel::kDebug;
  throw Error(ErrorKind::kInvalidArgument,
              "unknown log level '" + std::string(text) + "' (use error, warning, info or debug)");
}

Logger::Logger() : state_(std::make_shared<State>()) {}

Logger::Logger(LogSink sink, LogLevel level) : state_(std::make_shared<State>()) {
  state_->sink = std::move(sink);
  state_->level = level;
}

bool Logger::enabled(LogLevel level) const {
  return state_->sink && static_cast<int>(level) <= static_cast<int>(state_->level);
}

LogLevel Logger::level() const {
  return state_->level;
}

void Logger::log(LogLevel level, std::string_view component, std::string message) const {
  if (!enabled(level)) return;
  LogRecord record{level, std::string(component), std::move(message)};
  std::lock_guard lock(state_->mutex);
  state_->sink(record);
}

bool Logger::once(std::string_view key, LogLevel level, std::string_view component,
                  std::string message) const {
  {
    std::lock_guard lock(state_->mutex);
    if (!state_->seen.emplace(key).second) return false;
  }
  log(level, component, std::move(message));
  return true;
}

}  // namespace clipmind::pipeline
