#include "pipeline/progress_tracker.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <mutex>
#include <utility>

#include "models/hub/progress_bar.h"

namespace clipmind::pipeline {

namespace {

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

struct ProgressTracker::Impl {
  struct StageState {
    JobProgress last;
    double begin_time = 0.0;
    double last_emit = -1e300;
    std::deque<std::pair<double, int64_t>> samples;  // (time, done)
    bool finished = false;
  };

  JobProgressCallback callback;
  std::vector<std::string> planned;
  ProgressOptions options;
  Clock clock;
  double created = 0.0;
  mutable std::mutex mutex;
  std::vector<StageState> stages;

  double now() const { return clock ? clock() : steady_seconds(); }

  void measure(StageState& s, double t) {
    JobProgress& p = s.last;
    p.elapsed_s = std::max(0.0, t - s.begin_time);
    s.samples.emplace_back(t, p.done);
    while (s.samples.size() > 2 && s.samples.front().first < t - options.rate_window_s) {
      s.samples.pop_front();
    }
    // Over the window when it spans time, else over the whole stage.
    const auto& [t0, d0] = s.samples.front();
    double rate = 0.0;
    if (t - t0 > 1e-9 && p.done > d0) {
      rate = static_cast<double>(p.done - d0) / (t - t0);
    } else if (p.elapsed_s > 1e-9 && p.done > 0) {
      rate = static_cast<double>(p.done) / p.elapsed_s;
    }
    p.rate = rate;
    if (p.total >= 0 && p.done >= p.total) {
      p.eta_s = 0.0;
    } else if (p.total > 0 && rate > 0.0) {
      p.eta_s = static_cast<double>(p.total - p.done) / rate;
    } else {
      p.eta_s = -1.0;
    }
  }
};

ProgressTracker::ProgressTracker() : ProgressTracker(JobProgressCallback{}) {}

ProgressTracker::ProgressTracker(JobProgressCallback callback, std::vector<std::string> planned,
                                 ProgressOptions options, Clock clock)
    : impl_(std::make_unique<Impl>()) {
  impl_->callback = std::move(callback);
  impl_->planned = std::move(planned);
  impl_->options = options;
  impl_->clock = std::move(clock);
  impl_->created = impl_->now();
}

ProgressTracker::~ProgressTracker() = default;

double ProgressTracker::elapsed() const {
  return impl_->now() - impl_->created;
}

ProgressTracker::Stage ProgressTracker::begin(const std::string& stage, int64_t total,
                                              const std::string& unit, const std::string& detail) {
  std::lock_guard lock(impl_->mutex);
  Impl::StageState s;
  s.begin_time = impl_->now();
  s.last.stage = stage;
  s.last.total = total;
  s.last.unit = unit;
  s.last.detail = detail;
  s.last.stage_count = static_cast<int>(impl_->planned.size());
  const auto it = std::find(impl_->planned.begin(), impl_->planned.end(), stage);
  s.last.stage_index =
      it == impl_->planned.end() ? -1 : static_cast<int>(it - impl_->planned.begin());
  impl_->measure(s, s.begin_time);
  s.last_emit = s.begin_time;
  impl_->stages.push_back(s);
  if (impl_->callback) impl_->callback(impl_->stages.back().last);
  return Stage(this, static_cast<int>(impl_->stages.size()) - 1);
}

void ProgressTracker::update(int id, int64_t done, bool absolute, int64_t total,
                             const std::string& detail, bool finish) {
  std::lock_guard lock(impl_->mutex);
  Impl::StageState& s = impl_->stages.at(static_cast<size_t>(id));
  if (s.finished) return;
  JobProgress& p = s.last;
  if (total != -2) p.total = total;
  if (absolute) {
    p.done = std::max(p.done, done);  // never goes backwards
  } else {
    p.done += std::max<int64_t>(0, done);
  }
  if (!detail.empty()) p.detail = detail;
  const double t = impl_->now();
  if (finish) {
    s.finished = true;
    p.finished = true;
    p.total = p.done;  // a stage that ends early ends complete: what it did is all there was
  }
  impl_->measure(s, t);
  const bool reached = p.total >= 0 && p.done >= p.total;
  if (!finish && !reached && t - s.last_emit < impl_->options.min_interval_s) return;
  s.last_emit = t;
  if (impl_->callback) impl_->callback(p);
}

int64_t ProgressTracker::done_of(int id) const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stages.at(static_cast<size_t>(id)).last.done;
}

ProgressTracker::Stage::Stage(Stage&& other) noexcept
    : tracker_(std::exchange(other.tracker_, nullptr)),
      id_(other.id_),
      finished_(other.finished_) {}

ProgressTracker::Stage& ProgressTracker::Stage::operator=(Stage&& other) noexcept {
  tracker_ = std::exchange(other.tracker_, nullptr);
  id_ = other.id_;
  finished_ = other.finished_;
  return *this;
}

ProgressTracker::Stage::~Stage() = default;

void ProgressTracker::Stage::advance(int64_t units, const std::string& detail) {
  if (tracker_) tracker_->update(id_, units, false, -2, detail, false);
}

void ProgressTracker::Stage::set_done(int64_t done, const std::string& detail) {
  if (tracker_) tracker_->update(id_, done, true, -2, detail, false);
}

void ProgressTracker::Stage::set_total(int64_t total) {
  if (tracker_) tracker_->update(id_, 0, false, total, {}, false);
}

void ProgressTracker::Stage::finish() {
  if (tracker_ && !finished_) tracker_->update(id_, 0, false, -2, {}, true);
  finished_ = true;
}

int64_t ProgressTracker::Stage::done() const {
  return tracker_ ? tracker_->done_of(id_) : 0;
}

ProgressCallback ProgressTracker::Stage::callback() {
  ProgressTracker* tracker = tracker_;
  const int id = id_;
  return [tracker, id](const ProgressEvent& event) {
    if (tracker)
      tracker->update(id, event.done, true, event.total >= 0 ? event.total : -2, event.detail,
                      false);
  };
}

std::string format_duration(double seconds) {
  return models::hub::format_duration(seconds);  // one clock format for downloads and jobs
}

}  // namespace clipmind::pipeline
