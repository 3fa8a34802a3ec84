#include "models/weights/model_config.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "models/weights/config_check.h"
#include "models/weights/json_file.h"

namespace clipmind::models {
namespace {

// Decoder sizes (vocabularies, context lengths) may exceed the towers' 2^30 bound.
constexpr int64_t kMaxSize = int64_t{1} << 40;

std::vector<int64_t> id_list(const nlohmann::json& object, const char* key,
                             const std::string& where) {
  std::vector<int64_t> ids;
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return ids;
  if (it->is_number_integer()) {
    ids.push_back(it->get<int64_t>());
  } else if (it->is_array()) {
    for (const auto& v : *it) {
      if (!v.is_number_integer())
        config_invalid(where, std::string("\"") + key + "\" must hold integers");
      ids.push_back(v.get<int64_t>());
    }
  } else {
    config_invalid(where, std::string("\"") + key + "\" must be an integer or a list of integers");
  }
  return ids;
}

}  // namespace

std::string DecoderConfig::model_type() const {
  return arch == DecoderArch::kQwen2 ? "qwen2" : "llama";
}

DecoderConfig parse_decoder_config(const nlohmann::json& root, const std::string& file) {
  if (!root.is_object()) config_invalid(file, "config is not a JSON object");
  const nlohmann::json* c = &root;
  std::string where = file;
  if (const auto it = root.find("text_config"); it != root.end() && !it->is_null()) {
    if (!it->is_object()) config_invalid(file, "\"text_config\" is not an object");
    c = &*it;
    where = file + " (text_config)";
  }
  std::string model_type = json_opt_string(*c, "model_type", where).value_or("");
  if (model_type.empty() && c == &root) config_invalid(where, "missing \"model_type\"");
  if (model_type.empty()) {
    // An old multimodal config may omit the nested model_type; the language model's
    // architectures entry (if any) still names it.
    model_type = "qwen2";
  }

  DecoderConfig config;
  if (model_type == "qwen2") {
    config.arch = DecoderArch::kQwen2;
  } else if (model_type == "llama") {
    config.arch = DecoderArch::kLlama;
  } else {
    config_unsupported(where, "model_type \"" + model_type +
                                  "\" is not supported (clipmind runs qwen2 and llama decoders)");
  }
  const bool qwen = config.arch == DecoderArch::kQwen2;

  // Defaults of transformers' Qwen2Config / LlamaConfig.
  config.vocab_size = json_positive_int(*c, "vocab_size", qwen ? 151936 : 32000, where, kMaxSize);
  config.hidden_size = json_positive_int(*c, "hidden_size", 4096, where, kMaxSize);
  config.intermediate_size =
      json_positive_int(*c, "intermediate_size", qwen ? 22016 : 11008, where, kMaxSize);
  config.num_layers = json_positive_int(*c, "num_hidden_layers", 32, where, kMaxSize);
  config.num_heads = json_positive_int(*c, "num_attention_heads", 32, where, kMaxSize);
  config.num_kv_heads =
      json_positive_int(*c, "num_key_value_heads", config.num_heads, where, kMaxSize);
  config.max_position_embeddings =
      json_positive_int(*c, "max_position_embeddings", qwen ? 32768 : 2048, where, kMaxSize);
  if (config.hidden_size % config.num_heads != 0 && !json_opt_int(*c, "head_dim", where)) {
    config_invalid(where, "hidden_size " + std::to_string(config.hidden_size) +
                              " is not a multiple of num_attention_heads " +
                              std::to_string(config.num_heads));
  }
  config.head_dim =
      json_positive_int(*c, "head_dim", config.hidden_size / config.num_heads, where, kMaxSize);
  if (config.head_dim % 2 != 0)
    config_invalid(where, "head_dim must be even for rotary embeddings");
  if (config.num_heads % config.num_kv_heads != 0) {
    config_invalid(where, "num_attention_heads " + std::to_string(config.num_heads) +
                              " is not a multiple of num_key_value_heads " +
                              std::to_string(config.num_kv_heads));
  }

  config.rms_norm_eps = json_opt_number(*c, "rms_norm_eps", where).value_or(1e-6);
  if (!(config.rms_norm_eps > 0 && config.rms_norm_eps < 1))
    config_invalid(where, "\"rms_norm_eps\" must be in (0, 1)");

  std::optional<double> theta = json_opt_number(*c, "rope_theta", where);
  if (const auto it = c->find("rope_parameters"); it != c->end() && it->is_object()) {
    if (!theta) theta = json_opt_number(*it, "rope_theta", where + " rope_parameters");
    const auto type =
        json_opt_string(*it, "rope_type", where + " rope_parameters").value_or("default");
    if (type != "default") config_unsupported(where, "rope_type \"" + type + "\" is not supported");
  }
  config.rope_theta = theta.value_or(10000.0);
  if (!(config.rope_theta > 1.0) || !std::isfinite(config.rope_theta))
    config_invalid(where, "\"rope_theta\" must be > 1");
  if (const auto it = c->find("rope_scaling"); it != c->end() && !it->is_null()) {
    std::string type = "?";
    if (it->is_object()) {
      type = json_opt_string(*it, "rope_type", where)
                 .value_or(json_opt_string(*it, "type", where).value_or("?"));
    }
    if (type != "default")
      config_unsupported(where, "rope_scaling \"" + type + "\" is not supported");
  }
  if (const auto factor = json_opt_number(*c, "partial_rotary_factor", where);
      factor && *factor != 1.0) {
    config_unsupported(where, "partial_rotary_factor != 1 is not supported");
  }
  if (json_opt_bool(*c, "use_sliding_window", where).value_or(false)) {
    config_unsupported(where,
                       "sliding-window attention (use_sliding_window: true) is not supported");
  }
  const std::string act = json_opt_string(*c, "hidden_act", where).value_or("silu");
  if (act != "silu")
    config_unsupported(where, "hidden_act \"" + act + "\" is not supported (only silu)");

  // The text config's own tie flag; Decoder also ties when lm_head is absent (methods.md).
  config.tie_word_embeddings = json_opt_bool(*c, "tie_word_embeddings", where).value_or(false);
  if (qwen) {
    config.qkv_bias = true;
  } else {
    const bool attention_bias = json_opt_bool(*c, "attention_bias", where).value_or(false);
    config.qkv_bias = attention_bias;
    config.o_bias = attention_bias;
    config.mlp_bias = json_opt_bool(*c, "mlp_bias", where).value_or(false);
  }
  config.bos_token_id = json_opt_int(*c, "bos_token_id", where);
  config.eos_token_ids = id_list(*c, "eos_token_id", where);
  if (config.eos_token_ids.empty() && c != &root)
    config.eos_token_ids = id_list(root, "eos_token_id", file);
  return config;
}

DecoderConfig read_decoder_config(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "config.json";
  DecoderConfig config = parse_decoder_config(read_json_file(path), path.string());
  const auto generation = model_dir / "generation_config.json";
  std::error_code ec;
  if (std::filesystem::exists(generation, ec)) {
    const nlohmann::json g = read_json_file(generation);
    if (g.is_object()) {
      for (const int64_t id : id_list(g, "eos_token_id", generation.string())) {
        if (std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), id) ==
            config.eos_token_ids.end()) {
          config.eos_token_ids.push_back(id);
        }
      }
    }
  }
  return config;
}

nlohmann::json decoder_config_json(const DecoderConfig& c) {
  const bool qwen = c.arch == DecoderArch::kQwen2;
  nlohmann::json j;
  j["architectures"] = {qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  j["model_type"] = c.model_type();
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["num_key_value_heads"] = c.num_kv_heads;
  if (c.head_dim != c.hidden_size / c.num_heads) j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rope_theta"] = c.rope_theta;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["torch_dtype"] = "float32";
  j["use_cache"] = true;
  if (qwen) {
    j["use_sliding_window"] = false;
    j["sliding_window"] = c.max_position_embeddings;
    j["max_window_layers"] = c.num_layers;
  } else {
    j["attention_bias"] = c.qkv_bias;
    j["mlp_bias"] = c.mlp_bias;
  }
  if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
  if (c.eos_token_ids.size() == 1) {
    j["eos_token_id"] = c.eos_token_ids[0];
  } else if (!c.eos_token_ids.empty()) {
    j["eos_token_id"] = c.eos_token_ids;
  }
  return j;
}

}  // namespace clipmind::models
