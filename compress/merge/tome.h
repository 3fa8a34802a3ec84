// ToMe bipartite soft matching (Bolya et al., arXiv 2210.09461; code facebookresearch/ToMe) for
// visual tokens outside the LLM, per docs/design/methods.md "ToMe".
//
// tome_round() is one round exactly as the reference orders it: output = [unmerged A tokens in
// descending best-score order, then every B token in original order], size-weighted averages.
// tome_merge() is our video adaptation (no source for it): frames are cut into fixed windows of
// `window_frames` frames; inside each window, rounds of at most floor(t/2) merges run until the
// window's share of the budget is met; sources are tracked so every output token knows its
// members, frame span and position. Each window becomes one segment; its tokens are sorted by
// their representative (frame, position), so spatial order is kept. The total never exceeds
// TokenBudget::cap(T*N).
//
// Ties (equal scores) go to the lower index; the reference's argsort is not stable. Tensors may
// live on any device; results are float32 on that device. Throws clipmind::Error.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <ATen/core/Tensor.h>

#include "compress/merge/merged_segment.h"

namespace clipmind::compress {

struct TomeRound {
  at::Tensor tokens;  // [t - r, D]
  at::Tensor sizes;   // [t - r] float: how many original tokens each row stands for
  // For every input row, the output row it ended up in.
  std::vector<int64_t> destination;
  // For every output row, the input row it continues (its representative).
  std::vector<int64_t> source;
};

// One round on tokens [t, D] with sizes [t] (undefined = all ones), removing
// min(r, t / 2) tokens.
TomeRound tome_round(const at::Tensor& tokens, const at::Tensor& sizes, int64_t r);

struct TomeOptions {
  // Frames per merging window (one output segment each); 0 = the whole video in one window.
  // 4 by default, like DyCoke's temporal windows: merges stay within a few sampled frames, so a
  // segment's time span stays short, and each round's score matrix stays small.
  int64_t window_frames = 4;
};

MergeResult tome_merge(const at::Tensor& tokens, std::span<const double> times,
                       const TokenBudget& budget, const TomeOptions& options = {});

}  // namespace clipmind::compress
