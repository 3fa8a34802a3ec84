#include "models/hub/progress_bar.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace clipmind::models::hub {

std::string format_bytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "--:--";
  const auto total = static_cast<int64_t>(std::llround(seconds));
  const int64_t hours = total / 3600;
  const int64_t minutes = (total / 60) % 60;
  const int64_t secs = total % 60;
  char text[48];
  if (hours > 0) {
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", static_cast<long long>(hours),
                  static_cast<long long>(minutes), static_cast<long long>(secs));
  } else {
    std::snprintf(text, sizeof text, "%lld:%02lld", static_cast<long long>(minutes),
                  static_cast<long long>(secs));
  }
  return text;
}

ProgressBar::ProgressBar(int bar_width, std::chrono::seconds window)
    : bar_width_(std::max(bar_width, 1)), window_(window) {}

double ProgressBar::rate() const {
  if (samples_.size() < 2) return -1;
  const auto& [t0, b0] = samples_.front();
  const auto& [t1, b1] = samples_.back();
  const double seconds = std::chrono::duration<double>(t1 - t0).count();
  if (seconds <= 0) return -1;
  return static_cast<double>(b1 - b0) / seconds;
}

std::string ProgressBar::line(const ProgressEvent& event, Clock::time_point now) {
  // A counter that went back (a restarted file) makes old samples meaningless.
  if (!samples_.empty() && event.done < samples_.back().second) samples_.clear();
  samples_.emplace_back(now, event.done);
  // Keep one sample at or before the window's start so the window is fully covered.
  while (samples_.size() > 2 && samples_[1].first <= now - window_)
    samples_.pop_front();

  std::string out = event.detail.empty() ? event.stage : event.detail;
  const double bytes_per_second = rate();
  const std::string rate_text =
      bytes_per_second < 0 ? "--/s" : format_bytes(std::llround(bytes_per_second)) + "/s";

  if (event.total < 0) return out + "  " + format_bytes(event.done) + "  " + rate_text;

  const double fraction =
      event.total == 0 ? 1.0 : std::clamp(static_cast<double>(event.done) / event.total, 0.0, 1.0);
  const int filled = static_cast<int>(std::floor(fraction * bar_width_));
  char percent[8];
  std::snprintf(percent, sizeof percent, "%3d%%", static_cast<int>(std::floor(fraction * 100)));
  std::string eta = "--:--";
  if (event.done >= event.total) {
    eta = format_duration(0);
  } else if (bytes_per_second > 0) {
    eta = format_duration(static_cast<double>(event.total - event.done) / bytes_per_second);
  }
  out += "  ";
  out += percent;
  out += " [" + std::string(filled, '#') + std::string(bar_width_ - filled, '-') + "] ";
  out += format_bytes(event.done) + "/" + format_bytes(event.total) + "  " + rate_text + "  ETA " +
         eta;
  return out;
}

}  // namespace clipmind::models::hub
