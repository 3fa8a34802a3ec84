// F2C key-clip selection ("From Frames to Clips", arXiv 2510.02262), as reconstructed in
// docs/design/methods.md "F2C key-clip selection" steps 1-6 (no official code exists; every step
// beyond the abstract is unverified there):
//   1. candidates at 1 fps (capped, uniformly), 2. relevance r_i = cos(image_i, query) computed
//   by the caller with the SigLIP dual encoder, 3. anchors = relevance peaks between valleys,
//   reduced to K_anchor by 1-D K-means, 4. the adaptive-resolution budget rule in our integer
//   grid form, 5. clip length per anchor by J(l) = R(l) - lambda_r*Dn(l) + lambda_l*l/l_max,
//   6. windows merged, each frame with its own grid side g and time.
// Pure; embeddings may be on any device; throws clipmind::Error(kInvalidArgument).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <ATen/core/Tensor.h>

namespace clipmind::compress {

struct F2COptions {
  int64_t budget_frames = 32;    // K, in full-resolution frames (B = K * T_full tokens)
  int64_t anchors = 0;           // K_anchor; 0 = K
  double s_max = 2.0;            // largest spatial down-scale per side
  double lambda_r = 0.5;         // redundancy weight (see methods.md's caution; 0 avoids collapse)
  double lambda_l = 0.05;        // length bonus
  int64_t full_grid = 14;        // T_full = full_grid^2 = 196
  int64_t max_candidates = 512;  // cap on the 1 fps candidate pool
};

struct F2CFrame {
  int64_t candidate = 0;  // index into the candidates
  double time = 0.0;
  int64_t grid = 0;  // g: this frame is pooled to g x g
};

struct F2CClip {
  int64_t anchor = 0;             // candidate index of the anchor frame
  int64_t length = 0;             // l*
  int64_t first = 0;              // window [first, first + length)
  int64_t grid = 0;               // g(l*)
  std::vector<double> objective;  // J(1..l_max)
};

struct F2CSelection {
  std::vector<F2CFrame> frames;  // time order, each candidate at most once
  std::vector<F2CClip> clips;    // one per anchor, time order
  int64_t tokens = 0;            // sum of g^2 over frames, <= budget_tokens
  int64_t budget_tokens = 0;     // B
  bool all_candidates = false;   // the video had no more candidates than K: all at full grid
};

// Step 1: t_i = i for i = 0..floor(D); above max_candidates, max_candidates times spread evenly
// over [0, floor(D)].
std::vector<double> f2c_candidate_times(double duration_seconds, int64_t max_candidates = 512);

// Step 2 helper: cosine of every image embedding [M, E] with the text embedding [E] (both are
// L2-normalised here), as doubles.
std::vector<double> relevance_scores(const at::Tensor& image_embeddings,
                                     const at::Tensor& text_embedding);

// Step 3: anchor candidate indices in time order.
std::vector<int64_t> f2c_anchors(std::span<const double> relevance, std::span<const double> times,
                                 int64_t max_anchors);

// Steps 3-6. times and relevance have M entries; embeddings is [M, E] (L2-normalised here).
F2CSelection f2c_select(std::span<const double> times, std::span<const double> relevance,
                        const at::Tensor& embeddings, const F2COptions& options = {});

}  // namespace clipmind::compress
