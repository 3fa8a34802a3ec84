// Formats download progress as one terminal line with a bar, sizes, rate and ETA, e.g.
//   model-00001-of-00002.safetensors  42% [##########--------------] 1.2 GiB/2.9 GiB  35.4 MiB/s
//   ETA 0:49
// The formatter only builds strings (the CLI prints them with '\r'); it never prints.
// The rate is measured over the last few seconds of events, so it follows speed changes; the
// ETA is the bytes left over that rate. Not thread-safe: feed it from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>

#include "clipmind/progress.h"

namespace clipmind::models::hub {

// "0 B", "999 B", "1.5 KiB", "35.4 MiB", "2.9 GiB" (binary units, one decimal from KiB up).
std::string format_bytes(int64_t bytes);

// "0:05", "1:05", "1:02:05" (hours only when needed); "--:--" for a negative value.
std::string format_duration(double seconds);

class ProgressBar {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ProgressBar(int bar_width = 24, std::chrono::seconds window = std::chrono::seconds(5));

  // The line for `event` (no newline). `now` is when the event arrived; tests pass fixed
  // times. Events with total < 0 (unknown) get no bar, percentage or ETA.
  std::string line(const ProgressEvent& event, Clock::time_point now);

  // Bytes per second over the window up to the last event; < 0 while unknown.
  double rate() const;

 private:
  int bar_width_;
  Clock::duration window_;
  std::deque<std::pair<Clock::time_point, int64_t>> samples_;
};

}  // namespace clipmind::models::hub
