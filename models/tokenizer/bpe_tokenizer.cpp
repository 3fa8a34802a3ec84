#include "models/tokenizer/bpe_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <queue>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <pcre2.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include "clipmind/error.h"
#include "models/weights/json_file.h"

namespace clipmind::models {
namespace {

// ---------------------------------------------------------------------------------------------
// UTF-8

enum class Utf8Status { kValid, kInvalid, kIncomplete };
struct Utf8Step {
  Utf8Status status;
  size_t length;  // bytes of the character, of the maximal invalid subpart, or available
  char32_t code_point = 0;
};

// Decodes one character at the start of `s` (non-empty), following Unicode Table 3-7.
Utf8Step decode_utf8(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return {Utf8Status::kValid, 1, b0};
  int need = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  char32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {Utf8Status::kInvalid, 1};
  }
  for (int i = 1; i <= need; ++i) {
    if (static_cast<size_t>(i) >= s.size()) return {Utf8Status::kIncomplete, s.size()};
    const auto b = static_cast<unsigned char>(s[i]);
    const unsigned char low = i == 1 ? lo : 0x80;
    const unsigned char high = i == 1 ? hi : 0xBF;
    if (b < low || b > high) return {Utf8Status::kInvalid, static_cast<size_t>(i)};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {Utf8Status::kValid, static_cast<size_t>(need + 1), cp};
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// ---------------------------------------------------------------------------------------------
// GPT-2 byte <-> unicode map: printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100 onwards, so every byte has a visible, non-space character.

struct ByteMap {
  std::array<std::string, 256> byte_to_text;
  std::unordered_map<char32_t, uint8_t> code_to_byte;
  ByteMap() {
    std::vector<int> bs;
    for (int b = '!'; b <= '~'; ++b)
      bs.push_back(b);
    for (int b = 0xA1; b <= 0xAC; ++b)
      bs.push_back(b);
    for (int b = 0xAE; b <= 0xFF; ++b)
      bs.push_back(b);
    std::array<char32_t, 256> code{};
    for (const int b : bs)
      code[b] = static_cast<char32_t>(b);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      if (std::find(bs.begin(), bs.end(), b) == bs.end())
        code[b] = static_cast<char32_t>(256 + n++);
    }
    for (int b = 0; b < 256; ++b) {
      append_utf8(byte_to_text[b], code[b]);
      code_to_byte[code[b]] = static_cast<uint8_t>(b);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

// ---------------------------------------------------------------------------------------------
// PCRE2 regex (UTF + UCP, JIT when available).

class Regex {
 public:
  Regex(const std::string& pattern, bool literal, const std::string& source) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    uint32_t options = PCRE2_UTF | PCRE2_UCP;
    if (literal) options |= PCRE2_LITERAL;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                          &error, &offset, nullptr);
    if (!code_) {
      std::array<PCRE2_UCHAR, 256> message{};
      pcre2_get_error_message(error, message.data(), message.size());
      throw Error(ErrorKind::kUnsupported, source +
                                               ": cannot compile pre-tokenizer regex at offset " +
                                               std::to_string(offset) + ": " +
                                               reinterpret_cast<const char*>(message.data()));
    }
    // Without JIT support pcre2_match() interprets the pattern; same results, slower.
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex() { pcre2_code_free(code_); }

  // Appends the pieces of `text` to `out`: matches and the gaps between them (Isolated), or
  // only the gaps (Removed).
  void split(std::string_view text, bool keep_matches, std::vector<std::string_view>& out) const {
    pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_, nullptr);
    if (!data) throw std::bad_alloc();
    size_t start = 0;
    size_t gap_begin = 0;
    while (start <= text.size()) {
      int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start,
                           PCRE2_NO_UTF_CHECK, data, nullptr);
      if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
        rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start,
                         PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, data, nullptr);
      }
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        pcre2_match_data_free(data);
        throw Error(ErrorKind::kInternal,
                    "pre-tokenizer regex failed with PCRE2 error " + std::to_string(rc));
      }
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
      const size_t begin = ovector[0];
      const size_t end = ovector[1];
      if (end == begin) {  // empty match: move on by one character
        if (begin >= text.size()) break;
        start = begin + decode_utf8(text.substr(begin)).length;
        continue;
      }
      if (begin > gap_begin) out.push_back(text.substr(gap_begin, begin - gap_begin));
      if (keep_matches) out.push_back(text.substr(begin, end - begin));
      gap_begin = end;
      start = end;
    }
    if (gap_begin < text.size()) out.push_back(text.substr(gap_begin));
    pcre2_match_data_free(data);
  }

 private:
  pcre2_code* code_ = nullptr;
};

// GPT-2's pattern, used by the ByteLevel pre-tokenizer when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct SplitStep {
  std::shared_ptr<Regex> regex;
  bool keep_matches = true;  // Isolated vs Removed
};

std::string type_of(const nlohmann::json& j) {
  if (!j.is_object()) return "";
  const auto it = j.find("type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string byte_level_text(std::string_view bytes) {
  std::string out;
  for (const char c : bytes)
    out += byte_map().byte_to_text[static_cast<unsigned char>(c)];
  return out;
}

std::vector<uint8_t> byte_level_order() {
  std::vector<uint8_t> order;
  for (int b = '!'; b <= '~'; ++b)
    order.push_back(static_cast<uint8_t>(b));
  for (int b = 0xA1; b <= 0xAC; ++b)
    order.push_back(static_cast<uint8_t>(b));
  for (int b = 0xAE; b <= 0xFF; ++b)
    order.push_back(static_cast<uint8_t>(b));
  for (int b = 0; b < 256; ++b) {
    if (std::find(order.begin(), order.end(), static_cast<uint8_t>(b)) == order.end())
      order.push_back(static_cast<uint8_t>(b));
  }
  return order;
}

std::optional<size_t> find_invalid_utf8(std::string_view text) {
  size_t at = 0;
  while (at < text.size()) {
    const Utf8Step step = decode_utf8(text.substr(at));
    if (step.status != Utf8Status::kValid) return at;
    at += step.length;
  }
  return std::nullopt;
}

std::string sanitize_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t at = 0;
  while (at < bytes.size()) {
    const Utf8Step step = decode_utf8(bytes.substr(at));
    if (step.status == Utf8Status::kValid) {
      out.append(bytes.substr(at, step.length));
    } else {
      out.append(kReplacement);
    }
    at += step.length;
  }
  return out;
}

size_t complete_utf8_prefix(std::string_view bytes) {
  size_t at = 0;
  while (at < bytes.size()) {
    const Utf8Step step = decode_utf8(bytes.substr(at));
    if (step.status == Utf8Status::kIncomplete) return at;
    at += step.length;
  }
  return at;
}

struct Tokenizer::Impl {
  std::string source;

  // Normalizer: ICU instances in order (owned by ICU).
  std::vector<const icu::Normalizer2*> normalizers;
  // Pre-tokenizer.
  std::vector<SplitStep> splits;
  bool add_prefix_space = false;

  // BPE model.
  std::unordered_map<std::string, int64_t> vocab;
  std::vector<std::string> id_to_text;  // vocabulary spelling, "" for holes
  std::vector<uint8_t> present;
  struct Merge {
    int32_t rank;
    int32_t merged;
  };
  std::unordered_map<uint64_t, Merge> merges;
  std::array<int64_t, 256> byte_ids{};
  bool ignore_merges = false;

  // Added tokens.
  std::vector<AddedToken> added;
  std::unordered_map<int64_t, size_t> added_by_id;
  std::array<std::vector<size_t>, 256> added_by_first_byte;  // longest first

  std::optional<std::string> bos;
  std::optional<std::string> eos;

  static uint64_t pair_key(int64_t a, int64_t b) {
    return (static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b);
  }

  void load_normalizer(const nlohmann::json& j) {
    if (j.is_null()) return;
    const std::string type = type_of(j);
    UErrorCode status = U_ZERO_ERROR;
    if (type == "Sequence") {
      const auto it = j.find("normalizers");
      if (it == j.end() || !it->is_array())
        throw Error(ErrorKind::kInvalidInput, source + ": normalizer Sequence without a list");
      for (const auto& item : *it)
        load_normalizer(item);
      return;
    }
    const icu::Normalizer2* n = nullptr;
    if (type == "NFC")
      n = icu::Normalizer2::getNFCInstance(status);
    else if (type == "NFD")
      n = icu::Normalizer2::getNFDInstance(status);
    else if (type == "NFKC")
      n = icu::Normalizer2::getNFKCInstance(status);
    else if (type == "NFKD")
      n = icu::Normalizer2::getNFKDInstance(status);
    else
      throw Error(ErrorKind::kUnsupported,
                  source + ": normalizer \"" + type + "\" is not supported");
    if (U_FAILURE(status) || !n) throw Error(ErrorKind::kInternal, "ICU normalizer unavailable");
    normalizers.push_back(n);
  }

  void load_pre_tokenizer(const nlohmann::json& j, bool last) {
    if (j.is_null()) return;
    const std::string type = type_of(j);
    if (type == "Sequence") {
      const auto it = j.find("pretokenizers");
      if (it == j.end() || !it->is_array())
        throw Error(ErrorKind::kInvalidInput, source + ": pre_tokenizer Sequence without a list");
      for (size_t i = 0; i < it->size(); ++i)
        load_pre_tokenizer((*it)[i], last && i + 1 == it->size());
      return;
    }
    if (type == "Split") {
      const auto pattern = j.find("pattern");
      std::string text;
      bool literal = false;
      if (pattern != j.end() && pattern->is_object() && pattern->contains("Regex") &&
          (*pattern)["Regex"].is_string()) {
        text = (*pattern)["Regex"].get<std::string>();
      } else if (pattern != j.end() && pattern->is_object() && pattern->contains("String") &&
                 (*pattern)["String"].is_string()) {
        text = (*pattern)["String"].get<std::string>();
        literal = true;
      } else {
        throw Error(ErrorKind::kInvalidInput, source + ": Split pre-tokenizer without a pattern");
      }
      const std::string behavior = json_opt_string(j, "behavior", source).value_or("Isolated");
      if (behavior != "Isolated" && behavior != "Removed") {
        throw Error(ErrorKind::kUnsupported,
                    source + ": Split behavior \"" + behavior + "\" is not supported");
      }
      if (json_opt_bool(j, "invert", source).value_or(false)) {
        throw Error(ErrorKind::kUnsupported, source + ": inverted Split is not supported");
      }
      splits.push_back({std::make_shared<Regex>(text, literal, source), behavior == "Isolated"});
      return;
    }
    if (type == "Digits") {
      const bool individual = json_opt_bool(j, "individual_digits", source).value_or(false);
      splits.push_back(
          {std::make_shared<Regex>(individual ? R"(\p{N})" : R"(\p{N}+)", false, source), true});
      return;
    }
    if (type == "ByteLevel") {
      if (!last)
        throw Error(ErrorKind::kUnsupported, source + ": ByteLevel must be the last pre-tokenizer");
      add_prefix_space = json_opt_bool(j, "add_prefix_space", source).value_or(true);
      if (json_opt_bool(j, "use_regex", source).value_or(true)) {
        splits.push_back({std::make_shared<Regex>(kGpt2Pattern, false, source), true});
      }
      return;
    }
    throw Error(ErrorKind::kUnsupported,
                source + ": pre-tokenizer \"" + type + "\" is not supported");
  }

  void load_model(const nlohmann::json& m) {
    if (type_of(m) != "BPE") {
      throw Error(ErrorKind::kUnsupported, source + ": model type \"" + type_of(m) +
                                               "\" is not supported (only byte-level BPE)");
    }
    if (json_opt_bool(m, "byte_fallback", source).value_or(false)) {
      throw Error(ErrorKind::kUnsupported,
                  source + ": BPE byte_fallback (SentencePiece-style) is not supported");
    }
    if (!json_opt_string(m, "continuing_subword_prefix", source).value_or("").empty() ||
        !json_opt_string(m, "end_of_word_suffix", source).value_or("").empty()) {
      throw Error(ErrorKind::kUnsupported,
                  source + ": BPE subword prefixes/suffixes are not supported");
    }
    ignore_merges = json_opt_bool(m, "ignore_merges", source).value_or(false);
    const auto vocab_it = m.find("vocab");
    if (vocab_it == m.end() || !vocab_it->is_object())
      throw Error(ErrorKind::kInvalidInput, source + ": model has no vocab");
    int64_t limit = 0;
    for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
      if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
          it.value().get<int64_t>() > (1 << 30)) {
        throw Error(ErrorKind::kInvalidInput,
                    source + ": vocab id of \"" + it.key() + "\" is not a valid id");
      }
      const int64_t id = it.value().get<int64_t>();
      vocab.emplace(it.key(), id);
      limit = std::max(limit, id + 1);
    }
    id_to_text.assign(static_cast<size_t>(limit), "");
    present.assign(static_cast<size_t>(limit), 0);
    for (const auto& [text, id] : vocab) {
      if (present[id])
        throw Error(ErrorKind::kInvalidInput,
                    source + ": vocab id " + std::to_string(id) + " is used twice");
      id_to_text[id] = text;
      present[id] = 1;
    }
    const auto& bytes = byte_map();
    for (int b = 0; b < 256; ++b) {
      const auto it = vocab.find(bytes.byte_to_text[b]);
      byte_ids[b] = it == vocab.end() ? -1 : it->second;
    }
    const auto merges_it = m.find("merges");
    if (merges_it == m.end() || !merges_it->is_array())
      throw Error(ErrorKind::kInvalidInput, source + ": model has no merges");
    int32_t rank = 0;
    for (const auto& entry : *merges_it) {
      std::string left;
      std::string right;
      if (entry.is_string()) {  // "a b"
        const std::string s = entry.get<std::string>();
        const size_t space = s.find(' ', 1);
        if (space == std::string::npos)
          throw Error(ErrorKind::kInvalidInput, source + ": malformed merge \"" + s + "\"");
        left = s.substr(0, space);
        right = s.substr(space + 1);
      } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
                 entry[1].is_string()) {
        left = entry[0].get<std::string>();
        right = entry[1].get<std::string>();
      } else {
        throw Error(ErrorKind::kInvalidInput,
                    source + ": malformed merge at rank " + std::to_string(rank));
      }
      const auto l = vocab.find(left);
      const auto r = vocab.find(right);
      const auto merged = vocab.find(left + right);
      if (l == vocab.end() || r == vocab.end() || merged == vocab.end()) {
        throw Error(ErrorKind::kInvalidInput, source + ": merge \"" + left + " " + right +
                                                  "\" uses tokens missing from the vocab");
      }
      merges.emplace(pair_key(l->second, r->second),
                     Merge{rank, static_cast<int32_t>(merged->second)});
      ++rank;
    }
  }

  void load_added(const nlohmann::json& list) {
    if (list.is_null()) return;
    if (!list.is_array())
      throw Error(ErrorKind::kInvalidInput, source + ": added_tokens is not a list");
    for (const auto& t : list) {
      AddedToken token;
      token.id = json_get_int(t, "id", source + " added_tokens");
      const auto content = json_opt_string(t, "content", source + " added_tokens");
      if (!content || content->empty() || token.id < 0 || token.id > (1 << 30)) {
        throw Error(ErrorKind::kInvalidInput,
                    source + ": added token with an empty content or bad id");
      }
      if (find_invalid_utf8(*content))
        throw Error(ErrorKind::kInvalidInput, source + ": added token is not UTF-8");
      token.content = *content;
      token.special = json_opt_bool(t, "special", source).value_or(false);
      token.lstrip = json_opt_bool(t, "lstrip", source).value_or(false);
      token.rstrip = json_opt_bool(t, "rstrip", source).value_or(false);
      token.single_word = json_opt_bool(t, "single_word", source).value_or(false);
      if (token.id >= static_cast<int64_t>(id_to_text.size())) {
        id_to_text.resize(static_cast<size_t>(token.id) + 1);
        present.resize(static_cast<size_t>(token.id) + 1, 0);
      }
      present[token.id] = 1;
      added_by_id[token.id] = added.size();
      added.push_back(std::move(token));
    }
    for (size_t i = 0; i < added.size(); ++i) {
      added_by_first_byte[static_cast<unsigned char>(added[i].content[0])].push_back(i);
    }
    for (auto& bucket : added_by_first_byte) {
      std::stable_sort(bucket.begin(), bucket.end(), [&](size_t a, size_t b) {
        return added[a].content.size() > added[b].content.size();
      });
    }
  }

  std::string normalize(std::string_view text) const {
    if (normalizers.empty() || std::all_of(text.begin(), text.end(), [](char c) {
          return static_cast<unsigned char>(c) < 0x80;
        })) {
      return std::string(text);
    }
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(
        icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
    for (const icu::Normalizer2* n : normalizers) {
      UErrorCode status = U_ZERO_ERROR;
      icu::UnicodeString out = n->normalize(u, status);
      if (U_FAILURE(status)) throw Error(ErrorKind::kInternal, "ICU normalization failed");
      u = std::move(out);
    }
    std::string result;
    u.toUTF8String(result);
    return result;
  }

  void bpe(std::string_view word, std::vector<int64_t>& out) const {
    if (word.empty()) return;
    const auto& bytes = byte_map();
    if (ignore_merges) {
      std::string mapped;
      for (const char c : word)
        mapped += bytes.byte_to_text[static_cast<unsigned char>(c)];
      if (const auto it = vocab.find(mapped); it != vocab.end()) {
        out.push_back(it->second);
        return;
      }
    }
    struct Symbol {
      int64_t id;
      int32_t prev;
      int32_t next;
      bool alive;
    };
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    for (size_t i = 0; i < word.size(); ++i) {
      const int64_t id = byte_ids[static_cast<unsigned char>(word[i])];
      if (id < 0) {
        throw Error(ErrorKind::kUnsupported,
                    source + ": the vocabulary has no token for byte " +
                        std::to_string(static_cast<unsigned char>(word[i])));
      }
      symbols.push_back({id, static_cast<int32_t>(i) - 1,
                         i + 1 < word.size() ? static_cast<int32_t>(i + 1) : -1, true});
    }
    struct Candidate {
      int32_t rank;
      int32_t left;
      int32_t right;
      int64_t left_id;
      int64_t right_id;
      bool operator>(const Candidate& o) const {
        return rank != o.rank ? rank > o.rank : left > o.left;
      }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    const auto consider = [&](int32_t left) {
      if (left < 0) return;
      const int32_t right = symbols[left].next;
      if (right < 0) return;
      const auto it = merges.find(pair_key(symbols[left].id, symbols[right].id));
      if (it != merges.end())
        queue.push({it->second.rank, left, right, symbols[left].id, symbols[right].id});
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i)
      consider(i);
    while (!queue.empty()) {
      const Candidate c = queue.top();
      queue.pop();
      Symbol& left = symbols[c.left];
      if (!left.alive || left.id != c.left_id || left.next != c.right) continue;
      Symbol& right = symbols[c.right];
      if (!right.alive || right.id != c.right_id) continue;
      left.id = merges.at(pair_key(c.left_id, c.right_id)).merged;
      right.alive = false;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = c.left;
      consider(left.prev);
      consider(c.left);
    }
    for (int32_t i = 0; i >= 0; i = symbols[i].next)
      out.push_back(symbols[i].id);
  }

  void encode_text(std::string_view raw, std::vector<int64_t>& out) const {
    if (raw.empty()) return;
    const std::string normalized = normalize(raw);
    std::string prefixed;
    std::string_view text = normalized;
    if (add_prefix_space && !text.empty() && text[0] != ' ') {
      prefixed = " " + normalized;
      text = prefixed;
    }
    std::vector<std::string_view> pieces{text};
    std::vector<std::string_view> next;
    for (const auto& step : splits) {
      next.clear();
      for (const auto piece : pieces)
        step.regex->split(piece, step.keep_matches, next);
      pieces.swap(next);
    }
    for (const auto piece : pieces)
      bpe(piece, out);
  }

  static bool is_word_byte(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x80 || std::isalnum(u) || c == '_';
  }
  static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  }
};

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::from_json_text(std::string_view text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kInvalidInput, source + ": not valid JSON: " + e.what());
  }
  if (!j.is_object())
    throw Error(ErrorKind::kInvalidInput, source + ": not a tokenizer.json object");
  Tokenizer tokenizer;
  Impl& impl = *tokenizer.impl_;
  impl.source = source;
  try {
    impl.load_normalizer(j.value("normalizer", nlohmann::json()));
    impl.load_pre_tokenizer(j.value("pre_tokenizer", nlohmann::json()), true);
    const auto model = j.find("model");
    if (model == j.end()) throw Error(ErrorKind::kInvalidInput, source + ": no \"model\"");
    impl.load_model(*model);
    impl.load_added(j.value("added_tokens", nlohmann::json()));
    const nlohmann::json decoder = j.value("decoder", nlohmann::json());
    if (!decoder.is_null() && type_of(decoder) != "ByteLevel") {
      throw Error(ErrorKind::kUnsupported,
                  source + ": decoder \"" + type_of(decoder) + "\" is not supported");
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kInvalidInput, source + ": malformed tokenizer: " + e.what());
  }
  return tokenizer;
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(ErrorKind::kNotFound, path.string() + ": no such file");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) throw Error(ErrorKind::kIo, path.string() + ": read failed");
  return from_json_text(text.str(), path.string());
}

Tokenizer Tokenizer::from_model_dir(const std::filesystem::path& dir) {
  const auto file = dir / "tokenizer.json";
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    throw Error(ErrorKind::kNotFound,
                dir.string() + ": no tokenizer.json (clipmind needs the fast-tokenizer file)");
  }
  Tokenizer tokenizer = from_file(file);
  const auto config_path = dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_path, ec)) {
    const nlohmann::json config = read_json_file(config_path);
    const auto name = [&](const char* key) -> std::optional<std::string> {
      if (!config.is_object()) return std::nullopt;
      const auto it = config.find(key);
      if (it == config.end() || it->is_null()) return std::nullopt;
      if (it->is_string()) return it->get<std::string>();
      if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
        return (*it)["content"].get<std::string>();
      throw Error(ErrorKind::kInvalidInput,
                  config_path.string() + ": \"" + key + "\" must be a string");
    };
    tokenizer.impl_->bos = name("bos_token");
    tokenizer.impl_->eos = name("eos_token");
  }
  return tokenizer;
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  if (const auto bad = find_invalid_utf8(text)) {
    throw Error(ErrorKind::kInvalidInput,
                "text is not valid UTF-8 (bad byte at offset " + std::to_string(*bad) + ")");
  }
  const Impl& impl = *impl_;
  std::vector<int64_t> out;
  size_t segment = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* match = nullptr;
    for (const size_t index : impl.added_by_first_byte[static_cast<unsigned char>(text[pos])]) {
      const AddedToken& token = impl.added[index];
      if (token.special && !parse_special) continue;
      if (text.substr(pos, token.content.size()) != token.content) continue;
      if (token.single_word) {
        const size_t end = pos + token.content.size();
        if ((pos > 0 && Impl::is_word_byte(text[pos - 1])) ||
            (end < text.size() && Impl::is_word_byte(text[end])))
          continue;
      }
      match = &token;
      break;
    }
    if (!match) {
      ++pos;
      continue;
    }
    size_t left_end = pos;
    if (match->lstrip) {
      while (left_end > segment && Impl::is_space(text[left_end - 1]))
        --left_end;
    }
    impl.encode_text(text.substr(segment, left_end - segment), out);
    out.push_back(match->id);
    pos += match->content.size();
    if (match->rstrip) {
      while (pos < text.size() && Impl::is_space(text[pos]))
        ++pos;
    }
    segment = pos;
  }
  impl.encode_text(text.substr(segment), out);
  return out;
}

std::string Tokenizer::token_bytes(int64_t id, bool skip_special) const {
  const Impl& impl = *impl_;
  if (!has_token(id)) {
    throw Error(ErrorKind::kInvalidInput, "token id " + std::to_string(id) +
                                              " is not in the vocabulary (0.." +
                                              std::to_string(id_limit() - 1) + ")");
  }
  if (const auto it = impl.added_by_id.find(id); it != impl.added_by_id.end()) {
    const AddedToken& token = impl.added[it->second];
    if (token.special && skip_special) return {};
    return token.content;
  }
  const std::string& text = impl.id_to_text[id];
  const auto& map = byte_map().code_to_byte;
  std::string out;
  size_t at = 0;
  while (at < text.size()) {
    const Utf8Step step = decode_utf8(std::string_view(text).substr(at));
    const auto it = step.status == Utf8Status::kValid ? map.find(step.code_point) : map.end();
    if (it != map.end()) {
      out += static_cast<char>(it->second);
    } else {
      out.append(text, at, step.length);
    }
    at += step.length;
  }
  return out;
}

std::string Tokenizer::decode(std::span<const int64_t> ids, bool skip_special) const {
  std::string bytes;
  for (const int64_t id : ids)
    bytes += token_bytes(id, skip_special);
  return sanitize_utf8(bytes);
}

std::optional<int64_t> Tokenizer::token_id(std::string_view token) const {
  for (const auto& added : impl_->added) {
    if (added.content == token) return added.id;
  }
  const auto it = impl_->vocab.find(std::string(token));
  if (it == impl_->vocab.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Tokenizer::token_text(int64_t id) const {
  if (!has_token(id)) return std::nullopt;
  if (const auto it = impl_->added_by_id.find(id); it != impl_->added_by_id.end())
    return impl_->added[it->second].content;
  return impl_->id_to_text[id];
}

int64_t Tokenizer::id_limit() const {
  return static_cast<int64_t>(impl_->present.size());
}
bool Tokenizer::has_token(int64_t id) const {
  return id >= 0 && id < id_limit() && impl_->present[id];
}
bool Tokenizer::is_special(int64_t id) const {
  const auto it = impl_->added_by_id.find(id);
  return it != impl_->added_by_id.end() && impl_->added[it->second].special;
}
const std::vector<AddedToken>& Tokenizer::added_tokens() const {
  return impl_->added;
}
const std::optional<std::string>& Tokenizer::bos_token() const {
  return impl_->bos;
}
const std::optional<std::string>& Tokenizer::eos_token() const {
  return impl_->eos;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(&tokenizer), skip_special_(skip_special) {}

std::string StreamDecoder::push(int64_t id) {
  pending_ += tokenizer_->token_bytes(id, skip_special_);
  const size_t complete = complete_utf8_prefix(pending_);
  std::string out = sanitize_utf8(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out = sanitize_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace clipmind::models
