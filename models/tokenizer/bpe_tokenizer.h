// Byte-level BPE tokenizer loaded from a Hugging Face `tokenizer.json` (Qwen2/Qwen3, Llama 3,
// SmolLM2, GPT-2 style), torch-free.
//
// encode(): added/special tokens are matched in the raw text first (leftmost, longest), then
// each remaining span goes through the normalizer (NFC/NFKC/NFD/NFKD via ICU, or none), the
// pre-tokenizer (Split with a PCRE2 regex in UTF+UCP mode, Digits, ByteLevel), the GPT-2
// byte-to-unicode map, and BPE merges applied by rank. No BOS/EOS are added; chat templates
// (chat_template.h) place special tokens. decode() maps tokens back to bytes and replaces
// invalid UTF-8 with U+FFFD, as Hugging Face's `errors="replace"` does.
//
// Components a file may name that are not implemented (Unigram/WordPiece models, Metaspace,
// byte fallback, ...) make loading fail with kUnsupported naming the component. Invalid UTF-8
// input to encode() throws kInvalidInput with the byte offset. A Tokenizer is immutable after
// loading; encode/decode are thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace clipmind::models {

struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

class Tokenizer {
 public:
  // Loads `tokenizer.json`; throws kNotFound / kInvalidInput / kUnsupported naming the file.
  static Tokenizer from_file(const std::filesystem::path& tokenizer_json);
  // Loads `dir/tokenizer.json` and the special-token names of `dir/tokenizer_config.json`.
  static Tokenizer from_model_dir(const std::filesystem::path& dir);
  // Builds from the JSON text of a tokenizer.json (`source` names it in messages).
  static Tokenizer from_json_text(std::string_view json, const std::string& source);

  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Text -> ids. With parse_special false, special added tokens in the text are encoded as
  // plain text (use it for untrusted user input inside a chat template).
  std::vector<int64_t> encode(std::string_view text, bool parse_special = true) const;

  // Ids -> UTF-8 text. Throws kInvalidInput for ids outside [0, id_limit()) or ids that have
  // no token (holes in the vocabulary).
  std::string decode(std::span<const int64_t> ids, bool skip_special = false) const;

  // The raw bytes one token stands for (may be part of a UTF-8 character); empty for skipped
  // special tokens when skip_special is set.
  std::string token_bytes(int64_t id, bool skip_special = false) const;

  // Looks up a token by its text form (vocabulary spelling or added-token content).
  std::optional<int64_t> token_id(std::string_view token) const;
  // The vocabulary spelling of an id (byte-level unicode form), or nullopt.
  std::optional<std::string> token_text(int64_t id) const;

  // One more than the largest id with a token.
  int64_t id_limit() const;
  bool has_token(int64_t id) const;
  bool is_special(int64_t id) const;
  const std::vector<AddedToken>& added_tokens() const;

  // From tokenizer_config.json when loaded with from_model_dir (else empty).
  const std::optional<std::string>& bos_token() const;
  const std::optional<std::string>& eos_token() const;

 private:
  Tokenizer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Turns generated ids into text incrementally: push() returns only complete UTF-8 characters,
// holding back the bytes of a character split across tokens; finish() flushes what is left
// (an incomplete tail becomes U+FFFD). Bytes that can never form a character are replaced by
// U+FFFD as soon as that is certain.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false);
  std::string push(int64_t id);
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::string pending_;
};

// The byte-level (GPT-2) spelling of raw bytes: each byte becomes one visible character
// (e.g. a space is "\u0120"). Vocabularies of byte-level tokenizers are written this way.
std::string byte_level_text(std::string_view bytes);
// The 256 byte values in the order GPT-2-style vocabularies give them ids ('!' first).
std::vector<uint8_t> byte_level_order();

// UTF-8 helpers shared by the tokenizer, the generator and the CLI.
// Offset of the first invalid byte, or nullopt when `text` is valid UTF-8 (no surrogates,
// no overlong forms, nothing above U+10FFFF).
std::optional<size_t> find_invalid_utf8(std::string_view text);
// Replaces each maximal invalid subsequence with U+FFFD (Unicode "maximal subpart" rule).
std::string sanitize_utf8(std::string_view bytes);
// Length of the longest prefix of `bytes` that does not end inside a character that could
// still be completed by more bytes.
size_t complete_utf8_prefix(std::string_view bytes);

}  // namespace clipmind::models
