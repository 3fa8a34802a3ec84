// Cancellation inside the SigLIP towers: the CancelToken is checked before every encoder layer,
// so a cancel requested while a layer runs stops the forward pass before the next layer, not
// after the whole tower (issue 7, "cancellation within a second"). Layers are counted through
// the encoder's own hooks; no timing is measured.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "clipmind/progress.h"
#include "models/siglip/dual_encoder.h"
#include "models/tiny/tiny_model.h"
#include "models/vision/siglip_encoder.h"
#include "models/vision/video_encoder.h"
#include "models/vlm/tiny_vlm.h"
#include "models/weights/checkpoint.h"
#include "models/weights/safetensors.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kLayers = 5;

fs::path fresh(const std::string& name) {
  const fs::path dir = fs::path(CLIPMIND_TEST_WORK_DIR) / "vision-cancel" / name;
  fs::remove_all(dir);
  return dir;
}

SiglipEncoderShape small_shape() {
  SiglipEncoderShape shape;
  shape.hidden_size = 16;
  shape.intermediate_size = 32;
  shape.num_layers = kLayers;
  shape.num_heads = 2;
  return shape;
}

// A 5-layer encoder with random weights, written as safetensors and loaded like a checkpoint.
class EncoderCancel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path dir = fresh("encoder");
    fs::create_directories(dir);
    at::manual_seed(3);
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const TensorSpec& spec : siglip_encoder_specs("encoder.", small_shape()))
      tensors.emplace_back(spec.name, at::randn(spec.shape) * 0.2);
    write_safetensors(dir / "model.safetensors", tensors);
    const Checkpoint checkpoint = Checkpoint::open_file(dir / "model.safetensors");
    encoder_ =
        new SiglipEncoder(checkpoint, "encoder.", small_shape(), kLayers, at::kFloat, at::kCPU);
  }
  static void TearDownTestSuite() {
    delete encoder_;
    encoder_ = nullptr;
  }
  static at::Tensor input() {
    at::manual_seed(11);
    return at::randn({2, 9, 16});
  }
  static SiglipEncoder* encoder_;
};
SiglipEncoder* EncoderCancel::encoder_ = nullptr;

// The token is requested right after layer k finishes (from the recorder, which sees
// hidden_states[k + 1]); the check before layer k + 1 must throw, so exactly k + 1 layers ran.
TEST_F(EncoderCancel, StopsBeforeTheLayerAfterTheRequest) {
  for (int64_t k = 0; k + 1 < kLayers; ++k) {
    CancelToken token;
    std::vector<int64_t> finished;
    std::vector<int64_t> checked;
    const LayerCheck check =
        chain_checks([&](int64_t layer) { checked.push_back(layer); }, cancel_check(token));
    const auto record = [&](int64_t index, const at::Tensor&) {
      finished.push_back(index - 1);
      if (index - 1 == k) token.request();
    };
    EXPECT_THROW(encoder_->forward(input(), kLayers, nullptr, record, check), Cancelled)
        << "k = " << k;
    std::vector<int64_t> expected_finished;
    for (int64_t i = 0; i <= k; ++i)
      expected_finished.push_back(i);
    EXPECT_EQ(finished, expected_finished) << "k = " << k;
    // Layers 0..k checked and ran; layer k + 1 was checked and refused.
    std::vector<int64_t> expected_checked = expected_finished;
    expected_checked.push_back(k + 1);
    EXPECT_EQ(checked, expected_checked) << "k = " << k;
  }
}

TEST_F(EncoderCancel, AnAlreadyCancelledTokenRunsNoLayer) {
  CancelToken token;
  token.request();
  int finished = 0;
  const auto record = [&](int64_t, const at::Tensor&) { ++finished; };
  EXPECT_THROW(encoder_->forward(input(), kLayers, nullptr, record, cancel_check(token)),
               Cancelled);
  EXPECT_EQ(finished, 0);
}

// An unrequested token lets every layer run, and checking changes nothing in the result; the
// caller's input tensor is left as it was even when a forward is cancelled.
TEST_F(EncoderCancel, UnrequestedTokenRunsEveryLayerAndChangesNothing) {
  const at::Tensor x = input();
  const at::Tensor before = x.clone();
  const at::Tensor plain = encoder_->forward(x, kLayers);
  CancelToken token;
  int checks = 0;
  const LayerCheck check = chain_checks([&](int64_t) { ++checks; }, cancel_check(token));
  const at::Tensor checked = encoder_->forward(x, kLayers, nullptr, {}, check);
  EXPECT_EQ(checks, kLayers);
  EXPECT_TRUE(at::equal(plain, checked));
  token.request();
  EXPECT_THROW(encoder_->forward(x, kLayers, nullptr, {}, check), Cancelled);
  EXPECT_TRUE(at::equal(x, before));
}

TEST(LayerChecks, ChainRunsBothInOrderAndEmptyStaysEmpty) {
  EXPECT_FALSE(static_cast<bool>(chain_checks({}, {})));
  std::vector<std::string> calls;
  const LayerCheck a = [&](int64_t l) { calls.push_back("a" + std::to_string(l)); };
  const LayerCheck b = [&](int64_t l) { calls.push_back("b" + std::to_string(l)); };
  chain_checks(a, b)(4);
  chain_checks(a, {})(5);
  chain_checks({}, b)(6);
  EXPECT_EQ(calls, (std::vector<std::string>{"a4", "b4", "a5", "b6"}));
}

// A synthetic RGB frame: a horizontal gradient.
std::vector<uint8_t> frame(int h, int w) {
  std::vector<uint8_t> px(static_cast<size_t>(h * w * 3));
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &px[static_cast<size_t>((y * w + x) * 3)];
      p[0] = static_cast<uint8_t>(x * 255 / w);
      p[1] = static_cast<uint8_t>(y * 255 / h);
      p[2] = static_cast<uint8_t>((x + y) % 256);
    }
  }
  return px;
}

class LlavaCancel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path dir = fresh("llava");
    write_tiny_model("llava-onevision", dir, {});
    encoder_ = new LlavaVisionEncoder(LlavaVisionEncoder::load(dir));
  }
  static void TearDownTestSuite() {
    delete encoder_;
    encoder_ = nullptr;
  }
  static LlavaVisionEncoder* encoder_;
};
LlavaVisionEncoder* LlavaCancel::encoder_ = nullptr;

// All frames fit in one micro-batch, so the only between-micro-batch check happens before the
// hook first runs: the Cancelled can only come from the check inside the tower.
TEST_F(LlavaCancel, TokenRequestedInTheFirstLayerCheckStopsEncode) {
  const auto a = frame(40, 60);
  const std::vector<RgbImageView> frames = {{a.data(), 40, 60, 0}, {a.data(), 40, 60, 0}};
  VideoEncodeOptions options;
  options.micro_batch = 4;
  std::vector<int64_t> layers;
  int progress = 0;
  options.before_layer = [&](int64_t layer) {
    layers.push_back(layer);
    options.cancel.request();
  };
  options.progress = [&](const ProgressEvent&) { ++progress; };
  EXPECT_THROW(encoder_->encode(frames, {}, options), Cancelled);
  EXPECT_EQ(layers, (std::vector<int64_t>{0}));
  EXPECT_EQ(progress, 0);

  // encode_varying takes the same path.
  CancelToken fresh_token;
  options.cancel = fresh_token;
  layers.clear();
  const std::vector<int64_t> grids = {2, 3};
  EXPECT_THROW(encoder_->encode_varying(frames, {}, grids, options), Cancelled);
  EXPECT_EQ(layers, (std::vector<int64_t>{0}));
  EXPECT_EQ(progress, 0);
}

// Requested in the check of the second layer: the first layer ran, the second did not, and no
// micro-batch completed. Without a request, every layer of every micro-batch is checked.
TEST_F(LlavaCancel, LaterLayerAndUncancelledRuns) {
  const auto a = frame(40, 60);
  const std::vector<RgbImageView> frames = {
      {a.data(), 40, 60, 0}, {a.data(), 40, 60, 0}, {a.data(), 40, 60, 0}};
  const int64_t layers_run = encoder_->config().vision.num_layers;  // feature layer -1
  ASSERT_GE(layers_run, 2);
  VideoEncodeOptions options;
  options.micro_batch = 2;
  std::vector<int64_t> layers;
  int progress = 0;
  options.progress = [&](const ProgressEvent&) { ++progress; };
  options.before_layer = [&](int64_t layer) { layers.push_back(layer); };
  const VisualTokens tokens = encoder_->encode(frames, {}, options);
  EXPECT_EQ(tokens.tokens.size(0), 3);
  EXPECT_EQ(static_cast<int64_t>(layers.size()), 2 * layers_run);  // two micro-batches
  EXPECT_EQ(progress, 2);

  layers.clear();
  progress = 0;
  options.before_layer = [&](int64_t layer) {
    layers.push_back(layer);
    if (layer == 1) options.cancel.request();
  };
  EXPECT_THROW(encoder_->encode(frames, {}, options), Cancelled);
  EXPECT_EQ(layers, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(progress, 0);
}

// The dual encoder's towers check the token per layer: calls without a micro-batch loop of their
// own (image_features, the text embeddings) still stop on a requested token.
TEST(DualEncoderCancel, ImageAndTextTowersCheckTheToken) {
  const fs::path dir = fresh("dual");
  write_tiny_siglip_dual(dir, "tiny", 5);
  const SiglipDualEncoder model = SiglipDualEncoder::load(dir);
  const at::Tensor pixels = at::zeros({1, 3, 28, 28});
  const std::vector<std::string> texts = {"a dog on the road"};
  CancelToken token;
  EXPECT_EQ(model.image_features(pixels, token).size(0), 1);
  EXPECT_EQ(model.embed_texts(texts, token).size(0), 1);
  token.request();
  EXPECT_THROW(model.image_features(pixels, token), Cancelled);
  EXPECT_THROW(model.embed_texts(texts, token), Cancelled);
  EXPECT_THROW(model.text_features(at::ones({1, 4}, at::kLong), token), Cancelled);
  ImageEmbedOptions options;
  options.cancel = token;
  EXPECT_THROW(model.embed_pixels(pixels, options), Cancelled);
}

}  // namespace
}  // namespace clipmind::models
