// Conformance of the LLaVA-OneVision vision path with what Hugging Face transformers computed
// for the tiny model in tests/data/vlm-golden/llava-onevision-tiny (see its README): every stage
// from the stored input of that stage, within atol 1e-4, loaded through the same code path as a
// user's folder; plus the checkpoint spellings the README lists.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/models/support/golden_fixture.h"
#include "tests/support/error_message.h"
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/npy.h"
#include "models/vision/image_preprocess.h"
#include "models/vision/projector.h"
#include "models/vision/siglip_vision.h"
#include "models/vision/video_encoder.h"
#include "models/weights/checkpoint.h"
#include "models/weights/json_file.h"
#include "models/weights/safetensors.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;

constexpr double kAtol = test::kGoldenAtol;
using test::max_abs_diff;

fs::path golden_dir() {
  return test::vlm_golden_dir("llava-onevision-tiny");
}

at::Tensor golden(const std::string& name) {
  return test::read_golden_tensor(golden_dir(), name);
}

class VisionGolden : public test::GoldenSuite<LlavaVisionEncoder> {
 protected:
  static void SetUpTestSuite() { load(golden_dir()); }
};

TEST_F(VisionGolden, ConfigFollowsTheContract) {
  const LlavaVisionConfig& c = model_->config();
  EXPECT_EQ(c.vision.hidden_size, 32);
  EXPECT_EQ(c.vision.num_layers, 2);
  EXPECT_EQ(c.vision.grid(), 7);
  EXPECT_EQ(c.vision.hidden_act, GeluKind::kTanh);
  EXPECT_DOUBLE_EQ(c.vision.layer_norm_eps, 1e-6);
  EXPECT_EQ(c.resolved_feature_layers(), std::vector<int64_t>{2});
  EXPECT_FALSE(c.drop_first_token);
  EXPECT_EQ(c.projector_act, GeluKind::kErf);
  EXPECT_EQ(c.video_token_id, 511);
  EXPECT_EQ(c.image_token_id, 510);
  EXPECT_EQ(model_->llm_hidden(), 64);
  EXPECT_EQ(model_->preprocess_config().height, 28);
  EXPECT_EQ(model_->preprocess_config().resample, Resample::kBicubic);
  EXPECT_TRUE(model_->preprocess_config().source.ends_with("video_preprocessor_config.json"));
}

TEST_F(VisionGolden, VisionHiddenStatesMatchWithoutPostLayernorm) {
  const VisionOutput out = model_->features(golden("pixel_values_videos"), false);
  EXPECT_LE(max_abs_diff(out.features, golden("vision_hidden_last")), kAtol);
  EXPECT_EQ(out.grid_h, 7);
  EXPECT_EQ(out.grid_w, 7);
  // The trap: the same output after post_layernorm is the other fixture, far from ours.
  EXPECT_GT(max_abs_diff(out.features, golden("vision_post_layernorm")), 0.1);
}

TEST_F(VisionGolden, PostLayernormMatchesItsOwnFixture) {
  const Checkpoint checkpoint = Checkpoint::open(golden_dir(), llava_onevision_rewrites());
  VisionTowerLoad load;
  load.post_layernorm = true;
  const SiglipVisionTower tower(checkpoint, "vision_tower.vision_model.", model_->config().vision,
                                load);
  VisionRequest request;
  request.layers = {2};
  request.post_layernorm = true;
  const VisionOutput out = tower.forward(golden("pixel_values_videos"), request);
  EXPECT_LE(max_abs_diff(out.features, golden("vision_post_layernorm")), kAtol);
  // post_layernorm is refused for anything but last_hidden_state.
  request.layers = {1};
  EXPECT_THROW(tower.forward(golden("pixel_values_videos"), request), Error);
}

TEST_F(VisionGolden, ProjectorMatches) {
  const at::Tensor projected = model_->project(golden("vision_hidden_last"));
  EXPECT_LE(max_abs_diff(projected, golden("projected")), kAtol);
}

TEST_F(VisionGolden, PoolingMatches) {
  const at::Tensor pooled = pool_token_grid(golden("projected"), 7, 7, 4, 4);
  EXPECT_LE(max_abs_diff(pooled, golden("pooled")), kAtol);
}

TEST_F(VisionGolden, VideoEmbeddingHasOneNewlineAtTheEnd) {
  const at::Tensor embeds = model_->video_embedding(golden("pooled"));
  EXPECT_LE(max_abs_diff(embeds, golden("video_embeds")), kAtol);
  EXPECT_EQ(embeds.size(0), 65);
}

TEST_F(VisionGolden, WholePathFromPixelsInMicroBatches) {
  // Micro-batches of 3 frames (not a divisor of 4) must not change anything.
  VideoEncodeOptions options;
  options.micro_batch = 3;
  std::vector<int64_t> progress;
  options.progress = [&](const ProgressEvent& e) {
    EXPECT_EQ(e.stage, "encode");
    EXPECT_EQ(e.total, 4);
    progress.push_back(e.done);
  };
  const std::vector<double> times = {0.0, 0.5, 1.0, 1.5};
  const VisualTokens tokens = model_->encode_pixels(golden("pixel_values_videos"), times, options);
  EXPECT_EQ(tokens.grid, 4);
  EXPECT_LE(max_abs_diff(tokens.tokens, golden("pooled")), kAtol);
  EXPECT_LE(max_abs_diff(model_->video_embedding(tokens.tokens), golden("video_embeds")), kAtol);
  EXPECT_EQ(tokens.times, times);
  EXPECT_EQ(progress, (std::vector<int64_t>{3, 4}));
  ASSERT_TRUE(tokens.attention.defined());
  EXPECT_EQ(tokens.attention.sizes(), (at::IntArrayRef{4, 16}));
}

TEST_F(VisionGolden, CancellationStopsBetweenMicroBatches) {
  VideoEncodeOptions options;
  options.micro_batch = 1;
  int batches = 0;
  options.progress = [&](const ProgressEvent&) {
    if (++batches == 2) options.cancel.request();
  };
  EXPECT_THROW(model_->encode_pixels(golden("pixel_values_videos"), {}, options), Cancelled);
  EXPECT_EQ(batches, 2);
}

// HoliTom's A, recomputed naively from the unfused checkpoint weights: the last layer's
// attention probabilities, head by head, averaged over heads and queries.
TEST_F(VisionGolden, AttentionIsTheLastLayersMeanAttention) {
  const at::Tensor pixels = golden("pixel_values_videos");
  const VisionOutput out = model_->features(pixels, true);
  ASSERT_TRUE(out.attention.defined());
  ASSERT_EQ(out.attention.sizes(), (at::IntArrayRef{4, 49}));
  // Each frame's A sums to 1 (mean of probability rows).
  EXPECT_LE(max_abs_diff(out.attention.sum(1), at::ones({4})), 1e-5);

  // Input of the last layer: hidden_states[1] from a tower that stops there.
  const at::Tensor expected =
      test::naive_mean_attention(golden_dir(), model_->config().vision, pixels, 1);
  EXPECT_LE(max_abs_diff(out.attention, expected), 1e-6);
}

TEST(VisionPooling, BilinearSourceCoordinatesOfTheContract) {
  // A ramp whose value is the row index: pooled row j must sit at the source coordinate
  // methods.md lists for 27 -> 14 (align_corners=false, clamped at 0).
  const at::Tensor rows =
      at::arange(27, at::kFloat).view({27, 1}).expand({27, 27}).reshape({1, 729, 1});
  const at::Tensor pooled = pool_token_grid(rows, 27, 27, 14, 14).view({14, 14});
  const double expected[14] = {0.4643,  2.3929,  4.3214,  6.25,  8.1786,  10.1071, 12.0357,
                               13.9643, 15.8929, 17.8214, 19.75, 21.6786, 23.6071, 25.5357};
  for (int j = 0; j < 14; ++j) {
    EXPECT_NEAR(pooled[j][0].item<double>(), expected[j], 1e-4) << "row " << j;
    EXPECT_NEAR(pooled[j][13].item<double>(), expected[j], 1e-4) << "row " << j;
  }
  // Identity at the input size; smaller grids allowed, larger refused.
  const at::Tensor t = at::randn({2, 49, 5});
  EXPECT_TRUE(at::equal(pool_token_grid(t, 7, 7, 7, 7), t));
  EXPECT_EQ(pool_token_grid(t, 7, 7, 2, 2).sizes(), (at::IntArrayRef{2, 4, 5}));
  EXPECT_THROW(pool_token_grid(t, 7, 7, 8, 8), Error);
  EXPECT_EQ(default_pooled_grid(27), 14);
  EXPECT_EQ(default_pooled_grid(7), 4);
}

TEST(VisionPositions, InterpolationIsTheIdentityAtTheTrainedSize) {
  const at::Tensor table = at::randn({729, 8});
  const at::Tensor same = interpolate_position_embedding(table, 27, 27);
  EXPECT_LE((same - table).abs().max().item<double>(), 1e-6);
}

// Bicubic convolution weights (Keys, A = -0.75) computed by hand.
double cubic(double x) {
  const double a = -0.75;
  x = std::fabs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

TEST(VisionPositions, InterpolationToAnotherGridIsBicubic) {
  // Table = f(row, col) with random values; check one output position against a hand-written
  // separable bicubic with border clamping (align_corners=false: src = (i + 0.5) * in/out - 0.5).
  const int64_t g0 = 5;
  const at::Tensor table = at::randn({g0 * g0, 3}, at::kDouble);
  const int64_t gh = 3;
  const int64_t gw = 8;
  const at::Tensor out = interpolate_position_embedding(table, gh, gw);
  ASSERT_EQ(out.sizes(), (at::IntArrayRef{gh * gw, 3}));
  const auto acc = table.accessor<double, 2>();
  for (int64_t i = 0; i < gh; ++i) {
    for (int64_t j = 0; j < gw; ++j) {
      const double sy = (static_cast<double>(i) + 0.5) * g0 / gh - 0.5;
      const double sx = (static_cast<double>(j) + 0.5) * g0 / gw - 0.5;
      const auto y0 = static_cast<int64_t>(std::floor(sy));
      const auto x0 = static_cast<int64_t>(std::floor(sx));
      for (int64_t c = 0; c < 3; ++c) {
        double v = 0;
        for (int64_t dy = -1; dy <= 2; ++dy) {
          for (int64_t dx = -1; dx <= 2; ++dx) {
            const int64_t yy = std::clamp<int64_t>(y0 + dy, 0, g0 - 1);
            const int64_t xx = std::clamp<int64_t>(x0 + dx, 0, g0 - 1);
            v += cubic(sy - static_cast<double>(y0 + dy)) *
                 cubic(sx - static_cast<double>(x0 + dx)) * acc[yy * g0 + xx][c];
          }
        }
        EXPECT_NEAR(out[i * gw + j][c].item<double>(), v, 1e-5) << i << "," << j << "," << c;
      }
    }
  }
}

// Preprocessing from frames_uint8.npy against transformers' pixel_values_videos.npy. Resize
// kernels differ between libraries, so the contract allows 0.05; report what we get.
TEST_F(VisionGolden, PreprocessingFromUint8FramesIsClose) {
  const NpyArray frames = read_npy(golden_dir() / "frames_uint8.npy");
  ASSERT_EQ(frames.shape, (std::vector<int64_t>{4, 30, 44, 3}));
  const auto bytes = frames.values<uint8_t>();
  std::vector<RgbImageView> views;
  for (int f = 0; f < 4; ++f)
    views.push_back({bytes.data() + f * 30 * 44 * 3, 30, 44, 0});
  const at::Tensor reference = golden("pixel_values_videos");
  PreprocessConfig config = model_->preprocess_config();
  for (const auto arithmetic : {ResizeArithmetic::kPillow8Bit, ResizeArithmetic::kFloat}) {
    config.arithmetic = arithmetic;
    const at::Tensor ours = preprocess_frames(views, config, at::kFloat, at::kCPU);
    const double diff = max_abs_diff(ours, reference);
    const double mean = (ours - reference).abs().mean().item<double>();
    const int64_t off = (ours - reference).abs().gt(1e-3).sum().item<int64_t>();
    std::printf("[ preprocess ] %s: max |diff| %.6f, mean %.7f, %lld of %lld values differ\n",
                arithmetic == ResizeArithmetic::kPillow8Bit ? "pillow-8bit" : "float", diff, mean,
                static_cast<long long>(off), static_cast<long long>(ours.numel()));
    EXPECT_LT(diff, 0.05);
    if (arithmetic == ResizeArithmetic::kPillow8Bit) {
      // Pillow's arithmetic is our default: at most one uint8 step (2/255) on a handful of values.
      EXPECT_LE(diff, 2.0 / 255.0 + 1e-6);
      EXPECT_LE(off, 10);
    }
  }
  // The whole path from uint8 frames stays close to the fixture's pooled tokens too.
  const VisualTokens tokens = model_->encode(views, {});
  std::printf("[ preprocess ] pooled tokens from uint8 frames: max |diff| %.6f\n",
              max_abs_diff(tokens.tokens, golden("pooled")));
}

TEST(VisionPreprocess, FramesAlreadyAtTheModelSizeAreNotResampled) {
  PreprocessConfig config;
  config.height = config.width = 4;
  config.mean = {0.5, 0.25, 0.0};
  config.std = {0.5, 0.5, 1.0};
  std::vector<uint8_t> pixels(4 * 4 * 3);
  for (size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<uint8_t>(i * 5);
  // A padded row stride must be honoured.
  std::vector<uint8_t> strided(4 * 16, 0);
  for (int y = 0; y < 4; ++y)
    std::copy_n(&pixels[static_cast<size_t>(y * 12)], 12, &strided[static_cast<size_t>(y * 16)]);
  const RgbImageView view{strided.data(), 4, 4, 16};
  const at::Tensor out = preprocess_frames({&view, 1}, config, at::kFloat, at::kCPU);
  ASSERT_EQ(out.sizes(), (at::IntArrayRef{1, 3, 4, 4}));
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) {
      for (int c = 0; c < 3; ++c) {
        const double v = pixels[static_cast<size_t>((y * 4 + x) * 3 + c)] / 255.0;
        const double expected =
            (v - config.mean[static_cast<size_t>(c)]) / config.std[static_cast<size_t>(c)];
        EXPECT_NEAR(out[0][c][y][x].item<double>(), expected, 1e-6);
      }
    }
  }
}

TEST(VisionPreprocess, ResizeOfAConstantImageIsConstantAndPillowRoundsLikePillow) {
  std::vector<uint8_t> flat(50 * 70 * 3, 137);
  std::vector<uint8_t> out(20 * 33 * 3);
  resize_rgb({flat.data(), 50, 70, 0}, 20, 33, Resample::kBicubic, ResizeArithmetic::kPillow8Bit,
             out.data());
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](uint8_t v) { return v == 137; }));
  // A 2x downscale of a 1-D step with the bilinear (triangle) filter: support 2 around
  // (x + 0.5) * 2, weights of input pixels 2x-1..2x+2 = 1/8, 3/8, 3/8, 1/8.
  std::vector<uint8_t> step(1 * 8 * 3);
  for (int x = 0; x < 8; ++x)
    for (int c = 0; c < 3; ++c)
      step[static_cast<size_t>(x * 3 + c)] = x < 4 ? 0 : 200;
  std::vector<uint8_t> half(4 * 3);
  resize_rgb({step.data(), 1, 8, 0}, 1, 4, Resample::kBilinear, ResizeArithmetic::kPillow8Bit,
             half.data());
  // Output 1 covers inputs 1..4 -> (0*1 + 0*3 + 0*3 + 200*1)/8 = 25; output 2 covers 3..6 -> 175.
  EXPECT_EQ(half[0], 0);
  EXPECT_EQ(half[3], 25);
  EXPECT_EQ(half[6], 175);
  EXPECT_EQ(half[9], 200);
}

TEST(VisionPreprocess, ConfigErrorsNameTheProblem) {
  const auto parse = [](const std::string& text) {
    return parse_preprocess_config(nlohmann::json::parse(text), "p.json");
  };
  EXPECT_NO_THROW(
      parse(R"({"size":{"height":384,"width":384},"image_mean":[0.5,0.5,0.5],"image_std":0.5})"));
  try {
    parse(R"({"size":{"height":384,"width":384},"image_std":[0.5,0.5,0.5]})");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("image_mean"), std::string::npos);
  }
  try {
    parse(R"({"size":{"height":384,"width":384},"resample":1,"image_mean":0.5,"image_std":0.5})");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  }
  EXPECT_THROW(parse(R"({"size":{"shortest_edge":384},"image_mean":0.5,"image_std":0.5})"), Error);
  EXPECT_THROW(parse(R"({"size":{"height":384,"width":384},"image_mean":[1,2],"image_std":0.5})"),
               Error);
}

// The README's other spellings of the same checkpoint: transformers 5 (`vision_tower.*` without
// `vision_model.`), transformers >= 4.52 (`model.*`, `lm_head.weight`), and a mix of them. Each
// is written as its own folder and loaded like a user's download.
fs::path respelled_copy(const std::string& name,
                        const std::function<std::string(const std::string&)>& rename) {
  const fs::path dir = test::fresh_work_dir(fs::path("vision-golden") / name);
  const SafetensorsFile file(golden_dir() / "model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& info : file.tensors())
    tensors.emplace_back(rename(info.name), file.load(info, at::ScalarType::Undefined));
  test::write_checkpoint_copy(golden_dir(), dir, tensors,
                              {"config.json", "video_preprocessor_config.json"});
  return dir;
}

std::string replace_prefix(const std::string& name, const std::string& from,
                           const std::string& to) {
  return name.starts_with(from) ? to + name.substr(from.size()) : name;
}

TEST(VisionCheckpointSpellings, EveryLayoutGivesTheSamePooledTokens) {
  const at::Tensor pixels = golden("pixel_values_videos");
  const at::Tensor pooled = golden("pooled");
  const std::vector<std::pair<std::string, std::function<std::string(const std::string&)>>> cases =
      {
          {"transformers5",
           [](const std::string& n) {
             return replace_prefix(n, "vision_tower.vision_model.", "vision_tower.");
           }},
          {"new-layout",
           [](const std::string& n) {
             std::string m = replace_prefix(n, "vision_tower.", "model.vision_tower.");
             m = replace_prefix(m, "multi_modal_projector.", "model.multi_modal_projector.");
             m = replace_prefix(m, "image_newline", "model.image_newline");
             m = replace_prefix(m, "language_model.model.", "model.language_model.");
             return replace_prefix(m, "language_model.lm_head.", "lm_head.");
           }},
          {"mixed",
           [](const std::string& n) {
             if (n.find("layers.0.") != std::string::npos)
               return replace_prefix(n, "vision_tower.vision_model.", "model.vision_tower.");
             return replace_prefix(n, "multi_modal_projector.", "model.multi_modal_projector.");
           }},
      };
  for (const auto& [name, rename] : cases) {
    SCOPED_TRACE(name);
    const LlavaVisionEncoder encoder = LlavaVisionEncoder::load(respelled_copy(name, rename));
    const VisualTokens tokens = encoder.encode_pixels(pixels, {});
    EXPECT_LE(max_abs_diff(tokens.tokens, pooled), kAtol);
    EXPECT_LE(max_abs_diff(encoder.video_embedding(tokens.tokens), golden("video_embeds")), kAtol);
  }
}

// Writes `tensors` with the fixture's configs into `dir`; the error loading that folder gives
// ("<no error>" when it loads).
std::string load_error_of_copy(const fs::path& dir,
                               const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  test::write_checkpoint_copy(golden_dir(), dir, tensors,
                              {"config.json", "video_preprocessor_config.json"});
  return test::error_message([&] { (void)LlavaVisionEncoder::load(dir); });
}

TEST(VisionCheckpointSpellings, ATensorStoredTwiceIsRefused) {
  const fs::path dir = test::fresh_work_dir("vision-golden/twice");
  const SafetensorsFile file(golden_dir() / "model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& info : file.tensors())
    tensors.emplace_back(info.name, file.load(info, at::ScalarType::Undefined));
  tensors.emplace_back("model.image_newline", file.load("image_newline"));
  const std::string what = load_error_of_copy(dir, tensors);
  EXPECT_NE(what.find("image_newline"), std::string::npos) << what;
}

TEST(VisionCheckpointSpellings, MissingAndMisshapedTensorsAreListed) {
  const fs::path dir = test::fresh_work_dir("vision-golden/broken");
  const SafetensorsFile file(golden_dir() / "model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& info : file.tensors()) {
    if (info.name == "multi_modal_projector.linear_2.bias") continue;
    at::Tensor t = file.load(info, at::ScalarType::Undefined);
    if (info.name == "vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight")
      t = t.slice(0, 0, 10);
    tensors.emplace_back(info.name, t);
  }
  const std::string what = load_error_of_copy(dir, tensors);
  EXPECT_NE(what.find("multi_modal_projector.linear_2.bias"), std::string::npos) << what;
  EXPECT_NE(what.find("layers.1.mlp.fc1.weight"), std::string::npos) << what;
  // A folder without a video processor config (or preprocessor_config.json) is refused.
  fs::remove(dir / "video_preprocessor_config.json");
  EXPECT_THROW((void)read_preprocess_config(dir, true), Error);
}

TEST(VisionContract, RealLlavaOnevisionNamesAndShapes) {
  LlavaVisionConfig config;
  config.vision = llava_onevision_default_vision_config();
  const std::vector<TensorSpec> specs = llava_vision_specs(config, 896);
  const auto shape_of = [&](const std::string& name) {
    for (const auto& s : specs)
      if (s.name == name) return s.shape;
    ADD_FAILURE() << "no spec " << name;
    return std::vector<int64_t>{};
  };
  const std::string v = "vision_tower.vision_model.";
  EXPECT_EQ(shape_of(v + "embeddings.patch_embedding.weight"),
            (std::vector<int64_t>{1152, 3, 14, 14}));
  EXPECT_EQ(shape_of(v + "embeddings.position_embedding.weight"),
            (std::vector<int64_t>{729, 1152}));
  EXPECT_EQ(shape_of(v + "encoder.layers.25.mlp.fc1.weight"), (std::vector<int64_t>{4304, 1152}));
  EXPECT_EQ(shape_of(v + "encoder.layers.25.self_attn.out_proj.bias"),
            (std::vector<int64_t>{1152}));
  EXPECT_EQ(shape_of("multi_modal_projector.linear_1.weight"), (std::vector<int64_t>{896, 1152}));
  EXPECT_EQ(shape_of("multi_modal_projector.linear_2.weight"), (std::vector<int64_t>{896, 896}));
  EXPECT_EQ(shape_of("image_newline"), (std::vector<int64_t>{896}));
  for (const auto& s : specs) {
    EXPECT_EQ(s.name.find("encoder.layers.26."), std::string::npos);
    EXPECT_EQ(s.name.find(".head."), std::string::npos);
  }
  // 26 layers x 16 tensors + embeddings 3 + post_layernorm 2 + projector 4 + newline 1.
  EXPECT_EQ(specs.size(), 26u * 16u + 3u + 2u + 4u + 1u);
  EXPECT_EQ(config.resolved_feature_layers(), std::vector<int64_t>{26});
}

TEST(VisionContract, ConfigVariants) {
  // transformers' default vision tower when vision_config is absent, token ids spelled *_id,
  // a feature-layer list, and the rejected select strategies.
  const auto parse = [](const std::string& text) {
    return parse_llava_vision_config(nlohmann::json::parse(text), "c.json");
  };
  LlavaVisionConfig c =
      parse(R"({"model_type":"llava_onevision","image_token_id":7,"video_token_id":8,
                                  "vision_feature_layer":[-2,-1]})");
  EXPECT_EQ(c.vision.num_layers, 26);
  EXPECT_EQ(c.vision.hidden_size, 1152);
  EXPECT_EQ(c.image_token_id, 7);
  EXPECT_EQ(c.video_token_id, 8);
  EXPECT_EQ(c.resolved_feature_layers(), (std::vector<int64_t>{25, 26}));
  EXPECT_THROW(parse(R"({"vision_feature_layer":-30})"), Error);
  EXPECT_THROW(parse(R"({"vision_feature_select_strategy":"cls"})"), Error);
  EXPECT_THROW(parse(R"({"vision_config":{"hidden_act":"relu"}})"), Error);
  c = parse(
      R"({"vision_config":{"hidden_size":64,"num_attention_heads":4,"image_size":56,"patch_size":14}})");
  EXPECT_EQ(c.vision.grid(), 4);
  EXPECT_EQ(c.vision.intermediate_size, 4304);  // the LLaVA default tower fills the gaps
}

}  // namespace
}  // namespace clipmind::models
