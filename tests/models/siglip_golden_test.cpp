// Conformance of the SigLIP dual encoder with transformers' outputs for
// tests/data/vlm-golden/siglip-tiny (image and text pooler outputs, normalised embeddings,
// logits; atol 1e-4), and the SentencePiece tokenizer's canonicalisation, eos and padding.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/models/support/golden_fixture.h"
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "models/siglip/dual_encoder.h"
#include "models/siglip/sentencepiece_model.h"
#include "models/siglip/siglip_tokenizer.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;

constexpr double kAtol = test::kGoldenAtol;
using test::max_abs_diff;

fs::path golden_dir() {
  return test::vlm_golden_dir("siglip-tiny");
}

at::Tensor golden(const std::string& name) {
  return test::read_golden_tensor(golden_dir(), name);
}

class SiglipGolden : public test::GoldenSuite<SiglipDualEncoder> {
 protected:
  static void SetUpTestSuite() { load(golden_dir()); }
};

TEST_F(SiglipGolden, ConfigAndScaling) {
  EXPECT_EQ(model_->config().text.max_positions, 16);
  EXPECT_EQ(model_->config().text.vocab_size, 256);
  EXPECT_EQ(model_->config().vision.grid(), 7);
  EXPECT_TRUE(model_->config().vision.use_head);
  EXPECT_EQ(model_->embedding_size(), 32);
  // logit_scale is stored as a log: ln 10 -> 10.
  EXPECT_NEAR(model_->logit_scale(), 10.0, 1e-5);
  // The README says logit_bias = -2, but the stored tensor (which transformers used for
  // logits_per_image, matched below) holds about -0.134.
  EXPECT_NEAR(model_->logit_bias(), -0.1344, 1e-4);
  EXPECT_FALSE(model_->has_tokenizer());
}

TEST_F(SiglipGolden, ImagePoolerOutputAndEmbeddings) {
  const at::Tensor pixels = golden("pixel_values");
  EXPECT_LE(max_abs_diff(model_->image_features(pixels), golden("vision_pooler_output")), kAtol);
  ImageEmbedOptions options;
  options.micro_batch = 2;  // 3 images: a partial last batch
  EXPECT_LE(max_abs_diff(model_->embed_pixels(pixels, options), golden("image_embeds")), kAtol);
}

TEST_F(SiglipGolden, TextPoolerOutputAndEmbeddings) {
  const at::Tensor ids = golden("text_ids").to(at::kLong);
  EXPECT_LE(max_abs_diff(model_->text_features(ids), golden("text_pooler_output")), kAtol);
  EXPECT_LE(max_abs_diff(model_->embed_text_ids(ids), golden("text_embeds")), kAtol);
}

TEST_F(SiglipGolden, LogitsAndProbabilities) {
  const at::Tensor images = model_->embed_pixels(golden("pixel_values"));
  const at::Tensor texts = model_->embed_text_ids(golden("text_ids").to(at::kLong));
  const at::Tensor logits = model_->logits(images, texts);
  EXPECT_LE(max_abs_diff(logits, golden("logits_per_image")), kAtol);
  const at::Tensor reference = golden("logits_per_image").to(at::kDouble);
  const at::Tensor expected = 1.0 / (1.0 + at::exp(-reference));
  EXPECT_LE(max_abs_diff(model_->probabilities(images, texts), expected), kAtol);
}

TEST_F(SiglipGolden, TextsNeedTheTokenizerAndIdsAreChecked) {
  const std::vector<std::string> texts = {"an apple"};
  try {
    (void)model_->embed_texts(texts);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("spiece.model"), std::string::npos);
  }
  EXPECT_THROW(model_->embed_text_ids(at::full({1, 16}, 256, at::kLong)), Error);
  EXPECT_THROW(model_->embed_text_ids(at::ones({1, 17}, at::kLong)), Error);
  // No preprocessor_config.json in the fixture: raw frames are refused with a clear error.
  std::vector<uint8_t> pixels(28 * 28 * 3, 0);
  const RgbImageView view{pixels.data(), 28, 28, 0};
  EXPECT_THROW(model_->embed_images({&view, 1}), Error);
}

// ---- tokenizer ----

std::vector<std::string> corpus() {
  const std::vector<std::string> subjects = {"a dog", "the cat",   "an apple",    "a picture",
                                             "a man", "two birds", "the red car", "a small house"};
  const std::vector<std::string> verbs = {"runs on",  "sits near",  "is next to",
                                          "looks at", "jumps over", "lies under"};
  const std::vector<std::string> objects = {"the table",     "a tree",    "the road",
                                            "a green field", "the river", "an old bridge",
                                            "the window"};
  std::vector<std::string> out;
  for (const auto& s : subjects)
    for (const auto& v : verbs)
      for (const auto& o : objects)
        out.push_back(s + " " + v + " " + o);
  return out;
}

const std::string& tiny_spm() {
  static const std::string model = train_tiny_sentencepiece(corpus(), 120);
  return model;
}

TEST(SiglipTokenizer, CanonicalisationLikeTransformers) {
  EXPECT_EQ(SiglipTokenizer::canonicalize("A Picture, of an   APPLE!"), "▁a picture of an apple");
  EXPECT_EQ(SiglipTokenizer::canonicalize("  tabs\tand\nnew-lines  "), "▁ tabs and newlines");
  EXPECT_EQ(SiglipTokenizer::canonicalize("ÉCOLE d'Été"), "▁école dété");
  EXPECT_EQ(SiglipTokenizer::canonicalize("x▁y"), "▁x y");
  EXPECT_EQ(SiglipTokenizer::canonicalize(""), "▁");
  EXPECT_THROW(SiglipTokenizer::canonicalize(std::string("bad \xff byte")), Error);
}

TEST(SiglipTokenizer, PiecesEqualPlainSentencePieceOnCanonicalText) {
  // Independent reference: the unpatched model (dummy prefix on) encoding the canonical text
  // without our "▁" gives the pieces transformers' unk-prefix trick produces.
  const SiglipTokenizer tok = SiglipTokenizer::from_serialized(tiny_spm(), 16, "tiny");
  const SentencePieceModel sp = SentencePieceModel::from_serialized(tiny_spm(), "tiny", false);
  for (const std::string text : {"a dog runs on the road", "The RED car, near a tree!", "bridge"}) {
    const std::string plain = SiglipTokenizer::canonicalize(text).substr(3);  // drop our "▁"
    const std::vector<std::string> expected = sp.encode_pieces(plain);
    EXPECT_EQ(tok.pieces(text), expected) << text;
    EXPECT_FALSE(expected.empty());
    EXPECT_EQ(expected.front().rfind("▁", 0), 0u) << "first piece starts a word";
  }
}

TEST(SiglipTokenizer, EosPaddingAndTruncation) {
  const SiglipTokenizer tok = SiglipTokenizer::from_serialized(tiny_spm(), 16, "tiny");
  EXPECT_EQ(tok.eos_id(), 1);
  EXPECT_EQ(tok.pad_id(), 1);  // pad token is </s>
  const std::vector<std::string> pieces = tok.pieces("a dog");
  const std::vector<int64_t> ids = tok.encode("a dog");
  ASSERT_EQ(ids.size(), 16u);
  EXPECT_EQ(ids[pieces.size()], 1);
  EXPECT_TRUE(std::all_of(ids.begin() + static_cast<std::ptrdiff_t>(pieces.size()), ids.end(),
                          [](int64_t id) { return id == 1; }));
  std::string long_text;
  for (int i = 0; i < 40; ++i)
    long_text += "the river ";
  const std::vector<int64_t> truncated = tok.encode(long_text);
  ASSERT_EQ(truncated.size(), 16u);
  EXPECT_EQ(truncated.back(), 1);  // 15 pieces + </s>
  EXPECT_NE(truncated[14], 1);
  EXPECT_THROW(SiglipTokenizer::from_serialized("not a model", 16, "junk"), Error);
}

}  // namespace
}  // namespace clipmind::models
