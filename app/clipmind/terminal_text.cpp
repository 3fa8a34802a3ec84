#include "app/clipmind/terminal_text.h"

#include <cstddef>
#include <cstdint>

namespace clipmind::cli {
namespace {

// The UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF): its length (1-4) with `cp` set; or -k when its first k bytes are a maximal
// invalid subpart (to be replaced by one U+FFFD); or 0 when it is a valid but unfinished
// prefix that reaches the end of `s`.
int sequence_at(std::string_view s, char32_t& cp) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  int length = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return -1;
  }
  char32_t value = b0 & (0xFF >> (length + 1));
  for (int i = 1; i < length; ++i) {
    if (static_cast<size_t>(i) >= s.size()) return 0;
    const unsigned char b = byte(static_cast<size_t>(i));
    if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) return -i;
    value = (value << 6) | (b & 0x3F);
  }
  cp = value;
  return length;
}

// Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) reorder
// everything after them up to the end of the line, so a name or caption could show text in an
// order other than the bytes' ("Trojan Source"). The marks U+200E/U+200F only set the direction
// of neutral characters next to them and are kept: real right-to-left text uses them.
bool bidi_override(char32_t cp) {
  return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

// Appends the safe form of `s` to `out`; with `hold_back`, an unfinished sequence at the end is
// not consumed. Returns how many bytes of `s` were consumed.
size_t append_safe(std::string_view s, TextContext context, bool hold_back, std::string& out) {
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp = 0;
    const int n = sequence_at(s.substr(i), cp);
    if (n == 0) {
      if (hold_back) return i;
      out += kReplacement;  // cut short by the end of the text
      return s.size();
    }
    if (n < 0) {
      out += kReplacement;
      i += static_cast<size_t>(-n);
      continue;
    }
    if (cp == '\n' || cp == '\t') {
      out += context == TextContext::kCell ? ' ' : static_cast<char>(cp);
    } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || bidi_override(cp)) {
      out += kReplacement;
    } else {
      out.append(s.substr(i, static_cast<size_t>(n)));
    }
    i += static_cast<size_t>(n);
  }
  return i;
}

struct Range {
  char32_t first, last;
};

// Zero-width: combining marks, zero-width spaces and joiners, variation selectors.
constexpr Range kZeroWidth[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A},   {0x064B, 0x065F},
    {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x0E47, 0x0E4E}, {0x1AB0, 0x1AFF},   {0x1DC0, 0x1DFF},
    {0x200B, 0x200F}, {0x2060, 0x2064}, {0x20D0, 0x20FF}, {0x302A, 0x302D},   {0x3099, 0x309A},
    {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0x1F3FB, 0x1F3FF}, {0xE0100, 0xE01EF},
};

// Two columns: East Asian Wide and Fullwidth blocks, emoji.
constexpr Range kWide[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x23E9, 0x23EC},   {0x2600, 0x2601},
    {0x2614, 0x2615},   {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},
    {0x26F2, 0x26F5},   {0x2705, 0x2705},   {0x270A, 0x270B},   {0x2728, 0x2728},
    {0x274C, 0x274C},   {0x2753, 0x2755},   {0x2795, 0x2797},   {0x2B1B, 0x2B1C},
    {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},
    {0xA000, 0xA4CF},   {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
    {0xFE10, 0xFE19},   {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},
    {0x16FE0, 0x16FE4}, {0x17000, 0x18CFF}, {0x1B000, 0x1B2FF}, {0x1F004, 0x1F004},
    {0x1F0CF, 0x1F0CF}, {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F251},
    {0x1F300, 0x1F3FA}, {0x1F400, 0x1F64F}, {0x1F680, 0x1F6FF}, {0x1F7E0, 0x1F7EB},
    {0x1F90C, 0x1F9FF}, {0x1FA70, 0x1FAFF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

template <size_t N>
bool in(const Range (&table)[N], char32_t cp) {
  size_t lo = 0, hi = N;  // tables are sorted and disjoint
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (cp < table[mid].first) {
      hi = mid;
    } else if (cp > table[mid].last) {
      lo = mid + 1;
    } else {
      return true;
    }
  }
  return false;
}

int columns_of(char32_t cp) {
  if (in(kZeroWidth, cp)) return 0;
  return in(kWide, cp) ? 2 : 1;
}

}  // namespace

std::string terminal_safe(std::string_view text, TextContext context) {
  std::string out;
  out.reserve(text.size());
  append_safe(text, context, /*hold_back=*/false, out);
  return out;
}

int display_columns(std::string_view text) {
  int columns = 0;
  for (size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    const int n = sequence_at(text.substr(i), cp);
    if (n <= 0) {  // not expected on safe text; count it as the U+FFFD it would become
      ++columns;
      i += n < 0 ? static_cast<size_t>(-n) : text.size() - i;
      continue;
    }
    columns += columns_of(cp);
    i += static_cast<size_t>(n);
  }
  return columns;
}

std::string fit_columns(std::string_view text, int columns) {
  if (columns < 1) return {};
  if (display_columns(text) <= columns) return std::string(text);
  const int room = columns - 1;  // "…" takes one column
  int used = 0;
  size_t end = 0;
  while (end < text.size()) {
    char32_t cp = 0;
    const int n = sequence_at(text.substr(end), cp);
    const int w = n > 0 ? columns_of(cp) : 1;
    if (used + w > room) break;
    used += w;
    end += n > 0 ? static_cast<size_t>(n) : n < 0 ? static_cast<size_t>(-n) : text.size() - end;
  }
  return std::string(text.substr(0, end)) + "\xE2\x80\xA6";  // U+2026
}

std::string table_cell(std::string_view text, int columns) {
  return fit_columns(terminal_safe(text, TextContext::kCell), columns);
}

std::string TerminalTextStream::feed(std::string_view piece) {
  pending_.append(piece);
  std::string out;
  out.reserve(pending_.size());
  const size_t used = append_safe(pending_, context_, /*hold_back=*/true, out);
  pending_.erase(0, used);
  return out;
}

std::string TerminalTextStream::finish() {
  std::string out;
  append_safe(pending_, context_, /*hold_back=*/false, out);
  pending_.clear();
  return out;
}

}  // namespace clipmind::cli
