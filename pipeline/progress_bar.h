// A one-line terminal progress bar for the CLI, drawn from JobProgress events.
//
// It only formats: render() returns the bytes to write (carriage return, the line, erase to end
// of line) or nothing when a redraw is not due yet, and clear() the bytes that erase the line
// before other output (an answer, a log line) is written. The front end decides where it goes
// and draws it only when that stream is a terminal (isatty), so pipes and files never see
// control characters. Not thread-safe: call from one thread (the CLI serialises events).
#pragma once

#include <optional>
#include <string>

#include "pipeline/progress_tracker.h"

namespace clipmind::pipeline {

// "encode [3/6] ######......  12/32 frames  3.1/s  ETA 0:07" fitted to `width` columns.
std::string format_progress_line(const JobProgress& progress, int width);

class ProgressBar {
 public:
  // width: terminal columns; min_interval_s: redraw at most this often (finish always draws).
  explicit ProgressBar(int width = 80, double min_interval_s = 0.1);

  std::optional<std::string> render(const JobProgress& progress, double now_s);
  // Erases the bar if one is shown ("" otherwise).
  std::string clear();
  bool shown() const { return shown_; }

 private:
  int width_;
  double min_interval_s_;
  double last_draw_ = -1e300;
  bool shown_ = false;
};

}  // namespace clipmind::pipeline
