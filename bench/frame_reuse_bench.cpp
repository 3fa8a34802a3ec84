// frame_reuse_bench: how close are the tokens the encode stage reuses (pipeline/encode_stage.h,
// encode.reuse_psnr_db) to the tokens the tower would have made? One decoded frame of a real
// video at the tower's input size, copies of it with deterministic Gaussian noise at several
// PSNRs (50 dB is the default threshold), all through the real-size random LLaVA-OneVision
// vision path; prints, per copy, the PSNR and the cosine similarity of its tokens to the
// original's (mean and minimum over tokens), plus a different frame of the same video for
// scale. Also the tower time per frame, i.e. what one reuse saves.
//
//   bench/frame_reuse_bench [model_dir] [video] [time_s] [other_time_s]
//
// Defaults: CLIPMIND_BENCH_WORK_DIR/llava-onevision-real-0.5b (made by pipeline_bench or
// `clipmind make-tiny-model --arch llava-onevision --dims real-0.5b`), the opencv-doc
// Megamind.avi at 5 s and 9 s.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "decode/frame_sampler.h"
#include "models/vision/video_encoder.h"
#include "pipeline/encode_stage.h"

namespace fs = std::filesystem;
using namespace clipmind;

namespace {

std::vector<uint8_t> with_noise(const std::vector<uint8_t>& rgb, double sigma, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> noise(0.0, sigma);
  std::vector<uint8_t> out(rgb.size());
  for (size_t k = 0; k < rgb.size(); ++k) {
    const double v = std::round(static_cast<double>(rgb[k]) + noise(gen));
    out[k] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const fs::path model = argc > 1
                               ? fs::path(argv[1])
                               : fs::path(CLIPMIND_BENCH_WORK_DIR) / "llava-onevision-real-0.5b";
    const fs::path video = argc > 2
                               ? fs::path(argv[2])
                               : fs::path("/usr/share/doc/opencv-doc/examples/data/Megamind.avi");
    const double t0 = argc > 3 ? std::stod(argv[3]) : 5.0;
    const double t1 = argc > 4 ? std::stod(argv[4]) : 9.0;
    at::set_num_threads(2);
    const models::LlavaVisionEncoder encoder = models::LlavaVisionEncoder::load(model);
    const int64_t size = encoder.preprocess_config().height;

    decode::SamplerOptions so;
    so.width = static_cast<int>(encoder.preprocess_config().width);
    so.height = static_cast<int>(size);
    so.resize = decode::Resize::kExact;
    decode::FrameSampler sampler(video, {t0, t1}, so);
    std::vector<decode::Frame> frames;
    while (auto s = sampler.next())
      frames.push_back(std::move(s->frame));
    if (frames.size() != 2) {
      std::fprintf(stderr, "frame_reuse_bench: could not decode 2 frames of %s\n", video.c_str());
      return 1;
    }

    // sigma ~ 0.8 levels gives ~50 dB (MSE ~ 0.65 after rounding).
    const std::vector<double> sigmas = {0.8, 1.6, 3.2, 8.0};
    std::vector<std::vector<uint8_t>> pictures = {frames[0].rgb};
    for (size_t k = 0; k < sigmas.size(); ++k)
      pictures.push_back(with_noise(frames[0].rgb, sigmas[k], 1234u + static_cast<uint32_t>(k)));
    pictures.push_back(frames[1].rgb);

    std::vector<models::RgbImageView> views;
    for (const auto& p : pictures)
      views.push_back({p.data(), frames[0].height, frames[0].width, 0});
    models::VideoEncodeOptions eo;
    eo.micro_batch = 1;  // one frame per tower call, as the timing says per frame
    eo.attention = true;
    const auto start = std::chrono::steady_clock::now();
    const models::VisualTokens out = encoder.encode(views, {}, eo);
    const double per_frame =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
        static_cast<double>(views.size());

    const at::Tensor ref = out.tokens[0].to(at::kFloat);
    std::printf("model %s, input %lldx%lld, grid %lld, video %s @ %.2fs\n", model.c_str(),
                static_cast<long long>(size), static_cast<long long>(size),
                static_cast<long long>(out.grid), video.c_str(), t0);
    std::printf("%-22s %10s %12s %12s %12s\n", "picture", "psnr_db", "cos_mean", "cos_min",
                "reused@50dB");
    for (size_t k = 1; k < pictures.size(); ++k) {
      const at::Tensor other = out.tokens[static_cast<int64_t>(k)].to(at::kFloat);
      const at::Tensor cos = at::cosine_similarity(ref, other, 1);
      const double psnr = pipeline::picture_psnr_db(pictures[0], pictures[k]);
      const std::string name = k < pictures.size() - 1
                                   ? "noise sigma " + std::to_string(sigmas[k - 1]).substr(0, 4)
                                   : "other frame @" + std::to_string(t1).substr(0, 4) + "s";
      std::printf("%-22s %10.2f %12.6f %12.6f %12s\n", name.c_str(), psnr,
                  cos.mean().item<double>(), cos.min().item<double>(),
                  pipeline::same_picture(pictures[0], pictures[k], 50.0) ? "yes" : "no");
    }
    std::printf("tower+projector per frame: %.2f s (what each reuse saves)\n", per_frame);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "frame_reuse_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
