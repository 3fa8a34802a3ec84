#include "pipeline/progress_bar.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace clipmind::pipeline {

namespace {

std::string format_rate(double rate) {
  char buffer[32];
  if (rate >= 100.0) {
    std::snprintf(buffer, sizeof buffer, "%.0f/s", rate);
  } else if (rate >= 1.0) {
    std::snprintf(buffer, sizeof buffer, "%.1f/s", rate);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.2f/s", rate);
  }
  return buffer;
}

}  // namespace

std::string format_progress_line(const JobProgress& p, int width) {
  // Built with append(): GCC 12 warns falsely (-Wrestrict) on "literal" + std::string chains.
  std::string head = p.stage;
  if (p.stage_index >= 0 && p.stage_count > 0) {
    head.append(" [").append(std::to_string(p.stage_index + 1)).append("/");
    head.append(std::to_string(p.stage_count)).append("]");
  }
  std::string tail = "  ";
  tail.append(std::to_string(p.done));
  if (p.total >= 0) tail.append("/").append(std::to_string(p.total));
  if (!p.unit.empty()) tail.append(" ").append(p.unit);
  if (p.rate > 0.0) tail.append("  ").append(format_rate(p.rate));
  if (p.finished) {
    tail.append("  done in ").append(format_duration(p.elapsed_s));
  } else if (p.total >= 0) {
    tail.append("  ETA ").append(format_duration(p.eta_s));
  } else {
    tail.append("  ").append(format_duration(p.elapsed_s));
  }
  // The bar takes what is left, between 10 and 30 columns; without a total it is omitted.
  const int fixed = static_cast<int>(head.size() + tail.size()) + 3;
  const int room = std::min(30, width - 1 - fixed);
  std::string line = head;
  if (p.total > 0 && room >= 10) {
    const double f = std::clamp(p.fraction(), 0.0, 1.0);
    const int fill = static_cast<int>(std::floor(f * room));
    line.append(" [");
    line.append(static_cast<size_t>(fill), '#');
    line.append(static_cast<size_t>(room - fill), '.');
    line.append("]");
  }
  line += tail;
  if (width > 1 && static_cast<int>(line.size()) > width - 1) {
    line.resize(static_cast<size_t>(width - 1));
  }
  return line;
}

ProgressBar::ProgressBar(int width, double min_interval_s)
    : width_(std::max(20, width)), min_interval_s_(min_interval_s) {}

std::optional<std::string> ProgressBar::render(const JobProgress& progress, double now_s) {
  if (!progress.finished && now_s - last_draw_ < min_interval_s_) return std::nullopt;
  last_draw_ = now_s;
  shown_ = true;
  // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "literal" + string chains here.
  std::string out = "\r";
  out.append(format_progress_line(progress, width_));
  out.append("\x1b[K");
  return out;
}

std::string ProgressBar::clear() {
  if (!shown_) return {};
  shown_ = false;
  return "\r\x1b[K";
}

}  // namespace clipmind::pipeline
