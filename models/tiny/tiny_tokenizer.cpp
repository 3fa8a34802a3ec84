// The tiny byte-level BPE tokenizer of generated models: 256 byte tokens, merges learned from a
// built-in English text (plain BPE training: most frequent adjacent pair first, ties broken by
// the pair's spelling), and the Qwen special tokens.
#include <algorithm>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clipmind/atomic_file.h"
#include "clipmind/error.h"
#include "models/tiny/tiny_model.h"
#include "models/tokenizer/bpe_tokenizer.h"

namespace clipmind::models {
namespace {

constexpr const char* kCorpus =
    "The video shows a person walking a dog along the beach at sunset. At 12.5 seconds the dog "
    "jumps over a small fence, and at 63.0 seconds they reach the old pier. What happens in the "
    "video? The man throws a ball into the water and the dog runs after it. Describe the scene: "
    "waves roll in, birds fly over the sand, and the sky turns orange and then purple. The camera "
    "follows the dog as it swims back with the ball. Later the two of them walk home along the "
    "road, where cars pass by and people ride their bikes. In the kitchen the man makes dinner "
    "while the dog waits by the door. This is a short film about a day at the sea, recorded on "
    "a phone in 2024. Questions about the video can ask what happens, when it happens, and where "
    "things are. Answers give times in seconds, like [12.5s] or [63.0s], so that the player can "
    "jump to the moment. The quick brown fox jumps over the lazy dog. It was the best of times, "
    "it was the worst of times. You are a helpful assistant. Please answer the question about the "
    "video and give the time of each event. There are 3 people, 2 dogs and 1 cat in the room.";

constexpr int kMerges = 240;

constexpr const char* kQwenPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Training-time word split (close to the Qwen regex for ASCII text): " word", digits one by
// one, punctuation runs, whitespace.
std::vector<std::string> training_words(const std::string& text) {
  std::vector<std::string> words;
  size_t i = 0;
  const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  while (i < text.size()) {
    size_t j = i;
    if (text[j] == ' ' && j + 1 < text.size() && !digit(text[j + 1]) && text[j + 1] != ' ') ++j;
    if (alpha(text[j])) {
      while (j < text.size() && alpha(text[j]))
        ++j;
    } else if (digit(text[j])) {
      ++j;
    } else if (text[j] == ' ') {
      while (j < text.size() && text[j] == ' ')
        ++j;
    } else {
      while (j < text.size() && !alpha(text[j]) && !digit(text[j]) && text[j] != ' ')
        ++j;
    }
    words.push_back(text.substr(i, j - i));
    i = j;
  }
  return words;
}

std::vector<std::pair<std::string, std::string>> learn_merges(int count) {
  std::map<std::vector<std::string>, int> words;
  for (const auto& word : training_words(kCorpus)) {
    std::vector<std::string> symbols;
    for (const char c : word)
      symbols.push_back(byte_level_text(std::string(1, c)));
    ++words[symbols];
  }
  std::vector<std::pair<std::string, std::string>> merges;
  for (int m = 0; m < count; ++m) {
    std::map<std::pair<std::string, std::string>, int> pairs;
    for (const auto& [symbols, n] : words) {
      for (size_t i = 0; i + 1 < symbols.size(); ++i)
        pairs[{symbols[i], symbols[i + 1]}] += n;
    }
    const auto best =
        std::max_element(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) {
          return a.second < b.second;  // first of equal counts = smallest spelling (map order)
        });
    if (best == pairs.end() || best->second < 2) break;
    const auto [left, right] = best->first;
    merges.emplace_back(left, right);
    std::map<std::vector<std::string>, int> next;
    for (const auto& [symbols, n] : words) {
      std::vector<std::string> merged;
      for (size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
          merged.push_back(left + right);
          ++i;
        } else {
          merged.push_back(symbols[i]);
        }
      }
      next[merged] += n;
    }
    words.swap(next);
  }
  return merges;
}

}  // namespace

std::string qwen2_chat_template() {
  return "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
         "'<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif "
         "%}{{'<|im_start|>' + "
         "message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if "
         "add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
}

std::string smollm2_chat_template() {
  return "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
         "'<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
         "Face<|im_end|>\n' "
         "}}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
         "'<|im_end|>' + '\n'}}{% "
         "endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
}

TinyTokenizerInfo write_tiny_tokenizer(const std::filesystem::path& dir, int64_t vocab_size,
                                       const std::string& chat_template_jinja) {
  const std::vector<std::string> specials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>",
                                             "<image>", "<video>"};
  TinyTokenizerInfo info;
  info.vocab_size = vocab_size;
  const bool qwen_sized = vocab_size >= 151648;
  const int64_t first_special =
      qwen_sized ? 151643 : vocab_size - static_cast<int64_t>(specials.size());
  const int64_t merge_limit = std::min<int64_t>(kMerges, first_special - 256);
  if (merge_limit < 0) {
    throw Error(ErrorKind::kInvalidArgument,
                "a byte-level tokenizer needs a vocabulary of at least 261 ids");
  }

  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  int64_t next_id = 0;
  for (const uint8_t b : byte_level_order())
    vocab[byte_level_text(std::string(1, static_cast<char>(b)))] = next_id++;
  nlohmann::json merges = nlohmann::json::array();
  for (const auto& [left, right] : learn_merges(static_cast<int>(merge_limit))) {
    if (vocab.contains(left + right)) continue;  // a spelling reached by two merge paths
    vocab[left + right] = next_id++;
    merges.push_back({left, right});
  }
  nlohmann::json added = nlohmann::json::array();
  nlohmann::json added_decoder = nlohmann::json::object();
  for (size_t i = 0; i < specials.size(); ++i) {
    const int64_t id = first_special + static_cast<int64_t>(i);
    info.special[specials[i]] = id;
    added.push_back({{"id", id},
                     {"content", specials[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
    added_decoder[std::to_string(id)] = {{"content", specials[i]}, {"lstrip", false},
                                         {"normalized", false},    {"rstrip", false},
                                         {"single_word", false},   {"special", true}};
  }
  const nlohmann::json byte_level = {{"type", "ByteLevel"},
                                     {"add_prefix_space", false},
                                     {"trim_offsets", false},
                                     {"use_regex", false}};
  nlohmann::ordered_json tokenizer;
  tokenizer["version"] = "1.0";
  tokenizer["truncation"] = nullptr;
  tokenizer["padding"] = nullptr;
  tokenizer["added_tokens"] = added;
  tokenizer["normalizer"] = {{"type", "NFC"}};
  tokenizer["pre_tokenizer"] = {{"type", "Sequence"},
                                {"pretokenizers",
                                 {{{"type", "Split"},
                                   {"pattern", {{"Regex", kQwenPattern}}},
                                   {"behavior", "Isolated"},
                                   {"invert", false}},
                                  byte_level}}};
  tokenizer["post_processor"] = byte_level;
  tokenizer["decoder"] = byte_level;
  tokenizer["model"] = {{"type", "BPE"},
                        {"dropout", nullptr},
                        {"unk_token", nullptr},
                        {"continuing_subword_prefix", ""},
                        {"end_of_word_suffix", ""},
                        {"fuse_unk", false},
                        {"byte_fallback", false},
                        {"ignore_merges", false},
                        {"vocab", vocab},
                        {"merges", merges}};
  write_file_atomically(dir / "tokenizer.json", tokenizer.dump(1));

  const nlohmann::ordered_json config = {{"add_bos_token", false},
                                         {"add_prefix_space", false},
                                         {"added_tokens_decoder", added_decoder},
                                         {"bos_token", nullptr},
                                         {"chat_template", chat_template_jinja},
                                         {"clean_up_tokenization_spaces", false},
                                         {"eos_token", "<|im_end|>"},
                                         {"errors", "replace"},
                                         {"model_max_length", 32768},
                                         {"pad_token", "<|endoftext|>"},
                                         {"split_special_tokens", false},
                                         {"tokenizer_class", "Qwen2Tokenizer"},
                                         {"unk_token", nullptr}};
  write_file_atomically(dir / "tokenizer_config.json", config.dump(2));
  return info;
}

}  // namespace clipmind::models
