// Job progress: stages report units done; the tracker adds what a person wants to see (rate,
// ETA, elapsed time, which stage of how many) and hands JobProgress events to one callback.
//
// Several stages may be active at once (decode overlaps encode). Events are delivered under one
// mutex, in the order they happen, and per stage in this order: one `begin` event (done 0), any
// number of updates with non-decreasing `done`, then one `finished` event (its total is set
// to what was done, so a stage that ends early ends complete). Updates are
// throttled (at most one per stage per `min_interval_s`); begin, finish and the update that
// reaches `total` always go through. Rate and ETA come from timestamps, never from assumptions:
// the rate is measured over a sliding window of the last few seconds of the stage (over the
// whole stage until the window has two samples), and the ETA is (total - done) / rate.
// The callback runs on the thread that reported progress and must return quickly.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "clipmind/progress.h"

namespace clipmind::pipeline {

struct JobProgress {
  std::string stage;       // "probe", "decode", "encode", "merge", "prefill", "generate", ...
  int stage_index = -1;    // position in the job's planned stage list; -1 if not planned
  int stage_count = 0;     // stages the job planned (0 when it did not say)
  int64_t done = 0;        // units finished in this stage
  int64_t total = -1;      // units in this stage; -1 when unknown
  std::string unit;        // "frames", "tokens", "files", ...
  double rate = 0.0;       // units per second; 0 until measurable
  double eta_s = -1.0;     // seconds left in this stage; -1 when unknown
  double elapsed_s = 0.0;  // since the stage began
  std::string detail;      // the file being processed, a sub-step
  bool finished = false;   // the stage's last event

  double fraction() const { return total > 0 ? static_cast<double>(done) / total : -1.0; }
};

using JobProgressCallback = std::function<void(const JobProgress&)>;

struct ProgressOptions {
  double min_interval_s = 0.1;  // throttle for updates of one stage
  double rate_window_s = 5.0;   // sliding window for the rate
};

class ProgressTracker {
 public:
  using Clock = std::function<double()>;  // seconds on a monotonic clock

  // A tracker with no callback drops everything (but still measures).
  ProgressTracker();
  explicit ProgressTracker(JobProgressCallback callback, std::vector<std::string> planned = {},
                           ProgressOptions options = {}, Clock clock = {});
  ~ProgressTracker();
  ProgressTracker(const ProgressTracker&) = delete;
  ProgressTracker& operator=(const ProgressTracker&) = delete;

  // A stage's handle. Thread-safe. Destroying an unfinished handle emits nothing more (a
  // failure or cancellation ends the job; its error says why).
  class Stage {
   public:
    Stage() = default;
    Stage(Stage&&) noexcept;
    Stage& operator=(Stage&&) noexcept;
    ~Stage();

    void advance(int64_t units = 1, const std::string& detail = {});
    void set_done(int64_t done, const std::string& detail = {});
    void set_total(int64_t total);
    void finish();
    bool active() const { return tracker_ != nullptr && !finished_; }
    int64_t done() const;
    // Adapter for libraries that take a clipmind::ProgressCallback: forwards done/total.
    ProgressCallback callback();

   private:
    friend class ProgressTracker;
    Stage(ProgressTracker* tracker, int id) : tracker_(tracker), id_(id) {}
    ProgressTracker* tracker_ = nullptr;
    int id_ = -1;
    bool finished_ = false;
  };

  Stage begin(const std::string& stage, int64_t total = -1, const std::string& unit = {},
              const std::string& detail = {});

  // Seconds since the tracker was made.
  double elapsed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  void update(int id, int64_t done, bool absolute, int64_t total, const std::string& detail,
              bool finish);
  int64_t done_of(int id) const;
};

// Formats seconds as "0:07", "12:34" or "1:02:03"; "--:--" for a negative (unknown) value.
std::string format_duration(double seconds);

}  // namespace clipmind::pipeline
