// Where dense captions go: the time spans of a video that each get one caption.
//
//   fixed windows   [0, W), [W, 2W), ... [kW, D]: `--segment SECONDS` (a last window shorter
//                   than min(0.5 s, W/2) joins the one before);
//   auto            HoliTom's temporal segmentation of frames sampled over the whole video
//                   (compress::holitom_segment): a run of frames whose tokens stay similar is
//                   one span. A span boundary lies halfway between the last frame of one
//                   segment and the first frame of the next; the first span starts at 0 and the
//                   last ends at the duration. Spans shorter than `min_s` are joined to their
//                   shorter neighbour (the last one to its predecessor), spans longer than
//                   `max_s` are split into equal parts, so captions keep a useful length.
// Pure; throws clipmind::Error(kInvalidArgument) for non-positive durations or windows.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace clipmind::pipeline {

struct CaptionSpan {
  double t_begin = 0.0;
  double t_end = 0.0;
};

std::vector<CaptionSpan> fixed_windows(double duration_s, double window_s);

// segments: inclusive frame index ranges covering 0..frame_times.size()-1 in order.
std::vector<CaptionSpan> spans_from_segments(std::span<const double> frame_times,
                                             std::span<const std::pair<int64_t, int64_t>> segments,
                                             double duration_s, double min_s, double max_s);

// Joins spans shorter than min_s and splits spans longer than max_s (see above).
std::vector<CaptionSpan> regularize_spans(std::vector<CaptionSpan> spans, double min_s,
                                          double max_s);

}  // namespace clipmind::pipeline
