#include "compress/merge/inner_reducers.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "compress/merge/merge_common.h"
#include "compress/merge/merged_segment.h"

namespace clipmind::compress {
namespace {

[[noreturn]] void bad(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, "inner reducer: " + message);
}

void check_ratio(double ratio, int layer) {
  if (!(ratio >= 0.0 && ratio <= 1.0)) bad("ratio must be in [0, 1]");
  if (layer < 1) bad("layer K must be >= 1");
}

struct KeepPlan {
  std::vector<int64_t> visual;          // all visual positions, ascending
  std::vector<int64_t> kept_by_rank;    // kept visual positions, descending importance
  std::vector<uint8_t> is_kept_visual;  // per position of the sequence
  std::vector<int64_t> keep;            // every kept position, ascending
};

KeepPlan plan_keep(const LayerReductionInput& input, double ratio) {
  const at::Tensor& hidden = input.hidden;
  if (!hidden.defined() || hidden.dim() != 2) bad("hidden states must be [S, H]");
  const int64_t length = hidden.size(0);
  if (!input.importance.defined() || input.importance.numel() != length) {
    bad("importance must have one value per position (" + std::to_string(length) + ")");
  }
  KeepPlan plan;
  std::vector<uint8_t> is_visual(static_cast<size_t>(length), 0);
  int64_t previous_end = 0;
  for (const VisualSpan& span : input.visual) {
    if (span.begin < previous_end || span.length < 0 || span.begin + span.length > length) {
      bad("visual spans must be ascending, disjoint and inside the sequence");
    }
    for (int64_t i = span.begin; i < span.begin + span.length; ++i) {
      is_visual[static_cast<size_t>(i)] = 1;
      plan.visual.push_back(i);
    }
    previous_end = span.begin + span.length;
  }
  const at::Tensor importance_host = input.importance.to(at::kCPU).to(at::kFloat).contiguous();
  const float* importance = importance_host.data_ptr<float>();
  const int64_t keep_count = inner_keep_count(static_cast<int64_t>(plan.visual.size()), ratio);
  plan.kept_by_rank = plan.visual;
  std::stable_sort(plan.kept_by_rank.begin(), plan.kept_by_rank.end(),
                   [&](int64_t a, int64_t b) { return importance[a] > importance[b]; });
  plan.kept_by_rank.resize(static_cast<size_t>(keep_count));
  plan.is_kept_visual.assign(static_cast<size_t>(length), 0);
  for (const int64_t i : plan.kept_by_rank)
    plan.is_kept_visual[static_cast<size_t>(i)] = 1;
  for (int64_t i = 0; i < length; ++i) {
    if (!is_visual[static_cast<size_t>(i)] || plan.is_kept_visual[static_cast<size_t>(i)]) {
      plan.keep.push_back(i);
    }
  }
  return plan;
}

LayerReduction gather(const at::Tensor& hidden, const std::vector<int64_t>& keep) {
  LayerReduction reduction;
  reduction.keep = detail::index_tensor(keep, hidden.device());
  reduction.hidden = hidden.index_select(0, reduction.keep);
  return reduction;
}

}  // namespace

int64_t inner_keep_count(int64_t visual_length, double ratio) {
  const double kept = round_half_even(static_cast<double>(visual_length) * (1.0 - ratio));
  return std::clamp<int64_t>(static_cast<int64_t>(kept), 0, visual_length);
}

HolitomInnerMerge::HolitomInnerMerge(int layer, double merge_ratio)
    : layer_(layer), ratio_(merge_ratio) {
  check_ratio(merge_ratio, layer);
}

LayerReduction HolitomInnerMerge::reduce(const LayerReductionInput& input) const {
  const KeepPlan plan = plan_keep(input, ratio_);
  const at::Tensor& hidden = input.hidden;
  std::vector<int64_t> sources;
  for (const int64_t i : plan.visual) {
    if (!plan.is_kept_visual[static_cast<size_t>(i)]) sources.push_back(i);
  }
  if (sources.empty() || plan.kept_by_rank.empty()) return gather(hidden, plan.keep);

  // Targets from the pre-merge states: cos(h_u, h_q) over the kept set in rank order.
  const at::Device device = hidden.device();
  const at::Tensor h = hidden.to(at::kFloat);
  const at::Tensor src = h.index_select(0, detail::index_tensor(sources, device));
  const at::Tensor dst = h.index_select(0, detail::index_tensor(plan.kept_by_rank, device));
  const at::Tensor norms = src.norm(2, {-1}, true) * dst.norm(2, {-1}, true).t();
  const at::Tensor sim_t =
      at::where(norms.gt(0), at::mm(src, dst.t()) / norms, at::zeros_like(norms))
          .to(at::kCPU)
          .contiguous();
  const float* sim = sim_t.data_ptr<float>();
  const auto n_dst = static_cast<int64_t>(plan.kept_by_rank.size());
  std::vector<std::vector<int64_t>> merged_into(static_cast<size_t>(n_dst));
  for (size_t u = 0; u < sources.size(); ++u) {
    int64_t best = 0;
    const float* row = sim + static_cast<int64_t>(u) * n_dst;
    for (int64_t q = 1; q < n_dst; ++q) {
      if (row[q] > row[best]) best = q;
    }
    merged_into[static_cast<size_t>(best)].push_back(sources[u]);  // ascending u
  }

  // Running pairwise average in closed form: target weight 2^-n, i-th source 2^-(n-i+1).
  std::vector<int64_t> rows;
  std::vector<int64_t> groups;
  std::vector<double> weights;
  std::vector<int64_t> targets;
  for (int64_t q = 0; q < n_dst; ++q) {
    const std::vector<int64_t>& from = merged_into[static_cast<size_t>(q)];
    if (from.empty()) continue;
    const auto group = static_cast<int64_t>(targets.size());
    const auto n = static_cast<int>(from.size());
    targets.push_back(plan.kept_by_rank[static_cast<size_t>(q)]);
    rows.push_back(targets.back());
    groups.push_back(group);
    weights.push_back(std::ldexp(1.0, -n));
    for (int i = 1; i <= n; ++i) {
      rows.push_back(from[static_cast<size_t>(i - 1)]);
      groups.push_back(group);
      weights.push_back(std::ldexp(1.0, -(n - i + 1)));
    }
  }
  const at::Tensor weight =
      at::tensor(at::ArrayRef<double>(weights), at::TensorOptions().dtype(at::kDouble))
          .to(device)
          .to(at::kFloat)
          .unsqueeze(1);
  const at::Tensor contributions = h.index_select(0, detail::index_tensor(rows, device)) * weight;
  const at::Tensor merged =
      at::zeros({static_cast<int64_t>(targets.size()), h.size(1)}, h.options())
          .index_add_(0, detail::index_tensor(groups, device), contributions);
  at::Tensor updated = hidden.clone();
  updated.index_copy_(0, detail::index_tensor(targets, device), merged.to(hidden.scalar_type()));
  return gather(updated, plan.keep);
}

FastVPruning::FastVPruning(int layer, double drop_ratio) : layer_(layer), ratio_(drop_ratio) {
  check_ratio(drop_ratio, layer);
}

LayerReduction FastVPruning::reduce(const LayerReductionInput& input) const {
  const KeepPlan plan = plan_keep(input, ratio_);
  return gather(input.hidden, plan.keep);
}

}  // namespace clipmind::compress
