#include "models/vision/video_encoder.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/non_finite.h"
#include "models/weights/json_file.h"

namespace clipmind::models {
namespace fs = std::filesystem;
namespace {

constexpr const char* kTowerPrefix = "vision_tower.vision_model.";
constexpr const char* kProjectorPrefix = "multi_modal_projector.";
constexpr const char* kNewline = "image_newline";

int64_t micro_batch_for(const VideoEncodeOptions& options, const VisionRuntime& runtime) {
  if (options.micro_batch > 0) return options.micro_batch;
  return runtime.device.is_cpu() ? 4 : 32;
}

std::vector<double> frame_times(std::span<const double> times, int64_t frames) {
  if (times.empty()) {
    std::vector<double> out(static_cast<size_t>(frames));
    for (int64_t i = 0; i < frames; ++i)
      out[static_cast<size_t>(i)] = static_cast<double>(i);
    return out;
  }
  if (static_cast<int64_t>(times.size()) != frames) {
    throw Error(ErrorKind::kInvalidArgument, "vision encoder: " + std::to_string(times.size()) +
                                                 " times for " + std::to_string(frames) +
                                                 " frames");
  }
  return {times.begin(), times.end()};
}

}  // namespace

std::vector<TensorSpec> llava_vision_specs(const LlavaVisionConfig& config, int64_t llm_hidden) {
  std::vector<TensorSpec> specs = siglip_vision_specs(kTowerPrefix, config.vision);
  const int64_t in = config.vision.hidden_size * static_cast<int64_t>(config.feature_layers.size());
  for (auto& spec : llava_projector_specs(kProjectorPrefix, in, llm_hidden, config.projector_bias))
    specs.push_back(std::move(spec));
  specs.push_back({kNewline, {llm_hidden}});
  return specs;
}

LlavaVisionEncoder LlavaVisionEncoder::load(const fs::path& model_dir,
                                            const VisionRuntime& runtime) {
  const LlavaVisionConfig config = read_llava_vision_config(model_dir);
  const PreprocessConfig preprocess = read_preprocess_config(model_dir, /*video=*/true);
  const Checkpoint checkpoint = Checkpoint::open(model_dir, llava_onevision_rewrites());
  const StTensorInfo* l1 = checkpoint.find(std::string(kProjectorPrefix) + "linear_1.weight");
  if (!l1 || l1->shape.size() != 2) {
    throw Error(ErrorKind::kInvalidInput,
                model_dir.string() + ": no multi_modal_projector.linear_1.weight [D, Dv]");
  }
  const std::vector<std::string> decoder_prefix = {"language_model."};
  checkpoint.validate(llava_vision_specs(config, l1->shape[0]), decoder_prefix);
  return LlavaVisionEncoder(checkpoint, config, preprocess, runtime);
}

LlavaVisionEncoder::LlavaVisionEncoder(const Checkpoint& checkpoint,
                                       const LlavaVisionConfig& config,
                                       const PreprocessConfig& preprocess,
                                       const VisionRuntime& runtime)
    : config_(config),
      preprocess_(preprocess),
      runtime_(runtime),
      layers_(config.resolved_feature_layers()) {
  VisionTowerLoad load;
  load.layers = *std::max_element(layers_.begin(), layers_.end());
  load.head = false;
  load.dtype = runtime.dtype;
  load.device = runtime.device;
  tower_ = SiglipVisionTower(checkpoint, kTowerPrefix, config.vision, load);
  projector_ = LlavaProjector(checkpoint, kProjectorPrefix, config.projector_act,
                              config.projector_bias, runtime.dtype, runtime.device);
  newline_ = checkpoint.load(kNewline, runtime.dtype, runtime.device);
}

VisionOutput LlavaVisionEncoder::features(const at::Tensor& pixel_values, bool attention,
                                          const LayerCheck& check) const {
  VisionRequest request;
  request.layers = layers_;
  request.attention = attention;
  request.check = check;
  VisionOutput out = tower_.forward(pixel_values, request);
  if (config_.drop_first_token) {
    out.features = out.features.slice(1, 1);
    if (out.attention.defined()) out.attention = out.attention.slice(1, 1);
  }
  return out;
}

at::Tensor LlavaVisionEncoder::project(const at::Tensor& features) const {
  return projector_.forward(features);
}

at::Tensor LlavaVisionEncoder::video_embedding(const at::Tensor& tokens) const {
  const int64_t d = llm_hidden();
  return at::cat({tokens.reshape({-1, d}).to(newline_.device(), newline_.scalar_type()),
                  newline_.view({1, d})},
                 0);
}

void LlavaVisionEncoder::run_batches(
    int64_t frames, const VideoEncodeOptions& options,
    const std::function<at::Tensor(int64_t, int64_t)>& pixels_for,
    const std::function<void(int64_t, const at::Tensor&, const at::Tensor&, int64_t, int64_t)>&
        sink) const {
  if (config_.drop_first_token) {
    throw Error(ErrorKind::kUnsupported,
                "vision_feature_select_strategy \"default\" leaves no square token grid to pool "
                "on the video path");
  }
  const int64_t batch = micro_batch_for(options, runtime_);
  // One micro-batch through the tower takes tens of seconds on a CPU with a real-size model, so
  // the token is also checked between the tower's layers.
  const LayerCheck check = chain_checks(options.before_layer, cancel_check(options.cancel));
  for (int64_t begin = 0; begin < frames; begin += batch) {
    options.cancel.throw_if_cancelled();
    const int64_t end = std::min(frames, begin + batch);
    at::Tensor projected;
    at::Tensor attention;
    int64_t gh = 0;
    int64_t gw = 0;
    {
      at::NoGradGuard no_grad;
      VisionOutput out = features(pixels_for(begin, end), options.attention, check);
      gh = out.grid_h;
      gw = out.grid_w;
      attention = out.attention;
      projected = project(out.features);
      // Damaged weights load fine and make every token NaN (models/non_finite.h).
      require_finite(
          projected, "the vision tower's output",
          std::string("the model's vision weights look damaged") +
              (runtime_.dtype == at::kHalf ? " (or float16 overflows in this model)" : ""));
    }
    sink(begin, projected, attention, gh, gw);
    if (options.progress) options.progress({"encode", end, frames, ""});
  }
}

VisualTokens LlavaVisionEncoder::encode_uniform(
    int64_t frames, std::span<const double> times, const VideoEncodeOptions& options,
    const std::function<at::Tensor(int64_t, int64_t)>& pixels_for) const {
  VisualTokens result;
  result.times = frame_times(times, frames);
  const int64_t d = llm_hidden();
  run_batches(
      frames, options, pixels_for,
      [&](int64_t begin, const at::Tensor& projected, const at::Tensor& attention, int64_t gh,
          int64_t gw) {
        if (gh != gw && options.grid == 0) {
          throw Error(ErrorKind::kInvalidArgument,
                      "vision encoder: a non-square patch grid needs an explicit grid");
        }
        const int64_t g = options.grid > 0 ? options.grid : default_pooled_grid(gh);
        if (!result.tokens.defined()) {
          result.grid = g;
          result.tokens = at::empty({frames, g * g, d}, projected.options());
          if (attention.defined())
            result.attention = at::empty({frames, g * g}, attention.options());
        }
        const int64_t n = projected.size(0);
        result.tokens.slice(0, begin, begin + n).copy_(pool_token_grid(projected, gh, gw, g, g));
        if (attention.defined()) {
          result.attention.slice(0, begin, begin + n)
              .copy_(pool_token_grid(attention, gh, gw, g, g));
        }
      });
  if (!result.tokens.defined()) {  // no frames
    const int64_t side = options.input_size > 0 ? options.input_size / config_.vision.patch_size
                                                : config_.vision.grid();
    const int64_t g = options.grid > 0 ? options.grid : default_pooled_grid(side);
    result.grid = g;
    result.tokens = at::empty({0, g * g, d}, newline_.options());
    if (options.attention) {
      result.attention = at::empty({0, g * g}, newline_.options().dtype(at::kFloat));
    }
  }
  return result;
}

VisualTokens LlavaVisionEncoder::encode_pixels(const at::Tensor& pixel_values,
                                               std::span<const double> times,
                                               const VideoEncodeOptions& options) const {
  if (pixel_values.dim() != 4) {
    throw Error(ErrorKind::kInvalidArgument, "vision encoder: pixel values must be [F, 3, H, W]");
  }
  return encode_uniform(pixel_values.size(0), times, options,
                        [&](int64_t b, int64_t e) { return pixel_values.slice(0, b, e); });
}

VisualTokens LlavaVisionEncoder::encode(std::span<const RgbImageView> frames,
                                        std::span<const double> times,
                                        const VideoEncodeOptions& options) const {
  // Preprocess one micro-batch at a time so pixel memory stays bounded.
  return encode_uniform(
      static_cast<int64_t>(frames.size()), times, options, [&](int64_t b, int64_t e) {
        return preprocess_frames(frames.subspan(static_cast<size_t>(b), static_cast<size_t>(e - b)),
                                 preprocess_, runtime_.dtype, runtime_.device, options.input_size);
      });
}

std::vector<FrameTokens> LlavaVisionEncoder::encode_varying(
    std::span<const RgbImageView> frames, std::span<const double> times,
    std::span<const int64_t> grids, const VideoEncodeOptions& options) const {
  const auto count = static_cast<int64_t>(frames.size());
  if (static_cast<int64_t>(grids.size()) != count) {
    throw Error(ErrorKind::kInvalidArgument, "vision encoder: " + std::to_string(grids.size()) +
                                                 " grids for " + std::to_string(count) + " frames");
  }
  const std::vector<double> when = frame_times(times, count);
  std::vector<FrameTokens> out(static_cast<size_t>(count));
  run_batches(
      count, options,
      [&](int64_t b, int64_t e) {
        return preprocess_frames(frames.subspan(static_cast<size_t>(b), static_cast<size_t>(e - b)),
                                 preprocess_, runtime_.dtype, runtime_.device, options.input_size);
      },
      [&](int64_t begin, const at::Tensor& projected, const at::Tensor& attention, int64_t gh,
          int64_t gw) {
        for (int64_t i = 0; i < projected.size(0); ++i) {
          const auto f = static_cast<size_t>(begin + i);
          const int64_t g = grids[f];
          FrameTokens& t = out[f];
          t.time = when[f];
          t.grid = g;
          t.tokens = pool_token_grid(projected.slice(0, i, i + 1), gh, gw, g, g).squeeze(0);
          if (attention.defined()) {
            t.attention = pool_token_grid(attention.slice(0, i, i + 1), gh, gw, g, g).squeeze(0);
          }
        }
      });
  return out;
}

}  // namespace clipmind::models
