// bfloat16 on the CPU against the float32 references of tests/data/vlm-golden/llava-onevision-tiny
// (what transformers computed in float32): the vision tower, HoliTom's attention A, the whole
// pixels -> pooled tokens path and the full model's logits stay within bfloat16 tolerances.
// bfloat16 runs a different CPU path from float32 (batched attention, float32 LayerNorm / softmax /
// GELU around bfloat16 GEMMs, docs/models-vision.md "bfloat16 on CPU"); these tests make sure
// that path computes the same model, not merely something fast.
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "tests/models/support/golden_fixture.h"
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "models/llm/runtime.h"
#include "models/vision/siglip_encoder.h"
#include "models/vision/siglip_vision.h"
#include "models/vision/video_encoder.h"
#include "models/vlm/llava_onevision.h"
#include "models/weights/checkpoint.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;
using test::max_abs_diff;

fs::path golden_dir() {
  return test::vlm_golden_dir("llava-onevision-tiny");
}

at::Tensor golden(const std::string& name) {
  return test::read_golden_tensor(golden_dir(), name);
}

// bfloat16 keeps 8 mantissa bits (relative rounding 2^-9 per value); a couple of layers of
// rounded GEMM inputs and outputs put errors near one percent of a tensor's largest magnitude.
// Measured on this fixture: 0.4-1.1 % (tower 1.0, post-LN 1.1, projector 0.4, pooled 0.7, A 0.8)
// and 0.95 % of the logit range for the full model; 5 % leaves margin
// while a wrong op (missing bias, wrong scale, unnormalised softmax) is far outside it.
constexpr double kRelative = 0.05;

double scale_of(const at::Tensor& t) {
  return t.abs().max().item<double>();
}

class VisionBf16 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_compute_threads(0);
    VisionRuntime runtime;
    runtime.dtype = at::kBFloat16;
    model_ = std::make_unique<LlavaVisionEncoder>(LlavaVisionEncoder::load(golden_dir(), runtime));
  }
  static void TearDownTestSuite() { model_.reset(); }
  static inline std::unique_ptr<LlavaVisionEncoder> model_;
};

TEST_F(VisionBf16, TowerHiddenStatesStayNearTheFloat32Reference) {
  const VisionOutput out = model_->features(golden("pixel_values_videos"), false);
  EXPECT_EQ(out.features.scalar_type(), at::kBFloat16);
  const at::Tensor expected = golden("vision_hidden_last");
  const double err = max_abs_diff(out.features.to(at::kFloat), expected);
  EXPECT_LE(err, kRelative * scale_of(expected));
  EXPECT_GT(err, 0.0);  // it really ran in bfloat16
}

TEST_F(VisionBf16, PostLayernormAndProjectorStayNearTheirReferences) {
  const Checkpoint checkpoint = Checkpoint::open(golden_dir(), llava_onevision_rewrites());
  VisionTowerLoad load;
  load.post_layernorm = true;
  load.dtype = at::kBFloat16;
  const SiglipVisionTower tower(checkpoint, "vision_tower.vision_model.", model_->config().vision,
                                load);
  VisionRequest request;
  request.layers = {2};
  request.post_layernorm = true;
  const at::Tensor post = tower.forward(golden("pixel_values_videos"), request).features;
  const at::Tensor expected_post = golden("vision_post_layernorm");
  EXPECT_LE(max_abs_diff(post.to(at::kFloat), expected_post), kRelative * scale_of(expected_post));

  const at::Tensor projected = model_->project(golden("vision_hidden_last").to(at::kBFloat16));
  const at::Tensor expected = golden("projected");
  EXPECT_LE(max_abs_diff(projected.to(at::kFloat), expected), kRelative * scale_of(expected));
}

TEST_F(VisionBf16, WholePathFromPixelsStaysNearThePooledReference) {
  VideoEncodeOptions options;
  options.micro_batch = 3;
  const VisualTokens tokens = model_->encode_pixels(golden("pixel_values_videos"), {}, options);
  const at::Tensor expected = golden("pooled");
  EXPECT_LE(max_abs_diff(tokens.tokens.to(at::kFloat), expected), kRelative * scale_of(expected));
  ASSERT_TRUE(tokens.attention.defined());
  EXPECT_EQ(tokens.attention.scalar_type(), at::kFloat);
  EXPECT_EQ(tokens.attention.sizes(), (at::IntArrayRef{4, 16}));
}

// A recomputed naively in float32 from the unfused checkpoint weights and the float32 reference
// input of the last layer; the bfloat16 tower computes it from its own bfloat16 hidden states.
TEST_F(VisionBf16, AttentionStaysNearTheNaiveFloat32Attention) {
  const at::Tensor pixels = golden("pixel_values_videos");
  const VisionOutput out = model_->features(pixels, true);
  ASSERT_TRUE(out.attention.defined());
  ASSERT_EQ(out.attention.sizes(), (at::IntArrayRef{4, 49}));
  EXPECT_EQ(out.attention.scalar_type(), at::kFloat);
  // Softmax rows in float32: every frame's A still sums to 1 at float32 precision.
  EXPECT_LE(max_abs_diff(out.attention.sum(1), at::ones({4})), 1e-5);

  const at::Tensor expected =
      test::naive_mean_attention(golden_dir(), model_->config().vision, pixels, 1);
  EXPECT_LE(max_abs_diff(out.attention, expected), kRelative * scale_of(expected));
}

// The helpers' reduced-precision branches against float32 math on the same (bf16-exact) values.
TEST(Bf16Kernels, LayerNormSoftmaxGeluMatchFloat32OnBf16ExactInputs) {
  const at::Tensor x32 = at::randn({6, 40}).mul_(3).to(at::kBFloat16).to(at::kFloat);
  const at::Tensor w32 = at::randn({40}).to(at::kBFloat16).to(at::kFloat);
  const at::Tensor b32 = at::randn({40}).to(at::kBFloat16).to(at::kFloat);
  const at::Tensor x = x32.to(at::kBFloat16);
  // One final rounding to bfloat16: relative error at most 2^-8 of each value.
  const at::Tensor ln = layer_norm_last(x, w32.to(at::kBFloat16), b32.to(at::kBFloat16), 1e-6);
  EXPECT_EQ(ln.scalar_type(), at::kBFloat16);
  const at::Tensor ln_ref = at::layer_norm(x32, {40}, w32, b32, 1e-6);
  EXPECT_LE(max_abs_diff(ln.to(at::kFloat), ln_ref), scale_of(ln_ref) / 256);

  const at::Tensor sm = softmax_last_float(x);
  EXPECT_EQ(sm.scalar_type(), at::kFloat);
  EXPECT_LE(max_abs_diff(sm, at::softmax(x32, -1)), 1e-6);

  for (const GeluKind kind : {GeluKind::kTanh, GeluKind::kErf}) {
    at::Tensor g = x.clone();
    gelu_inplace(g, kind);
    const at::Tensor g_ref = at::gelu(x32, kind == GeluKind::kTanh ? "tanh" : "none");
    EXPECT_LE(max_abs_diff(g.to(at::kFloat), g_ref), scale_of(g_ref) / 256);
  }
}

// The chunked reduced-precision kernels against the whole-tensor float32 computation, at sizes
// that span several row chunks (about 2^18 float32 elements each) and both threads.
TEST(Bf16Kernels, ChunkedLayerNormEqualsWholeTensorFloat32) {
  set_compute_threads(2);
  const at::Tensor x = at::randn({3, 300, 1152}).mul_(4).add_(1).to(at::kBFloat16);
  const at::Tensor w = at::randn({1152}).to(at::kBFloat16);
  const at::Tensor b = at::randn({1152}).to(at::kBFloat16);
  // Rows are normalised independently by the same float32 kernel: bit-identical results.
  const at::Tensor expected =
      at::layer_norm(x.to(at::kFloat), {1152}, w.to(at::kFloat), b.to(at::kFloat), 1e-6)
          .to(at::kBFloat16);
  const at::Tensor got = layer_norm_last(x, w, b, 1e-6);
  EXPECT_EQ(got.sizes(), x.sizes());
  EXPECT_TRUE(at::equal(got, expected));
  at::Tensor out = at::full({900, 1152}, 7.0, x.options());
  layer_norm_last_out(out, x.view({900, 1152}), w, b, 1e-6);
  EXPECT_TRUE(at::equal(out, expected.view({900, 1152})));
}

TEST(Bf16Kernels, ChunkedTanhGeluMatchesFloat64TanhGelu) {
  set_compute_threads(2);
  // Values over GELU's whole shape: the negative tail, the bend, the linear part, saturation.
  at::Tensor x32 = at::randn({200, 4304}).mul_(3);
  x32[0].copy_(at::linspace(-30, 30, 4304));
  const at::Tensor x = x32.to(at::kBFloat16);
  at::Tensor g = x.clone();
  gelu_inplace(g, GeluKind::kTanh);
  // Reference in float64 (ATen's float32 tanh form loses the negative tail to cancellation in
  // 1 + tanh(z); the sigmoid form used here, by the AVX-512 kernel or through ATen, does not).
  // After one rounding to bfloat16, every value is within one bfloat16 step (2^-8 relative) of it,
  // with an absolute floor far below bfloat16's resolution at this scale for the underflowing tail.
  const at::Tensor ref = at::gelu(x.to(at::kDouble), "tanh");
  const at::Tensor err = (g.to(at::kDouble) - ref).abs();
  EXPECT_TRUE(err.le(ref.abs().div(128).add_(1e-6)).all().item<bool>());
  // Outside the tail, (almost) always the correctly rounded bfloat16 value.
  const at::Tensor body = x.gt(-3);
  const double same =
      g.eq(ref.to(at::kBFloat16)).masked_select(body).to(at::kFloat).mean().item<double>();
  EXPECT_GE(same, 0.999);
  // Sizes that leave a partial SIMD vector (the AVX-512 kernel's masked tail).
  const at::Tensor odd = at::randn({7, 37}).mul_(3).to(at::kBFloat16);
  at::Tensor odd_g = odd.clone();
  gelu_inplace(odd_g, GeluKind::kTanh);
  const at::Tensor odd_ref = at::gelu(odd.to(at::kDouble), "tanh");
  EXPECT_TRUE((odd_g.to(at::kDouble) - odd_ref)
                  .abs()
                  .le(odd_ref.abs().div(128).add_(1e-6))
                  .all()
                  .item<bool>());
  // Non-contiguous input takes the same path.
  at::Tensor t = x.t().contiguous().t();
  ASSERT_FALSE(t.is_contiguous());
  gelu_inplace(t, GeluKind::kTanh);
  EXPECT_TRUE(at::equal(t, g));
}

TEST(Bf16Kernels, RowSoftmaxMatchesFloat64AndSumsColumns) {
  set_compute_threads(2);
  // [sequences 3, heads 4, queries 300, keys 300]: 3600 rows split over threads and chunks that
  // straddle the per-sequence groups of 1200 rows; 300 keys leave a partial vector per row.
  at::Tensor x = at::randn({3, 4, 300, 300}).mul_(5).to(at::kBFloat16);
  x[0][0][0][7] = -std::numeric_limits<float>::infinity();  // a masked key gets probability 0
  const at::Tensor ref = at::softmax(x.to(at::kDouble), -1);
  at::Tensor got = x.clone();
  at::Tensor sums;
  softmax_rows_inplace(got, &sums, 4 * 300);
  EXPECT_EQ(got.scalar_type(), at::kBFloat16);
  // On AVX-512 CPUs this is the one-pass kernel with its own exp; elsewhere ATen's float32
  // softmax. Either way: one rounding to bfloat16 away from the exact value (one bfloat16 step,
  // 2^-8 relative), almost always the correctly rounded value.
  const at::Tensor err = (got.to(at::kDouble) - ref).abs();
  EXPECT_TRUE(err.le(ref.div(128).add_(1e-12)).all().item<bool>());
  EXPECT_GE(got.eq(ref.to(at::kBFloat16)).to(at::kFloat).mean().item<double>(), 0.999);
  EXPECT_EQ(got[0][0][0][7].item<float>(), 0.0f);
  ASSERT_EQ(sums.sizes(), (at::IntArrayRef{3, 300}));
  EXPECT_EQ(sums.scalar_type(), at::kFloat);
  // Column sums of the unrounded probabilities.
  const at::Tensor expected_sums = ref.sum(at::IntArrayRef{1, 2}).to(at::kFloat);
  EXPECT_LE(max_abs_diff(sums, expected_sums), 1e-5 * scale_of(expected_sums));
  EXPECT_LE(max_abs_diff(sums.sum(1), at::full({3}, 1200.0)), 1e-2);

  at::Tensor plain = x.clone();
  softmax_rows_inplace(plain);
  EXPECT_TRUE(at::equal(plain, got));
  at::Tensor bad = x.clone();
  EXPECT_THROW(softmax_rows_inplace(bad, &sums, 7), Error);

  // float32 input: ATen's softmax, same column sums.
  at::Tensor wide = x.to(at::kFloat);
  softmax_rows_inplace(wide, &sums, 4 * 300);
  EXPECT_LE(max_abs_diff(wide, ref.to(at::kFloat)), 1e-6);
  EXPECT_LE(max_abs_diff(sums, expected_sums), 1e-5 * scale_of(expected_sums));
}

TEST(VlmBf16, FullModelLogitsStayNearTheFloat32Reference) {
  set_compute_threads(0);
  VlmLoadOptions options;
  options.runtime.dtype = at::kBFloat16;
  const LlavaOnevision model = LlavaOnevision::load(golden_dir(), options);
  const VisualTokens tokens = model.vision().encode_pixels(golden("pixel_values_videos"), {});
  const at::Tensor video = model.vision().video_embedding(tokens.tokens);
  const AssembledPrompt prompt =
      model.splice(test::read_golden_ids(golden_dir(), "input_ids"), {&video, 1});
  KvCache cache = model.decoder().new_cache();
  ForwardOptions forward;
  forward.logits = LogitsMode::kAll;
  const at::Tensor logits = model.decoder().forward(prompt.input, cache, forward).logits;
  const at::Tensor expected = golden("logits");
  const double err = max_abs_diff(logits, expected);
  // Same bound as the decoder's own bfloat16 test (decoder_test.cpp): 8 % of the logit range.
  EXPECT_LE(err, 0.08 * scale_of(expected));
  EXPECT_GT(err, 0.0);
}

}  // namespace
}  // namespace clipmind::models
