// LLaVA-OneVision's vision path for videos: RGB frames -> pooled visual tokens in LLM space,
// with HoliTom's per-frame attention and the frame times (docs/design/methods.md "Model
// contract" §3-§4; architecture.md "Contracts between stages").
//
//   frames (uint8 RGB views + times)
//     -> preprocess (processor config: resize 384x384 bicubic AA, rescale, mean/std)
//     -> SigLIP tower up to hidden_states[vision_feature_layer] (no post_layernorm)
//     -> projector (linear, erf GELU, linear)              [F, 729, D]
//     -> bilinear pooling 27x27 -> g x g (default 14)       [F, g*g, D]
//   plus A = the last used layer's attention averaged over heads and queries, pooled the same
//   way [F, g*g]. image_newline() is the token the prompt puts once after a whole video.
//
// Frames are encoded in micro-batches (preprocessing included), so memory is bounded by the
// micro-batch, not the video: the result buffer [F, g*g, D] is the only thing that grows with F.
// Progress is reported per micro-batch (stage "encode"); the CancelToken is checked between
// micro-batches and between the tower's layers (throws clipmind::Cancelled), so a cancel lands
// within one layer of one micro-batch (~1 s for SigLIP-so400m, 4 frames, CPU) rather than a
// whole micro-batch (~19 s). The encoder owns its weights on the runtime device
// and dtype; encode calls are const and may run concurrently. Set the ATen thread count
// (at::set_num_threads) in the application; this library does not change global state.
// Output holding NaN or infinity (damaged weights that load fine) throws kInvalidInput.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "clipmind/progress.h"
#include "models/vision/image_preprocess.h"
#include "models/vision/projector.h"
#include "models/vision/siglip_vision.h"
#include "models/vision/vision_config.h"
#include "models/vision/vision_runtime.h"
#include "models/weights/checkpoint.h"

namespace clipmind::models {

struct VideoEncodeOptions {
  int64_t micro_batch = 0;  // frames per tower call; 0 = 4 on CPU, 32 on other devices
  int64_t input_size = 0;   // square input resolution; 0 = the processor's (384)
  int64_t grid = 0;         // pooled side g; 0 = ceil(patch grid / 2) (14 at 384 px)
  bool attention = true;    // compute HoliTom's A
  CancelToken cancel;       // checked between micro-batches and before every tower layer
  // Optional, called before every tower layer of every micro-batch (before the cancel check, so
  // it may request cancellation); for fine-grained progress and tests.
  LayerCheck before_layer;
  ProgressCallback progress;
};

struct VisualTokens {
  at::Tensor tokens;     // [F, g*g, D] in the runtime dtype, on the runtime device
  at::Tensor attention;  // [F, g*g] float32 (undefined when not requested)
  std::vector<double> times;
  int64_t grid = 0;
};

// One frame with its own pooled grid (encode_varying).
struct FrameTokens {
  at::Tensor tokens;     // [g*g, D]
  at::Tensor attention;  // [g*g] float32 or undefined
  double time = 0;
  int64_t grid = 0;
};

// Every tensor the LLaVA vision path reads (vision tower, projector, image_newline), canonical
// names; the decoder's tensors are not included.
std::vector<TensorSpec> llava_vision_specs(const LlavaVisionConfig& config, int64_t llm_hidden);

class LlavaVisionEncoder {
 public:
  // Reads config.json, the video processor config and the weights of a LLaVA-OneVision folder
  // (either prefix layout); validates the vision tensors only.
  static LlavaVisionEncoder load(const std::filesystem::path& model_dir,
                                 const VisionRuntime& runtime = {});
  // From an open checkpoint (canonical names, see llava_onevision_rewrites()).
  LlavaVisionEncoder(const Checkpoint& checkpoint, const LlavaVisionConfig& config,
                     const PreprocessConfig& preprocess, const VisionRuntime& runtime);

  const LlavaVisionConfig& config() const { return config_; }
  const PreprocessConfig& preprocess_config() const { return preprocess_; }
  const VisionRuntime& runtime() const { return runtime_; }
  int64_t llm_hidden() const { return projector_.out_features(); }
  // [D], in the runtime dtype on the runtime device.
  const at::Tensor& image_newline() const { return newline_; }

  // Frames -> pooled tokens. `times` has one entry per frame, or is empty (then frame i is at
  // i seconds).
  VisualTokens encode(std::span<const RgbImageView> frames, std::span<const double> times,
                      const VideoEncodeOptions& options = {}) const;
  // The same with one pooled grid per frame (each 1..patch grid).
  std::vector<FrameTokens> encode_varying(std::span<const RgbImageView> frames,
                                          std::span<const double> times,
                                          std::span<const int64_t> grids,
                                          const VideoEncodeOptions& options = {}) const;
  // Already-normalised pixels [F, 3, H, W] -> pooled tokens (same micro-batching).
  VisualTokens encode_pixels(const at::Tensor& pixel_values, std::span<const double> times,
                             const VideoEncodeOptions& options = {}) const;

  // Stages, for tests and debugging. features(): hidden_states at the feature layer(s) with the
  // select strategy applied [F, N, Dv*k] (+ attention [F, N] when asked); `check` runs before
  // every tower layer.
  VisionOutput features(const at::Tensor& pixel_values, bool attention,
                        const LayerCheck& check = {}) const;
  at::Tensor project(const at::Tensor& features) const;

  // [F*g*g + 1, D]: the tokens of one video in frame order, then image_newline once.
  at::Tensor video_embedding(const at::Tensor& tokens) const;

 private:
  // Runs tower + projector over [0, frames) in micro-batches: pixels_for(begin, end) gives the
  // normalised pixels, sink(begin, projected [b, N, D], attention [b, N]) takes the result.
  void run_batches(int64_t frames, const VideoEncodeOptions& options,
                   const std::function<at::Tensor(int64_t, int64_t)>& pixels_for,
                   const std::function<void(int64_t, const at::Tensor&, const at::Tensor&, int64_t,
                                            int64_t)>& sink) const;
  // run_batches with uniform pooling into one VisualTokens.
  VisualTokens encode_uniform(int64_t frames, std::span<const double> times,
                              const VideoEncodeOptions& options,
                              const std::function<at::Tensor(int64_t, int64_t)>& pixels_for) const;

  LlavaVisionConfig config_;
  PreprocessConfig preprocess_;
  VisionRuntime runtime_;
  std::vector<int64_t> layers_;  // resolved hidden_states indices
  SiglipVisionTower tower_;
  LlavaProjector projector_;
  at::Tensor newline_;
};

}  // namespace clipmind::models
