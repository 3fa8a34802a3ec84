// RGB uint8 frames -> the normalised pixel tensor a SigLIP tower takes, configured by the
// model's processor file (docs/design/methods.md "Model contract" §3).
//
// Frames arrive as plain byte views (H x W x 3, row stride in bytes), the way the decode stage
// delivers them; this module does not depend on decode. Per frame: resize straight to the
// configured height x width (aspect ratio not kept, no crop, no pad) unless the frame already
// has that size (then no resampling at all), multiply by rescale_factor, subtract mean and divide
// by std per channel, channels first.
//
// Resize: antialiased separable resampling exactly as Pillow's `Image.resize` does for 8-bit
// RGB (ImagingResample): filter support scaled by the downscale factor, bicubic a = -0.5 (or the
// triangle filter for bilinear), coefficients normalised per output pixel and quantised to 22
// fractional bits, a horizontal pass then a vertical pass, each rounded and clamped to uint8.
// torchvision's antialiased bicubic (the "fast" processors) uses the same kernel and support;
// its float path rounds only once at the end, so the two differ by at most one uint8 step on a
// few pixels. The measured difference against transformers' output is in docs/models-vision.md
// and checked by tests (< 0.05 after normalisation is the contract; we get far less).
//
// Config files: `preprocessor_config.json` (images) and, for video, the first of
// `video_preprocessor_config.json`, `video_processor/preprocessor_config.json`,
// `preprocessor_config.json`. image_mean and image_std must be present (the class defaults
// differ between processors, so guessing would be silently wrong); `size` must be
// {"height", "width"} or a single integer. Errors: kNotFound (no file), kInvalidInput (bad
// values), kUnsupported (resampling filters or options we do not implement), kInvalidArgument
// (bad frame views).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

namespace clipmind::models {

// One RGB frame in memory: `height` rows of `width` RGB triplets, rows `row_stride` bytes apart
// (0 = tightly packed, width * 3). The caller owns the bytes.
struct RgbImageView {
  const uint8_t* data = nullptr;
  int64_t height = 0;
  int64_t width = 0;
  int64_t row_stride = 0;

  int64_t stride() const { return row_stride > 0 ? row_stride : width * 3; }
};

// PIL resample codes 2 and 3.
enum class Resample { kBilinear, kBicubic };

// How the two resampling passes round: Pillow's 8-bit integer arithmetic (default) or float
// passes rounded once at the end (torchvision's float path). Exposed for the tolerance tests.
enum class ResizeArithmetic { kPillow8Bit, kFloat };

struct PreprocessConfig {
  bool do_resize = true;
  int64_t height = 384;
  int64_t width = 384;
  Resample resample = Resample::kBicubic;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> mean{0.5, 0.5, 0.5};
  std::array<double, 3> std{0.5, 0.5, 0.5};
  ResizeArithmetic arithmetic = ResizeArithmetic::kPillow8Bit;
  std::string source;  // the file it came from, for messages
};

PreprocessConfig parse_preprocess_config(const nlohmann::json& object, const std::string& where);
// Reads the processor config of a model folder (see the file comment for which file).
PreprocessConfig read_preprocess_config(const std::filesystem::path& model_dir, bool video);
// The file read_preprocess_config picks, or an empty path when there is none.
std::filesystem::path find_preprocess_config(const std::filesystem::path& model_dir, bool video);

// Resizes one RGB image into `out` (out_h * out_w * 3 bytes, packed).
void resize_rgb(const RgbImageView& image, int64_t out_h, int64_t out_w, Resample filter,
                ResizeArithmetic arithmetic, uint8_t* out);

// Frames -> [F, 3, H, W] normalised pixels in `dtype` on `device`. `size_override` (> 0)
// replaces the configured size by size x size (adaptive-resolution clips). Frames are processed
// in parallel on the ATen thread pool.
at::Tensor preprocess_frames(std::span<const RgbImageView> frames, const PreprocessConfig& config,
                             at::ScalarType dtype, at::Device device, int64_t size_override = 0);

}  // namespace clipmind::models
