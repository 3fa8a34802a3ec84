#include "models/hub/model_folder.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <system_error>

#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/hub/repo_spec.h"

namespace clipmind::models::hub {
namespace {

namespace fs = std::filesystem;

bool is_present(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);  // follows symlinks: a dangling link is absent
}

bool has_pickle_weights(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("pytorch_model") && name.ends_with(".bin")) return true;
  }
  return false;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

}  // namespace

const std::vector<std::string>& optional_model_files() {
  static const std::vector<std::string> files = {
      "tokenizer.json",
      "tokenizer_config.json",
      "tokenizer.model",
      "spiece.model",
      "vocab.json",
      "merges.txt",
      "special_tokens_map.json",
      "added_tokens.json",
      "preprocessor_config.json",
      "processor_config.json",
      "video_preprocessor_config.json",
      "chat_template.json",
      "chat_template.jinja",
      "generation_config.json",
  };
  return files;
}

std::vector<std::string> read_safetensors_index(const fs::path& index_file) {
  std::ifstream in(index_file, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(index_file, ec)) {
      throw Error(ErrorKind::kNotFound, index_file.string() + ": no such file");
    }
    throw Error(ErrorKind::kIo, index_file.string() + ": cannot open for reading");
  }
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kInvalidInput,
                index_file.string() + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  const auto map = index.find("weight_map");
  if (!index.is_object() || map == index.end() || !map->is_object() || map->empty()) {
    throw Error(ErrorKind::kInvalidInput,
                index_file.string() + ": no \"weight_map\" object naming the weight shards");
  }
  std::set<std::string> shards;
  for (const auto& [tensor, file] : map->items()) {
    if (!file.is_string()) {
      throw Error(ErrorKind::kInvalidInput,
                  index_file.string() + ": weight_map entry \"" + tensor + "\" is not a file name");
    }
    const std::string name = file.get<std::string>();
    if (!is_safe_repo_path(name)) {
      throw Error(ErrorKind::kInvalidInput,
                  index_file.string() + ": unsafe shard file name \"" + name + "\"");
    }
    shards.insert(name);
  }
  return {shards.begin(), shards.end()};
}

std::vector<std::string> missing_model_files(const fs::path& dir) {
  std::vector<std::string> missing;
  if (!is_present(dir / kConfigFile)) missing.emplace_back(kConfigFile);
  if (is_present(dir / kWeightsIndexFile)) {
    for (const auto& shard : read_safetensors_index(dir / kWeightsIndexFile)) {
      if (!is_present(dir / shard)) missing.push_back(shard);
    }
  } else if (!is_present(dir / kSingleWeightsFile)) {
    missing.push_back(std::string(kSingleWeightsFile) + " (or " + kWeightsIndexFile + ")");
  }
  return missing;
}

void require_model_folder(const fs::path& dir) {
  const auto missing = missing_model_files(dir);
  if (missing.empty()) return;
  std::string message = dir.string() + ": not a model folder: missing " + join(missing);
  const bool no_weights = std::any_of(missing.begin(), missing.end(), [](const std::string& m) {
    return m.starts_with(kSingleWeightsFile);
  });
  if (no_weights && has_pickle_weights(dir)) {
    message +=
        " (the folder has PyTorch pickle weights, pytorch_model*.bin; clipmind reads "
        ".safetensors only: convert them, or use the repo's safetensors revision)";
  }
  throw Error(ErrorKind::kInvalidInput, message);
}

}  // namespace clipmind::models::hub
