#include "compress/select/f2c.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <string>

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "compress/merge/merged_segment.h"
#include "compress/select/anylength.h"

namespace clipmind::compress {
namespace {

[[noreturn]] void bad(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, "F2C: " + message);
}

// numpy.quantile's default (linear) on sorted values.
double quantile(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const auto low = static_cast<size_t>(std::floor(position));
  const size_t high = std::min(low + 1, sorted.size() - 1);
  return sorted[low] + (position - static_cast<double>(low)) * (sorted[high] - sorted[low]);
}

// First index of the largest relevance among `indices` (already ascending).
int64_t best_of(const std::vector<int64_t>& indices, std::span<const double> relevance) {
  int64_t best = indices.front();
  for (const int64_t i : indices) {
    if (relevance[static_cast<size_t>(i)] > relevance[static_cast<size_t>(best)]) best = i;
  }
  return best;
}

}  // namespace

std::vector<double> f2c_candidate_times(double duration_seconds, int64_t max_candidates) {
  if (!std::isfinite(duration_seconds) || duration_seconds < 0.0) bad("bad duration");
  if (max_candidates < 1) bad("max_candidates must be >= 1");
  const auto last = static_cast<int64_t>(std::floor(duration_seconds));
  std::vector<double> times;
  if (last + 1 <= max_candidates) {
    for (int64_t i = 0; i <= last; ++i)
      times.push_back(static_cast<double>(i));
  } else if (max_candidates == 1) {
    times.push_back(0.0);
  } else {
    for (int64_t k = 0; k < max_candidates; ++k) {
      times.push_back(static_cast<double>(k) * static_cast<double>(last) /
                      static_cast<double>(max_candidates - 1));
    }
  }
  return times;
}

std::vector<double> relevance_scores(const at::Tensor& image_embeddings,
                                     const at::Tensor& text_embedding) {
  if (!image_embeddings.defined() || image_embeddings.dim() != 2 || !text_embedding.defined() ||
      text_embedding.numel() != image_embeddings.size(1)) {
    bad("relevance needs image embeddings [M, E] and a text embedding [E]");
  }
  const at::Tensor images = image_embeddings.to(at::kDouble);
  const at::Tensor text = text_embedding.to(images.device()).to(at::kDouble).reshape({-1});
  const at::Tensor cos = at::mv(images / images.norm(2, {1}, true).clamp_min(1e-12),
                                text / text.norm().clamp_min(1e-12))
                             .to(at::kCPU)
                             .contiguous();
  return {cos.data_ptr<double>(), cos.data_ptr<double>() + cos.numel()};
}

std::vector<int64_t> f2c_anchors(std::span<const double> relevance, std::span<const double> times,
                                 int64_t max_anchors) {
  const auto m = static_cast<int64_t>(relevance.size());
  if (m == 0 || times.size() != relevance.size()) bad("need one time per relevance score");
  if (max_anchors < 1) bad("need at least one anchor");
  auto r = [&](int64_t i) { return relevance[static_cast<size_t>(i)]; };

  // Valleys: both ends and every interior local minimum (non-strict).
  std::vector<int64_t> valleys = {0};
  for (int64_t i = 1; i + 1 < m; ++i) {
    if (r(i) <= r(i - 1) && r(i) <= r(i + 1)) valleys.push_back(i);
  }
  valleys.push_back(m - 1);
  valleys.erase(std::unique(valleys.begin(), valleys.end()), valleys.end());

  // Peaks: the best frame between consecutive valleys (lowest index on ties).
  std::vector<int64_t> peaks;
  if (valleys.size() == 1) peaks.push_back(0);
  for (size_t v = 0; v + 1 < valleys.size(); ++v) {
    int64_t best = valleys[v];
    for (int64_t i = valleys[v]; i <= valleys[v + 1]; ++i) {
      if (r(i) > r(best)) best = i;
    }
    peaks.push_back(best);
  }
  std::sort(peaks.begin(), peaks.end());
  peaks.erase(std::unique(peaks.begin(), peaks.end()), peaks.end());
  if (static_cast<int64_t>(peaks.size()) <= max_anchors) return peaks;

  // 1-D K-means on the peak times, centres started at the quantiles.
  std::vector<double> peak_times;
  for (const int64_t p : peaks)
    peak_times.push_back(times[static_cast<size_t>(p)]);
  std::vector<double> sorted_times = peak_times;
  std::sort(sorted_times.begin(), sorted_times.end());
  const auto k = static_cast<size_t>(max_anchors);
  std::vector<double> centres(k);
  for (size_t c = 0; c < k; ++c) {
    centres[c] =
        quantile(sorted_times, k == 1 ? 0.0 : static_cast<double>(c) / static_cast<double>(k - 1));
  }
  std::vector<size_t> assignment(peaks.size(), std::numeric_limits<size_t>::max());
  for (int iteration = 0; iteration < 25; ++iteration) {
    bool changed = false;
    for (size_t p = 0; p < peaks.size(); ++p) {
      size_t best = 0;
      for (size_t c = 1; c < k; ++c) {
        if (std::abs(peak_times[p] - centres[c]) < std::abs(peak_times[p] - centres[best]))
          best = c;
      }
      if (assignment[p] != best) changed = true;
      assignment[p] = best;
    }
    if (!changed) break;
    for (size_t c = 0; c < k; ++c) {
      double sum = 0.0;
      int count = 0;
      for (size_t p = 0; p < peaks.size(); ++p) {
        if (assignment[p] == c) {
          sum += peak_times[p];
          ++count;
        }
      }
      if (count > 0) centres[c] = sum / count;  // an empty cluster keeps its centre
    }
  }

  // The most relevant peak of each cluster; an empty cluster takes the best unused peak.
  std::vector<int64_t> anchors;
  std::vector<uint8_t> used(static_cast<size_t>(m), 0);
  std::vector<size_t> empty;
  for (size_t c = 0; c < k; ++c) {
    std::vector<int64_t> members;
    for (size_t p = 0; p < peaks.size(); ++p) {
      if (assignment[p] == c) members.push_back(peaks[p]);
    }
    if (members.empty()) {
      empty.push_back(c);
      continue;
    }
    const int64_t best = best_of(members, relevance);
    anchors.push_back(best);
    used[static_cast<size_t>(best)] = 1;
  }
  for (size_t e = 0; e < empty.size(); ++e) {
    std::vector<int64_t> unused;
    for (const int64_t p : peaks) {
      if (!used[static_cast<size_t>(p)]) unused.push_back(p);
    }
    if (unused.empty()) break;
    const int64_t best = best_of(unused, relevance);
    anchors.push_back(best);
    used[static_cast<size_t>(best)] = 1;
  }
  std::sort(anchors.begin(), anchors.end(), [&](int64_t a, int64_t b) {
    return times[static_cast<size_t>(a)] < times[static_cast<size_t>(b)] ||
           (times[static_cast<size_t>(a)] == times[static_cast<size_t>(b)] && a < b);
  });
  return anchors;
}

F2CSelection f2c_select(std::span<const double> times, std::span<const double> relevance,
                        const at::Tensor& embeddings, const F2COptions& options) {
  const auto m = static_cast<int64_t>(times.size());
  if (m == 0 || relevance.size() != times.size()) bad("need one relevance score per candidate");
  if (!embeddings.defined() || embeddings.dim() != 2 || embeddings.size(0) != m) {
    bad("embeddings must be [M, E] with one row per candidate");
  }
  if (options.budget_frames < 1 || options.anchors < 0 || !(options.s_max >= 1.0) ||
      options.full_grid < 1 || !std::isfinite(options.lambda_r) ||
      !std::isfinite(options.lambda_l)) {
    bad("bad options");
  }
  for (const double r : relevance) {
    if (!std::isfinite(r)) bad("relevance scores must be finite");
  }
  const int64_t full_tokens = options.full_grid * options.full_grid;
  F2CSelection selection;
  selection.budget_tokens = options.budget_frames * full_tokens;

  if (m <= options.budget_frames) {
    selection.all_candidates = true;
    for (int64_t i = 0; i < m; ++i) {
      selection.frames.push_back({i, times[static_cast<size_t>(i)], options.full_grid});
      selection.tokens += full_tokens;
    }
    return selection;
  }

  const int64_t max_anchors = options.anchors > 0 ? options.anchors : options.budget_frames;
  const std::vector<int64_t> anchors = f2c_anchors(relevance, times, max_anchors);
  const auto n_anchors = static_cast<int64_t>(anchors.size());

  // Step 4, integer form: B_clip = floor(B / K_anchor), g(l) = min(14, floor(sqrt(B_clip / l))).
  const int64_t clip_tokens = selection.budget_tokens / n_anchors;
  const auto l_max = std::clamp<int64_t>(
      static_cast<int64_t>(round_half_even(options.s_max * options.s_max *
                                           static_cast<double>(options.budget_frames) /
                                           static_cast<double>(n_anchors))),
      1, m);
  auto grid_of = [&](int64_t l) {
    // Largest g with l * g^2 <= B_clip, at most the full grid.
    return grid_side_for(static_cast<double>(clip_tokens) / static_cast<double>(l),
                         options.full_grid);
  };

  const at::Tensor e = embeddings.to(at::kCPU).to(at::kDouble);
  const at::Tensor unit = e / e.norm(2, {1}, true).clamp_min(1e-12);
  const at::Tensor gram_t = at::mm(unit, unit.t()).contiguous();
  const double* gram = gram_t.data_ptr<double>();

  std::map<int64_t, int64_t> grid_of_frame;  // candidate -> largest g over windows
  for (const int64_t c : anchors) {
    F2CClip clip;
    clip.anchor = c;
    double best = -std::numeric_limits<double>::infinity();
    for (int64_t l = 1; l <= l_max; ++l) {
      if (grid_of(l) < 1) break;
      const int64_t first = std::clamp<int64_t>(c - (l - 1) / 2, 0, m - l);
      double relevance_sum = 0.0;
      double similarity_sum = 0.0;
      for (int64_t i = first; i < first + l; ++i) {
        relevance_sum += relevance[static_cast<size_t>(i)];
        for (int64_t j = first; j < first + l; ++j) {
          if (i != j) similarity_sum += gram[i * m + j];
        }
      }
      const double mean_relevance = relevance_sum / static_cast<double>(l);
      const double redundancy = l > 1 ? similarity_sum / static_cast<double>(l * (l - 1)) : 0.0;
      const double objective =
          mean_relevance - options.lambda_r * redundancy +
          options.lambda_l * static_cast<double>(l) / static_cast<double>(l_max);
      clip.objective.push_back(objective);
      if (objective > best) {  // smallest l on ties
        best = objective;
        clip.length = l;
        clip.first = first;
      }
    }
    clip.grid = grid_of(clip.length);
    for (int64_t i = clip.first; i < clip.first + clip.length; ++i) {
      int64_t& g = grid_of_frame[i];
      g = std::max(g, clip.grid);
    }
    selection.clips.push_back(std::move(clip));
  }
  for (const auto& [candidate, grid] : grid_of_frame) {
    selection.frames.push_back({candidate, times[static_cast<size_t>(candidate)], grid});
    selection.tokens += grid * grid;
  }
  std::stable_sort(selection.frames.begin(), selection.frames.end(),
                   [](const F2CFrame& a, const F2CFrame& b) { return a.time < b.time; });
  return selection;
}

}  // namespace clipmind::compress
