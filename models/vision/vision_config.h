// config.json -> typed settings of the SigLIP vision tower and of the LLaVA-OneVision vision path
// (feature layer, select strategy, projector), as in docs/design/methods.md "Model contract" §2.
//
// Keys missing from a (possibly nested, diff-saved) config take the defaults of the transformers
// config class, as transformers itself does: SiglipVisionConfig for a `siglip_vision_model`
// object, and the SigLIP-so400m 26-layer tower LlavaOnevisionConfig builds when a LLaVA config
// has no `vision_config`. Settings that clipmind does not implement (another activation, a
// non-square patch, select strategy other than full/default) throw kUnsupported; malformed
// values throw kInvalidInput. Messages name the file and the key.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace clipmind::models {

enum class GeluKind { kTanh, kErf };

// transformers' activation names: gelu_pytorch_tanh / gelu_new / gelu_fast (tanh approximation),
// gelu / gelu_python (erf). Anything else throws kUnsupported naming `where` and `key`.
GeluKind parse_gelu_kind(const std::string& name, const char* key, const std::string& where);
const char* gelu_kind_name(GeluKind kind);

// One SigLIP transformer (vision or text share this shape).
struct SiglipVisionConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t num_channels = 3;
  int64_t image_size = 224;  // trained resolution (square)
  int64_t patch_size = 16;
  double layer_norm_eps = 1e-6;
  GeluKind hidden_act = GeluKind::kTanh;
  bool use_head = true;  // MAP attention-pooling head (dual encoder); false in LLaVA towers

  int64_t head_dim() const { return hidden_size / num_heads; }
  int64_t grid() const { return image_size / patch_size; }  // patches per side
  int64_t num_positions() const { return grid() * grid(); }
};

// Parses a `siglip_vision_model` object (a `vision_config`). `defaults` fills absent keys.
SiglipVisionConfig parse_siglip_vision_config(const nlohmann::json& object,
                                              const std::string& where,
                                              const SiglipVisionConfig& defaults = {});

// The tower LlavaOnevisionConfig builds by default: SigLIP-so400m-patch14-384 with 26 layers
// and no head.
SiglipVisionConfig llava_onevision_default_vision_config();

// The vision side of a `llava_onevision` config.json.
struct LlavaVisionConfig {
  SiglipVisionConfig vision;
  // hidden_states indices (0 = embeddings, k = output of layer k-1, negative from the end);
  // several = concatenated on the channel axis, in the order given.
  std::vector<int64_t> feature_layers{-1};
  bool drop_first_token = false;  // select strategy "default" (drops token 0); "full" keeps all
  GeluKind projector_act = GeluKind::kErf;
  bool projector_bias = true;
  int64_t image_token_id = 151646;
  int64_t video_token_id = 151647;

  // feature_layers resolved to hidden_states indices in [0, num_layers].
  std::vector<int64_t> resolved_feature_layers() const;
};

LlavaVisionConfig parse_llava_vision_config(const nlohmann::json& config, const std::string& where);
// Reads `model_dir/config.json`; its model_type must be llava_onevision (or llava_next_video /
// llava, which share these keys).
LlavaVisionConfig read_llava_vision_config(const std::filesystem::path& model_dir);

// The inverse, for writing model folders: a `vision_config` object with every key above.
nlohmann::json siglip_vision_config_json(const SiglipVisionConfig& config);

}  // namespace clipmind::models
