// A video-LLM prompt as the pipeline builds it: chat messages whose content is a list of parts,
// each text or a block of visual tokens with its time span (architecture.md "Contracts between
// stages"). Only models/vlm turns parts into embeddings; compress/separators decides separator
// text, which arrives here as raw text parts.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace clipmind::models {

// Visual tokens in LLM space: pooled frames or a merged segment, [M, D] (any float dtype and
// device; converted to the decoder's). `video` groups the blocks of one video: the model's
// image_newline goes once, right after the last block of each video (LLaVA-OneVision's
// "one_token" layout). Blocks of one video must be contiguous in the prompt apart from text.
struct VisualBlock {
  at::Tensor tokens;
  double t_begin = 0;
  double t_end = 0;
  int64_t video = 0;
};

struct PromptPart {
  enum class Kind {
    kText,    // content text: the chat template puts its "\n" before it
    kRaw,     // inserted verbatim (separators such as "<t=12.0s>")
    kVisual,  // visual tokens spliced in place
  };
  Kind kind = Kind::kText;
  std::string text;
  VisualBlock visual;

  static PromptPart make_text(std::string text) { return {Kind::kText, std::move(text), {}}; }
  static PromptPart make_raw(std::string text) { return {Kind::kRaw, std::move(text), {}}; }
  static PromptPart make_visual(VisualBlock block) { return {Kind::kVisual, {}, std::move(block)}; }
};

struct VlmMessage {
  std::string role;  // "system", "user", "assistant"
  std::vector<PromptPart> parts;
};

// The two prompt forms of docs/design/methods.md §5.
//   kHfHub: what the published llava-hf processor's apply_chat_template renders (default):
//     "<|im_start|>" role " " parts "<|im_end|>" per message, no newline between messages,
//     text parts prefixed by "\n", generation prompt "<|im_start|>assistant\n". No system turn
//     unless given.
//   kLlavaQwen: the original LLaVA-NeXT form: a default system turn "You are a helpful
//     assistant.", "<|im_start|>" role "\n" parts "<|im_end|>\n" per message, a text part
//     prefixed by "\n" only when something precedes it in its message.
// The hf_hub template renders all images/videos of a message before its texts; ours renders parts
// in the caller's order, which is the same for the usual [video, question] message.
enum class VlmTemplate { kHfHub, kLlavaQwen };

}  // namespace clipmind::models
