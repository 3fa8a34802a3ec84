#include "models/vlm/tiny_vlm.h"

#include <cmath>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "clipmind/atomic_file.h"
#include "clipmind/error.h"
#include "models/siglip/siglip_config.h"
#include "models/siglip/siglip_tokenizer.h"
#include "models/tiny/tiny_model.h"
#include "models/vision/video_encoder.h"
#include "models/vision/vision_config.h"
#include "models/weights/model_config.h"
#include "models/weights/safetensors.h"

namespace clipmind::models {
namespace fs = std::filesystem;
namespace {

using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

bool real_dims(const std::string& dims) {
  if (dims == "tiny") return false;
  if (dims == "real-0.5b") return true;
  throw Error(ErrorKind::kInvalidArgument,
              "unknown --dims \"" + dims + "\" (expected tiny or real-0.5b)");
}

void write_json(const fs::path& path, const nlohmann::json& value) {
  AtomicFile file(path);
  file.write(value.dump(2) + "\n");
  file.commit();
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

// Seeded random tensors with the spreads of the vlm-golden fixtures.
class Init {
 public:
  Init(uint64_t seed, at::ScalarType dtype)
      : gen_(at::detail::createCPUGenerator(seed)), dtype_(dtype) {}
  at::Tensor normal(at::IntArrayRef shape, double std) {
    return (at::randn(shape, gen_, at::TensorOptions().dtype(at::kFloat)) * std).to(dtype_);
  }
  at::Tensor linear(int64_t out, int64_t in) { return normal({out, in}, 1.0 / std::sqrt(in)); }
  at::Tensor bias(int64_t n) { return normal({n}, 0.1); }
  at::Tensor norm_weight(int64_t n) {
    return (at::randn({n}, gen_, at::TensorOptions().dtype(at::kFloat)) * 0.15 + 1.0).to(dtype_);
  }

 private:
  at::Generator gen_;
  at::ScalarType dtype_;
};

void add_encoder(Tensors& t, Init& init, const std::string& prefix, int64_t layers, int64_t d,
                 int64_t m) {
  for (int64_t i = 0; i < layers; ++i) {
    const std::string p = prefix + "layers." + std::to_string(i) + ".";
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      t.emplace_back(p + "self_attn." + proj + ".weight", init.linear(d, d));
      t.emplace_back(p + "self_attn." + proj + ".bias", init.bias(d));
    }
    for (const char* norm : {"layer_norm1", "layer_norm2"}) {
      t.emplace_back(p + norm + ".weight", init.norm_weight(d));
      t.emplace_back(p + norm + ".bias", init.bias(d));
    }
    t.emplace_back(p + "mlp.fc1.weight", init.linear(m, d));
    t.emplace_back(p + "mlp.fc1.bias", init.bias(m));
    t.emplace_back(p + "mlp.fc2.weight", init.linear(d, m));
    t.emplace_back(p + "mlp.fc2.bias", init.bias(d));
  }
}

void add_vision_tower(Tensors& t, Init& init, const std::string& prefix,
                      const SiglipVisionConfig& c) {
  const int64_t d = c.hidden_size;
  const int64_t p = c.patch_size;
  t.emplace_back(prefix + "embeddings.patch_embedding.weight",
                 init.normal({d, 3, p, p}, 1.0 / std::sqrt(3.0 * p * p)));
  t.emplace_back(prefix + "embeddings.patch_embedding.bias", init.bias(d));
  t.emplace_back(prefix + "embeddings.position_embedding.weight",
                 init.normal({c.num_positions(), d}, 0.5));
  add_encoder(t, init, prefix + "encoder.", c.num_layers, d, c.intermediate_size);
  t.emplace_back(prefix + "post_layernorm.weight", init.norm_weight(d));
  t.emplace_back(prefix + "post_layernorm.bias", init.bias(d));
  if (c.use_head) {
    const std::string h = prefix + "head.";
    t.emplace_back(h + "probe", init.normal({1, 1, d}, 0.5));
    t.emplace_back(h + "attention.in_proj_weight", init.linear(3 * d, d));
    t.emplace_back(h + "attention.in_proj_bias", init.bias(3 * d));
    t.emplace_back(h + "attention.out_proj.weight", init.linear(d, d));
    t.emplace_back(h + "attention.out_proj.bias", init.bias(d));
    t.emplace_back(h + "layernorm.weight", init.norm_weight(d));
    t.emplace_back(h + "layernorm.bias", init.bias(d));
    t.emplace_back(h + "mlp.fc1.weight", init.linear(c.intermediate_size, d));
    t.emplace_back(h + "mlp.fc1.bias", init.bias(c.intermediate_size));
    t.emplace_back(h + "mlp.fc2.weight", init.linear(d, c.intermediate_size));
    t.emplace_back(h + "mlp.fc2.bias", init.bias(d));
  }
}

SiglipVisionConfig vision_dims(bool real, bool head, int64_t real_layers) {
  SiglipVisionConfig c;
  if (real) {
    c = llava_onevision_default_vision_config();
    c.num_layers = real_layers;
  } else {
    c.hidden_size = 32;
    c.intermediate_size = 64;
    c.num_layers = 2;
    c.num_heads = 2;
    c.image_size = 28;
    c.patch_size = 4;
  }
  c.use_head = head;
  return c;
}

// SigLIP's image processor settings (google/siglip-*: 384 or 224 px, bicubic, mean = std = 0.5).
nlohmann::json preprocessor_json(int64_t size, const char* processor_type) {
  nlohmann::json j;
  j["do_convert_rgb"] = true;
  j["do_normalize"] = true;
  j["do_rescale"] = true;
  j["do_resize"] = true;
  j["image_mean"] = {0.5, 0.5, 0.5};
  j["image_std"] = {0.5, 0.5, 0.5};
  j["resample"] = 3;
  j["rescale_factor"] = 1.0 / 255.0;
  j["size"] = {{"height", size}, {"width", size}};
  j["image_processor_type"] = processor_type;
  return j;
}

// A small English text for the tiny SentencePiece model: enough distinct words that a few
// hundred pieces exist, and the phrases tests and examples use.
std::vector<std::string> tiny_corpus() {
  const std::vector<std::string> subjects = {
      "a dog",       "the cat",   "an apple",      "a picture of an apple", "a man",   "two birds",
      "the red car", "a woman",   "a small house", "the children",          "a train", "the ocean",
      "a player",    "the crowd", "a chef"};
  const std::vector<std::string> verbs = {"runs on",    "sits near",  "is next to", "looks at",
                                          "jumps over", "lies under", "walks into", "cooks in",
                                          "waits by",   "plays with"};
  const std::vector<std::string> objects = {
      "the table",  "a tree",      "the road",    "a green field", "the river", "an old bridge",
      "the window", "the kitchen", "a blue ball", "the station",   "the beach", "a video"};
  std::vector<std::string> out;
  for (const auto& s : subjects)
    for (const auto& v : verbs)
      for (const auto& o : objects)
        out.push_back(s + " " + v + " " + o);
  return out;
}

void prepare_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorKind::kIo, dir.string() + ": cannot create: " + ec.message());
}

}  // namespace

void write_tiny_siglip_vision(const fs::path& dir, const std::string& dims, uint64_t seed) {
  const bool real = real_dims(dims);
  prepare_dir(dir);
  // real-0.5b: the LLaVA-OneVision tower (26 layers, no head) as a standalone model.
  const SiglipVisionConfig c = vision_dims(real, /*head=*/!real, 26);
  Init init(seed, real ? at::kBFloat16 : at::kFloat);
  Tensors tensors;
  add_vision_tower(tensors, init, "vision_model.", c);
  write_safetensors(dir / "model.safetensors", tensors);
  nlohmann::json config = siglip_vision_config_json(c);
  config["architectures"] = {"SiglipVisionModel"};
  config["torch_dtype"] = real ? "bfloat16" : "float32";
  write_json(dir / "config.json", config);
  write_json(dir / "preprocessor_config.json",
             preprocessor_json(c.image_size, "SiglipImageProcessor"));
}

void write_tiny_siglip_dual(const fs::path& dir, const std::string& dims, uint64_t seed) {
  const bool real = real_dims(dims);
  prepare_dir(dir);
  SiglipModelConfig config;
  config.vision = vision_dims(real, /*head=*/true, 27);
  const std::string spm = train_tiny_sentencepiece(tiny_corpus(), real ? 1000 : 200);
  const SiglipTokenizer probe = SiglipTokenizer::from_serialized(spm, 16, "trained model");
  if (real) {
    config.text.vocab_size = 32000;
    config.text.hidden_size = 1152;
    config.text.intermediate_size = 4304;
    config.text.num_layers = 27;
    config.text.num_heads = 16;
    config.text.max_positions = 64;
  } else {
    config.text.vocab_size = probe.vocab_size();
    config.text.hidden_size = 32;
    config.text.intermediate_size = 64;
    config.text.num_layers = 2;
    config.text.num_heads = 2;
    config.text.max_positions = 16;
  }
  config.text.projection_size = config.text.hidden_size;
  config.text.pad_token_id = probe.pad_id();

  Init init(seed, real ? at::kBFloat16 : at::kFloat);
  Tensors tensors;
  const SiglipTextConfig& t = config.text;
  tensors.emplace_back("text_model.embeddings.token_embedding.weight",
                       init.normal({t.vocab_size, t.hidden_size}, 0.5));
  tensors.emplace_back("text_model.embeddings.position_embedding.weight",
                       init.normal({t.max_positions, t.hidden_size}, 0.5));
  add_encoder(tensors, init, "text_model.encoder.", t.num_layers, t.hidden_size,
              t.intermediate_size);
  tensors.emplace_back("text_model.final_layer_norm.weight", init.norm_weight(t.hidden_size));
  tensors.emplace_back("text_model.final_layer_norm.bias", init.bias(t.hidden_size));
  tensors.emplace_back("text_model.head.weight", init.linear(t.hidden_size, t.hidden_size));
  tensors.emplace_back("text_model.head.bias", init.bias(t.hidden_size));
  add_vision_tower(tensors, init, "vision_model.", config.vision);
  // google/siglip checkpoints learn logit_scale ~ log(117) and logit_bias ~ -12.7; use those so
  // probabilities look like a real model's (mostly small).
  tensors.emplace_back("logit_scale", at::full({1}, std::log(117.33), at::kFloat));
  tensors.emplace_back("logit_bias", at::full({1}, -12.66, at::kFloat));
  write_safetensors(dir / "model.safetensors", tensors);

  nlohmann::json config_json = siglip_config_json(config);
  config_json["torch_dtype"] = real ? "bfloat16" : "float32";
  write_json(dir / "config.json", config_json);
  write_json(dir / "preprocessor_config.json",
             preprocessor_json(config.vision.image_size, "SiglipImageProcessor"));
  write_bytes(dir / "spiece.model", spm);
  nlohmann::json tok;
  tok["tokenizer_class"] = "SiglipTokenizer";
  tok["model_max_length"] = t.max_positions;
  tok["do_lower_case"] = true;
  tok["eos_token"] = "</s>";
  tok["pad_token"] = "</s>";
  tok["unk_token"] = "<unk>";
  tok["model_input_names"] = {"input_ids"};
  write_json(dir / "tokenizer_config.json", tok);
  write_json(dir / "special_tokens_map.json",
             {{"eos_token", "</s>"}, {"pad_token", "</s>"}, {"unk_token", "<unk>"}});
}

void write_tiny_llava_onevision(const fs::path& dir, const std::string& dims, uint64_t seed) {
  const bool real = real_dims(dims);
  prepare_dir(dir);
  const DecoderConfig text =
      tiny_decoder_config(DecoderArch::kQwen2, real ? TinyDims::kReal05B : TinyDims::kTiny);
  LlavaVisionConfig vision;
  vision.vision = vision_dims(real, /*head=*/false, 26);
  const at::ScalarType dtype = real ? at::kBFloat16 : at::kFloat;
  // The llava-hf legacy layout: language_model.model.* / language_model.lm_head.weight.
  Tensors tensors = random_decoder_tensors(
      text, {"language_model.model.", "language_model.lm_head.weight"}, seed, dtype);
  Init init(seed + 1, dtype);
  for (const TensorSpec& spec : llava_vision_specs(vision, text.hidden_size)) {
    if (!spec.required && spec.name.find("post_layernorm") == std::string::npos) continue;
    const std::string& n = spec.name;
    const bool is_norm =
        n.find("layer_norm") != std::string::npos || n.find("layernorm") != std::string::npos;
    at::Tensor t;
    if (is_norm) {
      t = n.ends_with("weight") ? init.norm_weight(spec.shape.at(0)) : init.bias(spec.shape.at(0));
    } else if (n.find("position_embedding") != std::string::npos || n == "image_newline") {
      t = init.normal(spec.shape, 0.5);
    } else if (spec.shape.size() >= 2) {
      int64_t fan_in = 1;
      for (size_t i = 1; i < spec.shape.size(); ++i)
        fan_in *= spec.shape[i];
      t = init.normal(spec.shape, 1.0 / std::sqrt(static_cast<double>(fan_in)));
    } else {
      t = init.bias(spec.shape.at(0));
    }
    tensors.emplace_back(n, t);
  }
  write_safetensors(dir / "model.safetensors", tensors);

  const TinyTokenizerInfo tokens =
      write_tiny_tokenizer(dir, text.vocab_size, qwen2_chat_template());
  nlohmann::json config;
  config["model_type"] = "llava_onevision";
  config["architectures"] = {"LlavaOnevisionForConditionalGeneration"};
  config["text_config"] = decoder_config_json(text);
  config["vision_config"] = siglip_vision_config_json(vision.vision);
  config["vision_config"]["model_type"] = "siglip_vision_model";
  config["image_token_index"] = tokens.special.at("<image>");
  config["video_token_index"] = tokens.special.at("<video>");
  config["vision_feature_layer"] = -1;
  config["vision_feature_select_strategy"] = "full";
  config["projector_hidden_act"] = "gelu";
  config["tie_word_embeddings"] = text.tie_word_embeddings;
  config["torch_dtype"] = real ? "bfloat16" : "float32";
  write_json(dir / "config.json", config);
  nlohmann::json processor =
      preprocessor_json(vision.vision.image_size, "LlavaOnevisionVideoProcessor");
  write_json(dir / "video_preprocessor_config.json", processor);
  processor["image_processor_type"] = "LlavaOnevisionImageProcessor";
  write_json(dir / "preprocessor_config.json", processor);
}

}  // namespace clipmind::models
