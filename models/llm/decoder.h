// The Qwen2 / Llama decoder-only language model in LibTorch (batch size 1).
//
// One implementation covers both families: token embeddings, pre-RMSNorm blocks (fp32 norm
// arithmetic), rotate-half RoPE with the config's rope_theta (fp32 angles), grouped-query
// attention with a causal mask and fp32 softmax, SiLU-gated MLP, final norm, tied or separate
// LM head. Qwen2's q/k/v biases and Llama's optional attention/MLP biases come from the config.
// Weights are fused at load time (one QKV matrix, one gate+up matrix) so each block runs a few
// large GEMMs; attention runs in blocks of query rows so no [heads, S, S] tensor is ever built.
//
// A forward pass takes a PromptInput (token ids and/or externally supplied input embeddings,
// e.g. visual tokens, in any order) and appends to a KvCache: call it once for a whole prompt,
// in chunks, or one token at a time. An optional compress::LayerReducer runs once after layer
// K-1 during prefill (see compress/merge/layer_reducer.h for the contract).
//
// Ownership: the Decoder owns its weights (on its device, in its dtype); caches are separate
// objects made by new_cache(). forward() does not modify the Decoder, so several threads may
// run different caches through one Decoder. Errors are clipmind::Error: bad model folders and
// configs at load, out-of-vocabulary ids / wrong embedding widths / context overflow at
// forward (kInvalidInput), Cancelled when the CancelToken fires (the cache is rolled back to
// its state before the call).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "clipmind/progress.h"
#include "compress/merge/layer_reducer.h"
#include "models/llm/kv_cache.h"
#include "models/weights/checkpoint.h"
#include "models/weights/model_config.h"

namespace clipmind::models {

// Where the decoder's tensors sit in a checkpoint. Plain Qwen2/Llama folders use the defaults;
// LLaVA-OneVision (canonical layout) uses {"language_model.model.",
// "language_model.lm_head.weight"}.
struct DecoderWeightNames {
  std::string prefix = "model.";
  std::string lm_head = "lm_head.weight";
};

struct DecoderOptions {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
  DecoderWeightNames names;
  // Attention works on blocks of query rows whose score tensor stays under this many bytes.
  int64_t attention_block_bytes = 64ll << 20;
};

// The tensors a decoder needs, for Checkpoint::validate(). embed_tokens accepts any row count
// (the vocabulary size is taken from it, see methods.md); lm_head is optional (tied when absent).
std::vector<TensorSpec> decoder_tensor_specs(const DecoderConfig& config,
                                             const DecoderWeightNames& names);
// Stored tensors a decoder ignores on purpose (rotary inv_freq buffers of old checkpoints).
std::vector<std::string> decoder_ignored_suffixes();

// Token ids and input embeddings, concatenated in order.
class PromptInput {
 public:
  PromptInput() = default;
  static PromptInput tokens(std::vector<int64_t> ids);

  PromptInput& add_tokens(std::span<const int64_t> ids);
  // [n, hidden_size], any float dtype and device; fed to layer 0 as is (no scaling).
  PromptInput& add_embeddings(const at::Tensor& embeddings);

  int64_t length() const;
  bool empty() const { return length() == 0; }

  struct Part {
    std::vector<int64_t> ids;  // used when embeddings is undefined
    at::Tensor embeddings;
  };
  const std::vector<Part>& parts() const { return parts_; }

 private:
  std::vector<Part> parts_;
};

enum class LogitsMode { kNone, kLast, kAll };

struct ForwardOptions {
  LogitsMode logits = LogitsMode::kLast;
  // > 0: run the input through the layers in chunks of this many positions (same result,
  // smaller activations). 0: one pass.
  int64_t chunk_size = 0;
  // Explicit position ids (strictly increasing, >= cache.length()), one per input position;
  // empty: cache.length(), cache.length()+1, ... After the call cache.length() is the last
  // position + 1. Used to verify reductions and for callers that skip positions.
  std::vector<int64_t> positions;
  // Inner-LLM reduction (prefill only; at most one per forward call).
  const compress::LayerReducer* reducer = nullptr;
  // Visual spans, as indices into this call's input.
  std::vector<compress::VisualSpan> visual;
  CancelToken cancel;
  ProgressCallback progress;  // stage "prefill", done/total = layers run
};

struct ForwardResult {
  // float32 on the CPU: [1, V] (kLast), [rows, V] (kAll; rows = input length, or the kept
  // positions when a reducer ran), undefined (kNone).
  at::Tensor logits;
  // With a reducer: the kept indices into this call's input (int64, CPU); else undefined.
  at::Tensor kept;
};

class Decoder {
 public:
  // Reads config.json, opens the checkpoint (with `rewrites`), validates every tensor name and
  // shape, and loads. Throws for wrong/incomplete folders and config/weights mismatches.
  static Decoder load(const std::filesystem::path& model_dir, const DecoderOptions& options = {},
                      std::vector<PrefixRewrite> rewrites = {});
  // Builds from an open checkpoint without validating unrelated tensors (a multimodal
  // assembler validates the union of its parts first). Still checks the decoder's own shapes.
  static Decoder from_checkpoint(const DecoderConfig& config, const Checkpoint& checkpoint,
                                 const DecoderOptions& options = {});

  ~Decoder();
  Decoder(Decoder&&) noexcept;
  Decoder& operator=(Decoder&&) noexcept;

  // The configuration in use; vocab_size is the embedding's row count.
  const DecoderConfig& config() const;
  at::Device device() const;
  at::ScalarType dtype() const;

  KvCache new_cache() const;

  // [n, hidden] embeddings of token ids in the model's dtype/device; throws kInvalidInput for
  // ids outside [0, vocab_size).
  at::Tensor embed(std::span<const int64_t> ids) const;

  ForwardResult forward(const PromptInput& input, KvCache& cache,
                        const ForwardOptions& options = {}) const;

  // Parameter bytes held.
  int64_t parameter_bytes() const;

 private:
  Decoder();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipmind::models
