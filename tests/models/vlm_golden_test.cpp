// The whole tiny LLaVA-OneVision of tests/data/vlm-golden against transformers: pixels ->
// vision path -> video embeddings spliced at the 65 placeholders -> Qwen2 logits (atol 1e-4),
// greedy ids, the same through every checkpoint spelling, and the prompt assembler's splicing.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/models/support/golden_fixture.h"
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/llm/runtime.h"
#include "models/npy.h"
#include "models/vlm/llava_onevision.h"
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

std::vector<int64_t> golden_ids(const std::string& name) {
  return test::read_golden_ids(golden_dir(), name);
}

at::Tensor all_logits(const LlavaOnevision& model, const AssembledPrompt& prompt) {
  KvCache cache = model.decoder().new_cache();
  ForwardOptions options;
  options.logits = LogitsMode::kAll;
  return model.decoder().forward(prompt.input, cache, options).logits;
}

class VlmGolden : public test::GoldenSuite<LlavaOnevision> {
 protected:
  static void SetUpTestSuite() {
    set_compute_threads(0);
    load(golden_dir());
  }
};

TEST_F(VlmGolden, LoadsConfigWithRopeParametersAndNoTokenizer) {
  EXPECT_EQ(model_->video_token_id(), 511);
  EXPECT_EQ(model_->hidden_size(), 64);
  EXPECT_DOUBLE_EQ(model_->decoder().config().rope_theta, 1e6);  // text_config.rope_parameters
  EXPECT_EQ(model_->decoder().config().vocab_size, 512);
  EXPECT_FALSE(model_->has_tokenizer());
  const std::vector<VlmMessage> chat = {{"user", {PromptPart::make_text("hi")}}};
  EXPECT_THROW(model_->assemble(chat), Error);
}

TEST_F(VlmGolden, FullModelLogitsFromPixels) {
  const VisualTokens tokens = model_->vision().encode_pixels(golden("pixel_values_videos"), {});
  const at::Tensor video = model_->vision().video_embedding(tokens.tokens);
  const std::vector<int64_t> ids = golden_ids("input_ids");
  ASSERT_EQ(ids.size(), 74u);
  const AssembledPrompt prompt = model_->splice(ids, {&video, 1});
  EXPECT_EQ(prompt.length(), 74);
  ASSERT_EQ(prompt.visual.size(), 1u);
  EXPECT_EQ(prompt.visual[0].begin, 4);
  EXPECT_EQ(prompt.visual[0].length, 65);
  EXPECT_LE(max_abs_diff(all_logits(*model_, prompt), golden("logits")), kAtol);
}

TEST_F(VlmGolden, GreedyIds) {
  const VisualTokens tokens = model_->vision().encode_pixels(golden("pixel_values_videos"), {});
  const at::Tensor video = model_->vision().video_embedding(tokens.tokens);
  const AssembledPrompt prompt = model_->splice(golden_ids("input_ids"), {&video, 1});
  GenerationOptions options;
  options.max_new_tokens = 10;
  std::vector<int64_t> streamed;
  options.on_token = [&](const TokenEvent& e) {
    streamed.push_back(e.id);
    return true;
  };
  const GenerationResult result = model_->generate(prompt, options, nullptr, false);
  EXPECT_EQ(result.ids, golden_ids("greedy_ids"));
  EXPECT_EQ(streamed, result.ids);
  EXPECT_EQ(result.prompt_tokens, 74);
}

TEST_F(VlmGolden, AssemblerSpliceMatchesTransformersScatter) {
  // transformers' stored video embeddings spliced at the placeholders: the reference logits.
  const AssembledPrompt spliced =
      model_->splice(golden_ids("input_ids"), std::vector<at::Tensor>{golden("video_embeds")});
  EXPECT_LE(max_abs_diff(all_logits(*model_, spliced), golden("logits")), kAtol);
  // Wrong placeholder counts are refused, naming both numbers.
  std::vector<int64_t> short_ids = golden_ids("input_ids");
  short_ids.erase(short_ids.begin() + 10);
  try {
    (void)model_->splice(short_ids, std::vector<at::Tensor>{golden("video_embeds")});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("64"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("65"), std::string::npos) << e.what();
  }
}

TEST_F(VlmGolden, FramesInTokensOutFromUint8Frames) {
  // frames_uint8 -> our preprocessing (Pillow bicubic) -> ... -> logits. Preprocessing differs
  // from transformers' by one uint8 step on one value, so only report the logit difference and
  // require the same greedy continuation.
  const NpyArray frames = read_npy(golden_dir() / "frames_uint8.npy");
  const auto bytes = frames.values<uint8_t>();
  std::vector<RgbImageView> views;
  for (int f = 0; f < 4; ++f)
    views.push_back({bytes.data() + f * 30 * 44 * 3, 30, 44, 0});
  const VisualTokens tokens = model_->vision().encode(views, std::vector<double>{0, 1, 2, 3});
  const at::Tensor video = model_->vision().video_embedding(tokens.tokens);
  const AssembledPrompt prompt = model_->splice(golden_ids("input_ids"), {&video, 1});
  std::printf("[ frames ] logits from uint8 frames: max |diff| %.6f\n",
              max_abs_diff(all_logits(*model_, prompt), golden("logits")));
  GenerationOptions options;
  options.max_new_tokens = 10;
  EXPECT_EQ(model_->generate(prompt, options, nullptr, false).ids, golden_ids("greedy_ids"));
}

// The new transformers layout (model.language_model.*, model.vision_tower.*, lm_head.weight)
// and transformers 5's vision_tower.* without vision_model., loaded like a user's folder.
TEST(VlmSpellings, EveryLayoutGivesTheReferenceLogits) {
  const std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>>
      cases = {
          {"new-layout",
           {{"language_model.model.", "model.language_model."},
            {"vision_tower.", "model.vision_tower."},
            {"multi_modal_projector.", "model.multi_modal_projector."},
            {"image_newline", "model.image_newline"},
            {"language_model.lm_head.", "lm_head."}}},
          {"transformers5", {{"vision_tower.vision_model.", "vision_tower."}}},
      };
  const SafetensorsFile file(golden_dir() / "model.safetensors");
  for (const auto& [name, renames] : cases) {
    SCOPED_TRACE(name);
    const fs::path dir = test::fresh_work_dir(fs::path("vlm-golden") / name);
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& info : file.tensors()) {
      std::string n = info.name;
      for (const auto& [from, to] : renames) {
        if (n.starts_with(from)) {
          n = to + n.substr(from.size());
          break;
        }
      }
      tensors.emplace_back(n, file.load(info, at::ScalarType::Undefined));
    }
    test::write_checkpoint_copy(
        golden_dir(), dir, tensors,
        {"config.json", "video_preprocessor_config.json", "generation_config.json"});
    const LlavaOnevision model = LlavaOnevision::load(dir);
    const VisualTokens tokens = model.vision().encode_pixels(golden("pixel_values_videos"), {});
    const at::Tensor video = model.vision().video_embedding(tokens.tokens);
    const AssembledPrompt prompt = model.splice(golden_ids("input_ids"), {&video, 1});
    EXPECT_LE(max_abs_diff(all_logits(model, prompt), golden("logits")), kAtol);
  }
}

TEST(VlmSpellings, TopLevelRopeThetaIsAcceptedToo) {
  // Published checkpoints write text_config.rope_theta instead of rope_parameters.
  const fs::path dir = test::fresh_work_dir("vlm-golden/rope-theta");
  for (const char* f : {"model.safetensors", "video_preprocessor_config.json"})
    fs::copy_file(golden_dir() / f, dir / f);
  nlohmann::json config;
  std::ifstream(golden_dir() / "config.json") >> config;
  config["text_config"].erase("rope_parameters");
  config["text_config"]["rope_theta"] = 1000000.0;
  config.erase("video_token_index");
  config["video_token_id"] = 511;
  std::ofstream(dir / "config.json") << config.dump(2);
  const LlavaOnevision model = LlavaOnevision::load(dir);
  EXPECT_EQ(model.video_token_id(), 511);
  const AssembledPrompt prompt =
      model.splice(golden_ids("input_ids"), std::vector<at::Tensor>{golden("video_embeds")});
  EXPECT_LE(max_abs_diff(all_logits(model, prompt), golden("logits")), kAtol);
}

}  // namespace
}  // namespace clipmind::models
