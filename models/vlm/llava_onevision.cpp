#include "models/vlm/llava_onevision.h"

#include <algorithm>
#include <map>
#include <optional>

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "models/weights/checkpoint.h"
#include "models/weights/model_config.h"

namespace clipmind::models {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDefaultSystem = "You are a helpful assistant.";

[[noreturn]] void bad_prompt(const std::string& what) {
  throw Error(ErrorKind::kInvalidArgument, "VLM prompt: " + what);
}

// One rendered element of the prompt: a special token, a run of plain text, or visual rows.
struct Item {
  enum class Kind { kSpecial, kText, kVisual } kind = Kind::kText;
  int64_t id = 0;
  std::string text;
  at::Tensor rows;  // [n, D]
};

}  // namespace

LlavaOnevision LlavaOnevision::load(const fs::path& dir, const VlmLoadOptions& options) {
  const LlavaVisionConfig vision_config = read_llava_vision_config(dir);
  const DecoderConfig decoder_config = read_decoder_config(dir);
  const PreprocessConfig preprocess = read_preprocess_config(dir, /*video=*/true);
  Checkpoint checkpoint = Checkpoint::open(dir, llava_onevision_rewrites());
  checkpoint.cancel_with(options.cancel);

  DecoderOptions decoder_options;
  decoder_options.device = options.runtime.device;
  decoder_options.dtype = options.runtime.dtype;
  decoder_options.names = {"language_model.model.", "language_model.lm_head.weight"};
  // One validation for the whole folder: every missing, unexpected or misshaped tensor at once.
  std::vector<TensorSpec> specs = llava_vision_specs(vision_config, decoder_config.hidden_size);
  for (auto& spec : decoder_tensor_specs(decoder_config, decoder_options.names))
    specs.push_back(std::move(spec));
  checkpoint.validate(specs, {}, decoder_ignored_suffixes());

  LlavaOnevision model;
  model.dir_ = dir;
  model.template_ = options.chat_template;
  model.vision_ = std::make_shared<const LlavaVisionEncoder>(checkpoint, vision_config, preprocess,
                                                             options.runtime);
  model.decoder_ = std::make_shared<const Decoder>(
      Decoder::from_checkpoint(decoder_config, checkpoint, decoder_options));
  std::error_code ec;
  if (fs::is_regular_file(dir / "tokenizer.json", ec)) {
    model.tokenizer_ = std::make_shared<const Tokenizer>(Tokenizer::from_model_dir(dir));
  }
  return model;
}

const Tokenizer& LlavaOnevision::tokenizer() const {
  if (!tokenizer_) {
    throw Error(ErrorKind::kNotFound,
                dir_.string() + ": no tokenizer.json, so text prompts cannot be tokenized");
  }
  return *tokenizer_;
}

AssembledPrompt LlavaOnevision::assemble(std::span<const VlmMessage> messages,
                                         bool add_generation_prompt,
                                         const VlmTemplate* chat_template) const {
  const VlmTemplate form = chat_template ? *chat_template : template_;
  const Tokenizer& tok = tokenizer();
  const auto special = [&](std::string_view name) {
    const auto id = tok.token_id(name);
    if (!id) {
      throw Error(ErrorKind::kUnsupported, dir_.string() + ": the tokenizer has no " +
                                               std::string(name) +
                                               " token (LLaVA-OneVision prompts use ChatML)");
    }
    return *id;
  };
  const int64_t im_start = special("<|im_start|>");
  const int64_t im_end = special("<|im_end|>");
  const int64_t d = hidden_size();

  // Where each video's image_newline goes: after its last block.
  std::map<int64_t, std::pair<size_t, size_t>> last_block;  // video -> (message, part)
  for (size_t m = 0; m < messages.size(); ++m) {
    for (size_t p = 0; p < messages[m].parts.size(); ++p) {
      if (messages[m].parts[p].kind == PromptPart::Kind::kVisual)
        last_block[messages[m].parts[p].visual.video] = {m, p};
    }
  }

  std::vector<Item> items;
  const auto add_text = [&](const std::string& text) {
    if (text.empty()) return;
    if (!items.empty() && items.back().kind == Item::Kind::kText) {
      items.back().text += text;
    } else {
      items.push_back({Item::Kind::kText, 0, text, {}});
    }
  };
  const auto add_special = [&](int64_t id) { items.push_back({Item::Kind::kSpecial, id, {}, {}}); };

  const bool llava_qwen = form == VlmTemplate::kLlavaQwen;
  const bool has_system = std::any_of(messages.begin(), messages.end(),
                                      [](const VlmMessage& m) { return m.role == "system"; });
  if (llava_qwen && !has_system) {
    add_special(im_start);
    add_text(std::string("system\n") + kDefaultSystem);
    add_special(im_end);
    add_text("\n");
  }
  for (size_t m = 0; m < messages.size(); ++m) {
    const VlmMessage& message = messages[m];
    if (message.role.empty()) bad_prompt("a message has no role");
    add_special(im_start);
    add_text(message.role + (llava_qwen ? "\n" : " "));
    bool body_started = false;
    for (size_t p = 0; p < message.parts.size(); ++p) {
      const PromptPart& part = message.parts[p];
      switch (part.kind) {
        case PromptPart::Kind::kText:
          add_text((!llava_qwen || body_started ? "\n" : "") + part.text);
          break;
        case PromptPart::Kind::kRaw:
          add_text(part.text);
          break;
        case PromptPart::Kind::kVisual: {
          const at::Tensor& t = part.visual.tokens;
          if (!t.defined() || t.dim() != 2 || t.size(1) != d) {
            bad_prompt("visual block " + std::to_string(p) + " of message " + std::to_string(m) +
                       " must be [M, " + std::to_string(d) + "] tokens");
          }
          at::Tensor rows = t;
          const auto last = last_block.at(part.visual.video);
          if (last.first == m && last.second == p) {
            rows = at::cat(
                {t.to(vision_->image_newline().device(), vision_->image_newline().scalar_type()),
                 vision_->image_newline().view({1, d})},
                0);
          }
          items.push_back({Item::Kind::kVisual, 0, {}, rows});
          break;
        }
      }
      body_started = true;
    }
    add_special(im_end);
    if (llava_qwen) add_text("\n");
  }
  if (add_generation_prompt) {
    add_special(im_start);
    add_text("assistant\n");
  }

  AssembledPrompt out;
  for (const Item& item : items) {
    switch (item.kind) {
      case Item::Kind::kSpecial:
        out.input.add_tokens(std::span<const int64_t>(&item.id, 1));
        out.ids.push_back(item.id);
        break;
      case Item::Kind::kText: {
        // Plain text between special tokens and visual blocks, encoded in one piece (as
        // transformers does between special tokens); user text never parses as special tokens.
        const std::vector<int64_t> ids = tok.encode(item.text, /*parse_special=*/false);
        out.input.add_tokens(ids);
        out.ids.insert(out.ids.end(), ids.begin(), ids.end());
        break;
      }
      case Item::Kind::kVisual: {
        const int64_t begin = out.length();
        const int64_t n = item.rows.size(0);
        out.input.add_embeddings(item.rows);
        out.ids.insert(out.ids.end(), static_cast<size_t>(n), video_token_id());
        if (!out.visual.empty() && out.visual.back().begin + out.visual.back().length == begin) {
          out.visual.back().length += n;
        } else if (n > 0) {
          out.visual.push_back({begin, n});
        }
        break;
      }
    }
  }
  return out;
}

AssembledPrompt LlavaOnevision::splice(std::span<const int64_t> ids,
                                       std::span<const at::Tensor> videos) const {
  const int64_t d = hidden_size();
  const int64_t placeholder = video_token_id();
  const auto count = std::count(ids.begin(), ids.end(), placeholder);
  int64_t rows = 0;
  for (const auto& v : videos) {
    if (!v.defined() || v.dim() != 2 || v.size(1) != d)
      bad_prompt("video embeddings must be [n, " + std::to_string(d) + "]");
    rows += v.size(0);
  }
  if (count != rows) {
    bad_prompt("the ids hold " + std::to_string(count) + " video placeholders (id " +
               std::to_string(placeholder) + ") but the videos have " + std::to_string(rows) +
               " embedding rows");
  }
  const at::Tensor all = videos.empty()
                             ? at::Tensor()
                             : at::cat(std::vector<at::Tensor>(videos.begin(), videos.end()), 0);
  AssembledPrompt out;
  out.ids.assign(ids.begin(), ids.end());
  int64_t used = 0;
  size_t i = 0;
  while (i < ids.size()) {
    size_t j = i;
    const bool visual = ids[i] == placeholder;
    while (j < ids.size() && (ids[j] == placeholder) == visual)
      ++j;
    const auto n = static_cast<int64_t>(j - i);
    if (visual) {
      out.input.add_embeddings(all.slice(0, used, used + n));
      out.visual.push_back({static_cast<int64_t>(i), n});
      used += n;
    } else {
      out.input.add_tokens(ids.subspan(i, j - i));
    }
    i = j;
  }
  return out;
}

std::vector<int64_t> LlavaOnevision::default_stop_tokens() const {
  std::vector<int64_t> stops = decoder_->config().eos_token_ids;
  if (tokenizer_) {
    for (const char* name : {"<|im_end|>", "<|endoftext|>"}) {
      if (const auto id = tokenizer_->token_id(name);
          id && std::find(stops.begin(), stops.end(), *id) == stops.end()) {
        stops.push_back(*id);
      }
    }
  }
  return stops;
}

GenerationResult LlavaOnevision::generate(const AssembledPrompt& prompt, GenerationOptions options,
                                          KvCache* cache, bool default_stops) const {
  if (default_stops) {
    for (const int64_t id : default_stop_tokens()) {
      if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), id) ==
          options.stop_tokens.end()) {
        options.stop_tokens.push_back(id);
      }
    }
  }
  if (options.visual.empty()) options.visual = prompt.visual;
  std::optional<KvCache> own;
  if (!cache) {
    own = decoder_->new_cache();
    cache = &*own;
  }
  return models::generate(*decoder_, *cache, prompt.input, tokenizer_.get(), options);
}

}  // namespace clipmind::models
