#include "models/siglip/dual_encoder.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "models/non_finite.h"

namespace clipmind::models {
namespace fs = std::filesystem;
namespace {

constexpr const char* kText = "text_model.";
constexpr const char* kVision = "vision_model.";

SiglipEncoderShape text_shape(const SiglipTextConfig& c) {
  return {c.hidden_size, c.intermediate_size, c.num_layers,
          c.num_heads,   c.layer_norm_eps,    c.hidden_act};
}

at::Tensor l2_normalise(const at::Tensor& x) {
  const at::Tensor f = x.to(at::kFloat);
  return f / f.norm(2, {-1}, true);
}

// Unit-length embeddings [count, size] of `count` images in micro-batches (options.micro_batch,
// else 8 on CPU and 64 elsewhere), checking cancellation and reporting progress between them;
// `features(b, e)` gives the image features of images [b, e).
template <typename Features>
at::Tensor embed_in_micro_batches(int64_t count, int64_t size, const at::Device& device,
                                  const ImageEmbedOptions& options, Features&& features) {
  const int64_t batch = options.micro_batch > 0 ? options.micro_batch : (device.is_cpu() ? 8 : 64);
  at::Tensor out = at::empty({count, size}, at::TensorOptions(at::kFloat).device(device));
  for (int64_t b = 0; b < count; b += batch) {
    options.cancel.throw_if_cancelled();
    const int64_t e = std::min(count, b + batch);
    out.slice(0, b, e).copy_(l2_normalise(features(b, e)));
    if (options.progress) options.progress({"embed-images", e, count, ""});
  }
  return out;
}

}  // namespace

std::vector<TensorSpec> siglip_text_specs(const std::string& prefix, const SiglipTextConfig& c,
                                          int64_t projection) {
  const int64_t d = c.hidden_size;
  std::vector<TensorSpec> specs = {
      {prefix + "embeddings.token_embedding.weight", {c.vocab_size, d}},
      {prefix + "embeddings.position_embedding.weight", {c.max_positions, d}},
      {prefix + "final_layer_norm.weight", {d}},
      {prefix + "final_layer_norm.bias", {d}},
      {prefix + "head.weight", {projection, d}},
      {prefix + "head.bias", {projection}},
  };
  for (auto& spec : siglip_encoder_specs(prefix + "encoder.", text_shape(c)))
    specs.push_back(std::move(spec));
  return specs;
}

std::vector<TensorSpec> siglip_model_specs(const SiglipModelConfig& config, int64_t projection) {
  std::vector<TensorSpec> specs = siglip_text_specs(kText, config.text, projection);
  for (auto& spec : siglip_vision_specs(kVision, config.vision))
    specs.push_back(std::move(spec));
  specs.push_back({"logit_scale", {1}});
  specs.push_back({"logit_bias", {1}});
  return specs;
}

SiglipTextTower::SiglipTextTower(const Checkpoint& checkpoint, const std::string& prefix,
                                 const SiglipTextConfig& config, at::ScalarType dtype,
                                 at::Device device)
    : config_(config), dtype_(dtype), device_(device) {
  const auto get = [&](const std::string& name) {
    return checkpoint.load(prefix + name, dtype, device);
  };
  token_embedding_ = get("embeddings.token_embedding.weight");
  position_embedding_ = get("embeddings.position_embedding.weight");
  encoder_ = SiglipEncoder(checkpoint, prefix + "encoder.", text_shape(config), config.num_layers,
                           dtype, device);
  final_w_ = get("final_layer_norm.weight");
  final_b_ = get("final_layer_norm.bias");
  head_w_ = get("head.weight");
  head_b_ = get("head.bias");
}

at::Tensor SiglipTextTower::forward(const at::Tensor& ids, const LayerCheck& check) const {
  if (ids.dim() != 2 || ids.size(1) < 1 || ids.size(1) > config_.max_positions) {
    throw Error(ErrorKind::kInvalidArgument,
                "SigLIP text tower: ids must be [B, L] with 1 <= L <= " +
                    std::to_string(config_.max_positions) + ", got " +
                    describe_shape(ids.sizes().vec()));
  }
  const at::Tensor idx = ids.to(device_, at::kLong);
  const int64_t vocab = token_embedding_.size(0);
  if (idx.numel() > 0 && (idx.min().item<int64_t>() < 0 || idx.max().item<int64_t>() >= vocab)) {
    throw Error(ErrorKind::kInvalidArgument,
                "SigLIP text tower: token id outside the vocabulary of " + std::to_string(vocab));
  }
  const int64_t length = ids.size(1);
  at::Tensor x = at::embedding(token_embedding_, idx);
  x.add_(position_embedding_.slice(0, 0, length));
  x = encoder_.forward(x, encoder_.loaded_layers(), nullptr, {}, check);
  // Only the last position is pooled; normalise just that row.
  const at::Tensor last = x.select(1, length - 1);
  const at::Tensor normed =
      at::layer_norm(last, {config_.hidden_size}, final_w_, final_b_, config_.layer_norm_eps);
  return linear_rows(normed, head_w_, head_b_);
}

SiglipDualEncoder SiglipDualEncoder::load(const fs::path& dir, const VisionRuntime& runtime,
                                          const CancelToken& cancel) {
  SiglipDualEncoder encoder;
  encoder.dir_ = dir;
  encoder.runtime_ = runtime;
  encoder.config_ = read_siglip_config(dir);
  Checkpoint checkpoint = Checkpoint::open(dir);
  checkpoint.cancel_with(cancel);
  const StTensorInfo* head = checkpoint.find(std::string(kText) + "head.weight");
  const int64_t projection =
      head && head->shape.size() == 2 ? head->shape[0] : encoder.config_.text.projection_size;
  checkpoint.validate(siglip_model_specs(encoder.config_, projection));
  if (projection != encoder.config_.vision.hidden_size) {
    throw Error(ErrorKind::kInvalidInput,
                dir.string() + ": text head projects to " + std::to_string(projection) +
                    " but the image embedding has " +
                    std::to_string(encoder.config_.vision.hidden_size) + " values");
  }
  VisionTowerLoad load;
  load.head = true;
  load.dtype = runtime.dtype;
  load.device = runtime.device;
  encoder.vision_ = SiglipVisionTower(checkpoint, kVision, encoder.config_.vision, load);
  encoder.text_ =
      SiglipTextTower(checkpoint, kText, encoder.config_.text, runtime.dtype, runtime.device);
  encoder.logit_scale_ = std::exp(checkpoint.load("logit_scale", at::kDouble).item<double>());
  encoder.logit_bias_ = checkpoint.load("logit_bias", at::kDouble).item<double>();
  if (!find_preprocess_config(dir, false).empty())
    encoder.preprocess_ = read_preprocess_config(dir, false);
  std::error_code ec;
  if (fs::is_regular_file(dir / "spiece.model", ec)) {
    encoder.tokenizer_ = std::make_shared<const SiglipTokenizer>(
        SiglipTokenizer::from_model_dir(dir, encoder.config_.text.max_positions));
  }
  return encoder;
}

int64_t SiglipDualEncoder::embedding_size() const {
  return config_.vision.hidden_size;
}

const SiglipTokenizer& SiglipDualEncoder::tokenizer() const {
  if (!tokenizer_) {
    throw Error(ErrorKind::kNotFound,
                dir_.string() + ": no spiece.model, so texts cannot be embedded (token ids can)");
  }
  return *tokenizer_;
}

std::string SiglipDualEncoder::damaged_weights() const {
  return "the weights of " + dir_.string() + " look damaged";
}

at::Tensor SiglipDualEncoder::image_features(const at::Tensor& pixel_values,
                                             const CancelToken& cancel) const {
  at::NoGradGuard no_grad;
  at::Tensor features = vision_.pooled(pixel_values, cancel_check(cancel));
  // Damaged weights load fine; NaN embeddings would rank frames and search hits at random.
  require_finite(features, "the SigLIP image tower's output", damaged_weights());
  return features;
}

at::Tensor SiglipDualEncoder::text_features(const at::Tensor& ids,
                                            const CancelToken& cancel) const {
  at::NoGradGuard no_grad;
  at::Tensor features = text_.forward(ids, cancel_check(cancel));
  require_finite(features, "the SigLIP text tower's output", damaged_weights());
  return features;
}

at::Tensor SiglipDualEncoder::embed_pixels(const at::Tensor& pixel_values,
                                           const ImageEmbedOptions& options) const {
  if (pixel_values.dim() != 4) {
    throw Error(ErrorKind::kInvalidArgument, "SigLIP: pixel values must be [N, 3, H, W]");
  }
  return embed_in_micro_batches(
      pixel_values.size(0), embedding_size(), runtime_.device, options, [&](int64_t b, int64_t e) {
        return image_features(pixel_values.slice(0, b, e), options.cancel);
      });
}

at::Tensor SiglipDualEncoder::embed_images(std::span<const RgbImageView> frames,
                                           const ImageEmbedOptions& options) const {
  if (!preprocess_) {
    throw Error(ErrorKind::kNotFound,
                dir_.string() + ": no preprocessor_config.json, so images cannot be embedded");
  }
  return embed_in_micro_batches(
      static_cast<int64_t>(frames.size()), embedding_size(), runtime_.device, options,
      [&](int64_t b, int64_t e) {
        const at::Tensor pixels =
            preprocess_frames(frames.subspan(static_cast<size_t>(b), static_cast<size_t>(e - b)),
                              *preprocess_, runtime_.dtype, runtime_.device);
        return image_features(pixels, options.cancel);
      });
}

at::Tensor SiglipDualEncoder::embed_text_ids(const at::Tensor& ids,
                                             const CancelToken& cancel) const {
  return l2_normalise(text_features(ids, cancel));
}

at::Tensor SiglipDualEncoder::embed_texts(std::span<const std::string> texts,
                                          const CancelToken& cancel) const {
  const SiglipTokenizer& tok = tokenizer();
  const auto count = static_cast<int64_t>(texts.size());
  at::Tensor ids = at::empty({count, tok.max_length()}, at::kLong);
  for (int64_t i = 0; i < count; ++i) {
    const std::vector<int64_t> row = tok.encode(texts[static_cast<size_t>(i)]);
    std::copy(row.begin(), row.end(), ids[i].data_ptr<int64_t>());
  }
  if (count == 0)
    return at::empty({0, embedding_size()}, at::TensorOptions(at::kFloat).device(runtime_.device));
  return embed_text_ids(ids, cancel);
}

at::Tensor SiglipDualEncoder::logits(const at::Tensor& image_embeds,
                                     const at::Tensor& text_embeds) const {
  const at::Tensor cos = at::matmul(image_embeds.to(at::kFloat),
                                    text_embeds.to(image_embeds.device(), at::kFloat).t());
  return cos * logit_scale_ + logit_bias_;
}

at::Tensor SiglipDualEncoder::probabilities(const at::Tensor& image_embeds,
                                            const at::Tensor& text_embeds) const {
  return at::sigmoid(logits(image_embeds, text_embeds));
}

}  // namespace clipmind::models
