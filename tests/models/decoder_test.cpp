// The decoder against llama.cpp's logits for the tiny Qwen2 and Llama models in
// tests/data/llm-golden (README there), loaded through Decoder::load like a user's folder.
#include "models/llm/decoder.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/llm/generator.h"
#include "models/llm/runtime.h"
#include "models/npy.h"
#include "models/npy_tensor.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;

fs::path golden(const std::string& model) {
  return fs::path(CLIPMIND_TEST_DATA_DIR) / "llm-golden" / model;
}

at::Tensor npy(const fs::path& file) {
  return npy_to_tensor(read_npy(file));
}

std::vector<int64_t> ids_of(const fs::path& file) {
  const at::Tensor t = npy(file).to(at::kLong).contiguous();
  return {t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()};
}

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e9;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

double atol_of(const std::string& model, size_t case_index) {
  std::ifstream in(golden(model) / "cases.json");
  return nlohmann::json::parse(in)["cases"][case_index]["atol"].get<double>();
}

class Golden : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    set_compute_threads(0);
    dir_ = golden(GetParam());
    decoder_ = std::make_unique<Decoder>(Decoder::load(dir_));
  }
  fs::path dir_;
  std::unique_ptr<Decoder> decoder_;
};

TEST_P(Golden, A_OneForwardPass) {
  KvCache cache = decoder_->new_cache();
  ForwardOptions all;
  all.logits = LogitsMode::kAll;
  const auto logits =
      decoder_->forward(PromptInput::tokens(ids_of(dir_ / "a_ids.npy")), cache, all).logits;
  EXPECT_LE(max_diff(logits, npy(dir_ / "a_logits.npy")), atol_of(GetParam(), 0));
  EXPECT_EQ(cache.length(), 7);
}

TEST_P(Golden, B_LongerSequenceOnePassChunkedAndSmallAttentionBlocks) {
  const auto ids = ids_of(dir_ / "b_ids.npy");
  const at::Tensor expected = npy(dir_ / "b_logits.npy");
  const double atol = atol_of(GetParam(), 1);
  ForwardOptions all;
  all.logits = LogitsMode::kAll;
  KvCache cache = decoder_->new_cache();
  EXPECT_LE(max_diff(decoder_->forward(PromptInput::tokens(ids), cache, all).logits, expected),
            atol);

  ForwardOptions chunked = all;
  chunked.chunk_size = 5;
  KvCache cache2 = decoder_->new_cache();
  EXPECT_LE(max_diff(decoder_->forward(PromptInput::tokens(ids), cache2, chunked).logits, expected),
            atol);

  // Blocks of a few query rows exercise the blocked causal attention.
  DecoderOptions tiny_blocks;
  tiny_blocks.attention_block_bytes = 4 * 37 * 4 * 2 * 3;  // three rows per block
  const Decoder blocked = Decoder::load(dir_, tiny_blocks);
  KvCache cache3 = blocked.new_cache();
  EXPECT_LE(max_diff(blocked.forward(PromptInput::tokens(ids), cache3, all).logits, expected),
            atol);
}

TEST_P(Golden, C_IncrementalThroughTheKvCache) {
  const auto ids = ids_of(dir_ / "b_ids.npy");
  const std::vector<int64_t> first(ids.begin(), ids.begin() + 20);
  const std::vector<int64_t> second(ids.begin() + 20, ids.end());
  ForwardOptions none;
  none.logits = LogitsMode::kNone;
  ForwardOptions all;
  all.logits = LogitsMode::kAll;
  KvCache cache = decoder_->new_cache();
  decoder_->forward(PromptInput::tokens(first), cache, none);
  const auto logits = decoder_->forward(PromptInput::tokens(second), cache, all).logits;
  const at::Tensor expected = npy(dir_ / "c_logits_chunk2.npy");
  EXPECT_LE(max_diff(logits, expected), atol_of(GetParam(), 2));

  // Truncate back to 20 positions and feed the second part again: same logits.
  decoder_->forward(PromptInput::tokens({1, 2, 3}), cache, none);
  cache.truncate(20);
  EXPECT_EQ(cache.length(), 20);
  EXPECT_EQ(cache.layer_size(0), 20);
  EXPECT_LE(max_diff(decoder_->forward(PromptInput::tokens(second), cache, all).logits, expected),
            atol_of(GetParam(), 2));
}

TEST_P(Golden, D_InputEmbeddingsThenTokens) {
  const at::Tensor embeds = npy(dir_ / "d_embeds.npy");
  const auto ids = ids_of(dir_ / "d_ids.npy");
  const at::Tensor expected = npy(dir_ / "d_logits.npy");
  const double atol = atol_of(GetParam(), 3);
  ForwardOptions all;
  all.logits = LogitsMode::kAll;
  KvCache cache = decoder_->new_cache();
  PromptInput input;
  input.add_embeddings(embeds).add_tokens(ids);
  EXPECT_LE(max_diff(decoder_->forward(input, cache, all).logits, expected), atol);

  // As two calls sharing the cache, like llama.cpp's run.
  KvCache cache2 = decoder_->new_cache();
  PromptInput embeds_only;
  embeds_only.add_embeddings(embeds);
  const auto first = decoder_->forward(embeds_only, cache2, all).logits;
  const auto second = decoder_->forward(PromptInput::tokens(ids), cache2, all).logits;
  EXPECT_LE(max_diff(at::cat({first, second}, 0), expected), atol);

  // Token rows given as embeddings (looked up by the caller) are the same input.
  KvCache cache3 = decoder_->new_cache();
  PromptInput spliced;
  spliced.add_embeddings(embeds).add_embeddings(decoder_->embed(ids));
  EXPECT_LE(max_diff(decoder_->forward(spliced, cache3, all).logits, expected), atol);
}

TEST_P(Golden, E_GreedyGeneration) {
  KvCache cache = decoder_->new_cache();
  GenerationOptions options;
  options.max_new_tokens = 12;
  options.keep_step_logits = true;
  std::vector<int64_t> streamed;
  options.on_token = [&](const TokenEvent& e) {
    streamed.push_back(e.id);
    return true;
  };
  const auto result =
      generate(*decoder_, cache, PromptInput::tokens(ids_of(dir_ / "a_ids.npy")), nullptr, options);
  EXPECT_EQ(result.ids, ids_of(dir_ / "e_generated_ids.npy"));
  EXPECT_EQ(streamed, result.ids);
  EXPECT_EQ(result.stop, StopReason::kMaxTokens);
  EXPECT_LE(max_diff(result.step_logits, npy(dir_ / "e_step_logits.npy")), atol_of(GetParam(), 4));
  // Prompt + all generated tokens but the last were fed.
  EXPECT_EQ(cache.length(), 7 + 12 - 1);
}

TEST_P(Golden, Bfloat16StaysCloseToFloat32) {
  DecoderOptions options;
  options.dtype = at::kBFloat16;
  const Decoder bf16 = Decoder::load(dir_, options);
  ForwardOptions all;
  all.logits = LogitsMode::kAll;
  KvCache cache = bf16.new_cache();
  const at::Tensor logits =
      bf16.forward(PromptInput::tokens(ids_of(dir_ / "b_ids.npy")), cache, all).logits;
  EXPECT_EQ(logits.scalar_type(), at::kFloat);
  const at::Tensor expected = npy(dir_ / "b_logits.npy");
  // bfloat16 keeps 8 bits of mantissa: errors of a few percent of the logit range.
  const double range = expected.abs().max().item<double>();
  EXPECT_LE(max_diff(logits, expected), 0.08 * range);
  EXPECT_GT(max_diff(logits, expected), 0.0);
}

INSTANTIATE_TEST_SUITE_P(LlmGolden, Golden, ::testing::Values("qwen2-tiny", "llama-tiny"));

// The oracle is the kernel's view of the CPU (/proc/cpuinfo), not the cpuid check the code uses.
TEST(DtypeChoice, AutoIsBfloat16OnCudaAndOnCpusWithNativeBfloat16Only) {
  bool flag = false;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("flags", 0) == 0 && line.find(" avx512_bf16") != std::string::npos) flag = true;
  }
  const bool native = flag && at::hasMKLDNN();
  EXPECT_EQ(cpu_has_native_bfloat16(), native);
  EXPECT_EQ(choose_dtype("auto", c10::Device(c10::kCPU)), native ? at::kBFloat16 : at::kFloat);
  EXPECT_EQ(choose_dtype("AUTO", c10::Device(c10::kCUDA, 0)), at::kBFloat16);
  // Explicit names are taken as they are, whatever the hardware.
  EXPECT_EQ(choose_dtype("float32", c10::Device(c10::kCPU)), at::kFloat);
  EXPECT_EQ(choose_dtype("bf16", c10::Device(c10::kCPU)), at::kBFloat16);
  try {
    choose_dtype("int8", c10::Device(c10::kCPU));
    ADD_FAILURE() << "int8 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("int8"), std::string::npos) << e.what();
  }
}

TEST(DecoderErrors, BadInputsAreClearErrors) {
  const Decoder decoder = Decoder::load(golden("qwen2-tiny"));
  KvCache cache = decoder.new_cache();
  const auto message = [&](const std::function<void()>& body) {
    try {
      body();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  EXPECT_NE(message([&] {
              decoder.forward(PromptInput::tokens({1, 512}), cache);
            }).find("outside the model's vocabulary of 512"),
            std::string::npos);
  EXPECT_NE(message([&] { decoder.forward(PromptInput::tokens({-1}), cache); }).find("outside"),
            std::string::npos);
  PromptInput wide;
  wide.add_embeddings(at::zeros({2, 65}));
  EXPECT_NE(message([&] { decoder.forward(wide, cache); }).find("hidden size is 64"),
            std::string::npos);
  ForwardOptions far;
  far.positions = {4096};
  EXPECT_NE(message([&] {
              decoder.forward(PromptInput::tokens({1}), cache, far);
            }).find("context is 4096"),
            std::string::npos);
  EXPECT_EQ(cache.length(), 0);
  EXPECT_NE(message([&] { decoder.forward(PromptInput(), cache); }).find("empty"),
            std::string::npos);
  DecoderOptions bf;
  bf.dtype = at::kBFloat16;
  const Decoder qwen_bf16 = Decoder::load(golden("qwen2-tiny"), bf);
  KvCache bf_cache = qwen_bf16.new_cache();
  EXPECT_NE(
      message([&] { decoder.forward(PromptInput::tokens({1}), bf_cache); }).find("different model"),
      std::string::npos);
  EXPECT_NE(message([&] { cache.truncate(3); }).find("cannot truncate"), std::string::npos);

  // Generation refuses a prompt longer than the context.
  std::vector<int64_t> long_prompt(4097, 1);
  EXPECT_NE(message([&] {
              generate(decoder, cache, PromptInput::tokens(long_prompt), nullptr, {});
            }).find("more than the model's context of 4096"),
            std::string::npos);
}

TEST(DecoderErrors, CancellationLeavesTheCacheAsItWas) {
  const Decoder decoder = Decoder::load(golden("llama-tiny"));
  KvCache cache = decoder.new_cache();
  decoder.forward(PromptInput::tokens({1, 2, 3}), cache);
  ForwardOptions options;
  options.cancel.request();
  EXPECT_THROW(decoder.forward(PromptInput::tokens({4, 5}), cache, options), Cancelled);
  EXPECT_EQ(cache.length(), 3);
  for (int l = 0; l < cache.num_layers(); ++l)
    EXPECT_EQ(cache.layer_size(l), 3);
}

TEST(DecoderLoad, WrongFoldersAndMismatchedWeights) {
  const fs::path root = fs::path(CLIPMIND_TEST_WORK_DIR) / "decoder-load";
  fs::remove_all(root);
  fs::create_directories(root);
  const auto error = [](const fs::path& dir) {
    try {
      Decoder::load(dir);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("<loaded>");
  };
  EXPECT_NE(error(root / "absent").find("not a model folder"), std::string::npos);
  // Config says 3 layers, the weights have 2: every missing layer-2 tensor is named.
  const fs::path deeper = root / "deeper";
  fs::create_directories(deeper);
  fs::copy_file(golden("qwen2-tiny") / "model.safetensors", deeper / "model.safetensors");
  {
    std::ifstream in(golden("qwen2-tiny") / "config.json");
    auto config = nlohmann::json::parse(in);
    config["num_hidden_layers"] = 3;
    std::ofstream(deeper / "config.json") << config.dump();
  }
  const std::string deeper_error = error(deeper);
  EXPECT_NE(deeper_error.find("missing (12)"), std::string::npos) << deeper_error;
  EXPECT_NE(deeper_error.find("model.layers.2.self_attn.q_proj.weight"), std::string::npos)
      << deeper_error;
  // Wrong hidden size: shapes are reported.
  const fs::path wider = root / "wider";
  fs::create_directories(wider);
  fs::copy_file(golden("llama-tiny") / "model.safetensors", wider / "model.safetensors");
  {
    std::ifstream in(golden("llama-tiny") / "config.json");
    auto config = nlohmann::json::parse(in);
    config["intermediate_size"] = 128;
    std::ofstream(wider / "config.json") << config.dump();
  }
  const std::string wider_error = error(wider);
  EXPECT_NE(wider_error.find("model.layers.0.mlp.up_proj.weight is [160, 64], expected [128, 64]"),
            std::string::npos)
      << wider_error;
  // No config.
  const fs::path no_config = root / "no-config";
  fs::create_directories(no_config);
  EXPECT_NE(error(no_config).find("config.json: no such file"), std::string::npos);
}

}  // namespace
}  // namespace clipmind::models
