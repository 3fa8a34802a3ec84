// The SigLIP dual encoder (google/siglip-* `SiglipModel` folders) used for text-to-frame
// relevance (F2C key-clip selection) and archive search (docs/design/methods.md "SigLIP dual
// encoder"): image and text embeddings in one space, L2-normalised, and the sigmoid scoring
// `logit = cos · exp(logit_scale) + logit_bias`, probability = sigmoid(logit), independent per
// pair (no softmax over frames). Rank by logit or cosine; threshold on the probability.
//
// Text tower: token + position embeddings, the SigLIP encoder with no mask of any kind (pads
// are attended), final_layer_norm, the vector at the LAST position (a padding `</s>`), `head`.
// Image tower: preprocessing from preprocessor_config.json, the vision tower, post_layernorm,
// the MAP attention-pooling head. Separate weights from any LLaVA tower.
//
// Files: config.json (model_type "siglip"), model.safetensors (or shards), preprocessor_config.json
// for embed_images, spiece.model (+ tokenizer_config.json) for embed_texts; a folder without the
// tokenizer still embeds images and token ids, and embed_texts then throws kNotFound. The encoder
// owns its weights on the runtime device; calls are const and thread-safe. Images are embedded in
// micro-batches, so memory is bounded for any number of frames. A CancelToken passed to any
// embedding call is checked between micro-batches and before every encoder layer of both towers
// (throws clipmind::Cancelled), so a cancel lands within one layer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "clipmind/progress.h"
#include "models/siglip/siglip_config.h"
#include "models/siglip/siglip_tokenizer.h"
#include "models/vision/image_preprocess.h"
#include "models/vision/siglip_encoder.h"
#include "models/vision/siglip_vision.h"
#include "models/vision/vision_runtime.h"
#include "models/weights/checkpoint.h"

namespace clipmind::models {

std::vector<TensorSpec> siglip_text_specs(const std::string& prefix, const SiglipTextConfig& config,
                                          int64_t projection);
// Every tensor of a SiglipModel checkpoint (text, vision with head, logit_scale/bias).
std::vector<TensorSpec> siglip_model_specs(const SiglipModelConfig& config, int64_t projection);

class SiglipTextTower {
 public:
  SiglipTextTower() = default;
  SiglipTextTower(const Checkpoint& checkpoint, const std::string& prefix,
                  const SiglipTextConfig& config, at::ScalarType dtype, at::Device device);
  // ids [B, L] (L <= max positions) -> head(final_layer_norm(h)[:, L-1]) [B, P], unnormalised.
  // `check` runs before every encoder layer.
  at::Tensor forward(const at::Tensor& ids, const LayerCheck& check = {}) const;

 private:
  SiglipTextConfig config_;
  at::ScalarType dtype_ = at::kFloat;
  at::Device device_ = at::kCPU;
  at::Tensor token_embedding_, position_embedding_;
  SiglipEncoder encoder_;
  at::Tensor final_w_, final_b_, head_w_, head_b_;
};

struct ImageEmbedOptions {
  int64_t micro_batch = 0;  // 0 = 8 on CPU, 64 on other devices
  CancelToken cancel;
  ProgressCallback progress;  // stage "embed-images"
};

class SiglipDualEncoder {
 public:
  // `cancel` requested: stops between two tensors and throws Cancelled.
  static SiglipDualEncoder load(const std::filesystem::path& model_dir,
                                const VisionRuntime& runtime = {},
                                const CancelToken& cancel = CancelToken());

  const SiglipModelConfig& config() const { return config_; }
  const VisionRuntime& runtime() const { return runtime_; }
  // Embedding size P.
  int64_t embedding_size() const;
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  const SiglipTokenizer& tokenizer() const;  // throws kNotFound when absent

  // L2-normalised embeddings [N, P] (float32, on the runtime device).
  at::Tensor embed_images(std::span<const RgbImageView> frames,
                          const ImageEmbedOptions& options = {}) const;
  at::Tensor embed_pixels(const at::Tensor& pixel_values,
                          const ImageEmbedOptions& options = {}) const;
  at::Tensor embed_texts(std::span<const std::string> texts, const CancelToken& cancel = {}) const;
  at::Tensor embed_text_ids(const at::Tensor& ids, const CancelToken& cancel = {}) const;

  // Unnormalised pooler outputs, for conformance tests. Every embedding goes through these, and
  // they throw NonFiniteOutput (models/non_finite.h) when the output holds NaN or infinity.
  at::Tensor image_features(const at::Tensor& pixel_values, const CancelToken& cancel = {}) const;
  at::Tensor text_features(const at::Tensor& ids, const CancelToken& cancel = {}) const;

  // [N images, M texts]: cos · exp(logit_scale) + logit_bias, from normalised embeddings.
  at::Tensor logits(const at::Tensor& image_embeds, const at::Tensor& text_embeds) const;
  // sigmoid(logits)
  at::Tensor probabilities(const at::Tensor& image_embeds, const at::Tensor& text_embeds) const;
  double logit_scale() const { return logit_scale_; }  // exp() already applied
  double logit_bias() const { return logit_bias_; }

 private:
  std::string damaged_weights() const;

  SiglipModelConfig config_;
  VisionRuntime runtime_;
  std::optional<PreprocessConfig> preprocess_;
  std::shared_ptr<const SiglipTokenizer> tokenizer_;
  std::filesystem::path dir_;
  SiglipVisionTower vision_;
  SiglipTextTower text_;
  double logit_scale_ = 1.0;
  double logit_bias_ = 0.0;
};

}  // namespace clipmind::models
