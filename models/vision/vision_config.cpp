#include "models/vision/vision_config.h"

#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/weights/config_check.h"
#include "models/weights/json_file.h"

namespace clipmind::models {

GeluKind parse_gelu_kind(const std::string& name, const char* key, const std::string& where) {
  // transformers' ACT2FN names: the tanh approximation has three spellings.
  if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast") {
    return GeluKind::kTanh;
  }
  if (name == "gelu" || name == "gelu_python") return GeluKind::kErf;
  config_unsupported(where, std::string("\"") + key + "\" \"" + name +
                                "\" is not supported (gelu or gelu_pytorch_tanh)");
}

const char* gelu_kind_name(GeluKind kind) {
  return kind == GeluKind::kTanh ? "gelu_pytorch_tanh" : "gelu";
}

SiglipVisionConfig parse_siglip_vision_config(const nlohmann::json& c, const std::string& where,
                                              const SiglipVisionConfig& defaults) {
  if (!c.is_object()) config_invalid(where, "is not a JSON object");
  SiglipVisionConfig config;
  config.hidden_size = json_positive_int(c, "hidden_size", defaults.hidden_size, where);
  config.intermediate_size =
      json_positive_int(c, "intermediate_size", defaults.intermediate_size, where);
  config.num_layers = json_positive_int(c, "num_hidden_layers", defaults.num_layers, where);
  config.num_heads = json_positive_int(c, "num_attention_heads", defaults.num_heads, where);
  config.num_channels = json_positive_int(c, "num_channels", defaults.num_channels, where);
  config.image_size = json_positive_int(c, "image_size", defaults.image_size, where);
  config.patch_size = json_positive_int(c, "patch_size", defaults.patch_size, where);
  config.layer_norm_eps =
      json_opt_number(c, "layer_norm_eps", where).value_or(defaults.layer_norm_eps);
  if (!(config.layer_norm_eps > 0 && config.layer_norm_eps < 1))
    config_invalid(where, "\"layer_norm_eps\" must be in (0, 1)");
  if (const auto act = json_opt_string(c, "hidden_act", where)) {
    config.hidden_act = parse_gelu_kind(*act, "hidden_act", where);
  } else {
    config.hidden_act = defaults.hidden_act;
  }
  config.use_head = json_opt_bool(c, "vision_use_head", where).value_or(defaults.use_head);
  if (config.hidden_size % config.num_heads != 0) {
    config_invalid(where, "hidden_size " + std::to_string(config.hidden_size) +
                              " is not a multiple of num_attention_heads " +
                              std::to_string(config.num_heads));
  }
  // image_size need not be a multiple of patch_size: so400m has 384 px and 14 px patches; the
  // stride-14 convolution covers 27 x 14 = 378 px and ignores the rest, like transformers.
  if (config.image_size < config.patch_size)
    config_invalid(where, "image_size is smaller than one patch");
  if (config.num_channels != 3)
    config_unsupported(where, "only 3-channel (RGB) towers are supported");
  return config;
}

SiglipVisionConfig llava_onevision_default_vision_config() {
  SiglipVisionConfig c;
  c.hidden_size = 1152;
  c.intermediate_size = 4304;
  c.num_layers = 26;
  c.num_heads = 16;
  c.image_size = 384;
  c.patch_size = 14;
  c.use_head = false;
  return c;
}

std::vector<int64_t> LlavaVisionConfig::resolved_feature_layers() const {
  std::vector<int64_t> out;
  const int64_t count = vision.num_layers + 1;  // hidden_states has embeddings + every layer
  for (const int64_t layer : feature_layers) {
    const int64_t index = layer < 0 ? layer + count : layer;
    if (index < 0 || index >= count) {
      throw Error(ErrorKind::kInvalidInput,
                  "vision_feature_layer " + std::to_string(layer) + " is outside the " +
                      std::to_string(vision.num_layers) + "-layer vision tower");
    }
    out.push_back(index);
  }
  return out;
}

LlavaVisionConfig parse_llava_vision_config(const nlohmann::json& root, const std::string& file) {
  if (!root.is_object()) config_invalid(file, "config is not a JSON object");
  LlavaVisionConfig config;
  const SiglipVisionConfig defaults = llava_onevision_default_vision_config();
  if (const auto it = root.find("vision_config"); it != root.end() && !it->is_null()) {
    const std::string where = file + " (vision_config)";
    const std::string type =
        json_opt_string(*it, "model_type", where).value_or("siglip_vision_model");
    if (type != "siglip_vision_model") {
      config_unsupported(where, "vision model_type \"" + type +
                                    "\" is not supported (clipmind runs SigLIP towers)");
    }
    config.vision = parse_siglip_vision_config(*it, where, defaults);
  } else {
    config.vision = defaults;
  }

  if (const auto it = root.find("vision_feature_layer"); it != root.end() && !it->is_null()) {
    config.feature_layers.clear();
    if (it->is_number_integer()) {
      config.feature_layers.push_back(it->get<int64_t>());
    } else if (it->is_array() && !it->empty()) {
      for (const auto& v : *it) {
        if (!v.is_number_integer())
          config_invalid(file, "\"vision_feature_layer\" must hold integers");
        config.feature_layers.push_back(v.get<int64_t>());
      }
    } else {
      config_invalid(file, "\"vision_feature_layer\" must be an integer or a non-empty list");
    }
  }
  try {
    (void)config.resolved_feature_layers();
  } catch (const Error& e) {
    config_invalid(file, e.what());
  }
  const std::string strategy =
      json_opt_string(root, "vision_feature_select_strategy", file).value_or("full");
  if (strategy == "full") {
    config.drop_first_token = false;
  } else if (strategy == "default") {
    config.drop_first_token = true;
  } else {
    config_unsupported(file,
                       "vision_feature_select_strategy \"" + strategy + "\" is not supported");
  }
  config.projector_act =
      parse_gelu_kind(json_opt_string(root, "projector_hidden_act", file).value_or("gelu"),
                      "projector_hidden_act", file);
  config.projector_bias = json_opt_bool(root, "multimodal_projector_bias", file).value_or(true);
  // Newer saves spell these `*_token_id`.
  config.image_token_id =
      json_opt_int(root, "image_token_index", file)
          .value_or(json_opt_int(root, "image_token_id", file).value_or(151646));
  config.video_token_id =
      json_opt_int(root, "video_token_index", file)
          .value_or(json_opt_int(root, "video_token_id", file).value_or(151647));
  return config;
}

LlavaVisionConfig read_llava_vision_config(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "config.json";
  const nlohmann::json root = read_json_file(path);
  const std::string type = json_opt_string(root, "model_type", path.string()).value_or("");
  if (type != "llava_onevision" && type != "llava_next_video" && type != "llava") {
    config_unsupported(path.string(), "model_type \"" + type + "\" is not a LLaVA-OneVision model");
  }
  return parse_llava_vision_config(root, path.string());
}

nlohmann::json siglip_vision_config_json(const SiglipVisionConfig& c) {
  nlohmann::json j;
  j["model_type"] = "siglip_vision_model";
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["num_channels"] = c.num_channels;
  j["image_size"] = c.image_size;
  j["patch_size"] = c.patch_size;
  j["layer_norm_eps"] = c.layer_norm_eps;
  j["hidden_act"] = gelu_kind_name(c.hidden_act);
  j["attention_dropout"] = 0.0;
  j["vision_use_head"] = c.use_head;
  return j;
}

}  // namespace clipmind::models
