// The SigLIP vision tower (docs/design/methods.md "Model contract" §4 and "SigLIP dual
// encoder"): patch embedding (a stride-p convolution, computed as one GEMM over unfolded
// patches), learned position embeddings, the pre-norm encoder, post_layernorm and the MAP
// attention-pooling head.
//
// Input resolution: pixel tensors of any size whose sides are at least one patch; as in the
// stride-p convolution, rows/columns beyond the last whole patch are ignored. When the patch
// grid differs from the trained one (27x27 at 384 px), the position embeddings are resized as
// transformers' `interpolate_pos_encoding=True` does: the [g0, g0, D] table is resampled with
// bicubic interpolation (A = -0.75, align_corners=false, border-clamped, no antialias) to the
// new grid. At the trained size the table is used unchanged (the interpolation is the identity
// there too; tests check both).
//
// hidden_states indices follow transformers: 0 = embeddings, k = output of layer k-1; only the
// layers up to the largest requested index run. post_layernorm belongs to last_hidden_state only
// (the dual encoder uses it; the LLaVA video path does not). The tower owns its weights (device
// and dtype chosen at load); forward calls are const and thread-safe. Throws kInvalidArgument for
// bad shapes or requests, kInvalidInput (via Checkpoint) for missing or misshaped weights.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "models/vision/siglip_encoder.h"
#include "models/vision/vision_config.h"
#include "models/weights/checkpoint.h"

namespace clipmind::models {

// Tensor specs under `prefix` (e.g. "vision_model." or "vision_tower.vision_model."):
// embeddings, every encoder layer, post_layernorm (optional: LLaVA never uses it), and the head
// when `config.use_head`.
std::vector<TensorSpec> siglip_vision_specs(const std::string& prefix,
                                            const SiglipVisionConfig& config);

// Resizes a square position table [g0*g0, D] to a gh x gw grid ([gh*gw, D], row-major), as
// described in the file comment. Always interpolates (no shortcut), so tests can check that it
// is the identity at g0 x g0.
at::Tensor interpolate_position_embedding(const at::Tensor& table, int64_t grid_h, int64_t grid_w);

struct VisionTowerLoad {
  int64_t layers = -1;          // encoder layers to load (-1 = all in the config)
  bool head = false;            // load post_layernorm + MAP head (dual encoder)
  bool post_layernorm = false;  // load post_layernorm alone (implied by head)
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
};

struct VisionRequest {
  // hidden_states indices in [0, num_layers]; several are concatenated on the channel axis.
  std::vector<int64_t> layers;
  // Apply post_layernorm (only allowed for the single index num_layers: last_hidden_state).
  bool post_layernorm = false;
  // Also return the attention of the last layer that runs, averaged over heads and queries.
  bool attention = false;
  // Runs before every encoder layer (SiglipEncoder::forward); cancel_check(token) makes a
  // CancelToken take effect between layers.
  LayerCheck check;
};

struct VisionOutput {
  at::Tensor features;   // [B, gh*gw, D * layers.size()]
  at::Tensor attention;  // [B, gh*gw] float32, when requested
  int64_t grid_h = 0;
  int64_t grid_w = 0;
};

class SiglipVisionTower {
 public:
  SiglipVisionTower() = default;
  SiglipVisionTower(const Checkpoint& checkpoint, const std::string& prefix,
                    const SiglipVisionConfig& config, const VisionTowerLoad& load);

  const SiglipVisionConfig& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }

  // Patch + position embeddings: pixels [B, 3, H, W] (any float dtype/device; converted) ->
  // [B, gh*gw, D]; grid_h/grid_w receive the patch grid.
  at::Tensor embed(const at::Tensor& pixel_values, int64_t* grid_h = nullptr,
                   int64_t* grid_w = nullptr) const;

  VisionOutput forward(const at::Tensor& pixel_values, const VisionRequest& request) const;

  // Dual encoder image embedding (before L2 normalisation): post_layernorm(last layer) through
  // the MAP head -> [B, D]. Needs load.head. `check` as in VisionRequest.
  at::Tensor pooled(const at::Tensor& pixel_values, const LayerCheck& check = {}) const;
  // The MAP head alone on post-layernormed hidden states [B, N, D] -> [B, D].
  at::Tensor head(const at::Tensor& hidden) const;

 private:
  SiglipVisionConfig config_;
  at::ScalarType dtype_ = at::kFloat;
  at::Device device_ = at::kCPU;
  at::Tensor patch_w_;  // [D, 3*p*p]
  at::Tensor patch_b_;
  at::Tensor positions_;  // [g0*g0, D]
  SiglipEncoder encoder_;
  at::Tensor post_w_, post_b_;
  // MAP head
  at::Tensor probe_;                  // [1, D]
  at::Tensor head_q_w_, head_q_b_;    // [D, D], [D]
  at::Tensor head_kv_w_, head_kv_b_;  // [2D, D], [2D]
  at::Tensor head_out_w_, head_out_b_;
  at::Tensor head_ln_w_, head_ln_b_;
  at::Tensor head_fc1_w_, head_fc1_b_, head_fc2_w_, head_fc2_b_;
};

}  // namespace clipmind::models
