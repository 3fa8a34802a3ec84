#include "models/llm/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "models/non_finite.h"

namespace clipmind::models {

Sampler::Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {
  if (options.top_k < 0) throw Error(ErrorKind::kInvalidArgument, "top-k must be >= 0");
  if (!(options.top_p > 0.0 && options.top_p <= 1.0))
    throw Error(ErrorKind::kInvalidArgument, "top-p must be in (0, 1]");
  if (!std::isfinite(options.temperature))
    throw Error(ErrorKind::kInvalidArgument, "temperature must be finite");
}

int64_t Sampler::sample(const at::Tensor& logits_in) {
  const at::Tensor row = logits_in.reshape({-1}).to(at::kCPU).to(at::kDouble).contiguous();
  const double* values = row.data_ptr<double>();
  const int64_t V = row.numel();
  if (V == 0) throw Error(ErrorKind::kInvalidInput, "sampler: empty logits");

  // NaN or +infinity means the model is broken (models/non_finite.h): a token picked around them
  // would be noise, so they are refused, never skipped. -infinity is a masked token.
  int64_t best = -1;
  for (int64_t i = 0; i < V; ++i) {
    if (std::isnan(values[i]) || values[i] == INFINITY)
      throw NonFiniteOutput("sampler: the logits hold NaN or infinite values");
    if (best < 0 || values[i] > values[best]) best = i;
  }
  if (values[best] == -INFINITY) throw Error(ErrorKind::kInvalidInput, "sampler: no finite logits");
  if (options_.temperature <= 0.0) return best;

  std::vector<double> scores(static_cast<size_t>(V));
  for (int64_t i = 0; i < V; ++i) {
    scores[i] = values[i] / options_.temperature;
  }
  if (options_.top_k > 0 && options_.top_k < V) {
    std::vector<double> sorted = scores;
    std::nth_element(sorted.begin(), sorted.begin() + (options_.top_k - 1), sorted.end(),
                     std::greater<>());
    const double kth = sorted[options_.top_k - 1];
    for (auto& s : scores) {
      if (s < kth) s = -INFINITY;
    }
  }
  // Softmax.
  const double max_score = *std::max_element(scores.begin(), scores.end());
  std::vector<double> probs(scores.size());
  double total = 0.0;
  for (size_t i = 0; i < scores.size(); ++i) {
    probs[i] = std::exp(scores[i] - max_score);
    total += probs[i];
  }
  for (auto& p : probs)
    p /= total;
  if (options_.top_p < 1.0) {
    // HF TopPLogitsWarper: sort ascending, drop tokens whose cumulative mass (from the
    // smallest up) is <= 1 - top_p; the largest token always stays.
    std::vector<int64_t> order(static_cast<size_t>(V));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return probs[a] < probs[b]; });
    double cumulative = 0.0;
    for (size_t r = 0; r + 1 < order.size(); ++r) {
      cumulative += probs[order[r]];
      if (cumulative <= 1.0 - options_.top_p) {
        probs[order[r]] = 0.0;
      } else {
        break;
      }
    }
    total = std::accumulate(probs.begin(), probs.end(), 0.0);
    for (auto& p : probs)
      p /= total;
  }
  // Uniform double in [0, 1) from the top 53 bits: identical on every platform.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  double cumulative = 0.0;
  int64_t last_positive = best;
  for (int64_t i = 0; i < V; ++i) {
    if (probs[i] <= 0.0) continue;
    cumulative += probs[i];
    last_positive = i;
    if (u < cumulative) return i;
  }
  return last_positive;
}

}  // namespace clipmind::models
