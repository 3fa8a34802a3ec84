// Random-weight SigLIP and LLaVA-OneVision folders in the real Hugging Face layout, for tests and
// benchmarks (`clipmind make-tiny-model --arch siglip|siglip-dual|llava-onevision`).
//
//   siglip          SiglipVisionModel: config.json (model_type siglip_vision_model),
//                   model.safetensors (`vision_model.*`), preprocessor_config.json.
//   siglip-dual     SiglipModel (google/siglip-* layout): text + vision towers with the MAP head,
//                   logit_scale/logit_bias, preprocessor_config.json, a SentencePiece
//                   spiece.model trained on a built-in English text (<pad> 0, </s> 1, <unk> 2),
//                   tokenizer_config.json.
//   llava-onevision the llava-hf layout (legacy prefixes), config.json with vision_config /
//                   text_config, video_preprocessor_config.json and preprocessor_config.json,
//                   the Qwen2 tokenizer files of the decoder writer.
// Dims: "tiny" (vision image 28, patch 4 -> a 7x7 grid like the golden fixture, hidden 32,
// 2 layers; text/LLM hidden 64) and "real-0.5b" (SigLIP-so400m: 1152 hidden, 4304 MLP,
// 16 heads, patch 14 at 384 px; the LLaVA tower keeps 26 layers and no head, the dual encoder
// 27 layers with text 1152/27 layers/64 positions/32000 vocab; Qwen2-0.5B for the decoder).
// Tiny folders are float32; real-0.5b folders are stored as bfloat16 (the runtime converts).
//
// Weights: linear weights N(0, 1/fan_in), embeddings 0.5·N(0,1)-ish, LayerNorm weights near 1,
// small biases; deterministic for a seed. Each writer fills an existing empty folder; the
// make-tiny-model registry writes into a temporary folder and renames it into place.
// Throws clipmind::Error (kIo on write failures, kInvalidArgument for unknown dims).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace clipmind::models {

void write_tiny_siglip_vision(const std::filesystem::path& dir, const std::string& dims,
                              uint64_t seed);
void write_tiny_siglip_dual(const std::filesystem::path& dir, const std::string& dims,
                            uint64_t seed);
void write_tiny_llava_onevision(const std::filesystem::path& dir, const std::string& dims,
                                uint64_t seed);

}  // namespace clipmind::models
