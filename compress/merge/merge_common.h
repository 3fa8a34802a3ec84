// Internal helpers shared by the outer-LLM reducers (holitom.cpp, tome.cpp, divprune.cpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "compress/merge/merged_segment.h"

namespace clipmind::compress::detail {

// Checks tokens [T, N, D] (floating, T, N, D >= 1, finite) and the optional times (empty or T
// values); throws kInvalidArgument / kInvalidInput prefixed with `who`.
void check_video_tokens(const at::Tensor& tokens, std::span<const double> times,
                        const std::string& who);

// True when no element is NaN or infinite (one reduction; NaN propagates through max).
bool all_finite(const at::Tensor& tensor);

// Frame times: the given ones, or the frame index in seconds when none are given.
std::vector<double> frame_times(std::span<const double> times, int64_t frames);

// [n] int64 tensor on `device`.
at::Tensor index_tensor(const std::vector<int64_t>& values, const at::Device& device);

// Splits `cap` over parts of the given sizes in proportion to their size (largest remainder,
// earlier part first on ties); part i never gets more than sizes[i] and the shares sum to
// min(cap, sum of sizes).
std::vector<int64_t> split_budget(int64_t cap, const std::vector<int64_t>& sizes);

// Frame windows [begin, end) of `window` frames (0 = one window) over `frames` frames.
std::vector<std::pair<int64_t, int64_t>> frame_windows(int64_t frames, int64_t window);

// The common start of the windowed reducers (ToMe, DivPrune): the checked tokens as float rows,
// the frame times, the budget's cap and each frame window's proportional share of it.
struct WindowedTokens {
  int64_t frames = 0;
  int64_t positions = 0;  // tokens per frame
  at::Tensor flat;        // [frames * positions, D] float, contiguous
  std::vector<double> time;
  int64_t cap = 0;
  std::vector<std::pair<int64_t, int64_t>> windows;  // frame ranges [begin, end)
  std::vector<int64_t> shares;                       // tokens each window may keep

  // A result with no segments yet: input_tokens, budget (= cap) and retain_ratio filled in.
  MergeResult empty_result() const;
};

// Checks the input like check_video_tokens (and window_frames >= 0), errors prefixed with `who`.
WindowedTokens windowed_tokens(const at::Tensor& tokens, std::span<const double> times,
                               const TokenBudget& budget, int64_t window_frames,
                               const std::string& who);

}  // namespace clipmind::compress::detail
