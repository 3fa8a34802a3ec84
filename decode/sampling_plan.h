// The pure part of FrameSampler: which decoding strategy, which tasks, and which decoded frame
// answers which requested time. No FFmpeg here, so the rules are unit-tested directly.
//
// plan_sampling() turns sorted request times and sorted keyframe times into tasks. A task is
// a contiguous range of requests that one decoder answers in one pass; tasks are independent
// (each starts from its own keyframe), so they can run in parallel and be emitted in order.
// The thresholds are documented in docs/decode.md.
#pragma once

#include <cstddef>
#include <limits>
#include <span>
#include <vector>

#include "decode/frame_sampler.h"

namespace clipmind::decode {

// Accurate mode decodes sequentially when the requests average at least this many per GOP
// that contains one: seeking per GOP then saves almost nothing.
inline constexpr double kDenseRequestsPerGop = 8.0;
// kKeyframes mode scans the whole file (decoding keyframes only) when the requests need at
// least this fraction of the keyframes in the range they span.
inline constexpr double kDenseKeyframeFraction = 0.5;

struct PlanTask {
  enum class Kind {
    kDecode,    // decode from the keyframe before the first request to the last one
    kKeyframe,  // decode just the keyframe at `keyframe` (kFast/kKeyframes)
    kScan,      // kKeyframes: feed only keyframes, nearest keyframe rule
  };
  Kind kind = Kind::kDecode;
  size_t begin = 0;  // requests [begin, end)
  size_t end = 0;
  double keyframe = 0.0;  // kKeyframe: its time; kDecode: the keyframe the pass starts from
};

struct SamplingPlan {
  Strategy strategy = Strategy::kSequential;
  std::vector<PlanTask> tasks;  // in request order, covering every request once
  int decoders = 1;             // decoders running tasks in parallel
  int codec_threads = 1;        // FFmpeg threads inside each decoder
};

struct PlanInput {
  std::span<const double> times;      // ascending
  std::span<const double> keyframes;  // ascending; empty when unknown
  SampleMode mode = SampleMode::kAccurate;
  double tolerance = 0.0;  // kFast
  Strategy strategy = Strategy::kAuto;
  int threads = 1;  // > 0
};

// Throws clipmind::Error(kInvalidArgument) for a strategy that does not fit the mode.
SamplingPlan plan_sampling(const PlanInput& input);

// Index of the last keyframe at or before t (0 when t is before the first), or -1 when none.
long keyframe_before(std::span<const double> keyframes, double t);

// Settles requests as decoded frames go by in presentation order. The caller keeps the
// previous frame; offer() says for each settled request whether the previous or the current
// frame answers it. With tolerance 0 this is the nearest-frame rule of kAccurate (ties to the
// earlier frame); with tolerance > 0 it is kFast's "first frame within the tolerance".
class NearestFrameMatcher {
 public:
  enum class Pick { kPrevious, kCurrent };
  static constexpr double kTieEpsilon = 1e-9;  // seconds

  explicit NearestFrameMatcher(std::span<const double> times, double tolerance = 0.0)
      : times_(times), tolerance_(tolerance) {}

  bool done() const { return next_ >= times_.size(); }
  size_t next() const { return next_; }
  double next_time() const { return times_[next_]; }
  // Frames with a time before this one can be skipped once a later frame at or before it is
  // known to exist: none of them can answer a pending request.
  double skip_limit() const {
    return done() ? std::numeric_limits<double>::infinity() : times_[next_] - tolerance_;
  }
  // Forget the previous frame (after a seek, the previous frame is no longer a neighbour).
  void reset_previous() { has_previous_ = false; }
  // A frame decoded before this matcher started (the decoder continues where it was).
  void set_previous(double time) {
    previous_ = time;
    has_previous_ = true;
  }

  template <class Emit>
  void offer(double time, Emit&& emit) {
    while (!done()) {
      const double t = times_[next_];
      if (time < t - tolerance_) break;
      Pick pick = Pick::kCurrent;
      if (time > t + tolerance_ && has_previous_ && (t - previous_) <= (time - t) + kTieEpsilon) {
        pick = Pick::kPrevious;
      }
      emit(next_, pick);
      ++next_;
    }
    previous_ = time;
    has_previous_ = true;
  }

  // End of the stream: the last frame answers every pending request; without any frame the
  // pending requests stay unanswered (emit_missing).
  template <class Emit, class Missing>
  void finish(Emit&& emit, Missing&& emit_missing) {
    for (; !done(); ++next_) {
      if (has_previous_) {
        emit(next_, Pick::kPrevious);
      } else {
        emit_missing(next_);
      }
    }
  }

 private:
  std::span<const double> times_;
  double tolerance_;
  size_t next_ = 0;
  double previous_ = 0.0;
  bool has_previous_ = false;
};

}  // namespace clipmind::decode
