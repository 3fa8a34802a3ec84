#include "compress/merge/divprune.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "compress/merge/merge_common.h"

namespace clipmind::compress {
namespace {

// First index of the largest value.
int64_t argmax_first(const std::vector<float>& values) {
  int64_t best = 0;
  for (size_t i = 1; i < values.size(); ++i) {
    if (values[i] > values[static_cast<size_t>(best)]) best = static_cast<int64_t>(i);
  }
  return best;
}

std::vector<float> to_host(const at::Tensor& row) {
  const at::Tensor host = row.to(at::kCPU).to(at::kFloat).contiguous();
  return {host.data_ptr<float>(), host.data_ptr<float>() + host.numel()};
}

}  // namespace

std::vector<int64_t> divprune_pick_order(const at::Tensor& tokens_in, int64_t k,
                                         const DivPruneOptions& options) {
  if (!tokens_in.defined() || tokens_in.dim() != 2) {
    throw Error(ErrorKind::kInvalidArgument, "divprune: tokens must be [L, D]");
  }
  const int64_t count = tokens_in.size(0);
  std::vector<int64_t> kept;
  if (k >= count) {
    for (int64_t i = 0; i < count; ++i)
      kept.push_back(i);
    return kept;
  }
  if (k <= 0) return kept;

  const at::Tensor tokens = tokens_in.to(at::kFloat);
  const at::Tensor normed = tokens / tokens.norm(2, {-1}, true).clamp_min(1e-12);
  const bool keep_matrix = count * count * 4 <= options.max_matrix_bytes;
  at::Tensor matrix;  // cosine, [L, L], when it fits

  // First pick: the token whose nearest other token is farthest (1 - max cos over i != j).
  std::vector<float> isolation(static_cast<size_t>(count));
  {
    if (keep_matrix) matrix = at::mm(normed, normed.t());
    const int64_t block = std::max<int64_t>(1, (int64_t{1} << 26) / std::max<int64_t>(1, count));
    for (int64_t begin = 0; begin < count; begin += block) {
      const int64_t end = std::min(count, begin + block);
      at::Tensor cos = keep_matrix ? matrix.slice(0, begin, end).clone()
                                   : at::mm(normed.slice(0, begin, end), normed.t());
      const at::Tensor rows = at::arange(begin, end, normed.options().dtype(at::kLong));
      cos.index_put_({at::arange(end - begin, rows.options()), rows},
                     -std::numeric_limits<float>::infinity());
      const std::vector<float> nearest = to_host(std::get<0>(cos.max(1)));
      for (int64_t i = begin; i < end; ++i) {
        // A lone token has no neighbour: infinitely isolated.
        isolation[static_cast<size_t>(i)] = count == 1
                                                ? std::numeric_limits<float>::infinity()
                                                : 1.0f - nearest[static_cast<size_t>(i - begin)];
      }
    }
  }
  auto distances_to = [&](int64_t pick) {
    const at::Tensor cos = keep_matrix ? matrix[pick] : at::mv(normed, normed[pick]);
    return to_host(1.0 - cos);
  };

  int64_t pick = argmax_first(isolation);
  std::vector<uint8_t> selected(static_cast<size_t>(count), 0);
  selected[static_cast<size_t>(pick)] = 1;
  kept.push_back(pick);
  std::vector<float> min_distance = distances_to(pick);
  constexpr float kExcluded = -std::numeric_limits<float>::infinity();
  while (static_cast<int64_t>(kept.size()) < k) {
    for (size_t i = 0; i < selected.size(); ++i) {
      if (selected[i]) min_distance[i] = kExcluded;
    }
    pick = argmax_first(min_distance);
    selected[static_cast<size_t>(pick)] = 1;
    kept.push_back(pick);
    const std::vector<float> row = distances_to(pick);
    for (size_t i = 0; i < row.size(); ++i)
      min_distance[i] = std::min(min_distance[i], row[i]);
  }
  return kept;
}

std::vector<int64_t> divprune_select(const at::Tensor& tokens, int64_t k,
                                     const DivPruneOptions& options) {
  std::vector<int64_t> kept = divprune_pick_order(tokens, k, options);
  std::sort(kept.begin(), kept.end());
  return kept;
}

MergeResult divprune_merge(const at::Tensor& tokens_in, std::span<const double> times,
                           const TokenBudget& budget, const DivPruneOptions& options) {
  const detail::WindowedTokens in =
      detail::windowed_tokens(tokens_in, times, budget, options.window_frames, "divprune");
  const auto& [frames, positions, flat, time, cap, windows, shares] = in;
  std::vector<std::vector<int64_t>> kept_by_frame(static_cast<size_t>(frames));
  for (size_t w = 0; w < windows.size(); ++w) {
    const auto [begin, end] = windows[w];
    const std::vector<int64_t> local =
        divprune_select(flat.slice(0, begin * positions, end * positions), shares[w], options);
    for (const int64_t i : local) {
      const int64_t row = begin * positions + i;
      kept_by_frame[static_cast<size_t>(row / positions)].push_back(row);
    }
  }

  MergeResult result = in.empty_result();
  for (int64_t t = 0; t < frames; ++t) {
    const std::vector<int64_t>& rows = kept_by_frame[static_cast<size_t>(t)];
    MergedSegment segment;
    segment.frame_begin = t;
    segment.frame_end = t;
    segment.t_begin = time[static_cast<size_t>(t)];
    segment.t_end = segment.t_begin;
    segment.tokens = flat.index_select(0, detail::index_tensor(rows, flat.device()));
    for (const int64_t row : rows) {
      segment.origins.push_back({TokenKind::kKept, static_cast<int32_t>(t), static_cast<int32_t>(t),
                                 static_cast<int32_t>(row % positions)});
      segment.members.push_back({static_cast<int32_t>(row)});
    }
    result.segments.push_back(std::move(segment));
  }
  return result;
}

}  // namespace clipmind::compress
