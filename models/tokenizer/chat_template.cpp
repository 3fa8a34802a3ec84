#include "models/tokenizer/chat_template.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/tokenizer/bpe_tokenizer.h"
#include "models/weights/json_file.h"

namespace clipmind::models {
namespace {

// The literal default system message of a ChatML template: the text between
// "<|im_start|>system" + newline and "<|im_end|>" when it is a plain string literal (no quotes,
// no Jinja expressions), e.g. Qwen2's "You are a helpful assistant.".
std::optional<std::string> literal_default_system(std::string_view jinja) {
  const std::string_view marker = "<|im_start|>system";
  size_t at = 0;
  while ((at = jinja.find(marker, at)) != std::string_view::npos) {
    size_t begin = at + marker.size();
    at = begin;
    if (jinja.substr(begin, 2) == "\\n") {
      begin += 2;
    } else if (jinja.substr(begin, 1) == "\n") {
      begin += 1;
    } else {
      continue;
    }
    const size_t end = jinja.find("<|im_end|>", begin);
    if (end == std::string_view::npos) break;
    const std::string_view text = jinja.substr(begin, end - begin);
    if (text.empty() || text.find_first_of("'\"{}+\\") != std::string_view::npos) continue;
    return std::string(text);
  }
  return std::nullopt;
}

std::string trim(std::string_view s) {
  const auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && space(s.back()))
    s.remove_suffix(1);
  return std::string(s);
}

std::optional<std::string> template_from_value(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {  // [{"name": "default", "template": "..."}, ...]
    for (const auto& entry : value) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string()) {
        return entry["template"].get<std::string>();
      }
    }
  }
  return std::nullopt;
}

}  // namespace

ChatTemplate ChatTemplate::chatml(std::optional<std::string> default_system) {
  ChatTemplate t;
  t.format_ = ChatFormat::kChatML;
  t.default_system_ = std::move(default_system);
  return t;
}

ChatTemplate ChatTemplate::llama3(std::string bos_token) {
  ChatTemplate t;
  t.format_ = ChatFormat::kLlama3;
  t.bos_ = std::move(bos_token);
  return t;
}

ChatTemplate ChatTemplate::recognise(std::string_view jinja, const std::string& source) {
  if (jinja.find("<|im_start|>") != std::string_view::npos)
    return chatml(literal_default_system(jinja));
  if (jinja.find("<|start_header_id|>") != std::string_view::npos) return llama3();
  throw Error(ErrorKind::kUnsupported,
              source +
                  ": chat template not recognised (clipmind knows ChatML as used by Qwen2 and "
                  "SmolLM2, and Llama 3); use raw prompts instead");
}

ChatTemplate ChatTemplate::from_model_dir(const std::filesystem::path& dir,
                                          const Tokenizer& tokenizer) {
  std::error_code ec;
  const auto config_path = dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_path, ec)) {
    const nlohmann::json config = read_json_file(config_path);
    if (config.is_object() && config.contains("chat_template")) {
      if (const auto text = template_from_value(config["chat_template"])) {
        ChatTemplate t = recognise(*text, config_path.string());
        if (t.format_ == ChatFormat::kLlama3 && tokenizer.bos_token())
          t.bos_ = *tokenizer.bos_token();
        return t;
      }
    }
  }
  const auto json_path = dir / "chat_template.json";
  if (std::filesystem::exists(json_path, ec)) {
    const nlohmann::json j = read_json_file(json_path);
    if (j.is_object() && j.contains("chat_template")) {
      if (const auto text = template_from_value(j["chat_template"]))
        return recognise(*text, json_path.string());
    }
    throw Error(ErrorKind::kInvalidInput, json_path.string() + ": has no \"chat_template\" string");
  }
  const auto jinja_path = dir / "chat_template.jinja";
  if (std::filesystem::exists(jinja_path, ec)) {
    std::ifstream in(jinja_path, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return recognise(text, jinja_path.string());
  }
  if (tokenizer.token_id("<|im_start|>") && tokenizer.token_id("<|im_end|>")) return chatml();
  throw Error(ErrorKind::kUnsupported,
              dir.string() + ": the model has no chat template; use raw prompts");
}

std::string ChatTemplate::describe() const {
  if (format_ == ChatFormat::kLlama3) return "llama3";
  if (default_system_) return "chatml (default system: \"" + *default_system_ + "\")";
  return "chatml";
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages,
                                 bool add_generation_prompt) const {
  std::string out;
  if (format_ == ChatFormat::kChatML) {
    if (default_system_ && (messages.empty() || messages[0].role != "system")) {
      out += "<|im_start|>system\n" + *default_system_ + "<|im_end|>\n";
    }
    for (const auto& m : messages)
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    if (add_generation_prompt) out += "<|im_start|>assistant\n";
    return out;
  }
  out += bos_;
  for (const auto& m : messages) {
    out +=
        "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::vector<int64_t> ChatTemplate::encode(const Tokenizer& tokenizer,
                                          std::span<const ChatMessage> messages,
                                          bool add_generation_prompt) const {
  return tokenizer.encode(render(messages, add_generation_prompt), /*parse_special=*/true);
}

std::vector<int64_t> ChatTemplate::stop_token_ids(const Tokenizer& tokenizer) const {
  std::vector<int64_t> ids;
  const char* names[] = {format_ == ChatFormat::kChatML ? "<|im_end|>" : "<|eot_id|>",
                         "<|endoftext|>", "<|end_of_text|>"};
  for (const char* name : names) {
    if (const auto id = tokenizer.token_id(name)) ids.push_back(*id);
  }
  return ids;
}

}  // namespace clipmind::models
