// DivPrune max-min diversity pruning (Alvar et al., arXiv 2503.02175; code vbdi/divprune), per
// docs/design/methods.md "DivPrune".
//
// Greedy: the first pick is the most isolated token (largest distance to its nearest other
// token), then repeatedly the token farthest from everything picked so far, with distance
// 1 - cos. A running minimum distance (one new row per pick) makes every step O(L*D) instead of
// the reference's O(k*L); the first pick needs all pairs once. Kept tokens stay in input order.
// Ties go to the lower index. Any device; throws clipmind::Error.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <ATen/core/Tensor.h>

#include "compress/merge/merged_segment.h"

namespace clipmind::compress {

struct DivPruneOptions {
  // Frames per selection window; 0 (default, as in the paper) selects over the whole video.
  // Windows split the budget in proportion to their size.
  int64_t window_frames = 0;
  // The L x L cosine matrix is kept when it fits in this many bytes (every pick then reads one
  // row); above it, each pick recomputes one row from the tokens.
  int64_t max_matrix_bytes = int64_t{1} << 30;
};

// The k picks of [L, D] in the order DivPrune makes them; all rows in order if k >= L.
std::vector<int64_t> divprune_pick_order(const at::Tensor& tokens, int64_t k,
                                         const DivPruneOptions& options = {});

// Indices (ascending) of the k tokens of [L, D] that DivPrune keeps; all of them if k >= L.
std::vector<int64_t> divprune_select(const at::Tensor& tokens, int64_t k,
                                     const DivPruneOptions& options = {});

// tokens [T, N, D]; one segment per frame (frames whose tokens were all pruned get an empty
// segment), so every kept token keeps its exact frame time.
MergeResult divprune_merge(const at::Tensor& tokens, std::span<const double> times,
                           const TokenBudget& budget, const DivPruneOptions& options = {});

}  // namespace clipmind::compress
