// config.json -> typed decoder configuration for the Qwen2 and Llama families.
//
// Accepts a plain `Qwen2ForCausalLM` / `LlamaForCausalLM` config and a multimodal one whose
// language model sits in a nested `text_config` (LLaVA-OneVision). Keys missing from the file
// take the defaults of the transformers config class (Qwen2Config / LlamaConfig), as
// transformers itself does: nested configs are often saved as a diff against those defaults.
// `rope_theta` may be top-level or inside `rope_parameters` (transformers 5). Settings we do
// not implement (rope scaling, sliding-window attention, partial rotary, activations other than
// SiLU) are refused with kUnsupported instead of being silently ignored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace clipmind::models {

enum class DecoderArch { kQwen2, kLlama };

struct DecoderConfig {
  DecoderArch arch = DecoderArch::kQwen2;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 0;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Qwen2: always; Llama: attention_bias
  bool o_bias = false;    // Llama attention_bias only
  bool mlp_bias = false;  // Llama mlp_bias
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;

  // "qwen2" / "llama", the HF model_type.
  std::string model_type() const;
};

// Parses a config object. `where` names the file for messages. Throws kInvalidInput for
// malformed values, kUnsupported for other architectures and unimplemented settings.
DecoderConfig parse_decoder_config(const nlohmann::json& config, const std::string& where);

// Reads `model_dir/config.json` (and adds eos ids from generation_config.json when present).
DecoderConfig read_decoder_config(const std::filesystem::path& model_dir);

// The config as Hugging Face writes it (model_type, architectures, every key above), for
// writing model folders; parse_decoder_config(decoder_config_json(c)) == c.
nlohmann::json decoder_config_json(const DecoderConfig& config);

}  // namespace clipmind::models
