// Tokenizer and chat-template behaviour on small hand-built tokenizer.json files, with expected
// ids worked out by hand. The real Qwen vocabulary is covered by tokenizer_qwen_test.cpp.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/error_message.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/tokenizer/bpe_tokenizer.h"
#include "models/tokenizer/chat_template.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int64_t>;

// GPT-2's byte -> character table, written out independently of the library: bytes
// 0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF keep their code point, the rest get U+0100.. in order.
std::string byte_char(int b) {
  int cp = b;
  const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
  if (!printable) {
    int n = 0;
    for (int x = 0; x < b; ++x) {
      if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE))) ++n;
    }
    cp = 256 + n;
  }
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

// A tokenizer whose ids 0..255 are the bytes themselves (id = byte value), plus `extra` tokens
// from id 256 on, merges in the given order, and the given added tokens.
nlohmann::json byte_tokenizer(const std::vector<std::string>& extra,
                              const std::vector<std::pair<std::string, std::string>>& merges,
                              nlohmann::json added = nlohmann::json::array(),
                              nlohmann::json normalizer = nullptr) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b)
    vocab[byte_char(b)] = b;
  for (size_t i = 0; i < extra.size(); ++i)
    vocab[extra[i]] = 256 + static_cast<int>(i);
  nlohmann::json merge_list = nlohmann::json::array();
  for (const auto& [a, b] : merges)
    merge_list.push_back(a + " " + b);
  return {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", normalizer},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern",
            {{"Regex",
              R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}, {"ignore_merges", false}}},
  };
}

Tokenizer load(const nlohmann::json& j) {
  return Tokenizer::from_json_text(j.dump(), "test-tokenizer.json");
}

std::string error_of(const std::function<void()>& body) {
  return test::error_message(body);
}

TEST(Tokenizer, BytesWithoutMergesAreTheirOwnIds) {
  const Tokenizer t = load(byte_tokenizer({}, {}));
  EXPECT_EQ(t.encode("Hi!"), (Ids{'H', 'i', '!'}));
  EXPECT_EQ(t.encode("\xC3\xA9"), (Ids{0xC3, 0xA9}));
  EXPECT_EQ(t.token_text(' '), "\xC4\xA0");  // the byte-level spelling of a space: U+0120
  EXPECT_EQ(t.decode(Ids{'a', ' ', 'b', '\n'}), "a b\n");
  EXPECT_EQ(t.encode(""), Ids{});
}

TEST(Tokenizer, MergesApplyByRankNotByPosition) {
  // "abc": with "b c" ranked first, b+c merge before a+b can; then "a bc" gives "abc".
  const Tokenizer first =
      load(byte_tokenizer({"bc", "ab", "abc"}, {{"b", "c"}, {"a", "b"}, {"a", "bc"}}));
  EXPECT_EQ(first.encode("abc"), (Ids{258}));
  // Same vocabulary, "a b" first and no "ab c" merge: stops at ab + c.
  const Tokenizer second =
      load(byte_tokenizer({"bc", "ab", "abc"}, {{"a", "b"}, {"b", "c"}, {"a", "bc"}}));
  EXPECT_EQ(second.encode("abc"), (Ids{257, 'c'}));
  // Equal pairs merge left to right: "aaa" -> "aa" + "a".
  const Tokenizer runs = load(byte_tokenizer({"aa"}, {{"a", "a"}}));
  EXPECT_EQ(runs.encode("aaa"), (Ids{256, 'a'}));
  EXPECT_EQ(runs.encode("aaaa"), (Ids{256, 256}));
}

TEST(Tokenizer, PreTokenizerKeepsDigitsAndWordsApart) {
  // A merge that would cross the word boundary must not apply: " " and "a" are in one piece
  // (" a"), but "1" and "2" are separate pieces (digits are isolated one by one).
  const std::string space = byte_char(' ');
  const Tokenizer t = load(byte_tokenizer({space + "a", "12"}, {{space, "a"}, {"1", "2"}}));
  EXPECT_EQ(t.encode(" a"), (Ids{256}));
  EXPECT_EQ(t.encode("12"), (Ids{'1', '2'}));
  EXPECT_EQ(t.encode("x a"), (Ids{'x', 256}));
}

TEST(Tokenizer, AddedTokensMatchLeftmostLongestBeforeNormalization) {
  nlohmann::json added = {
      {{"id", 300}, {"content", "<x>"}, {"special", true}},
      {{"id", 301}, {"content", "<x>y"}, {"special", false}},
      {{"id", 302}, {"content", "[S]"}, {"special", true}, {"lstrip", true}, {"rstrip", true}},
      // Not NFC: a normalizer would turn it into U+00E9, so it must match in the raw text.
      {{"id", 303}, {"content", "e\xCC\x81"}, {"special", true}},
  };
  const Tokenizer t = load(byte_tokenizer({}, {}, added, {{"type", "NFC"}}));
  EXPECT_EQ(t.encode("a<x>yz"), (Ids{'a', 301, 'z'}));
  EXPECT_EQ(t.encode("<x><x>"), (Ids{300, 300}));
  EXPECT_EQ(t.encode("a  [S]  b"), (Ids{'a', 302, 'b'}));
  EXPECT_EQ(t.encode("e\xCC\x81"), (Ids{303}));
  // parse_special=false: special tokens become text, non-special added tokens still match.
  EXPECT_EQ(t.encode("<x>", false), (Ids{'<', 'x', '>'}));
  EXPECT_EQ(t.encode("<x>y", false), (Ids{301}));
  EXPECT_EQ(t.decode(Ids{'a', 300, 'b'}), "a<x>b");
  EXPECT_EQ(t.decode(Ids{'a', 300, 'b'}, true), "ab");
  EXPECT_TRUE(t.is_special(300));
  EXPECT_FALSE(t.is_special(301));
  EXPECT_EQ(t.token_id("<x>y"), 301);
}

TEST(Tokenizer, NfcNormalizationComposesCharacters) {
  const Tokenizer t = load(byte_tokenizer({}, {}, nlohmann::json::array(), {{"type", "NFC"}}));
  // "e" + COMBINING ACUTE becomes U+00E9 (bytes C3 A9) before byte-level BPE.
  EXPECT_EQ(t.encode("e\xCC\x81"), (Ids{0xC3, 0xA9}));
  const Tokenizer plain = load(byte_tokenizer({}, {}));
  EXPECT_EQ(plain.encode("e\xCC\x81"), (Ids{'e', 0xCC, 0x81}));
}

TEST(Tokenizer, InvalidUtf8InputIsAnErrorWithItsOffset) {
  const Tokenizer t = load(byte_tokenizer({}, {}));
  const std::string message = error_of([&] { t.encode(std::string("abc\xFF")); });
  EXPECT_NE(message.find("not valid UTF-8"), std::string::npos) << message;
  EXPECT_NE(message.find("offset 3"), std::string::npos) << message;
  EXPECT_NE(error_of([&] { t.encode(std::string("\xED\xA0\x80")); }), "<no error>");  // surrogate
  EXPECT_NE(error_of([&] { t.encode(std::string("\xC0\xAF")); }), "<no error>");      // overlong
}

TEST(Tokenizer, UnsupportedComponentsAreNamed) {
  auto j = byte_tokenizer({}, {});
  j["model"]["type"] = "Unigram";
  EXPECT_NE(error_of([&] { load(j); }).find("model type \"Unigram\""), std::string::npos);
  j = byte_tokenizer({}, {});
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  EXPECT_NE(error_of([&] { load(j); }).find("\"Metaspace\""), std::string::npos);
  j = byte_tokenizer({}, {});
  j["normalizer"] = {{"type", "Lowercase"}};
  EXPECT_NE(error_of([&] { load(j); }).find("\"Lowercase\""), std::string::npos);
  j = byte_tokenizer({}, {{"q", "zz"}});
  EXPECT_NE(error_of([&] { load(j); }).find("missing from the vocab"), std::string::npos);
  EXPECT_NE(error_of([] {
              Tokenizer::from_json_text("{not json", "t.json");
            }).find("t.json: not valid JSON"),
            std::string::npos);
  EXPECT_NE(
      error_of([] { Tokenizer::from_file("/nonexistent/tokenizer.json"); }).find("no such file"),
      std::string::npos);
}

TEST(Utf8, MaximalSubpartReplacement) {
  // Expected values follow Python's bytes.decode("utf-8", "replace").
  EXPECT_EQ(sanitize_utf8("a\xFF"
                          "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(sanitize_utf8("\xE0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(sanitize_utf8("\xF0\x9F\x98"), "\xEF\xBF\xBD");
  EXPECT_EQ(sanitize_utf8("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(complete_utf8_prefix("ab\xF0\x9F"), 2u);
  EXPECT_EQ(complete_utf8_prefix("ab\xFF"), 3u);
  EXPECT_FALSE(find_invalid_utf8("h\xC3\xA9llo").has_value());
}

TEST(StreamDecoder, HoldsBackPartialCharacters) {
  const Tokenizer t = load(byte_tokenizer({}, {}));
  StreamDecoder stream(t);
  // U+1F600 is F0 9F 98 80: nothing comes out until the last byte.
  EXPECT_EQ(stream.push('a'), "a");
  EXPECT_EQ(stream.push(0xF0), "");
  EXPECT_EQ(stream.push(0x9F), "");
  EXPECT_EQ(stream.push(0x98), "");
  EXPECT_EQ(stream.push(0x80), "\xF0\x9F\x98\x80");
  // A byte that can never start a character is replaced at once.
  EXPECT_EQ(stream.push(0xFF), "\xEF\xBF\xBD");
  // A dangling lead byte is flushed as U+FFFD at the end.
  EXPECT_EQ(stream.push(0xC3), "");
  EXPECT_EQ(stream.finish(), "\xEF\xBF\xBD");
  EXPECT_EQ(stream.finish(), "");
}

// The templates as published (Qwen2-Instruct and SmolLM2-Instruct use ChatML; the Llama 3
// template uses header ids).
constexpr const char* kQwen2Template =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif "
    "%}{{'<|im_start|>' "
    "+ message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if "
    "add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
constexpr const char* kSmolLm2Template =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' "
    "}}{% "
    "endif %}";
constexpr const char* kLlama3Template =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | "
    "trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ "
    "content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

// Qwen2.5's template mentions "<|im_start|>system" three times; only the last is a literal
// default message.
constexpr const char* kQwen25Template =
    "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == "
    "'system' %}\n"
    "        {{- messages[0]['content'] }}\n    {%- endif %}\n{%- else %}\n    {%- if "
    "messages[0]['role'] == "
    "'system' %}\n        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' "
    "}}\n    "
    "{%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You "
    "are a "
    "helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}";

TEST(ChatTemplate, RecognisesPublishedTemplates) {
  EXPECT_EQ(ChatTemplate::recognise(kQwen25Template, "qwen2.5").default_system(),
            "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  const ChatTemplate qwen = ChatTemplate::recognise(kQwen2Template, "qwen");
  EXPECT_EQ(qwen.format(), ChatFormat::kChatML);
  EXPECT_EQ(qwen.default_system(), "You are a helpful assistant.");
  const ChatTemplate smol = ChatTemplate::recognise(kSmolLm2Template, "smol");
  EXPECT_EQ(smol.default_system(),
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  EXPECT_EQ(ChatTemplate::recognise(kLlama3Template, "llama").format(), ChatFormat::kLlama3);
  try {
    ChatTemplate::recognise("{{ messages[0]['content'] }} [INST]", "odd/tokenizer_config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("odd/tokenizer_config.json"), std::string::npos);
  }
}

TEST(ChatTemplate, RendersHandWrittenExpectations) {
  const std::vector<ChatMessage> chat = {{"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}};
  EXPECT_EQ(
      ChatTemplate::chatml("Sys.").render(chat),
      "<|im_start|>system\nSys.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
      "Hello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  const std::vector<ChatMessage> with_system = {{"system", "Own."}, {"user", "Hi"}};
  EXPECT_EQ(ChatTemplate::chatml("Sys.").render(with_system, false),
            "<|im_start|>system\nOwn.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
  EXPECT_EQ(ChatTemplate::llama3().render({{{"user", "  Hi \n"}}}),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, FromModelDirReadsTokenizerConfig) {
  const fs::path dir = fs::path(CLIPMIND_TEST_WORK_DIR) / "chat-template";
  fs::create_directories(dir);
  nlohmann::json added = {{{"id", 300}, {"content", "<|im_start|>"}, {"special", true}},
                          {{"id", 301}, {"content", "<|im_end|>"}, {"special", true}}};
  std::ofstream(dir / "tokenizer.json") << byte_tokenizer({}, {}, added).dump();
  std::ofstream(dir / "tokenizer_config.json")
      << nlohmann::json{{"chat_template", kSmolLm2Template}, {"eos_token", "<|im_end|>"}}.dump();
  const Tokenizer t = Tokenizer::from_model_dir(dir);
  const ChatTemplate chat = ChatTemplate::from_model_dir(dir, t);
  EXPECT_TRUE(chat.default_system().has_value());
  EXPECT_EQ(chat.stop_token_ids(t), (Ids{301}));
  const auto ids = chat.encode(t, std::vector<ChatMessage>{{"user", "x"}});
  EXPECT_EQ(ids.front(), 300);
  EXPECT_EQ(ids.back(), '\n');
  // No template in the config: ChatML because the vocabulary has <|im_start|>.
  std::ofstream(dir / "tokenizer_config.json") << "{}";
  EXPECT_FALSE(ChatTemplate::from_model_dir(dir, t).default_system().has_value());
}

}  // namespace
}  // namespace clipmind::models
