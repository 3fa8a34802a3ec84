#include "compress/merge/tome.h"

#include <algorithm>
#include <numeric>

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "compress/merge/merge_common.h"

namespace clipmind::compress {

TomeRound tome_round(const at::Tensor& tokens_in, const at::Tensor& sizes_in, int64_t r) {
  if (!tokens_in.defined() || tokens_in.dim() != 2) {
    throw Error(ErrorKind::kInvalidArgument, "tome: tokens must be [t, D]");
  }
  const at::Tensor tokens = tokens_in.to(at::kFloat);
  const int64_t count = tokens.size(0);
  const at::Tensor sizes = sizes_in.defined()
                               ? sizes_in.to(tokens.device()).to(at::kFloat).reshape({count})
                               : at::ones({count}, tokens.options());
  r = std::min(r, count / 2);
  TomeRound round;
  if (r <= 0) {
    round.tokens = tokens;
    round.sizes = sizes;
    round.destination.resize(static_cast<size_t>(count));
    std::iota(round.destination.begin(), round.destination.end(), 0);
    round.source = round.destination;
    return round;
  }

  // Cosine scores between set A (even rows) and set B (odd rows).
  const at::Tensor metric = tokens / tokens.norm(2, {-1}, true).clamp_min(1e-12);
  const at::Tensor a_rows = at::arange(0, count, 2, tokens.options().dtype(at::kLong));
  const at::Tensor b_rows = at::arange(1, count, 2, tokens.options().dtype(at::kLong));
  const int64_t na = a_rows.size(0);
  const int64_t nb = b_rows.size(0);
  const at::Tensor scores_t =
      at::mm(metric.index_select(0, a_rows), metric.index_select(0, b_rows).t())
          .to(at::kCPU)
          .contiguous();
  const float* scores = scores_t.data_ptr<float>();

  // Best B for every A (first on a tie), then A by best score, descending, stable.
  std::vector<float> best(static_cast<size_t>(na));
  std::vector<int64_t> best_b(static_cast<size_t>(na));
  for (int64_t a = 0; a < na; ++a) {
    int64_t arg = 0;
    for (int64_t b = 1; b < nb; ++b) {
      if (scores[a * nb + b] > scores[a * nb + arg]) arg = b;
    }
    best[static_cast<size_t>(a)] = scores[a * nb + arg];
    best_b[static_cast<size_t>(a)] = arg;
  }
  std::vector<int64_t> order(static_cast<size_t>(na));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    return best[static_cast<size_t>(x)] > best[static_cast<size_t>(y)];
  });
  const std::vector<int64_t> src(order.begin(), order.begin() + r);
  const std::vector<int64_t> unm(order.begin() + r, order.end());

  // Size-weighted average: x_b <- (s_b x_b + sum s_a x_a) / (s_b + sum s_a).
  const at::Device device = tokens.device();
  std::vector<int64_t> src_rows;
  std::vector<int64_t> dst_local;
  for (const int64_t a : src) {
    src_rows.push_back(2 * a);
    dst_local.push_back(best_b[static_cast<size_t>(a)]);
  }
  const at::Tensor src_index = detail::index_tensor(src_rows, device);
  const at::Tensor dst_index = detail::index_tensor(dst_local, device);
  const at::Tensor weighted = tokens * sizes.unsqueeze(1);
  const at::Tensor b_sum =
      weighted.index_select(0, b_rows).index_add(0, dst_index, weighted.index_select(0, src_index));
  const at::Tensor b_size =
      sizes.index_select(0, b_rows).index_add(0, dst_index, sizes.index_select(0, src_index));
  std::vector<int64_t> unm_rows;
  for (const int64_t a : unm)
    unm_rows.push_back(2 * a);
  const at::Tensor unm_index = detail::index_tensor(unm_rows, device);

  round.tokens = at::cat({tokens.index_select(0, unm_index), b_sum / b_size.unsqueeze(1)}, 0);
  round.sizes = at::cat({sizes.index_select(0, unm_index), b_size}, 0);
  round.destination.assign(static_cast<size_t>(count), -1);
  const auto unm_count = static_cast<int64_t>(unm.size());
  for (int64_t i = 0; i < unm_count; ++i) {
    round.destination[static_cast<size_t>(unm_rows[static_cast<size_t>(i)])] = i;
    round.source.push_back(unm_rows[static_cast<size_t>(i)]);
  }
  for (int64_t b = 0; b < nb; ++b) {
    round.destination[static_cast<size_t>(2 * b + 1)] = unm_count + b;
    round.source.push_back(2 * b + 1);
  }
  for (size_t i = 0; i < src.size(); ++i) {
    round.destination[static_cast<size_t>(src_rows[i])] = unm_count + dst_local[i];
  }
  return round;
}

MergeResult tome_merge(const at::Tensor& tokens_in, std::span<const double> times,
                       const TokenBudget& budget, const TomeOptions& options) {
  const detail::WindowedTokens in =
      detail::windowed_tokens(tokens_in, times, budget, options.window_frames, "tome");
  const auto& [frames, positions, flat, time, cap, windows, shares] = in;

  MergeResult result = in.empty_result();
  for (size_t w = 0; w < windows.size(); ++w) {
    const auto [begin, end] = windows[w];
    const int64_t target = shares[w];
    at::Tensor current = flat.slice(0, begin * positions, end * positions);
    at::Tensor sizes = at::ones({current.size(0)}, current.options());
    std::vector<int64_t> representative(static_cast<size_t>(current.size(0)));
    std::iota(representative.begin(), representative.end(), begin * positions);
    std::vector<std::vector<int32_t>> members;
    for (const int64_t rep : representative)
      members.push_back({static_cast<int32_t>(rep)});

    if (target == 0) {
      current = current.slice(0, 0, 0);
      representative.clear();
      members.clear();
    }
    while (current.size(0) > target) {
      const int64_t excess = current.size(0) - target;
      TomeRound round = tome_round(current, sizes, excess);
      std::vector<std::vector<int32_t>> next_members(static_cast<size_t>(round.tokens.size(0)));
      for (size_t i = 0; i < round.destination.size(); ++i) {
        auto& into = next_members[static_cast<size_t>(round.destination[i])];
        into.insert(into.end(), members[i].begin(), members[i].end());
      }
      std::vector<int64_t> next_rep;
      for (const int64_t s : round.source)
        next_rep.push_back(representative[static_cast<size_t>(s)]);
      current = round.tokens;
      sizes = round.sizes;
      members = std::move(next_members);
      representative = std::move(next_rep);
    }

    // Spatial order: by representative (frame, position).
    std::vector<int64_t> order(representative.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return representative[static_cast<size_t>(a)] < representative[static_cast<size_t>(b)];
    });
    MergedSegment segment;
    segment.frame_begin = begin;
    segment.frame_end = end - 1;
    segment.t_begin = time[static_cast<size_t>(begin)];
    segment.t_end = time[static_cast<size_t>(end - 1)];
    segment.tokens = current.index_select(0, detail::index_tensor(order, current.device()));
    for (const int64_t row : order) {
      std::vector<int32_t>& m = members[static_cast<size_t>(row)];
      std::sort(m.begin(), m.end());
      const int64_t rep = representative[static_cast<size_t>(row)];
      segment.origins.push_back({m.size() > 1 ? TokenKind::kMerged : TokenKind::kKept,
                                 static_cast<int32_t>(m.front() / positions),
                                 static_cast<int32_t>(m.back() / positions),
                                 static_cast<int32_t>(rep % positions)});
      segment.members.push_back(std::move(m));
    }
    result.segments.push_back(std::move(segment));
  }
  return result;
}

}  // namespace clipmind::compress
