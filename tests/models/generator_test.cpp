// Sampling and generation control (stop tokens, stop strings, streaming, callbacks) on the
// golden tiny Qwen2 model with a synthetic byte-level tokenizer for its 512 ids.
#include "models/llm/generator.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/llm/sampler.h"
#include "models/non_finite.h"
#include "models/tokenizer/bpe_tokenizer.h"
#include "models/weights/safetensors.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int64_t>;

TEST(Sampler, GreedyTakesTheFirstMaximum) {
  Sampler greedy({});
  EXPECT_EQ(greedy.sample(at::tensor({0.1f, 2.0f, 2.0f, -1.0f})), 1);
  EXPECT_EQ(greedy.sample(at::tensor({-INFINITY, 1.0f, 3.0f})), 2);
  EXPECT_THROW(greedy.sample(at::tensor({-INFINITY, -INFINITY})), Error);
}

TEST(Sampler, RefusesNanAndPositiveInfinityInsteadOfSkippingThem) {
  // A NaN next to finite logits used to be skipped, so a broken model still produced tokens.
  for (const double temperature : {0.0, 1.0}) {
    Sampler sampler({temperature, 0, 1.0, 7});
    EXPECT_THROW(sampler.sample(at::tensor({-INFINITY, NAN, 3.0f})), NonFiniteOutput);
    EXPECT_THROW(sampler.sample(at::tensor({1.0f, INFINITY, 3.0f})), NonFiniteOutput);
  }
}

TEST(Sampler, FrequenciesFollowTheFilteredDistribution) {
  const at::Tensor logits = at::log(at::tensor({0.5, 0.3, 0.2}));
  const auto frequencies = [&](SamplingOptions options) {
    Sampler sampler(options);
    std::vector<double> counts(3, 0.0);
    const int n = 20000;
    for (int i = 0; i < n; ++i)
      counts[static_cast<size_t>(sampler.sample(logits))] += 1.0 / n;
    return counts;
  };
  const auto plain = frequencies({1.0, 0, 1.0, 7});
  EXPECT_NEAR(plain[0], 0.5, 0.015);
  EXPECT_NEAR(plain[1], 0.3, 0.015);
  EXPECT_NEAR(plain[2], 0.2, 0.015);
  // Temperature 0.5 squares the odds: 25:9:4.
  const auto sharp = frequencies({0.5, 0, 1.0, 7});
  EXPECT_NEAR(sharp[0], 25.0 / 38, 0.015);
  EXPECT_NEAR(sharp[2], 4.0 / 38, 0.015);
  // Top-k 2 drops 0.2 and renormalises to 0.625 / 0.375.
  const auto top_k = frequencies({1.0, 2, 1.0, 7});
  EXPECT_EQ(top_k[2], 0.0);
  EXPECT_NEAR(top_k[0], 0.625, 0.015);
  // Top-p 0.6: ascending cumulative mass 0.2 <= 0.4 is dropped, 0.5 > 0.4 is kept.
  const auto top_p = frequencies({1.0, 0, 0.6, 7});
  EXPECT_EQ(top_p[2], 0.0);
  EXPECT_NEAR(top_p[0], 0.625, 0.015);
  // Top-k 1 is greedy.
  EXPECT_NEAR(frequencies({1.0, 1, 1.0, 7})[0], 1.0, 1e-9);
}

TEST(Sampler, SameSeedSameSequence) {
  const at::Tensor logits = at::randn({100}, at::TensorOptions().dtype(at::kFloat));
  const auto draw = [&](uint64_t seed) {
    Sampler sampler({0.8, 0, 0.95, seed});
    Ids out;
    for (int i = 0; i < 50; ++i)
      out.push_back(sampler.sample(logits));
    return out;
  };
  EXPECT_EQ(draw(11), draw(11));
  EXPECT_NE(draw(11), draw(12));
  EXPECT_THROW(Sampler({1.0, -1, 1.0, 0}), Error);
  EXPECT_THROW(Sampler({1.0, 0, 0.0, 0}), Error);
  EXPECT_THROW(Sampler({1.0, 0, 1.5, 0}), Error);
}

// Ids 0..255 are single bytes; id i >= 256 spells "w<i> ".
Tokenizer synthetic_tokenizer() {
  const auto byte_char = [](int b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    int cp = b;
    if (!printable) {
      int n = 0;
      for (int x = 0; x < b; ++x)
        n += !((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE);
      cp = 256 + n;
    }
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
  };
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b)
    vocab[byte_char(b)] = b;
  for (int i = 256; i < 512; ++i) {
    std::string word = "w";
    word += std::to_string(i);
    word += ' ';
    std::string spelled;
    for (const char c : word)
      spelled += byte_char(static_cast<unsigned char>(c));
    vocab[spelled] = i;
  }
  const nlohmann::json j = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
      {"decoder", {{"type", "ByteLevel"}}}};
  return Tokenizer::from_json_text(j.dump(), "synthetic");
}

class Generation : public ::testing::Test {
 protected:
  Generation()
      : decoder_(Decoder::load(fs::path(CLIPMIND_TEST_DATA_DIR) / "llm-golden/qwen2-tiny")),
        tokenizer_(synthetic_tokenizer()) {}

  GenerationResult run(GenerationOptions options, std::string* streamed = nullptr) {
    KvCache cache = decoder_.new_cache();
    if (streamed) {
      options.on_token = [streamed, inner = options.on_token](const TokenEvent& e) {
        EXPECT_FALSE(find_invalid_utf8(e.text).has_value());
        *streamed += e.text;
        return inner ? inner(e) : true;
      };
    }
    return generate(decoder_, cache, PromptInput::tokens({1, 2, 3, 4, 5, 6, 7}), &tokenizer_,
                    options);
  }

  Decoder decoder_;
  Tokenizer tokenizer_;
};

// Greedy ids after prompt 1..7 (tests/data/llm-golden/qwen2-tiny/e_generated_ids.npy).
const Ids kGreedy = {326, 326, 326, 245, 185, 185, 484, 94, 326, 218, 218, 218};

// The golden model with its embeddings untied (lm_head.weight a copy of embed_tokens, so the
// greedy ids stay kGreedy) and, when `nan_row` >= 0, that embedding row set to NaN: the prompt
// and the logits stay finite until the model is fed that token.
fs::path untied_golden_copy(const std::string& name, int64_t nan_row) {
  const fs::path golden = fs::path(CLIPMIND_TEST_DATA_DIR) / "llm-golden/qwen2-tiny";
  const fs::path dir = fs::path(CLIPMIND_TEST_WORK_DIR) / "generator-nan" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(golden / "config.json"));
  config["tie_word_embeddings"] = false;
  std::ofstream(dir / "config.json") << config.dump(2);
  const SafetensorsFile weights(golden / "model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const StTensorInfo& info : weights.tensors()) {
    tensors.emplace_back(info.name, weights.load(info, at::ScalarType::Undefined));
  }
  const at::Tensor embed = weights.load("model.embed_tokens.weight", at::ScalarType::Undefined);
  tensors.emplace_back("lm_head.weight", embed.clone());
  if (nan_row >= 0) {
    for (auto& [tensor_name, tensor] : tensors) {
      if (tensor_name == "model.embed_tokens.weight") tensor[nan_row].fill_(NAN);
    }
  }
  write_safetensors(dir / "model.safetensors", tensors);
  return dir;
}

TEST(GenerationNan, LogitsOfAStepHoldingNanStopGenerationWithNoTokenFromThem) {
  // Token 245 is the 4th greedy token: prefill and the steps feeding 326 stay finite, the step
  // feeding 245 gives NaN logits. The old sampler skipped NaNs and went on emitting tokens.
  const auto generate_ids = [](const fs::path& model, Ids* emitted) {
    const Decoder decoder = Decoder::load(model);
    KvCache cache = decoder.new_cache();
    GenerationOptions options;
    options.max_new_tokens = 12;
    options.on_token = [emitted](const TokenEvent& e) {
      emitted->push_back(e.id);
      return true;
    };
    return generate(decoder, cache, PromptInput::tokens({1, 2, 3, 4, 5, 6, 7}), nullptr, options);
  };
  Ids intact;
  EXPECT_EQ(generate_ids(untied_golden_copy("intact", -1), &intact).ids, kGreedy);

  Ids emitted;
  try {
    generate_ids(untied_golden_copy("nan-245", 245), &emitted);
    ADD_FAILURE() << "generated past NaN logits: " << emitted.size() << " tokens";
  } catch (const NonFiniteOutput& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("generated token 5"), std::string::npos) << e.what();
  }
  EXPECT_EQ(emitted, Ids(kGreedy.begin(), kGreedy.begin() + 4));
}

TEST(GenerationNan, PrefillLogitsWithOneNanFailBeforeAnyToken) {
  // One NaN row of a tied embedding makes one logit NaN at prefill; the other 511 are finite,
  // which the sampler used to pick from.
  const fs::path golden = fs::path(CLIPMIND_TEST_DATA_DIR) / "llm-golden/qwen2-tiny";
  const fs::path dir = fs::path(CLIPMIND_TEST_WORK_DIR) / "generator-nan" / "tied-500";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(golden / "config.json", dir / "config.json");
  const SafetensorsFile weights(golden / "model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const StTensorInfo& info : weights.tensors()) {
    at::Tensor t = weights.load(info, at::ScalarType::Undefined);
    if (info.name == "model.embed_tokens.weight") t[500].fill_(NAN);
    tensors.emplace_back(info.name, t);
  }
  write_safetensors(dir / "model.safetensors", tensors);
  const Decoder decoder = Decoder::load(dir);
  KvCache cache = decoder.new_cache();
  GenerationOptions options;
  options.max_new_tokens = 4;
  int64_t tokens = 0;
  options.on_token = [&](const TokenEvent&) {
    ++tokens;
    return true;
  };
  EXPECT_THROW(generate(decoder, cache, PromptInput::tokens({1, 2, 3}), nullptr, options),
               NonFiniteOutput);
  EXPECT_EQ(tokens, 0);
}

TEST_F(Generation, StreamedTextEqualsTheDecodedIds) {
  GenerationOptions options;
  options.max_new_tokens = 12;
  std::string streamed;
  const auto result = run(options, &streamed);
  ASSERT_EQ(result.ids, kGreedy);
  EXPECT_EQ(result.text, tokenizer_.decode(kGreedy));
  EXPECT_EQ(streamed, result.text);
  EXPECT_EQ(result.text.substr(0, 15), "w326 w326 w326 ");
}

TEST_F(Generation, StopStringsEndGenerationAndAreNeverShown) {
  const std::string full = tokenizer_.decode(kGreedy);
  GenerationOptions options;
  options.max_new_tokens = 12;
  options.stop_strings = {"w484"};
  std::string streamed;
  auto result = run(options, &streamed);
  EXPECT_EQ(result.stop, StopReason::kStopString);
  EXPECT_EQ(result.ids, Ids(kGreedy.begin(), kGreedy.begin() + 7));
  EXPECT_EQ(result.text, full.substr(0, full.find("w484")));
  EXPECT_EQ(streamed, result.text);

  // A stop string across a token boundary: "6 w3" completes with the second token.
  options.stop_strings = {"zzz", "6 w3"};
  streamed.clear();
  result = run(options, &streamed);
  EXPECT_EQ(result.ids, Ids(kGreedy.begin(), kGreedy.begin() + 2));
  EXPECT_EQ(result.text, "w32");
  EXPECT_EQ(streamed, "w32");
}

TEST_F(Generation, StopTokensCallbacksAndLimits) {
  GenerationOptions options;
  options.max_new_tokens = 12;
  options.stop_tokens = {245};
  auto result = run(options);
  EXPECT_EQ(result.stop, StopReason::kStopToken);
  EXPECT_EQ(result.ids, Ids(kGreedy.begin(), kGreedy.begin() + 4));
  EXPECT_EQ(result.text, "w326 w326 w326 ");

  options.stop_tokens.clear();
  int calls = 0;
  options.on_token = [&](const TokenEvent&) { return ++calls < 2; };
  result = run(options);
  EXPECT_EQ(result.stop, StopReason::kCallback);
  EXPECT_EQ(result.ids.size(), 2u);

  GenerationOptions none;
  none.max_new_tokens = 0;
  EXPECT_TRUE(run(none).ids.empty());

  GenerationOptions sampled;
  sampled.max_new_tokens = 8;
  sampled.sampling = {0.9, 50, 0.95, 3};
  EXPECT_EQ(run(sampled).ids, run(sampled).ids);

  GenerationOptions cancelled;
  cancelled.cancel.request();
  EXPECT_THROW(run(cancelled), Cancelled);
  GenerationOptions bad;
  bad.stop_strings = {""};
  EXPECT_THROW(run(bad), Error);
}

}  // namespace
}  // namespace clipmind::models
