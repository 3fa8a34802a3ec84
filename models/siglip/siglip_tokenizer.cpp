#include "models/siglip/siglip_tokenizer.h"

#include <fstream>
#include <optional>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "clipmind/error.h"
#include "models/siglip/sentencepiece_model.h"
#include "models/tokenizer/bpe_tokenizer.h"
#include "models/weights/json_file.h"

namespace clipmind::models {
namespace fs = std::filesystem;
namespace {

std::string token_name(const nlohmann::json& config, const char* key, const std::string& fallback,
                       const std::string& where) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  throw Error(ErrorKind::kInvalidInput, where + ": \"" + key + "\" must be a token string");
}

bool ascii_punctuation(UChar32 c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

}  // namespace

struct SiglipTokenizer::Impl {
  std::optional<SentencePieceModel> sp;
  std::string source;
  std::string unk_token;
  int64_t max_length = 0;
  int64_t pad_id = 0;
  int64_t eos_id = 0;
  size_t unk_pieces = 0;
};

SiglipTokenizer::SiglipTokenizer() : impl_(std::make_unique<Impl>()) {}
SiglipTokenizer::~SiglipTokenizer() = default;
SiglipTokenizer::SiglipTokenizer(SiglipTokenizer&&) noexcept = default;
SiglipTokenizer& SiglipTokenizer::operator=(SiglipTokenizer&&) noexcept = default;

SiglipTokenizer SiglipTokenizer::from_serialized(std::string_view model_bytes, int64_t max_length,
                                                 const std::string& source,
                                                 const std::string& pad_token,
                                                 const std::string& eos_token,
                                                 const std::string& unk_token) {
  if (max_length < 2) {
    throw Error(ErrorKind::kInvalidArgument,
                source + ": text max length must be at least 2, got " + std::to_string(max_length));
  }
  SiglipTokenizer tokenizer;
  Impl& impl = *tokenizer.impl_;
  impl.source = source;
  impl.max_length = max_length;
  impl.unk_token = unk_token;
  impl.sp = SentencePieceModel::from_serialized(model_bytes, source, /*disable_dummy_prefix=*/true);
  const SentencePieceModel& sp = *impl.sp;
  const auto id_of = [&](const std::string& piece, const char* role) -> int64_t {
    const int id = sp.piece_to_id(piece);
    if (id == sp.unk_id() && piece != sp.id_to_piece(sp.unk_id())) {
      throw Error(ErrorKind::kInvalidInput,
                  source + ": the " + role + " token '" + piece + "' is not in the vocabulary");
    }
    return id;
  };
  impl.eos_id = id_of(eos_token, "eos");
  impl.pad_id = id_of(pad_token, "pad");
  impl.unk_pieces = sp.encode(unk_token).size();
  return tokenizer;
}

SiglipTokenizer SiglipTokenizer::from_model_dir(const fs::path& dir, int64_t max_length) {
  const fs::path model = dir / "spiece.model";
  std::error_code ec;
  if (!fs::is_regular_file(model, ec)) {
    throw Error(
        ErrorKind::kNotFound,
        dir.string() + ": no spiece.model (the SigLIP text tokenizer's SentencePiece model)");
  }
  std::ifstream in(model, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in && !in.eof()) throw Error(ErrorKind::kIo, model.string() + ": read failed");
  std::string pad = "</s>";
  std::string eos = "</s>";
  std::string unk = "<unk>";
  const fs::path config_path = dir / "tokenizer_config.json";
  if (fs::is_regular_file(config_path, ec)) {
    const nlohmann::json config = read_json_file(config_path);
    if (config.is_object()) {
      pad = token_name(config, "pad_token", pad, config_path.string());
      eos = token_name(config, "eos_token", eos, config_path.string());
      unk = token_name(config, "unk_token", unk, config_path.string());
    }
  }
  return from_serialized(bytes.str(), max_length, model.string(), pad, eos, unk);
}

std::string SiglipTokenizer::canonicalize(std::string_view text) {
  if (const auto bad = find_invalid_utf8(text)) {
    throw Error(ErrorKind::kInvalidInput,
                "text is not valid UTF-8 (byte offset " + std::to_string(*bad) + ")");
  }
  icu::UnicodeString lower = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  lower.toLower(icu::Locale::getRoot());
  icu::UnicodeString out;
  out.append(static_cast<UChar32>(0x2581));
  bool in_space = false;
  for (int32_t i = 0; i < lower.length();) {
    UChar32 c = lower.char32At(i);
    i += U16_LENGTH(c);
    if (c == 0x2581) c = ' ';  // "▁" in the text is a space (transformers' tokenize)
    if (ascii_punctuation(c)) continue;
    // Python's \s: u_isspace covers the same set (Unicode spaces, \t\n\v\f\r, \x1c-\x1f, \x85).
    if (u_isspace(c)) {
      if (!in_space) out.append(static_cast<UChar32>(' '));
      in_space = true;
      continue;
    }
    in_space = false;
    out.append(c);
  }
  if (in_space) out.truncate(out.length() - 1);  // strip(); the leading "▁" is not a space
  std::string result;
  out.toUTF8String(result);
  return result;
}

std::vector<std::string> SiglipTokenizer::pieces(std::string_view text) const {
  std::vector<std::string> out = impl_->sp->encode_pieces(impl_->unk_token + canonicalize(text));
  if (out.size() >= impl_->unk_pieces)
    out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(impl_->unk_pieces));
  return out;
}

std::vector<int64_t> SiglipTokenizer::encode(std::string_view text) const {
  std::vector<int> ids = impl_->sp->encode(impl_->unk_token + canonicalize(text));
  if (ids.size() >= impl_->unk_pieces)
    ids.erase(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(impl_->unk_pieces));
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(impl_->max_length));
  for (size_t i = 0; i < ids.size() && static_cast<int64_t>(out.size()) < impl_->max_length - 1;
       ++i)
    out.push_back(ids[i]);
  out.push_back(impl_->eos_id);
  while (static_cast<int64_t>(out.size()) < impl_->max_length)
    out.push_back(impl_->pad_id);
  return out;
}

int64_t SiglipTokenizer::max_length() const {
  return impl_->max_length;
}
int64_t SiglipTokenizer::pad_id() const {
  return impl_->pad_id;
}
int64_t SiglipTokenizer::eos_id() const {
  return impl_->eos_id;
}
int64_t SiglipTokenizer::vocab_size() const {
  return impl_->sp->size();
}

std::string train_tiny_sentencepiece(const std::vector<std::string>& sentences,
                                     int64_t vocab_size) {
  return SentencePieceModel::train(sentences, {
                                                  {"model_type", "unigram"},
                                                  {"vocab_size", std::to_string(vocab_size)},
                                                  {"pad_id", "0"},
                                                  {"eos_id", "1"},
                                                  {"unk_id", "2"},
                                                  {"bos_id", "-1"},
                                                  {"hard_vocab_limit", "false"},
                                                  {"character_coverage", "1.0"},
                                                  {"num_threads", "1"},
                                              });
}

}  // namespace clipmind::models
