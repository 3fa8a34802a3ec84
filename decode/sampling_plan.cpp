#include "decode/sampling_plan.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "clipmind/error.h"

namespace clipmind::decode {
namespace {

// Nearest keyframe index to t; a tie goes to the earlier keyframe.
long nearest_keyframe(std::span<const double> keyframes, double t) {
  const long before = keyframe_before(keyframes, t);
  const long after = before + 1;
  if (after >= static_cast<long>(keyframes.size())) return before;
  if (t < keyframes[0]) return 0;
  const double d_before = t - keyframes[before];
  const double d_after = keyframes[after] - t;
  return d_after < d_before - NearestFrameMatcher::kTieEpsilon ? after : before;
}

void set_parallelism(SamplingPlan& plan, int threads) {
  const int tasks = static_cast<int>(std::max<size_t>(plan.tasks.size(), 1));
  plan.decoders = std::max(1, std::min(threads, tasks));
  plan.codec_threads = std::max(1, threads / plan.decoders);
}

void plan_sequential(SamplingPlan& plan, const PlanInput& in) {
  plan.strategy = Strategy::kSequential;
  PlanTask task;
  task.kind = PlanTask::Kind::kDecode;
  task.begin = 0;
  task.end = in.times.size();
  const long k = keyframe_before(in.keyframes, in.times.front() - in.tolerance);
  task.keyframe = k >= 0 ? in.keyframes[k] : 0.0;
  plan.tasks.push_back(task);
  plan.decoders = 1;
  plan.codec_threads = std::max(1, in.threads);
}

// One kDecode task per run of requests sharing the keyframe they decode from.
void append_gop_tasks(std::vector<PlanTask>& tasks, const PlanInput& in, size_t begin, size_t end) {
  size_t i = begin;
  while (i < end) {
    const long k = keyframe_before(in.keyframes, in.times[i] - in.tolerance);
    size_t j = i + 1;
    while (j < end && keyframe_before(in.keyframes, in.times[j] - in.tolerance) == k)
      ++j;
    PlanTask task;
    task.kind = PlanTask::Kind::kDecode;
    task.begin = i;
    task.end = j;
    task.keyframe = k >= 0 ? in.keyframes[k] : 0.0;
    tasks.push_back(task);
    i = j;
  }
}

}  // namespace

long keyframe_before(std::span<const double> keyframes, double t) {
  if (keyframes.empty()) return -1;
  auto it = std::upper_bound(keyframes.begin(), keyframes.end(), t);
  if (it == keyframes.begin()) return 0;
  return static_cast<long>(it - keyframes.begin()) - 1;
}

SamplingPlan plan_sampling(const PlanInput& in) {
  SamplingPlan plan;
  const int threads = std::max(1, in.threads);
  if (in.times.empty()) {
    plan.strategy =
        in.mode == SampleMode::kAccurate ? Strategy::kSequential : Strategy::kKeyframeSeek;
    return plan;
  }
  const bool keyframe_mode = in.mode != SampleMode::kAccurate;
  if (in.strategy == Strategy::kKeyframeSeek || in.strategy == Strategy::kKeyframeScan) {
    if (!keyframe_mode) {
      throw Error(ErrorKind::kInvalidArgument, std::string("strategy ") + to_string(in.strategy) +
                                                   " needs the fast or keyframes mode");
    }
    if (in.strategy == Strategy::kKeyframeScan && in.mode != SampleMode::kKeyframes) {
      throw Error(ErrorKind::kInvalidArgument, "strategy keyframe-scan needs the keyframes mode");
    }
  }
  if (keyframe_mode && (in.strategy == Strategy::kSequential || in.strategy == Strategy::kSeek)) {
    throw Error(ErrorKind::kInvalidArgument,
                std::string("strategy ") + to_string(in.strategy) + " needs the accurate mode");
  }

  if (!keyframe_mode) {
    PlanInput exact = in;
    exact.tolerance = 0.0;
    if (in.keyframes.empty() || in.strategy == Strategy::kSequential) {
      plan_sequential(plan, exact);
      return plan;
    }
    std::vector<PlanTask> tasks;
    append_gop_tasks(tasks, exact, 0, in.times.size());
    const double per_gop = static_cast<double>(in.times.size()) / static_cast<double>(tasks.size());
    if (in.strategy == Strategy::kAuto && per_gop >= kDenseRequestsPerGop) {
      plan_sequential(plan, exact);
      return plan;
    }
    plan.strategy = Strategy::kSeek;
    plan.tasks = std::move(tasks);
    set_parallelism(plan, threads);
    return plan;
  }

  // kFast and kKeyframes.
  const bool keyframes_only = in.mode == SampleMode::kKeyframes;
  const double tolerance = keyframes_only ? std::numeric_limits<double>::infinity() : in.tolerance;
  if (in.keyframes.empty()) {
    // Nothing known about keyframes: one pass, the worker finds keyframes as it goes.
    plan.strategy = keyframes_only ? Strategy::kKeyframeScan : Strategy::kSequential;
    PlanTask task;
    task.kind = keyframes_only ? PlanTask::Kind::kScan : PlanTask::Kind::kDecode;
    task.begin = 0;
    task.end = in.times.size();
    plan.tasks.push_back(task);
    plan.decoders = 1;
    plan.codec_threads = threads;
    return plan;
  }

  if (keyframes_only && in.strategy != Strategy::kKeyframeSeek) {
    std::set<long> needed;
    for (double t : in.times)
      needed.insert(nearest_keyframe(in.keyframes, t));
    const long span = *needed.rbegin() - *needed.begin() + 1;
    const bool dense = static_cast<double>(needed.size()) >= kDenseKeyframeFraction * span;
    if (in.strategy == Strategy::kKeyframeScan || dense) {
      plan.strategy = Strategy::kKeyframeScan;
      PlanTask task;
      task.kind = PlanTask::Kind::kScan;
      task.begin = 0;
      task.end = in.times.size();
      task.keyframe = in.keyframes[*needed.begin()];
      plan.tasks.push_back(task);
      plan.decoders = 1;
      plan.codec_threads = threads;
      return plan;
    }
  }

  plan.strategy = Strategy::kKeyframeSeek;
  PlanInput fallback = in;
  fallback.tolerance = keyframes_only ? 0.0 : in.tolerance;
  size_t i = 0;
  const size_t n = in.times.size();
  while (i < n) {
    const long k = nearest_keyframe(in.keyframes, in.times[i]);
    const bool within = std::fabs(in.keyframes[k] - in.times[i]) <= tolerance;
    size_t j = i + 1;
    if (within) {
      while (j < n && nearest_keyframe(in.keyframes, in.times[j]) == k &&
             std::fabs(in.keyframes[k] - in.times[j]) <= tolerance) {
        ++j;
      }
      PlanTask task;
      task.kind = PlanTask::Kind::kKeyframe;
      task.begin = i;
      task.end = j;
      task.keyframe = in.keyframes[k];
      plan.tasks.push_back(task);
    } else {
      while (j < n) {
        const long kj = nearest_keyframe(in.keyframes, in.times[j]);
        if (std::fabs(in.keyframes[kj] - in.times[j]) <= tolerance) break;
        ++j;
      }
      append_gop_tasks(plan.tasks, fallback, i, j);
    }
    i = j;
  }
  set_parallelism(plan, threads);
  return plan;
}

const char* to_string(Strategy strategy) {
  switch (strategy) {
    case Strategy::kAuto:
      return "auto";
    case Strategy::kSequential:
      return "sequential";
    case Strategy::kSeek:
      return "seek";
    case Strategy::kKeyframeSeek:
      return "keyframe-seek";
    case Strategy::kKeyframeScan:
      return "keyframe-scan";
  }
  return "?";
}

const char* to_string(SampleMode mode) {
  switch (mode) {
    case SampleMode::kAccurate:
      return "accurate";
    case SampleMode::kFast:
      return "fast";
    case SampleMode::kKeyframes:
      return "keyframes";
  }
  return "?";
}

}  // namespace clipmind::decode
