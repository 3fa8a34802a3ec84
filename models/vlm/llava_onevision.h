// LLaVA-OneVision assembled from its parts: the vision path (models/vision), the Qwen2 decoder
// (models/llm) and the Qwen2 tokenizer, loaded from one Hugging Face folder in either prefix
// layout (docs/design/methods.md "Model contract").
//
// From RGB frames to streamed text:
//   VisualTokens v = model.vision().encode(frames, times);        // [F, 196, D] + A + times
//   (compress/merge may turn v into segments; compress/separators makes separator text)
//   std::vector<VlmMessage> chat = {{"user", {make_visual({v.tokens.reshape({-1, D})}),
//                                             make_text("What happens?")}}};
//   AssembledPrompt p = model.assemble(chat);
//   GenerationResult r = model.generate(p, options);                // options.on_token streams
//
// assemble() renders the chat template around the parts (VlmTemplate, hf_hub by default),
// tokenizes the text runs between special tokens and visual blocks (user text never becomes
// special tokens), embeds nothing itself: it returns a PromptInput of ids and visual embeddings
// in order, with image_newline appended once after the last block of each video, plus the ids
// transformers would see (the video placeholder id at every visual row) and the visual spans
// an inner-LLM reducer needs. splice() is transformers' own path: ids that already hold
// 196·F+1 placeholders per video get the video embeddings scattered in, in order.
//
// The model owns its weights; const methods may run concurrently with separate caches.
// Throws kNotFound / kInvalidInput / kUnsupported for bad folders (naming the file),
// kInvalidArgument for prompts that do not fit (wrong placeholder counts, text without a
// tokenizer, visual widths), Cancelled from generation.
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
#include "models/llm/decoder.h"
#include "models/llm/generator.h"
#include "models/tokenizer/bpe_tokenizer.h"
#include "models/vision/video_encoder.h"
#include "models/vision/vision_runtime.h"
#include "models/vlm/prompt.h"

namespace clipmind::models {

struct AssembledPrompt {
  PromptInput input;  // ids and visual embeddings, in order
  // The same sequence as transformers' input_ids: the video placeholder id at every visual row.
  std::vector<int64_t> ids;
  // Visual rows (image_newline included), ascending: what GenerationOptions::visual expects.
  std::vector<compress::VisualSpan> visual;
  int64_t length() const { return static_cast<int64_t>(ids.size()); }
};

struct VlmLoadOptions {
  VisionRuntime runtime;
  VlmTemplate chat_template = VlmTemplate::kHfHub;
  CancelToken cancel;  // requested: load() stops between two tensors and throws Cancelled
};

class LlavaOnevision {
 public:
  static LlavaOnevision load(const std::filesystem::path& model_dir,
                             const VlmLoadOptions& options = {});

  const LlavaVisionEncoder& vision() const { return *vision_; }
  const Decoder& decoder() const { return *decoder_; }
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  const Tokenizer& tokenizer() const;  // kNotFound when the folder has no tokenizer.json
  VlmTemplate chat_template() const { return template_; }
  int64_t video_token_id() const { return vision_->config().video_token_id; }
  int64_t hidden_size() const { return vision_->llm_hidden(); }

  // Parts -> PromptInput (see the file comment). `chat_template` overrides the model default.
  AssembledPrompt assemble(std::span<const VlmMessage> messages, bool add_generation_prompt = true,
                           const VlmTemplate* chat_template = nullptr) const;

  // transformers' scatter: every id equal to video_token_id() is replaced, in order, by the rows
  // of `videos` (each [196·F + 1, D] as video_embedding() makes). The counts must match.
  AssembledPrompt splice(std::span<const int64_t> ids, std::span<const at::Tensor> videos) const;

  // Prefills the prompt into `cache` (a fresh one when null) and generates. With
  // default_stops, default_stop_tokens() are added to options.stop_tokens. The prompt's visual
  // spans are passed on for an inner-LLM reducer unless options.visual is already set.
  GenerationResult generate(const AssembledPrompt& prompt, GenerationOptions options,
                            KvCache* cache = nullptr, bool default_stops = true) const;
  // <|im_end|> and <|endoftext|> when the tokenizer has them, and the config's eos ids.
  std::vector<int64_t> default_stop_tokens() const;

 private:
  LlavaOnevision() = default;
  std::shared_ptr<const LlavaVisionEncoder> vision_;
  std::shared_ptr<const Decoder> decoder_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  VlmTemplate template_ = VlmTemplate::kHfHub;
  std::filesystem::path dir_;
};

}  // namespace clipmind::models
