#include "compress/merge/dpc_knn.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <ATen/ATen.h>

#include "clipmind/error.h"

namespace clipmind::compress {

at::Tensor pairwise_distances_direct(const at::Tensor& points) {
  const at::Tensor x = points.to(at::kFloat).contiguous();
  const int64_t m = x.size(0);
  const int64_t dim = x.size(1);
  at::Tensor dist = at::empty({m, m}, x.options());
  if (m == 0) return dist.to(at::kCPU);
  // Rows in blocks so the [rows, m, D] difference stays around 16M elements.
  const int64_t per_row = std::max<int64_t>(1, m * dim);
  const int64_t block = std::clamp<int64_t>((int64_t{1} << 24) / per_row, 1, m);
  for (int64_t begin = 0; begin < m; begin += block) {
    const int64_t end = std::min(m, begin + block);
    const at::Tensor diff = x.slice(0, begin, end).unsqueeze(1) - x.unsqueeze(0);
    dist.slice(0, begin, end).copy_(diff.pow(2).sum(-1).sqrt());
  }
  // Same operation as the authors' `/ (embed_dim ** 0.5)`: a float32 tensor divided by a scalar.
  dist = dist.div(std::sqrt(static_cast<double>(dim)));
  return dist.to(at::kCPU).contiguous();
}

DpcKnnScores dpc_knn_scores(const at::Tensor& distances, int64_t k, const at::Tensor& noise) {
  const int64_t m = distances.size(0);
  if (k <= 0 || k > m) throw Error(ErrorKind::kInternal, "dpc_knn_scores: bad k");
  const at::Tensor dist_t = distances.to(at::kCPU).to(at::kFloat).contiguous();
  const float* dist = dist_t.data_ptr<float>();
  DpcKnnScores scores;

  // Density: exp(-mean of the k smallest squared distances), the point itself included.
  scores.density.resize(static_cast<size_t>(m));
  std::vector<float> row(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) {
    std::copy(dist + i * m, dist + (i + 1) * m, row.begin());
    std::partial_sort(row.begin(), row.begin() + k, row.end());
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j)
      sum += row[static_cast<size_t>(j)] * row[static_cast<size_t>(j)];
    scores.density[static_cast<size_t>(i)] = std::exp(-(sum / static_cast<float>(k)));
  }
  if (noise.defined()) {
    const at::Tensor n = noise.to(at::kCPU).to(at::kFloat).contiguous();
    const float* values = n.data_ptr<float>();
    for (int64_t i = 0; i < m; ++i)
      scores.density[static_cast<size_t>(i)] += values[i];
  }

  // Distance to the nearest denser point; the global maximum for the densest ones.
  float dist_max = 0.0f;
  for (int64_t i = 0; i < m * m; ++i)
    dist_max = std::max(dist_max, dist[i]);
  scores.delta.resize(static_cast<size_t>(m));
  scores.score.resize(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) {
    float delta = dist_max;
    for (int64_t j = 0; j < m; ++j) {
      if (scores.density[static_cast<size_t>(j)] > scores.density[static_cast<size_t>(i)]) {
        delta = std::min(delta, dist[i * m + j]);
      }
    }
    scores.delta[static_cast<size_t>(i)] = delta;
    scores.score[static_cast<size_t>(i)] = delta * scores.density[static_cast<size_t>(i)];
  }
  return scores;
}

DpcKnnClusters dpc_knn_cluster(const at::Tensor& points, int64_t centres, int64_t k,
                               const at::Tensor& noise) {
  const int64_t m = points.size(0);
  if (centres <= 0 || centres > m || k <= 0 || k > m) {
    throw Error(ErrorKind::kInternal, "dpc_knn_cluster: bad centre count or k");
  }
  const at::Tensor dist_t = pairwise_distances_direct(points);
  const float* dist = dist_t.data_ptr<float>();
  auto d = [&](int64_t i, int64_t j) { return dist[i * m + j]; };
  const std::vector<float> score = dpc_knn_scores(dist_t, k, noise).score;

  // Top-C by score, ties to the lower index, then ascending.
  std::vector<int64_t> order(static_cast<size_t>(m));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return score[static_cast<size_t>(a)] > score[static_cast<size_t>(b)];
  });
  DpcKnnClusters clusters;
  clusters.centres.assign(order.begin(), order.begin() + centres);
  std::sort(clusters.centres.begin(), clusters.centres.end());

  // Every point to its nearest centre (first centre on a tie); centres to themselves.
  clusters.assignment.assign(static_cast<size_t>(m), -1);
  for (size_t c = 0; c < clusters.centres.size(); ++c) {
    clusters.assignment[static_cast<size_t>(clusters.centres[c])] = static_cast<int64_t>(c);
  }
  for (int64_t i = 0; i < m; ++i) {
    if (clusters.assignment[static_cast<size_t>(i)] >= 0) continue;
    int64_t best = 0;
    for (size_t c = 1; c < clusters.centres.size(); ++c) {
      if (d(i, clusters.centres[c]) < d(i, clusters.centres[static_cast<size_t>(best)])) {
        best = static_cast<int64_t>(c);
      }
    }
    clusters.assignment[static_cast<size_t>(i)] = best;
  }
  return clusters;
}

at::Tensor dpc_knn_merge(const at::Tensor& points, const DpcKnnClusters& clusters,
                         std::optional<double> beta) {
  const int64_t count = static_cast<int64_t>(clusters.centres.size());
  const at::TensorOptions index_options = at::TensorOptions().dtype(at::kLong);
  const at::Tensor centre_index =
      at::tensor(at::IntArrayRef(clusters.centres), index_options).to(points.device());
  const at::Tensor centre_tokens = points.index_select(0, centre_index);

  std::vector<int64_t> member_rows;
  std::vector<int64_t> member_cluster;
  std::vector<double> member_count(static_cast<size_t>(count), 0.0);
  std::vector<uint8_t> is_centre(static_cast<size_t>(points.size(0)), 0);
  for (const int64_t c : clusters.centres)
    is_centre[static_cast<size_t>(c)] = 1;
  for (size_t i = 0; i < clusters.assignment.size(); ++i) {
    if (is_centre[i]) continue;
    member_rows.push_back(static_cast<int64_t>(i));
    member_cluster.push_back(clusters.assignment[i]);
    member_count[static_cast<size_t>(clusters.assignment[i])] += 1.0;
  }
  if (member_rows.empty()) return centre_tokens.clone();

  const at::Tensor rows =
      at::tensor(at::IntArrayRef(member_rows), index_options).to(points.device());
  const at::Tensor target =
      at::tensor(at::IntArrayRef(member_cluster), index_options).to(points.device());
  at::Tensor sums =
      at::zeros_like(centre_tokens).index_add_(0, target, points.index_select(0, rows));
  const at::Tensor counts =
      at::tensor(at::ArrayRef<double>(member_count), at::TensorOptions().dtype(at::kDouble))
          .to(points.device())
          .to(points.scalar_type())
          .unsqueeze(1);
  const at::Tensor has_members = counts.gt(0);
  at::Tensor merged;
  if (beta) {
    const at::Tensor means = sums / counts.clamp_min(1);
    merged = centre_tokens * *beta + means * (1.0 - *beta);
  } else {
    merged = (centre_tokens + sums) / (counts + 1);
  }
  return at::where(has_members, merged, centre_tokens);
}

}  // namespace clipmind::compress
