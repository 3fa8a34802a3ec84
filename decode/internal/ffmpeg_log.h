// Keeps FFmpeg's log output away from stderr and turns it into warnings of the file being read.
//
// FFmpeg logs through one process-wide callback. decode/ installs a router once: a message
// from a context decode/ owns (its AVFormatContext/AVCodecContext `opaque` names a registered
// LogTarget, including the copies FFmpeg's frame threads make), or from a thread that is
// inside a decode/ call (ScopedLogTarget), goes to that file's WarningSink; anything else
// keeps FFmpeg's default behaviour, so other FFmpeg users in the process are unaffected.
// Private to decode/.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace clipmind::decode::internal {

// Collects the warnings of one operation on one file; thread-safe. Messages are prefixed
// with the file name. FFmpeg's own messages are rate-limited: the first few distinct ones
// are kept verbatim, the rest are counted and summarised by finish().
class WarningSink {
 public:
  explicit WarningSink(std::string file_label);

  void warn(const std::string& message);  // "<file>: <message>"
  void warn_once(const std::string& key, const std::string& message);
  void ffmpeg_message(int level, std::string_view text);

  // The FFmpeg error text seen most recently (for error messages), or "".
  std::string last_ffmpeg_error() const;
  int64_t ffmpeg_error_count() const;

  // Moves out the warnings not yet taken.
  std::vector<std::string> take();
  // Adds the summary of suppressed FFmpeg messages (call once, at the end).
  void finish();

  const std::string& label() const { return label_; }

 private:
  static constexpr int kMaxVerbatim = 4;

  mutable std::mutex mutex_;
  std::string label_;
  std::vector<std::string> pending_;
  std::unordered_map<std::string, int> seen_;
  int verbatim_ = 0;
  int64_t suppressed_ = 0;
  int64_t errors_ = 0;
  std::string last_error_;
};

// What an FFmpeg context's `opaque` points to when decode/ owns it. Registered for its
// lifetime so that the log router only ever dereferences pointers it knows.
struct LogTarget {
  explicit LogTarget(WarningSink* sink);
  ~LogTarget();
  LogTarget(const LogTarget&) = delete;
  LogTarget& operator=(const LogTarget&) = delete;

  WarningSink* sink;
  int hw_pixel_format = -1;  // AVPixelFormat wanted by get_format() for hardware decoding
};

// Routes FFmpeg messages logged by this thread to `sink` while alive (nests).
class ScopedLogTarget {
 public:
  explicit ScopedLogTarget(WarningSink* sink);
  ~ScopedLogTarget();
  ScopedLogTarget(const ScopedLogTarget&) = delete;
  ScopedLogTarget& operator=(const ScopedLogTarget&) = delete;

 private:
  WarningSink* previous_;
};

// Installs the router (idempotent, thread-safe). Every decode/ entry point calls it.
void install_log_router();

}  // namespace clipmind::decode::internal
