#include "compress/merge/merge_common.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <ATen/ATen.h>

#include "clipmind/error.h"

namespace clipmind::compress::detail {

void check_video_tokens(const at::Tensor& tokens, std::span<const double> times,
                        const std::string& who) {
  if (!tokens.defined() || tokens.dim() != 3) {
    throw Error(ErrorKind::kInvalidArgument, who + ": tokens must be [T, N, D]");
  }
  if (tokens.size(0) < 1 || tokens.size(1) < 1 || tokens.size(2) < 1) {
    throw Error(ErrorKind::kInvalidArgument, who + ": tokens [T, N, D] need T, N, D >= 1");
  }
  if (!at::isFloatingType(tokens.scalar_type())) {
    throw Error(ErrorKind::kInvalidArgument, who + ": tokens must be floating point");
  }
  if (!all_finite(tokens)) {
    throw Error(ErrorKind::kInvalidInput, who + ": tokens contain NaN or infinity");
  }
  if (!times.empty() && static_cast<int64_t>(times.size()) != tokens.size(0)) {
    throw Error(ErrorKind::kInvalidArgument, who + ": got " + std::to_string(times.size()) +
                                                 " frame times for " +
                                                 std::to_string(tokens.size(0)) + " frames");
  }
}

bool all_finite(const at::Tensor& tensor) {
  if (tensor.numel() == 0) return true;
  return std::isfinite(tensor.abs().max().item<double>());
}

std::vector<double> frame_times(std::span<const double> times, int64_t frames) {
  std::vector<double> result(static_cast<size_t>(frames));
  for (int64_t t = 0; t < frames; ++t) {
    result[static_cast<size_t>(t)] =
        times.empty() ? static_cast<double>(t) : times[static_cast<size_t>(t)];
  }
  return result;
}

at::Tensor index_tensor(const std::vector<int64_t>& values, const at::Device& device) {
  return at::tensor(at::IntArrayRef(values), at::TensorOptions().dtype(at::kLong)).to(device);
}

std::vector<int64_t> split_budget(int64_t cap, const std::vector<int64_t>& sizes) {
  const int64_t total = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
  std::vector<int64_t> shares(sizes.size(), 0);
  if (total <= 0 || cap <= 0) return shares;
  cap = std::min(cap, total);
  if (total >= (int64_t{1} << 31)) {
    throw Error(ErrorKind::kInvalidArgument, "token budget split: too many tokens");
  }
  std::vector<std::pair<int64_t, size_t>> remainders;  // (remainder numerator, part)
  int64_t assigned = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    // Exact integer arithmetic (both factors < 2^31): cap * size / total and its remainder.
    const int64_t product = cap * sizes[i];
    shares[i] = static_cast<int64_t>(product / total);
    remainders.emplace_back(static_cast<int64_t>(product % total), i);
    assigned += shares[i];
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; assigned < cap && i < remainders.size(); ++i) {
    const size_t part = remainders[i].second;
    if (shares[part] < sizes[part]) {
      ++shares[part];
      ++assigned;
    }
  }
  return shares;
}

std::vector<std::pair<int64_t, int64_t>> frame_windows(int64_t frames, int64_t window) {
  std::vector<std::pair<int64_t, int64_t>> windows;
  if (window <= 0 || window >= frames) {
    windows.emplace_back(0, frames);
    return windows;
  }
  for (int64_t begin = 0; begin < frames; begin += window) {
    windows.emplace_back(begin, std::min(frames, begin + window));
  }
  return windows;
}

MergeResult WindowedTokens::empty_result() const {
  MergeResult result;
  result.input_tokens = frames * positions;
  result.budget = cap;
  result.retain_ratio = static_cast<double>(cap) / static_cast<double>(result.input_tokens);
  return result;
}

WindowedTokens windowed_tokens(const at::Tensor& tokens_in, std::span<const double> times,
                               const TokenBudget& budget, int64_t window_frames,
                               const std::string& who) {
  check_video_tokens(tokens_in, times, who);
  if (window_frames < 0) {
    throw Error(ErrorKind::kInvalidArgument, who + ": window_frames must be >= 0");
  }
  WindowedTokens w;
  const at::Tensor tokens = tokens_in.to(at::kFloat).contiguous();
  w.frames = tokens.size(0);
  w.positions = tokens.size(1);
  w.flat = tokens.reshape({w.frames * w.positions, tokens.size(2)});
  w.time = frame_times(times, w.frames);
  w.cap = budget.cap(w.frames * w.positions);
  w.windows = frame_windows(w.frames, window_frames);
  std::vector<int64_t> window_sizes;
  for (const auto& [begin, end] : w.windows)
    window_sizes.push_back((end - begin) * w.positions);
  w.shares = split_budget(w.cap, window_sizes);
  return w;
}

}  // namespace clipmind::compress::detail
