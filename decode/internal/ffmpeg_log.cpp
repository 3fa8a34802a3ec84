#include "decode/internal/ffmpeg_log.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
}

#include <cstdarg>
#include <cstring>
#include <set>

namespace clipmind::decode::internal {
namespace {

// The registry of live LogTargets. FFmpeg's log callback is process-wide, so this is too;
// it is function-local and guarded, and holds only addresses to compare against.
struct Registry {
  std::mutex mutex;
  std::set<const void*> targets;
};
Registry& registry() {
  static Registry instance;
  return instance;
}

thread_local WarningSink* current_sink = nullptr;

WarningSink* sink_of_context(void* avcl) {
  if (!avcl) return nullptr;
  const AVClass* cls = *static_cast<const AVClass* const*>(avcl);
  if (!cls || !cls->class_name) return nullptr;
  void* opaque = nullptr;
  if (std::strcmp(cls->class_name, "AVCodecContext") == 0) {
    opaque = static_cast<AVCodecContext*>(avcl)->opaque;
  } else if (std::strcmp(cls->class_name, "AVFormatContext") == 0) {
    opaque = static_cast<AVFormatContext*>(avcl)->opaque;
  }
  if (!opaque) return nullptr;
  Registry& reg = registry();
  std::lock_guard lock(reg.mutex);
  if (!reg.targets.count(opaque)) return nullptr;
  return static_cast<LogTarget*>(opaque)->sink;
}

void log_router(void* avcl, int level, const char* fmt, va_list args) {
  WarningSink* sink = sink_of_context(avcl);
  if (!sink) sink = current_sink;
  if (!sink) {
    av_log_default_callback(avcl, level, fmt, args);
    return;
  }
  if (level > AV_LOG_WARNING) return;
  char line[1024];
  int print_prefix = 0;  // the file name already says where the message comes from
  va_list copy;
  va_copy(copy, args);
  av_log_format_line2(avcl, level, fmt, copy, line, sizeof line, &print_prefix);
  va_end(copy);
  std::string_view text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  // Some decoders start a message with a newline (ending an earlier partial line).
  while (!text.empty() && (text.front() == '\n' || text.front() == '\r' || text.front() == ' ')) {
    text.remove_prefix(1);
  }
  if (!text.empty()) sink->ffmpeg_message(level, text);
}

}  // namespace

WarningSink::WarningSink(std::string file_label) : label_(std::move(file_label)) {}

void WarningSink::warn(const std::string& message) {
  std::lock_guard lock(mutex_);
  pending_.push_back(label_ + ": " + message);
}

void WarningSink::warn_once(const std::string& key, const std::string& message) {
  std::lock_guard lock(mutex_);
  if (seen_.emplace("once:" + key, 1).second) pending_.push_back(label_ + ": " + message);
}

void WarningSink::ffmpeg_message(int level, std::string_view text) {
  std::lock_guard lock(mutex_);
  if (level <= AV_LOG_ERROR) {
    ++errors_;
    last_error_ = std::string(text);
  }
  // Warnings (level AV_LOG_WARNING) are FFmpeg's remarks about unusual but readable data;
  // only errors say that data was damaged or lost, so only errors reach the caller.
  if (level > AV_LOG_ERROR) return;
  auto [it, inserted] = seen_.emplace(std::string(text), 0);
  ++it->second;
  if (inserted && verbatim_ < kMaxVerbatim) {
    ++verbatim_;
    pending_.push_back(label_ + ": FFmpeg: " + std::string(text));
  } else {
    ++suppressed_;
  }
}

std::string WarningSink::last_ffmpeg_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

int64_t WarningSink::ffmpeg_error_count() const {
  std::lock_guard lock(mutex_);
  return errors_;
}

std::vector<std::string> WarningSink::take() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  out.swap(pending_);
  return out;
}

void WarningSink::finish() {
  std::lock_guard lock(mutex_);
  if (suppressed_ > 0) {
    pending_.push_back(label_ + ": " + std::to_string(suppressed_) +
                       " more FFmpeg error message(s) not shown");
    suppressed_ = 0;
  }
}

LogTarget::LogTarget(WarningSink* s) : sink(s) {
  Registry& reg = registry();
  std::lock_guard lock(reg.mutex);
  reg.targets.insert(this);
}

LogTarget::~LogTarget() {
  Registry& reg = registry();
  std::lock_guard lock(reg.mutex);
  reg.targets.erase(this);
}

ScopedLogTarget::ScopedLogTarget(WarningSink* sink) : previous_(current_sink) {
  current_sink = sink;
}
ScopedLogTarget::~ScopedLogTarget() {
  current_sink = previous_;
}

void install_log_router() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(log_router); });
}

}  // namespace clipmind::decode::internal
