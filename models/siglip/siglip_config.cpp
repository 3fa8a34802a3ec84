#include "models/siglip/siglip_config.h"

#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/weights/config_check.h"
#include "models/weights/json_file.h"

namespace clipmind::models {
namespace {

SiglipTextConfig parse_text(const nlohmann::json& c, const std::string& where) {
  if (!c.is_object()) config_invalid(where, "is not a JSON object");
  SiglipTextConfig t;
  t.vocab_size = json_positive_int(c, "vocab_size", t.vocab_size, where);
  t.hidden_size = json_positive_int(c, "hidden_size", t.hidden_size, where);
  t.intermediate_size = json_positive_int(c, "intermediate_size", t.intermediate_size, where);
  t.num_layers = json_positive_int(c, "num_hidden_layers", t.num_layers, where);
  t.num_heads = json_positive_int(c, "num_attention_heads", t.num_heads, where);
  t.max_positions = json_positive_int(c, "max_position_embeddings", t.max_positions, where);
  t.layer_norm_eps = json_opt_number(c, "layer_norm_eps", where).value_or(t.layer_norm_eps);
  if (!(t.layer_norm_eps > 0 && t.layer_norm_eps < 1))
    config_invalid(where, "\"layer_norm_eps\" must be in (0, 1)");
  if (const auto act = json_opt_string(c, "hidden_act", where))
    t.hidden_act = parse_gelu_kind(*act, "hidden_act", where);
  t.projection_size = json_positive_int(c, "projection_size", t.hidden_size, where);
  t.pad_token_id = json_opt_int(c, "pad_token_id", where).value_or(t.pad_token_id);
  if (t.hidden_size % t.num_heads != 0) {
    config_invalid(where, "hidden_size " + std::to_string(t.hidden_size) +
                              " is not a multiple of num_attention_heads " +
                              std::to_string(t.num_heads));
  }
  return t;
}

}  // namespace

SiglipModelConfig parse_siglip_config(const nlohmann::json& root, const std::string& file) {
  if (!root.is_object()) config_invalid(file, "config is not a JSON object");
  SiglipModelConfig config;
  const auto text = root.find("text_config");
  config.text =
      parse_text(text != root.end() && !text->is_null() ? *text : nlohmann::json::object(),
                 file + " (text_config)");
  const auto vision = root.find("vision_config");
  config.vision = parse_siglip_vision_config(
      vision != root.end() && !vision->is_null() ? *vision : nlohmann::json::object(),
      file + " (vision_config)");
  config.vision.use_head = true;  // SiglipModel always builds the pooling head
  return config;
}

SiglipModelConfig read_siglip_config(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "config.json";
  const nlohmann::json root = read_json_file(path);
  const std::string type = json_opt_string(root, "model_type", path.string()).value_or("");
  if (type != "siglip") {
    throw Error(ErrorKind::kUnsupported,
                path.string() + ": model_type \"" + type +
                    "\" is not a SigLIP dual encoder (expected \"siglip\")");
  }
  return parse_siglip_config(root, path.string());
}

nlohmann::json siglip_config_json(const SiglipModelConfig& c) {
  nlohmann::json text;
  text["model_type"] = "siglip_text_model";
  text["vocab_size"] = c.text.vocab_size;
  text["hidden_size"] = c.text.hidden_size;
  text["intermediate_size"] = c.text.intermediate_size;
  text["num_hidden_layers"] = c.text.num_layers;
  text["num_attention_heads"] = c.text.num_heads;
  text["max_position_embeddings"] = c.text.max_positions;
  text["layer_norm_eps"] = c.text.layer_norm_eps;
  text["hidden_act"] = gelu_kind_name(c.text.hidden_act);
  text["projection_size"] = c.text.projection_size;
  text["pad_token_id"] = c.text.pad_token_id;
  text["attention_dropout"] = 0.0;
  nlohmann::json vision = siglip_vision_config_json(c.vision);
  vision.erase("vision_use_head");
  nlohmann::json j;
  j["architectures"] = {"SiglipModel"};
  j["model_type"] = "siglip";
  j["initializer_factor"] = 1.0;
  j["torch_dtype"] = "float32";
  j["text_config"] = text;
  j["vision_config"] = vision;
  return j;
}

}  // namespace clipmind::models
