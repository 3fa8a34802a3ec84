// The LLaVA multimodal projector and the video path's spatial pooling
// (docs/design/methods.md "Model contract" §4 steps 4-5).
//
// Projector: `linear_2(GELU(linear_1(x)))` with exact erf GELU (projector_hidden_act "gelu"),
// biases unless multimodal_projector_bias is false. Pooling happens after the projector, in LLM
// space: a g0 x g0 token grid (row-major) is resized with bilinear interpolation,
// align_corners=false, no antialias (torch's upsample_bilinear2d, what transformers'
// apply_pooling calls) to g x g, default ceil(g0 / 2) (27 -> 14). This is not a 2x2 average.
// Any g in 1..g0 is allowed (key-clip selection asks for smaller per-frame grids); g = g0 is
// the identity. The same resize pools HoliTom's per-frame attention `A`.
// Throws kInvalidArgument on bad shapes or grids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "models/vision/vision_config.h"
#include "models/weights/checkpoint.h"

namespace clipmind::models {

class LlavaProjector {
 public:
  LlavaProjector() = default;
  // Loads `prefix` + "linear_{1,2}.{weight,bias}" (prefix e.g. "multi_modal_projector.").
  LlavaProjector(const Checkpoint& checkpoint, const std::string& prefix, GeluKind act, bool bias,
                 at::ScalarType dtype, at::Device device);

  // [.., in_features] -> [.., out_features]
  at::Tensor forward(const at::Tensor& x) const;
  int64_t in_features() const { return w1_.size(1); }
  int64_t out_features() const { return w2_.size(0); }

 private:
  GeluKind act_ = GeluKind::kErf;
  at::Tensor w1_, b1_, w2_, b2_;
};

std::vector<TensorSpec> llava_projector_specs(const std::string& prefix, int64_t in_features,
                                              int64_t out_features, bool bias);

// ceil(grid / 2): the pooled side LLaVA-OneVision uses for videos.
inline int64_t default_pooled_grid(int64_t grid) {
  return (grid + 1) / 2;
}

// Bilinear resize of token grids. tokens [F, gh*gw, C] -> [F, out_h*out_w, C] (row-major), or
// scores [F, gh*gw] -> [F, out_h*out_w]. Computed in float32 at least; returns the input dtype.
at::Tensor pool_token_grid(const at::Tensor& tokens, int64_t grid_h, int64_t grid_w, int64_t out_h,
                           int64_t out_w);

}  // namespace clipmind::models
