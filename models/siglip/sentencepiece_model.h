// A SentencePiece model (libsentencepiece), reached through libclipmind_spm_shim.so.
//
// libsentencepiece cannot be linked into a program that also loads LibTorch on Debian (both
// bring a protobuf; see sentencepiece_shim.cpp), so it lives in a small shared library that is
// dlopen()ed privately on first use. The shim is looked up, in order: $CLIPMIND_SPM_SHIM, the
// path it was built at, next to the running executable, then the dynamic loader's search path.
// The loaded library stays for the life of the process.
//
// A SentencePieceModel is immutable after loading; encode is thread-safe. Errors:
// kUnsupported when the shim cannot be loaded (naming what was tried), kInvalidInput for a
// corrupt model (naming `source`), kInternal when training fails.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace clipmind::models {

class SentencePieceModel {
 public:
  // Loads a serialized spiece.model. With `disable_dummy_prefix` the model's normalizer stops
  // prepending "▁" (what transformers' SiglipTokenizer does to the model it loads).
  static SentencePieceModel from_serialized(std::string_view bytes, const std::string& source,
                                            bool disable_dummy_prefix);

  ~SentencePieceModel();
  SentencePieceModel(SentencePieceModel&&) noexcept;
  SentencePieceModel& operator=(SentencePieceModel&&) noexcept;

  std::vector<int> encode(std::string_view text) const;
  std::vector<std::string> encode_pieces(std::string_view text) const;
  // The id of a piece; the unknown id when absent.
  int piece_to_id(std::string_view piece) const;
  std::string id_to_piece(int id) const;
  int size() const;
  int unk_id() const;

  // Trains a model on `sentences` with trainer flags (e.g. {"vocab_size", "256"}) and returns
  // the serialized model.
  static std::string train(const std::vector<std::string>& sentences,
                           const std::vector<std::pair<std::string, std::string>>& flags);

 private:
  SentencePieceModel() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipmind::models
