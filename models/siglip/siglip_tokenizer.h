// The SigLIP text tokenizer: SentencePiece (`spiece.model`, libsentencepiece) with the text
// canonicalisation of transformers' SiglipTokenizer (docs/design/methods.md "SigLIP dual
// encoder", text tokenization):
//   1. lowercase (full Unicode lowercasing, ICU root locale; Python's str.lower() differs only
//      for a few context-dependent letters such as final sigma);
//   2. prepend "▁" (after replacing any "▁" in the text by a space), delete ASCII punctuation
//      (Python's string.punctuation), collapse runs of Unicode whitespace to one space, trim;
//   3. SentencePiece with the model's dummy prefix turned off (as transformers loads it; we
//      patch the serialized model the same way), encoding "<unk>" + text and dropping the pieces
//      of "<unk>" (transformers' way of stopping SentencePiece from adding its own prefix);
//   4. truncate to max_length - 1 pieces, append `</s>`, pad with the pad token (`</s>` unless
//      tokenizer_config.json says otherwise) to exactly max_length ids. No attention mask.
// Special-token strings typed in the text are not treated specially (transformers would parse a
// literal "</s>"); user text cannot inject control ids.
//
// Immutable after loading; encode() is thread-safe. Throws kNotFound (no spiece.model),
// kInvalidInput (corrupt model, invalid UTF-8 text), naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace clipmind::models {

class SiglipTokenizer {
 public:
  // Loads `dir/spiece.model` and the token names of `dir/tokenizer_config.json` (optional).
  // `max_length` is the text tower's max_position_embeddings.
  static SiglipTokenizer from_model_dir(const std::filesystem::path& dir, int64_t max_length);
  // From the bytes of a spiece.model (`source` names it in messages).
  static SiglipTokenizer from_serialized(std::string_view model_bytes, int64_t max_length,
                                         const std::string& source,
                                         const std::string& pad_token = "</s>",
                                         const std::string& eos_token = "</s>",
                                         const std::string& unk_token = "<unk>");

  ~SiglipTokenizer();
  SiglipTokenizer(SiglipTokenizer&&) noexcept;
  SiglipTokenizer& operator=(SiglipTokenizer&&) noexcept;

  // Steps 1-2 above.
  static std::string canonicalize(std::string_view text);
  // The SentencePiece pieces of step 3 (before eos and padding), for tests and debugging.
  std::vector<std::string> pieces(std::string_view text) const;
  // Exactly max_length ids.
  std::vector<int64_t> encode(std::string_view text) const;

  int64_t max_length() const;
  int64_t pad_id() const;
  int64_t eos_id() const;
  int64_t vocab_size() const;

 private:
  SiglipTokenizer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Trains a small unigram SentencePiece model with SigLIP's special-token layout (<pad> 0,
// </s> 1, <unk> 2, no BOS) and returns the serialized spiece.model. For tiny test models only;
// deterministic for a given corpus and vocabulary size. Throws kInternal if training fails.
std::string train_tiny_sentencepiece(const std::vector<std::string>& sentences, int64_t vocab_size);

}  // namespace clipmind::models
