// config.json of a SigLIP dual encoder (`model_type` "siglip": google/siglip-* checkpoints) ->
// typed text and vision settings (docs/design/methods.md "SigLIP dual encoder").
//
// Keys missing from `text_config` / `vision_config` take SiglipTextConfig / SiglipVisionConfig's
// defaults, as transformers does. Throws kNotFound / kInvalidInput / kUnsupported naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "models/vision/vision_config.h"

namespace clipmind::models {

struct SiglipTextConfig {
  int64_t vocab_size = 32000;
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t max_positions = 64;
  double layer_norm_eps = 1e-6;
  GeluKind hidden_act = GeluKind::kTanh;
  int64_t projection_size = 768;  // head output; the checkpoint's head shape decides in the end
  int64_t pad_token_id = 1;
};

struct SiglipModelConfig {
  SiglipTextConfig text;
  SiglipVisionConfig vision;
};

SiglipModelConfig parse_siglip_config(const nlohmann::json& config, const std::string& where);
// Reads `model_dir/config.json`; model_type must be "siglip".
SiglipModelConfig read_siglip_config(const std::filesystem::path& model_dir);

// For writing model folders: the full config.json of a SiglipModel.
nlohmann::json siglip_config_json(const SiglipModelConfig& config);

}  // namespace clipmind::models
