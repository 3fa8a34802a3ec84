// What makes a folder a model clipmind can load, and what a given folder lacks.
//
// A model folder holds config.json and its weights as safetensors: either one
// model.safetensors or a model.safetensors.index.json whose "weight_map" names the shards, all
// of which must be present. Tokenizer and preprocessor files are optional here (a vision-only
// tower has no tokenizer); the loaders that need them name them when they are missing.
// Files may be symlinks (the Hugging Face cache's snapshots are); a dangling link is missing.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace clipmind::models::hub {

inline constexpr const char* kConfigFile = "config.json";
inline constexpr const char* kSingleWeightsFile = "model.safetensors";
inline constexpr const char* kWeightsIndexFile = "model.safetensors.index.json";

// Files a model repo may have besides config.json and the weights, fetched by the downloader
// when present: tokenizers (tokenizer.json, SentencePiece models, BPE vocabularies), the
// preprocessor/processor configs, chat templates and generation_config.json.
const std::vector<std::string>& optional_model_files();

// The shard file names a model.safetensors.index.json lists, sorted and without duplicates.
// Throws clipmind::Error (kInvalidInput) naming the file when it is not a valid index, or
// lists an unsafe name (absolute, "..", backslash); kNotFound/kIo when it cannot be read.
std::vector<std::string> read_safetensors_index(const std::filesystem::path& index_file);

// The files `dir` lacks to be a model, in a stable order ("config.json",
// "model.safetensors (or model.safetensors.index.json)", shard names); empty when complete.
// Throws like read_safetensors_index when the folder's index is malformed.
std::vector<std::string> missing_model_files(const std::filesystem::path& dir);

// Throws clipmind::Error (kInvalidInput) naming `dir` and what it lacks; mentions that only
// safetensors are read when the folder holds PyTorch pickles (pytorch_model*.bin) instead.
void require_model_folder(const std::filesystem::path& dir);

}  // namespace clipmind::models::hub
