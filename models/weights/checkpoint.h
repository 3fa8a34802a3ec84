// The weights of a Hugging Face model folder: one `model.safetensors`, or shards listed in
// `model.safetensors.index.json` (`weight_map`: name -> shard file).
//
// Tensor names are looked up by their canonical spelling. A list of prefix rewrites maps other
// spellings of the same checkpoint to it (e.g. the two LLaVA layouts in methods.md, see
// llava_onevision_rewrites()); a folder may mix spellings, but one tensor stored under two
// spellings is an error. validate() compares the folder against what a model expects and
// reports every missing, unexpected and wrongly shaped tensor in one error, by name.
//
// A folder with only PyTorch pickle weights (`*.bin`, `*.pt`, `*.pth`) is refused with an
// error that says pickle is not supported. All errors are clipmind::Error naming the folder or
// file. The Checkpoint owns the memory mappings of its files; loaded tensors are copies.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

#include "clipmind/progress.h"
#include "models/weights/safetensors.h"

namespace clipmind::models {

// Rewrites a name that starts with `from` (and does not start with `unless`, when set) by
// replacing that prefix with `to`. Rewrites apply in order, each at most once.
struct PrefixRewrite {
  std::string from;
  std::string to;
  std::string unless;
};

// The canonical (legacy llava-hf) layout of LLaVA-OneVision from the transformers >= 4.52
// layout (`model.language_model.`, `model.vision_tower.`, `model.multi_modal_projector.`,
// `model.image_newline`, `lm_head.`) and transformers 5's `vision_tower.` without
// `vision_model.`.
std::vector<PrefixRewrite> llava_onevision_rewrites();

// Applies rewrites to one name.
std::string canonical_tensor_name(std::string_view name, std::span<const PrefixRewrite> rewrites);

// What a model expects to find. An empty shape with `any_shape` skips the shape check.
struct TensorSpec {
  std::string name;  // canonical
  std::vector<int64_t> shape;
  bool required = true;
  bool any_shape = false;
};

class Checkpoint {
 public:
  // Opens the folder's weights (see the file comment). Throws kNotFound when there are no
  // weights, kUnsupported for pickle-only folders, kInvalidInput for a bad index or header.
  static Checkpoint open(const std::filesystem::path& model_dir,
                         std::vector<PrefixRewrite> rewrites = {});
  // A single safetensors file.
  static Checkpoint open_file(const std::filesystem::path& file,
                              std::vector<PrefixRewrite> rewrites = {});

  ~Checkpoint();
  Checkpoint(Checkpoint&&) noexcept;
  Checkpoint& operator=(Checkpoint&&) noexcept;

  // The folder (or the file, for open_file) for messages.
  const std::filesystem::path& location() const;

  // Canonical names of every stored tensor, sorted.
  std::vector<std::string> names() const;
  bool contains(std::string_view canonical_name) const;
  // nullptr when absent.
  const StTensorInfo* find(std::string_view canonical_name) const;

  // From now on load() throws Cancelled once `cancel` is requested, so a model that is loading
  // stops between two tensors (quitting the GUI must not wait for gigabytes to load).
  void cancel_with(CancelToken cancel);

  // Loads a tensor converted to `dtype` on `device`; throws kNotFound naming the folder.
  at::Tensor load(std::string_view canonical_name, at::ScalarType dtype = at::kFloat,
                  at::Device device = at::kCPU) const;

  // Throws kInvalidInput listing all missing required tensors, all stored tensors that are
  // neither expected nor matched by `ignored_prefixes`/`ignored_suffixes`, and all shape
  // mismatches. Names in the message are canonical.
  void validate(std::span<const TensorSpec> expected,
                std::span<const std::string> ignored_prefixes = {},
                std::span<const std::string> ignored_suffixes = {}) const;

 private:
  Checkpoint();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipmind::models
