// Tiny SigLIP folders written by the project (make-tiny-model's siglip / siglip-dual writers):
// they load through the same code paths as published checkpoints, embed real text and frames,
// and are reproducible from a seed.
#include "models/vlm/tiny_vlm.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "clipmind/progress.h"
#include "models/siglip/dual_encoder.h"
#include "models/tiny/tiny_model.h"
#include "models/vision/siglip_vision_model.h"
#include "models/vlm/llava_onevision.h"
#include "models/weights/checkpoint.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;

fs::path fresh(const std::string& name) {
  const fs::path dir = fs::path(CLIPMIND_TEST_WORK_DIR) / "tiny-vlm" / name;
  fs::remove_all(dir);
  return dir;
}

std::string bytes_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A synthetic RGB frame: a gradient plus a bright square at (x0, y0).
std::vector<uint8_t> frame(int h, int w, int x0, int y0) {
  std::vector<uint8_t> px(static_cast<size_t>(h * w * 3));
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const bool square = x >= x0 && x < x0 + 8 && y >= y0 && y < y0 + 8;
      uint8_t* p = &px[static_cast<size_t>((y * w + x) * 3)];
      p[0] = square ? 250 : static_cast<uint8_t>(x * 255 / w);
      p[1] = square ? 240 : static_cast<uint8_t>(y * 255 / h);
      p[2] = static_cast<uint8_t>((x + y) % 256);
    }
  }
  return px;
}

TEST(TinySiglip, DualEncoderFolderEmbedsTextsAndFrames) {
  const fs::path dir = fresh("dual");
  write_tiny_siglip_dual(dir, "tiny", 7);
  for (const char* f : {"config.json", "model.safetensors", "preprocessor_config.json",
                        "spiece.model", "tokenizer_config.json"}) {
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  }
  const SiglipDualEncoder model = SiglipDualEncoder::load(dir);
  ASSERT_TRUE(model.has_tokenizer());
  EXPECT_EQ(model.tokenizer().max_length(), 16);
  EXPECT_EQ(model.tokenizer().eos_id(), 1);

  const std::vector<std::string> texts = {"a dog runs on the road", "A picture of an apple!", ""};
  const at::Tensor t = model.embed_texts(texts);
  ASSERT_EQ(t.sizes(), (at::IntArrayRef{3, 32}));
  EXPECT_LE((t.norm(2, {1}) - 1).abs().max().item<double>(), 1e-5);
  // Same text, same ids, same embedding; canonicalisation makes case and punctuation irrelevant.
  const std::vector<std::string> variants = {"a picture of an apple", "A PICTURE, of an apple"};
  const at::Tensor v = model.embed_texts(variants);
  EXPECT_LE((v[0] - v[1]).abs().max().item<double>(), 1e-6);
  EXPECT_LE((v[0] - t[1]).abs().max().item<double>(), 1e-6);

  const auto a = frame(40, 60, 5, 5);
  const auto b = frame(28, 28, 12, 3);  // already at the model size: no resampling
  const std::vector<RgbImageView> frames = {{a.data(), 40, 60, 0}, {b.data(), 28, 28, 0}};
  const at::Tensor images = model.embed_images(frames);
  ASSERT_EQ(images.sizes(), (at::IntArrayRef{2, 32}));
  EXPECT_LE((images.norm(2, {1}) - 1).abs().max().item<double>(), 1e-5);
  const at::Tensor logits = model.logits(images, t);
  ASSERT_EQ(logits.sizes(), (at::IntArrayRef{2, 3}));
  // logit = cos * exp(scale) + bias, with |cos| <= 1.
  const at::Tensor cos = at::matmul(images, t.t());
  EXPECT_LE((logits - (cos * model.logit_scale() + model.logit_bias())).abs().max().item<double>(),
            1e-4);
  const at::Tensor p = model.probabilities(images, t);
  EXPECT_TRUE(p.ge(0).all().item<bool>() && p.le(1).all().item<bool>());
}

TEST(TinySiglip, SameSeedSameBytesOtherSeedOtherWeights) {
  const fs::path a = fresh("seed-a");
  const fs::path b = fresh("seed-b");
  const fs::path c = fresh("seed-c");
  write_tiny_siglip_dual(a, "tiny", 3);
  write_tiny_siglip_dual(b, "tiny", 3);
  write_tiny_siglip_dual(c, "tiny", 4);
  EXPECT_EQ(bytes_of(a / "model.safetensors"), bytes_of(b / "model.safetensors"));
  EXPECT_EQ(bytes_of(a / "spiece.model"), bytes_of(b / "spiece.model"));
  EXPECT_NE(bytes_of(a / "model.safetensors"), bytes_of(c / "model.safetensors"));
  EXPECT_THROW(write_tiny_siglip_dual(fresh("bad"), "huge", 1), Error);
}

TEST(TinySiglip, VisionOnlyFolderLoadsAndPools) {
  const fs::path dir = fresh("vision");
  write_tiny_siglip_vision(dir, "tiny", 1);
  const SiglipVisionModel model = load_siglip_vision_model(dir);
  EXPECT_EQ(model.config.grid(), 7);
  EXPECT_EQ(model.preprocess.height, 28);
  const auto px = frame(28, 28, 4, 4);
  const RgbImageView view{px.data(), 28, 28, 0};
  const at::Tensor pixels = preprocess_frames({&view, 1}, model.preprocess, at::kFloat, at::kCPU);
  EXPECT_EQ(model.tower.pooled(pixels).sizes(), (at::IntArrayRef{1, 32}));
  // Another resolution (adaptive-resolution clips): 44 px -> an 11x11 grid with interpolated
  // position embeddings.
  VisionRequest request;
  request.layers = {2};
  request.attention = true;
  const VisionOutput out = model.tower.forward(at::randn({2, 3, 44, 44}), request);
  EXPECT_EQ(out.grid_h, 11);
  EXPECT_EQ(out.features.sizes(), (at::IntArrayRef{2, 121, 32}));
  EXPECT_LE((out.attention.sum(1) - 1).abs().max().item<double>(), 1e-5);
}

// make-tiny-model --arch llava-onevision: the folder loads like llava-hf's, frames become 4x4
// pooled tokens (7x7 patches), and a video question generates through the chat template.
TEST(TinyLlava, FolderLoadsEncodesAndGenerates) {
  const fs::path dir = fresh("llava");
  write_tiny_model("llava-onevision", dir, {});
  const LlavaOnevision model = LlavaOnevision::load(dir);
  ASSERT_TRUE(model.has_tokenizer());
  EXPECT_EQ(model.video_token_id(), model.tokenizer().token_id("<video>").value_or(-1));
  const auto a = frame(40, 60, 4, 4);
  const auto b = frame(40, 60, 40, 20);
  const std::vector<RgbImageView> frames = {{a.data(), 40, 60, 0}, {b.data(), 40, 60, 0}};
  const std::vector<double> times = {0.5, 1.5};
  const VisualTokens v = model.vision().encode(frames, times);
  EXPECT_EQ(v.tokens.sizes(), (at::IntArrayRef{2, 16, model.hidden_size()}));
  EXPECT_FALSE(at::allclose(v.tokens[0], v.tokens[1]));

  VisualBlock block;
  block.tokens = v.tokens.reshape({-1, model.hidden_size()});
  block.t_begin = 0.5;
  block.t_end = 1.5;
  const std::vector<VlmMessage> chat = {
      {"user", {PromptPart::make_visual(block), PromptPart::make_text("What happens?")}}};
  const AssembledPrompt prompt = model.assemble(chat);
  // 32 visual rows + image_newline, all marked with the video placeholder.
  EXPECT_EQ(std::count(prompt.ids.begin(), prompt.ids.end(), model.video_token_id()), 33);
  GenerationOptions options;
  options.max_new_tokens = 6;
  const GenerationResult result = model.generate(prompt, options);
  EXPECT_GE(result.ids.size(), 1u);
  EXPECT_LE(result.ids.size(), 6u);
  EXPECT_EQ(result.prompt_tokens, prompt.length());
}

// A load that is cancelled stops at the next tensor (what lets the GUI quit while a model of
// several gigabytes loads): a checkpoint loads tensors until its token is requested, then
// throws Cancelled; the VLM and SigLIP loaders pass their token to their checkpoint.
TEST(TinyLlava, LoadingStopsBetweenTensorsWhenCancelled) {
  const fs::path dir = fresh("llava-cancel");
  write_tiny_model("llava-onevision", dir, {});
  CancelToken cancel;
  Checkpoint checkpoint = Checkpoint::open(dir);
  checkpoint.cancel_with(cancel);
  const std::vector<std::string> names = checkpoint.names();
  ASSERT_GE(names.size(), 2u);
  EXPECT_TRUE(checkpoint.load(names[0]).defined());
  cancel.request();
  EXPECT_THROW(checkpoint.load(names[1]), Cancelled);

  VlmLoadOptions options;
  options.cancel.request();
  EXPECT_THROW(LlavaOnevision::load(dir, options), Cancelled);
  EXPECT_NO_THROW(LlavaOnevision::load(dir));

  const fs::path dual = fresh("dual-cancel");
  write_tiny_siglip_dual(dual, "tiny", 7);
  EXPECT_THROW(SiglipDualEncoder::load(dual, {}, cancel), Cancelled);
  EXPECT_NO_THROW(SiglipDualEncoder::load(dual));
}

// The writer refuses to overwrite a folder that has files in it.
TEST(TinyLlava, RefusesNonEmptyFolder) {
  const fs::path dir = fresh("llava-existing");
  fs::create_directories(dir);
  std::ofstream(dir / "keep.txt") << "mine";
  EXPECT_THROW(write_tiny_model("llava-onevision", dir, {}), Error);
  EXPECT_TRUE(fs::exists(dir / "keep.txt"));
}

}  // namespace
}  // namespace clipmind::models
