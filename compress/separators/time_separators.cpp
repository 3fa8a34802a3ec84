#include "compress/separators/time_separators.h"

#include <cmath>
#include <cstdio>

namespace clipmind::compress {

std::string format_tenths(double seconds) {
  if (!(seconds > 0.0)) return "0.0";
  // Half up on the decimal value: tenths = floor(10 t + 0.5), with a small tolerance so that
  // 0.35 (stored as 0.34999999999999998) still rounds up.
  const double tenths = std::floor(seconds * 10.0 + 0.5 + 1e-5);
  const auto whole = static_cast<long long>(tenths);
  char text[32];
  std::snprintf(text, sizeof text, "%lld.%lld", whole / 10, whole % 10);
  return text;
}

std::string separator_text(double seconds) {
  std::string text = "[";
  text.append(format_tenths(seconds)).append("s]");
  return text;
}

std::string span_separator_text(double t_begin, double t_end) {
  const std::string begin = format_tenths(t_begin);
  const std::string end = format_tenths(t_end);
  std::string text = "[";
  text.append(begin).append("s");
  if (end != begin) text.append("-").append(end).append("s");
  text.append("]");
  return text;
}

std::string separator_for(const MergedSegment& segment) {
  return span_separator_text(segment.t_begin, segment.t_end);
}

std::string separator_header(double duration_seconds, bool spans) {
  char duration[64];
  std::snprintf(duration, sizeof duration, "%.1f",
                std::isfinite(duration_seconds) ? duration_seconds : 0.0);
  std::string text = "The video lasts ";
  text.append(duration).append(
      " seconds. Each frame is preceded by its time in seconds, like [12.5s].");
  if (spans)
    text.append(" A group of similar frames is preceded by its time span, like [12.5s-20.0s].");
  text.append(" Give times in seconds.");
  return text;
}

}  // namespace clipmind::compress
