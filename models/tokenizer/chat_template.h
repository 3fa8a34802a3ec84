// Chat prompt formats, recognised from the model's own Jinja chat template.
//
// clipmind does not run Jinja. It recognises the template families it knows from their
// markers and renders them natively:
//   - ChatML (Qwen2/Qwen2.5/Qwen3, SmolLM2): "<|im_start|>role\ncontent<|im_end|>\n" per
//     message, generation prompt "<|im_start|>assistant\n", and the default system message
//     when the template inserts one (Qwen2: "You are a helpful assistant.", SmolLM2's own).
//   - Llama 3: "<|begin_of_text|>" then "<|start_header_id|>role<|end_header_id|>\n\n"
//     + trimmed content + "<|eot_id|>", generation prompt for the assistant header.
// The template is read from tokenizer_config.json ("chat_template", a string or a list with a
// "default" entry), chat_template.json or chat_template.jinja. A folder without a template but
// with "<|im_start|>" in its vocabulary gets plain ChatML (no system message). Anything else
// throws kUnsupported naming the folder. Rendering is exact string building; encoding the
// rendered text with special tokens parsed gives the ids Hugging Face's apply_chat_template does.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace clipmind::models {

class Tokenizer;

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

enum class ChatFormat { kChatML, kLlama3 };

class ChatTemplate {
 public:
  static ChatTemplate chatml(std::optional<std::string> default_system = std::nullopt);
  static ChatTemplate llama3(std::string bos_token = "<|begin_of_text|>");

  // Recognises a Jinja template's family; throws kUnsupported for an unknown one.
  static ChatTemplate recognise(std::string_view jinja, const std::string& source);
  // Finds and recognises the template of a model folder (see the file comment).
  static ChatTemplate from_model_dir(const std::filesystem::path& dir, const Tokenizer& tokenizer);

  ChatFormat format() const { return format_; }
  const std::optional<std::string>& default_system() const { return default_system_; }
  // "chatml", "chatml (default system: ...)", "llama3".
  std::string describe() const;

  std::string render(std::span<const ChatMessage> messages,
                     bool add_generation_prompt = true) const;
  // tokenizer.encode(render(...)) with special tokens parsed.
  std::vector<int64_t> encode(const Tokenizer& tokenizer, std::span<const ChatMessage> messages,
                              bool add_generation_prompt = true) const;
  // Ids that end an assistant turn in this format ("<|im_end|>", "<|eot_id|>"), when the
  // tokenizer has them.
  std::vector<int64_t> stop_token_ids(const Tokenizer& tokenizer) const;

 private:
  ChatFormat format_ = ChatFormat::kChatML;
  std::optional<std::string> default_system_;
  std::string bos_;
};

}  // namespace clipmind::models
