// DPC-KNN clustering as HoliTom uses it (density peaks with k-nearest-neighbour density), and the
// beta-merge of each cluster into its centre. See docs/design/methods.md, HoliTom (c).
//
// Distances are computed directly as difference norms |x_i - x_j| / sqrt(D) in float32, never
// through a Gram matrix (torch.cdist's matrix-product path is off by up to 1e-3). Ties go to the
// lower index everywhere (centre choice, nearest centre). Points may be on any device; the index
// logic runs on the host.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>

namespace clipmind::compress {

// [m, m] float32 host tensor of |x_i - x_j|_2 / sqrt(D) for points [m, D].
at::Tensor pairwise_distances_direct(const at::Tensor& points);

// Per-point quantities of the method: density rho (noise included), delta (distance to the
// nearest denser point, the global maximum distance for the densest) and score gamma = rho*delta.
struct DpcKnnScores {
  std::vector<float> density;
  std::vector<float> delta;
  std::vector<float> score;
};

// `distances` is pairwise_distances_direct(points); k in 1..m; noise as in dpc_knn_cluster.
DpcKnnScores dpc_knn_scores(const at::Tensor& distances, int64_t k, const at::Tensor& noise = {});

struct DpcKnnClusters {
  std::vector<int64_t> centres;     // ascending indices into the points
  std::vector<int64_t> assignment;  // per point: index into `centres` (a centre maps to itself)
};

// Picks `centres` cluster centres among the m points (0 < centres <= m) with k nearest
// neighbours (self included) for the density. `noise`, if defined, is an [m] float tensor added
// to the densities (the authors' tie-breaking noise, already scaled).
DpcKnnClusters dpc_knn_cluster(const at::Tensor& points, int64_t centres, int64_t k,
                               const at::Tensor& noise = {});

// One token per centre: beta * x_c + (1 - beta) * mean(members) when it has members, x_c when
// not; with beta = nullopt, mean({x_c} + members). [C, D] in the points' dtype and device.
at::Tensor dpc_knn_merge(const at::Tensor& points, const DpcKnnClusters& clusters,
                         std::optional<double> beta);

}  // namespace clipmind::compress
