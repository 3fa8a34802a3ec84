#include "models/weights/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/error_message.h"
#include "tests/support/work_dir.h"
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/weights/json_file.h"
#include "models/weights/model_config.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  return test::fresh_work_dir(fs::path("checkpoint") / name);
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string error_of(const std::function<void()>& body) {
  return test::error_message(body);
}

TEST(Checkpoint, OpensShardedFolderThroughIndex) {
  const fs::path dir = fresh_dir("sharded");
  const at::Tensor a = at::randn({2, 3});
  const at::Tensor b = at::randn({4});
  const at::Tensor c = at::randn({1});
  write_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", a}, {"b", b}});
  write_safetensors(dir / "model-00002-of-00002.safetensors", {{"c", c}});
  write_text(
      dir / "model.safetensors.index.json",
      R"({"metadata":{"total_size":40},"weight_map":{"a":"model-00001-of-00002.safetensors",)"
      R"("b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}})");
  const Checkpoint checkpoint = Checkpoint::open(dir);
  EXPECT_EQ(checkpoint.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(at::equal(checkpoint.load("c"), c));
  EXPECT_TRUE(at::equal(checkpoint.load("a"), a));
  EXPECT_THROW(checkpoint.load("d"), Error);
}

TEST(Checkpoint, BadIndexesAreReported) {
  const fs::path dir = fresh_dir("bad-index");
  write_safetensors(dir / "s1.safetensors", {{"a", at::zeros({1})}});
  write_text(dir / "model.safetensors.index.json",
             R"({"weight_map":{"a":"s1.safetensors","z":"s1.safetensors"}})");
  EXPECT_NE(error_of([&] { Checkpoint::open(dir); }).find("lacks tensors the index puts there: z"),
            std::string::npos);
  write_text(dir / "model.safetensors.index.json", R"({"weight_map":{"a":"s2.safetensors"}})");
  EXPECT_NE(
      error_of([&] { Checkpoint::open(dir); }).find("s2.safetensors, which is not in the folder"),
      std::string::npos);
  write_text(dir / "model.safetensors.index.json", R"({"weight_map":{"a":"../s1.safetensors"}})");
  EXPECT_NE(error_of([&] { Checkpoint::open(dir); }).find("not a file name inside the folder"),
            std::string::npos);
  write_text(dir / "model.safetensors.index.json", R"({"weight_map": 3})");
  EXPECT_NE(error_of([&] { Checkpoint::open(dir); }).find("weight_map"), std::string::npos);
  write_text(dir / "model.safetensors.index.json", R"({"weight_map": )");
  EXPECT_NE(error_of([&] { Checkpoint::open(dir); }).find("not valid JSON"), std::string::npos);
  fs::remove(dir / "model.safetensors.index.json");
  // Shards without their index.
  EXPECT_NE(error_of([&] { Checkpoint::open(dir); }).find("sharded weights need their index"),
            std::string::npos);
}

TEST(Checkpoint, PickleOnlyFolderSaysPickleIsNotSupported) {
  const fs::path dir = fresh_dir("pickle");
  write_text(dir / "config.json", "{}");
  write_text(dir / "pytorch_model.bin", "PK\x03\x04");
  try {
    Checkpoint::open(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("pytorch_model.bin"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pickle is not supported"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, EmptyOrMissingFolder) {
  const fs::path dir = fresh_dir("empty");
  try {
    Checkpoint::open(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("no weights found"), std::string::npos);
  }
  EXPECT_THROW(Checkpoint::open(dir / "nope"), Error);
}

TEST(Checkpoint, LlavaLayoutsRewriteToCanonicalNames) {
  const auto rules = llava_onevision_rewrites();
  EXPECT_EQ(canonical_tensor_name("model.language_model.layers.0.mlp.up_proj.weight", rules),
            "language_model.model.layers.0.mlp.up_proj.weight");
  EXPECT_EQ(canonical_tensor_name("lm_head.weight", rules), "language_model.lm_head.weight");
  EXPECT_EQ(canonical_tensor_name("model.image_newline", rules), "image_newline");
  EXPECT_EQ(canonical_tensor_name("model.multi_modal_projector.linear_1.bias", rules),
            "multi_modal_projector.linear_1.bias");
  EXPECT_EQ(canonical_tensor_name("model.vision_tower.vision_model.post_layernorm.weight", rules),
            "vision_tower.vision_model.post_layernorm.weight");
  EXPECT_EQ(canonical_tensor_name("vision_tower.encoder.layers.1.mlp.fc1.weight", rules),
            "vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight");
  EXPECT_EQ(
      canonical_tensor_name("vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight", rules),
      "vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight");
  EXPECT_EQ(canonical_tensor_name("language_model.model.norm.weight", rules),
            "language_model.model.norm.weight");

  const fs::path dir = fresh_dir("llava-mixed");
  const at::Tensor newline = at::randn({8});
  write_safetensors(dir / "model.safetensors",
                    {{"model.language_model.norm.weight", at::ones({8})},
                     {"language_model.model.embed_tokens.weight", at::ones({4, 8})},
                     {"model.image_newline", newline}});
  const Checkpoint mixed = Checkpoint::open(dir, rules);
  EXPECT_TRUE(mixed.contains("language_model.model.norm.weight"));
  EXPECT_TRUE(mixed.contains("language_model.model.embed_tokens.weight"));
  EXPECT_TRUE(at::equal(mixed.load("image_newline"), newline));

  write_safetensors(dir / "model.safetensors",
                    {{"model.image_newline", newline}, {"image_newline", newline}});
  const std::string message = error_of([&] { Checkpoint::open(dir, rules); });
  EXPECT_NE(message.find("'image_newline' is stored twice"), std::string::npos) << message;
}

TEST(Checkpoint, ValidateReportsEverythingAtOnce) {
  const fs::path dir = fresh_dir("validate");
  write_safetensors(dir / "model.safetensors", {{"w.a", at::zeros({2, 3})},
                                                {"w.b", at::zeros({3})},
                                                {"extra.one", at::zeros({1})},
                                                {"extra.two", at::zeros({1})},
                                                {"x.rotary_emb.inv_freq", at::zeros({1})}});
  const Checkpoint checkpoint = Checkpoint::open(dir);
  const std::vector<TensorSpec> specs = {
      {"w.a", {2, 3}}, {"w.b", {4}}, {"w.c", {1}}, {"w.d", {1}}, {"w.opt", {1}, false}};
  const std::vector<std::string> ignored_suffixes = {".rotary_emb.inv_freq"};
  const std::string message = error_of([&] { checkpoint.validate(specs, {}, ignored_suffixes); });
  EXPECT_NE(message.find("missing (2): w.c, w.d"), std::string::npos) << message;
  EXPECT_NE(message.find("unexpected (2): extra.one, extra.two"), std::string::npos) << message;
  EXPECT_NE(message.find("w.b is [3], expected [4]"), std::string::npos) << message;
  EXPECT_EQ(message.find("w.opt"), std::string::npos) << message;
  EXPECT_EQ(message.find("inv_freq"), std::string::npos) << message;
  const std::vector<std::string> ignored_prefixes = {"extra."};
  const std::vector<TensorSpec> good = {{"w.a", {2, 3}}, {"w.b", {3}}};
  EXPECT_NO_THROW(checkpoint.validate(good, ignored_prefixes, ignored_suffixes));
}

TEST(DecoderConfigParse, ReadsGoldenQwenAndLlamaConfigs) {
  const fs::path data = fs::path(CLIPMIND_TEST_DATA_DIR) / "llm-golden";
  const DecoderConfig qwen = read_decoder_config(data / "qwen2-tiny");
  EXPECT_EQ(qwen.arch, DecoderArch::kQwen2);
  EXPECT_EQ(qwen.vocab_size, 512);
  EXPECT_EQ(qwen.hidden_size, 64);
  EXPECT_EQ(qwen.intermediate_size, 160);
  EXPECT_EQ(qwen.num_layers, 2);
  EXPECT_EQ(qwen.num_heads, 4);
  EXPECT_EQ(qwen.num_kv_heads, 2);
  EXPECT_EQ(qwen.head_dim, 16);
  EXPECT_DOUBLE_EQ(qwen.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(qwen.rms_norm_eps, 1e-6);
  EXPECT_TRUE(qwen.tie_word_embeddings);
  EXPECT_TRUE(qwen.qkv_bias);
  EXPECT_FALSE(qwen.o_bias);
  EXPECT_EQ(qwen.eos_token_ids, (std::vector<int64_t>{2}));

  const DecoderConfig llama = read_decoder_config(data / "llama-tiny");
  EXPECT_EQ(llama.arch, DecoderArch::kLlama);
  EXPECT_DOUBLE_EQ(llama.rope_theta, 1e4);
  EXPECT_FALSE(llama.tie_word_embeddings);
  EXPECT_FALSE(llama.qkv_bias);
}

TEST(DecoderConfigParse, NestedTextConfigWithRopeParameters) {
  const fs::path file =
      fs::path(CLIPMIND_TEST_DATA_DIR) / "vlm-golden/llava-onevision-tiny/config.json";
  const DecoderConfig config = parse_decoder_config(read_json_file(file), file.string());
  EXPECT_EQ(config.arch, DecoderArch::kQwen2);
  EXPECT_EQ(config.hidden_size, 64);
  EXPECT_EQ(config.num_kv_heads, 2);
  EXPECT_DOUBLE_EQ(config.rope_theta, 1e6);
  EXPECT_FALSE(config.tie_word_embeddings);
}

TEST(DecoderConfigParse, DefaultsAndRefusals) {
  // A diff-style nested config: missing keys take Qwen2Config's defaults.
  const auto sparse = nlohmann::json::parse(
      R"({"model_type":"llava_onevision","text_config":{"model_type":"qwen2","hidden_size":896,)"
      R"("num_attention_heads":14,"num_key_value_heads":2,"num_hidden_layers":24,"intermediate_size":4864,)"
      R"("rope_theta":1000000.0,"tie_word_embeddings":true}})");
  const DecoderConfig config = parse_decoder_config(sparse, "c.json");
  EXPECT_EQ(config.vocab_size, 151936);
  EXPECT_EQ(config.max_position_embeddings, 32768);
  EXPECT_EQ(config.head_dim, 64);
  EXPECT_DOUBLE_EQ(config.rms_norm_eps, 1e-6);

  const auto round_trip = parse_decoder_config(decoder_config_json(config), "rt.json");
  EXPECT_EQ(round_trip.hidden_size, config.hidden_size);
  EXPECT_EQ(round_trip.vocab_size, config.vocab_size);
  EXPECT_EQ(round_trip.tie_word_embeddings, config.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(round_trip.rope_theta, config.rope_theta);

  const auto refused = [](const std::string& text) {
    try {
      parse_decoder_config(nlohmann::json::parse(text), "c.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("<accepted>");
  };
  EXPECT_NE(refused(R"({"model_type":"gpt2"})").find("not supported"), std::string::npos);
  EXPECT_NE(refused(R"({"model_type":"llama","rope_scaling":{"rope_type":"llama3","factor":8}})")
                .find("rope_scaling \"llama3\""),
            std::string::npos);
  EXPECT_NE(refused(R"({"model_type":"qwen2","use_sliding_window":true})").find("sliding-window"),
            std::string::npos);
  EXPECT_NE(refused(R"({"model_type":"qwen2","hidden_act":"gelu"})").find("silu"),
            std::string::npos);
  EXPECT_NE(refused(R"({"model_type":"qwen2","hidden_size":"big"})")
                .find("\"hidden_size\" must be an integer"),
            std::string::npos);
  EXPECT_NE(
      refused(
          R"({"model_type":"qwen2","num_attention_heads":6,"num_key_value_heads":4,"hidden_size":96})")
          .find("not a multiple of num_key_value_heads"),
      std::string::npos);
  EXPECT_NE(refused(R"({"model_type":"qwen2","num_hidden_layers":-1})").find("positive"),
            std::string::npos);
  EXPECT_NE(refused(R"({"hidden_size":8})").find("model_type"), std::string::npos);

  const auto llama = parse_decoder_config(
      nlohmann::json::parse(R"({"model_type":"llama","attention_bias":true,"eos_token_id":[5,6]})"),
      "c.json");
  EXPECT_TRUE(llama.qkv_bias);
  EXPECT_TRUE(llama.o_bias);
  EXPECT_EQ(llama.eos_token_ids, (std::vector<int64_t>{5, 6}));
}

}  // namespace
}  // namespace clipmind::models
