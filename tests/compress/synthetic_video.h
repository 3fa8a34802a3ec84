// Synthetic "videos" of visual tokens with known scene cuts, for compress/ tests.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

namespace clipmind::compress::testing {

// Tokens [sum(scene_lengths), N, D]. Each scene has its own random base tokens; inside a scene
// every frame adds a small drift (cosine to the previous frame ~0.99), except `moving_share` of
// the positions, which get fresh random content in every frame. Scenes are independent, so
// consecutive frames across a cut have cosine ~0.
inline at::Tensor synthetic_video(const std::vector<int64_t>& scene_lengths, int64_t positions,
                                  int64_t dim, double moving_share, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  std::vector<at::Tensor> frames;
  const auto moving = static_cast<int64_t>(moving_share * static_cast<double>(positions));
  for (const int64_t length : scene_lengths) {
    at::Tensor current = at::randn({positions, dim}, gen, at::kFloat);
    for (int64_t t = 0; t < length; ++t) {
      if (t > 0) current = current + 0.03 * at::randn({positions, dim}, gen, at::kFloat);
      at::Tensor frame = current.clone();
      if (moving > 0) frame.slice(0, 0, moving).copy_(at::randn({moving, dim}, gen, at::kFloat));
      frames.push_back(frame);
    }
  }
  return at::stack(frames);
}

inline at::Tensor synthetic_attention(int64_t frames, int64_t positions, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return at::rand({frames, positions}, gen, at::kFloat);
}

}  // namespace clipmind::compress::testing
