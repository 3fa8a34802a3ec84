// Writes random-weight model folders in the real Hugging Face layout, for tests and benchmarks
// (no real weights can be downloaded here).
//
// A folder has config.json (HF keys), model.safetensors with the real tensor names,
// generation_config.json, and a small but real byte-level BPE tokenizer (tokenizer.json with
// merges learned from a built-in English text, tokenizer_config.json with a chat template and
// the Qwen special tokens), so every path a user's checkpoint takes works offline.
//
// Architectures are a registry (tiny_model_archs()): "qwen2" and "llama" live here; "siglip",
// "siglip-dual" and "llava-onevision" are written by models/vlm/tiny_vlm.h and reuse the
// building blocks below. Dims: "tiny" (hidden 64, 2 layers, vocab 512, float32) for tests,
// "real-0.5b" (Qwen2-0.5B: hidden 896, 24 layers, 14/2 heads, MLP 4864, vocab 151936,
// bfloat16 like the published checkpoint) for benchmarks.
//
// The output folder is written next to its final name and renamed into place at the end (the
// parent folder fsynced after it, rename_into_place), so a failure or a crash leaves no
// half-written model. An existing non-empty folder is refused.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "models/llm/decoder.h"
#include "models/weights/model_config.h"

namespace clipmind::models {

enum class TinyDims { kTiny, kReal05B };

// "tiny" / "real-0.5b"; throws kInvalidArgument otherwise.
TinyDims parse_tiny_dims(const std::string& name);
std::string tiny_dims_name(TinyDims dims);

struct TinyModelOptions {
  TinyDims dims = TinyDims::kTiny;
  uint64_t seed = 0;
};

using TinyModelWriter =
    std::function<void(const std::filesystem::path& dir, const TinyModelOptions&)>;
struct TinyArch {
  std::string name;
  std::string description;
  TinyModelWriter write;  // writes into an existing, empty folder
};
const std::vector<TinyArch>& tiny_model_archs();

// Writes a model of the named architecture into `out_dir` (see the file comment).
void write_tiny_model(const std::string& arch, const std::filesystem::path& out_dir,
                      const TinyModelOptions& options);

// ---- Building blocks -------------------------------------------------------------------------

// Special tokens of the tiny tokenizer, with their ids.
struct TinyTokenizerInfo {
  int64_t vocab_size = 0;  // the model's embedding rows (>= the tokenizer's ids)
  std::map<std::string, int64_t>
      special;  // "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"
};

// Writes tokenizer.json and tokenizer_config.json (chat template `chat_template_jinja`) for a
// model with `vocab_size` embedding rows. With Qwen-sized vocabularies the special tokens get
// their real Qwen2 / LLaVA-OneVision ids (151643.., <image> 151646, <video> 151647); otherwise
// they take the last ids.
TinyTokenizerInfo write_tiny_tokenizer(const std::filesystem::path& dir, int64_t vocab_size,
                                       const std::string& chat_template_jinja);

// The Qwen2 and SmolLM2 chat templates as published (ChatML with their default system
// messages), for tokenizer_config.json.
std::string qwen2_chat_template();
std::string smollm2_chat_template();

// A decoder config of the given family and size.
DecoderConfig tiny_decoder_config(DecoderArch arch, TinyDims dims);

// Random decoder weights with the real names under `names` (prefix, lm_head), stored as
// `dtype`. Deterministic for a seed.
std::vector<std::pair<std::string, at::Tensor>> random_decoder_tensors(
    const DecoderConfig& config, const DecoderWeightNames& names, uint64_t seed,
    at::ScalarType dtype);

}  // namespace clipmind::models
