#include "pipeline/caption_spans.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "clipmind/error.h"

namespace clipmind::pipeline {

namespace {

void check_duration(double duration_s) {
  if (!(duration_s > 0.0) || !std::isfinite(duration_s)) {
    throw Error(ErrorKind::kInvalidArgument, "caption spans need a positive video duration");
  }
}

}  // namespace

std::vector<CaptionSpan> fixed_windows(double duration_s, double window_s) {
  check_duration(duration_s);
  if (!(window_s > 0.0) || !std::isfinite(window_s)) {
    throw Error(ErrorKind::kInvalidArgument, "caption window must be a positive number of seconds");
  }
  std::vector<CaptionSpan> spans;
  const auto count = static_cast<int64_t>(std::ceil(duration_s / window_s - 1e-9));
  for (int64_t k = 0; k < std::max<int64_t>(1, count); ++k) {
    const double begin = static_cast<double>(k) * window_s;
    spans.push_back({begin, std::min(duration_s, begin + window_s)});
  }
  // A sliver at the end (6.006 s in 1.5 s windows leaves 6.000-6.006) would be a cue nobody
  // can read: it joins the window before it.
  const double sliver = std::min(0.5, window_s / 2);
  if (spans.size() > 1 && spans.back().t_end - spans.back().t_begin < sliver) {
    spans[spans.size() - 2].t_end = spans.back().t_end;
    spans.pop_back();
  }
  return spans;
}

std::vector<CaptionSpan> regularize_spans(std::vector<CaptionSpan> spans, double min_s,
                                          double max_s) {
  // Join: repeatedly merge the shortest too-short span into its shorter neighbour.
  while (spans.size() > 1) {
    size_t shortest = spans.size();
    for (size_t i = 0; i < spans.size(); ++i) {
      const double length = spans[i].t_end - spans[i].t_begin;
      if (length < min_s - 1e-9 &&
          (shortest == spans.size() || length < spans[shortest].t_end - spans[shortest].t_begin)) {
        shortest = i;
      }
    }
    if (shortest == spans.size()) break;
    size_t other;
    if (shortest == 0) {
      other = 1;
    } else if (shortest + 1 == spans.size()) {
      other = shortest - 1;
    } else {
      const double left = spans[shortest - 1].t_end - spans[shortest - 1].t_begin;
      const double right = spans[shortest + 1].t_end - spans[shortest + 1].t_begin;
      other = left <= right ? shortest - 1 : shortest + 1;
    }
    const size_t first = std::min(shortest, other);
    spans[first].t_end = spans[first + 1].t_end;
    spans.erase(spans.begin() + static_cast<std::ptrdiff_t>(first + 1));
  }
  // Split.
  std::vector<CaptionSpan> out;
  for (const CaptionSpan& s : spans) {
    const double length = s.t_end - s.t_begin;
    const auto parts =
        max_s > 0.0 ? std::max<int64_t>(1, static_cast<int64_t>(std::ceil(length / max_s - 1e-9)))
                    : 1;
    for (int64_t k = 0; k < parts; ++k) {
      const double b = s.t_begin + length * static_cast<double>(k) / static_cast<double>(parts);
      const double e = k + 1 == parts ? s.t_end
                                      : s.t_begin + length * static_cast<double>(k + 1) /
                                                        static_cast<double>(parts);
      out.push_back({b, e});
    }
  }
  return out;
}

std::vector<CaptionSpan> spans_from_segments(std::span<const double> frame_times,
                                             std::span<const std::pair<int64_t, int64_t>> segments,
                                             double duration_s, double min_s, double max_s) {
  check_duration(duration_s);
  const auto frames = static_cast<int64_t>(frame_times.size());
  std::vector<CaptionSpan> spans;
  int64_t expected = 0;
  for (const auto& [s, e] : segments) {
    if (s != expected || e < s || e >= frames) {
      throw Error(ErrorKind::kInvalidArgument,
                  "caption spans: segments must cover the frames in order without gaps");
    }
    expected = e + 1;
    const double begin =
        s == 0
            ? 0.0
            : 0.5 * (frame_times[static_cast<size_t>(s - 1)] + frame_times[static_cast<size_t>(s)]);
    const double end =
        e + 1 == frames
            ? duration_s
            : 0.5 * (frame_times[static_cast<size_t>(e)] + frame_times[static_cast<size_t>(e + 1)]);
    spans.push_back({std::clamp(begin, 0.0, duration_s), std::clamp(end, 0.0, duration_s)});
  }
  if (expected != frames) {
    throw Error(ErrorKind::kInvalidArgument, "caption spans: segments must cover every frame");
  }
  if (spans.empty()) spans.push_back({0.0, duration_s});
  return regularize_spans(std::move(spans), min_s, max_s);
}

}  // namespace clipmind::pipeline
