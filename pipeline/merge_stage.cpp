#include "pipeline/merge_stage.h"

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "compress/merge/divprune.h"
#include "compress/merge/holitom.h"
#include "compress/merge/tome.h"

namespace clipmind::pipeline {

namespace {

compress::MergeResult unmerged(const std::vector<EncodedFrame>& frames) {
  compress::MergeResult result;
  for (size_t f = 0; f < frames.size(); ++f) {
    const EncodedFrame& frame = frames[f];
    compress::MergedSegment segment;
    segment.frame_begin = segment.frame_end = static_cast<int64_t>(f);
    segment.t_begin = segment.t_end = frame.time;
    segment.tokens = frame.tokens;
    const int64_t n = frame.tokens.size(0);
    for (int64_t p = 0; p < n; ++p) {
      segment.origins.push_back({compress::TokenKind::kKept, static_cast<int32_t>(f),
                                 static_cast<int32_t>(f), static_cast<int32_t>(p)});
      segment.members.push_back({static_cast<int32_t>(static_cast<int64_t>(f) * n + p)});
    }
    result.input_tokens += n;
    result.segments.push_back(std::move(segment));
  }
  result.budget = result.input_tokens;
  result.retain_ratio = 1.0;
  return result;
}

}  // namespace

MergeSettings to_merge_settings(const MergeConfig& merge, int64_t cap, int64_t input_tokens) {
  MergeSettings m;
  m.method = merge.method;
  m.cap = cap;
  m.tau = holitom_tau(
      merge, input_tokens > 0 ? static_cast<double>(cap) / static_cast<double>(input_tokens) : 1.0);
  m.beta = merge.beta;
  m.k_max = merge.k_max;
  m.max_window = merge.max_window;
  m.tome_window_frames = merge.tome_window_frames;
  m.divprune_window_frames = merge.divprune_window_frames;
  return m;
}

compress::MergeResult merge_frames(const std::vector<EncodedFrame>& frames,
                                   const MergeSettings& settings) {
  if (frames.empty()) {
    throw Error(ErrorKind::kInvalidArgument, "merge: no frames to merge");
  }
  if (settings.method == "none") return unmerged(frames);
  const int64_t grid = frames.front().grid;
  std::vector<at::Tensor> tokens;
  std::vector<at::Tensor> attention;
  std::vector<double> times;
  bool have_attention = true;
  for (const EncodedFrame& f : frames) {
    if (f.grid != grid) {
      throw Error(ErrorKind::kInvalidArgument,
                  "merge: " + settings.method +
                      " needs every frame at the same resolution; use --method none with "
                      "adaptive-resolution key clips");
    }
    tokens.push_back(f.tokens.to(at::kFloat));
    have_attention = have_attention && f.attention.defined();
    if (f.attention.defined()) attention.push_back(f.attention.to(at::kFloat));
    times.push_back(f.time);
  }
  const at::Tensor stacked = at::stack(tokens);  // [T, N, D]
  const int64_t input = stacked.size(0) * stacked.size(1);
  const compress::TokenBudget budget =
      compress::TokenBudget::tokens(settings.cap > 0 ? std::min(settings.cap, input) : input);
  if (settings.method == "holitom") {
    if (!have_attention) {
      throw Error(ErrorKind::kInvalidArgument, "merge: HoliTom needs the vision attention");
    }
    compress::HolitomOptions options;
    options.tau = settings.tau;
    options.beta = settings.beta;
    options.k_max = settings.k_max;
    options.max_window = settings.max_window;
    return compress::holitom_merge_within(stacked, at::stack(attention), times, budget, options);
  }
  if (settings.method == "tome") {
    compress::TomeOptions options;
    options.window_frames = settings.tome_window_frames;
    return compress::tome_merge(stacked, times, budget, options);
  }
  if (settings.method == "divprune") {
    compress::DivPruneOptions options;
    options.window_frames = settings.divprune_window_frames;
    return compress::divprune_merge(stacked, times, budget, options);
  }
  throw Error(ErrorKind::kInvalidArgument, "merge: unknown method '" + settings.method + "'");
}

}  // namespace clipmind::pipeline
