#include "models/weights/checkpoint.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/weights/json_file.h"

namespace clipmind::models {
namespace fs = std::filesystem;

namespace {

constexpr const char* kIndexFile = "model.safetensors.index.json";
constexpr const char* kSingleFile = "model.safetensors";

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string join_limited(const std::vector<std::string>& items, size_t limit = 40) {
  std::string text;
  for (size_t i = 0; i < items.size() && i < limit; ++i) {
    if (i > 0) text += ", ";
    text += items[i];
  }
  if (items.size() > limit) text += ", ... (" + std::to_string(items.size() - limit) + " more)";
  return text;
}

}  // namespace

std::vector<PrefixRewrite> llava_onevision_rewrites() {
  return {
      {"model.language_model.", "language_model.model.", ""},
      {"model.vision_tower.", "vision_tower.", ""},
      {"model.multi_modal_projector.", "multi_modal_projector.", ""},
      {"model.image_newline", "image_newline", ""},
      {"lm_head.", "language_model.lm_head.", ""},
      // transformers 5 saves the SigLIP tower without its `vision_model.` level.
      {"vision_tower.", "vision_tower.vision_model.", "vision_tower.vision_model."},
  };
}

std::string canonical_tensor_name(std::string_view name, std::span<const PrefixRewrite> rewrites) {
  std::string current(name);
  for (const auto& rule : rewrites) {
    if (!starts_with(current, rule.from)) continue;
    if (!rule.unless.empty() && starts_with(current, rule.unless)) continue;
    current = rule.to + current.substr(rule.from.size());
  }
  return current;
}

struct Checkpoint::Impl {
  fs::path location;
  std::vector<PrefixRewrite> rewrites;
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  struct Entry {
    const SafetensorsFile* file = nullptr;
    const StTensorInfo* info = nullptr;
  };
  std::map<std::string, Entry, std::less<>> entries;  // canonical name -> stored tensor
  std::optional<CancelToken> cancel;

  void add_file(std::unique_ptr<SafetensorsFile> file) {
    for (const auto& info : file->tensors()) {
      const std::string canonical = canonical_tensor_name(info.name, rewrites);
      auto [it, inserted] = entries.emplace(canonical, Entry{file.get(), &info});
      if (!inserted) {
        const std::string first = it->second.info->name;
        const std::string first_file = it->second.file->path().filename().string();
        throw Error(ErrorKind::kInvalidInput, location.string() + ": tensor '" + canonical +
                                                  "' is stored twice ('" + first + "' in " +
                                                  first_file + " and '" + info.name + "' in " +
                                                  file->path().filename().string() + ")");
      }
    }
    files.push_back(std::move(file));
  }
};

Checkpoint::Checkpoint() : impl_(std::make_unique<Impl>()) {}
Checkpoint::~Checkpoint() = default;
Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;

Checkpoint Checkpoint::open_file(const fs::path& file, std::vector<PrefixRewrite> rewrites) {
  Checkpoint checkpoint;
  checkpoint.impl_->location = file;
  checkpoint.impl_->rewrites = std::move(rewrites);
  checkpoint.impl_->add_file(std::make_unique<SafetensorsFile>(file));
  return checkpoint;
}

Checkpoint Checkpoint::open(const fs::path& dir, std::vector<PrefixRewrite> rewrites) {
  std::error_code ec;
  if (!fs::exists(dir, ec))
    throw Error(ErrorKind::kNotFound, dir.string() + ": no such model folder");
  if (!fs::is_directory(dir, ec)) {
    throw Error(ErrorKind::kInvalidArgument, dir.string() + ": is a file, expected a model folder");
  }
  Checkpoint checkpoint;
  Impl& impl = *checkpoint.impl_;
  impl.location = dir;
  impl.rewrites = std::move(rewrites);

  const fs::path index_path = dir / kIndexFile;
  if (fs::exists(index_path, ec)) {
    const nlohmann::json index = read_json_file(index_path);
    const auto map_it = index.is_object() ? index.find("weight_map") : index.end();
    if (map_it == index.end() || !map_it->is_object()) {
      throw Error(ErrorKind::kInvalidInput, index_path.string() + ": has no \"weight_map\" object");
    }
    std::map<std::string, std::vector<std::string>> by_shard;
    for (auto it = map_it->begin(); it != map_it->end(); ++it) {
      if (!it.value().is_string()) {
        throw Error(ErrorKind::kInvalidInput, index_path.string() + ": weight_map entry '" +
                                                  it.key() + "' is not a file name");
      }
      const std::string shard = it.value().get<std::string>();
      const fs::path shard_path(shard);
      if (shard.empty() || shard_path.is_absolute() || shard_path.has_parent_path() ||
          shard == "." || shard == "..") {
        throw Error(ErrorKind::kInvalidInput, index_path.string() + ": shard '" + shard +
                                                  "' is not a file name inside the folder");
      }
      by_shard[shard].push_back(it.key());
    }
    if (by_shard.empty())
      throw Error(ErrorKind::kInvalidInput, index_path.string() + ": weight_map is empty");
    for (const auto& [shard, names] : by_shard) {
      const fs::path shard_path = dir / shard;
      if (!fs::exists(shard_path, ec)) {
        throw Error(ErrorKind::kNotFound, index_path.string() + ": lists shard " + shard +
                                              ", which is not in the folder");
      }
      auto file = std::make_unique<SafetensorsFile>(shard_path);
      std::vector<std::string> absent;
      for (const auto& name : names) {
        if (!file->find(name)) absent.push_back(name);
      }
      if (!absent.empty()) {
        throw Error(ErrorKind::kInvalidInput,
                    index_path.string() + ": shard " + shard +
                        " lacks tensors the index puts there: " + join_limited(absent));
      }
      impl.add_file(std::move(file));
    }
    return checkpoint;
  }

  const fs::path single = dir / kSingleFile;
  if (fs::exists(single, ec)) {
    impl.add_file(std::make_unique<SafetensorsFile>(single));
    return checkpoint;
  }

  std::vector<std::string> pickles;
  std::vector<std::string> other_safetensors;
  for (const auto& item : fs::directory_iterator(dir, ec)) {
    const std::string name = item.path().filename().string();
    const std::string ext = item.path().extension().string();
    if (ext == ".bin" || ext == ".pt" || ext == ".pth" || ext == ".ckpt") pickles.push_back(name);
    if (ext == ".safetensors") other_safetensors.push_back(name);
  }
  std::sort(pickles.begin(), pickles.end());
  std::sort(other_safetensors.begin(), other_safetensors.end());
  if (!other_safetensors.empty()) {
    throw Error(ErrorKind::kInvalidInput,
                dir.string() + ": has " + join_limited(other_safetensors) + " but neither " +
                    kSingleFile + " nor " + kIndexFile + " (sharded weights need their index)");
  }
  if (!pickles.empty()) {
    throw Error(ErrorKind::kUnsupported,
                dir.string() + ": has only PyTorch pickle weights (" + join_limited(pickles) +
                    "); clipmind loads .safetensors only, pickle is not supported because loading "
                    "it can run arbitrary code. Download the safetensors revision of the model "
                    "or convert it (e.g. with the `safetensors` convert script).");
  }
  throw Error(ErrorKind::kNotFound, dir.string() + ": no weights found (expected " + kSingleFile +
                                        " or " + kIndexFile + ")");
}

const fs::path& Checkpoint::location() const {
  return impl_->location;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(impl_->entries.size());
  for (const auto& [name, entry] : impl_->entries)
    out.push_back(name);
  return out;
}

bool Checkpoint::contains(std::string_view name) const {
  return find(name) != nullptr;
}

const StTensorInfo* Checkpoint::find(std::string_view name) const {
  const auto it = impl_->entries.find(name);
  return it == impl_->entries.end() ? nullptr : it->second.info;
}

void Checkpoint::cancel_with(CancelToken cancel) {
  impl_->cancel = std::move(cancel);
}

at::Tensor Checkpoint::load(std::string_view name, at::ScalarType dtype, at::Device device) const {
  if (impl_->cancel) impl_->cancel->throw_if_cancelled();
  const auto it = impl_->entries.find(name);
  if (it == impl_->entries.end()) {
    throw Error(ErrorKind::kNotFound,
                impl_->location.string() + ": no tensor named '" + std::string(name) + "'");
  }
  return it->second.file->load(*it->second.info, dtype, device);
}

void Checkpoint::validate(std::span<const TensorSpec> expected,
                          std::span<const std::string> ignored_prefixes,
                          std::span<const std::string> ignored_suffixes) const {
  std::vector<std::string> missing;
  std::vector<std::string> mismatched;
  std::set<std::string, std::less<>> known;
  for (const auto& spec : expected) {
    known.insert(spec.name);
    const StTensorInfo* info = find(spec.name);
    if (!info) {
      if (spec.required) missing.push_back(spec.name);
      continue;
    }
    if (!spec.any_shape && info->shape != spec.shape) {
      mismatched.push_back(spec.name + " is " + describe_shape(info->shape) + ", expected " +
                           describe_shape(spec.shape));
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, entry] : impl_->entries) {
    if (known.count(name)) continue;
    const bool ignored = std::any_of(ignored_prefixes.begin(), ignored_prefixes.end(),
                                     [&](const std::string& p) { return starts_with(name, p); }) ||
                         std::any_of(ignored_suffixes.begin(), ignored_suffixes.end(),
                                     [&](const std::string& s) { return ends_with(name, s); });
    if (!ignored) unexpected.push_back(name);
  }
  if (missing.empty() && mismatched.empty() && unexpected.empty()) return;
  std::string message = impl_->location.string() + ": the weights do not match the model's config:";
  if (!missing.empty()) {
    message += "\n  missing (" + std::to_string(missing.size()) + "): " + join_limited(missing);
  }
  if (!unexpected.empty()) {
    message +=
        "\n  unexpected (" + std::to_string(unexpected.size()) + "): " + join_limited(unexpected);
  }
  if (!mismatched.empty()) {
    message +=
        "\n  wrong shape (" + std::to_string(mismatched.size()) + "): " + join_limited(mismatched);
  }
  throw Error(ErrorKind::kInvalidInput, message);
}

}  // namespace clipmind::models
