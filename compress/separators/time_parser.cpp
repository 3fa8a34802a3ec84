#include "compress/separators/time_parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <string>

namespace clipmind::compress {
namespace {

enum class Unit { kNone = 0, kHours = 1, kMinutes = 2, kSeconds = 3 };

struct Match {
  size_t end = 0;
  double value = 0.0;
  // Set for a compound made of one NUM + unit part (the unit a bare left NUM can borrow).
  Unit single_unit = Unit::kNone;
};

class Scanner {
 public:
  explicit Scanner(std::string_view text) : lower_(text) {
    for (char& c : lower_)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }

  size_t size() const { return lower_.size(); }

  bool is_digit(size_t i) const {
    return i < lower_.size() && lower_[i] >= '0' && lower_[i] <= '9';
  }
  bool is_letter(size_t i) const {
    return i < lower_.size() && lower_[i] >= 'a' && lower_[i] <= 'z';
  }
  bool starts(size_t i, std::string_view word) const {
    return lower_.compare(i, word.size(), word) == 0;
  }

  // A match may start at i: not inside a word or a number.
  bool boundary_before(size_t i) const {
    if (i == 0) return true;
    const char prev = lower_[i - 1];
    if (is_letter(i - 1) || is_digit(i - 1)) return false;
    if ((prev == '.' || prev == ',' || prev == ':') && i >= 2 && is_digit(i - 2)) return false;
    return true;
  }

  // Whitespace run length at i (space, tab, UTF-8 no-break spaces).
  size_t whitespace(size_t i) const {
    size_t j = i;
    while (j < lower_.size()) {
      if (lower_[j] == ' ' || lower_[j] == '\t') {
        ++j;
      } else if (starts(j, "\xc2\xa0")) {
        j += 2;
      } else if (starts(j, "\xe2\x80\xaf")) {
        j += 3;
      } else {
        break;
      }
    }
    return j - i;
  }

  // DIGIT+ ("." DIGIT+)?; digits = length of the integer part.
  std::optional<Match> number(size_t i, size_t* digits = nullptr) const {
    size_t j = i;
    while (is_digit(j))
      ++j;
    if (j == i) return std::nullopt;
    if (digits) *digits = j - i;
    if (j < lower_.size() && lower_[j] == '.' && is_digit(j + 1)) {
      ++j;
      while (is_digit(j))
        ++j;
    }
    double value = 0.0;
    const auto result = std::from_chars(lower_.data() + i, lower_.data() + j, value);
    if (result.ec != std::errc()) return std::nullopt;
    return Match{j, value, Unit::kNone};
  }

  // A unit word at i, longest first, followed by a non-letter.
  std::optional<std::pair<Unit, size_t>> unit(size_t i) const {
    static constexpr std::pair<std::string_view, Unit> kUnits[] = {
        {"hours", Unit::kHours},    {"hour", Unit::kHours},      {"hrs", Unit::kHours},
        {"hr", Unit::kHours},       {"h", Unit::kHours},         {"minutes", Unit::kMinutes},
        {"minute", Unit::kMinutes}, {"mins", Unit::kMinutes},    {"min", Unit::kMinutes},
        {"m", Unit::kMinutes},      {"seconds", Unit::kSeconds}, {"second", Unit::kSeconds},
        {"secs", Unit::kSeconds},   {"sec", Unit::kSeconds},     {"s", Unit::kSeconds},
    };
    for (const auto& [word, kind] : kUnits) {
      if (starts(i, word) && !is_letter(i + word.size()))
        return std::make_pair(kind, i + word.size());
    }
    return std::nullopt;
  }

  // Two digits 00-59.
  std::optional<int> sexagesimal(size_t i) const {
    if (!is_digit(i) || !is_digit(i + 1) || is_digit(i + 2)) return std::nullopt;
    const int value = (lower_[i] - '0') * 10 + (lower_[i + 1] - '0');
    if (value > 59) return std::nullopt;
    return value;
  }

  // ("." DIGIT+)? after a clock's seconds field, then the clock's end rules.
  std::optional<Match> clock_tail(size_t i, double whole) const {
    double fraction = 0.0;
    size_t j = i;
    if (j < lower_.size() && lower_[j] == '.' && is_digit(j + 1)) {
      const auto frac = number(j - 2);  // the two seconds digits plus the fraction
      size_t k = j + 1;
      while (is_digit(k))
        ++k;
      if (!frac) return std::nullopt;
      fraction = frac->value - std::floor(frac->value);
      j = k;
    }
    if (is_digit(j) || is_letter(j)) return std::nullopt;
    if (j < lower_.size() && lower_[j] == ':' && is_digit(j + 1)) return std::nullopt;
    return Match{j, whole + fraction, Unit::kNone};
  }

  // H ":" MM ":" SS ("." DIGIT+)? with H 1-2 digits.
  std::optional<Match> clock3(size_t i) const {
    size_t digits = 0;
    size_t j = i;
    while (is_digit(j))
      ++j;
    digits = j - i;
    if (digits < 1 || digits > 2 || j >= lower_.size() || lower_[j] != ':') return std::nullopt;
    const auto minutes = sexagesimal(j + 1);
    if (!minutes || j + 3 >= lower_.size() || lower_[j + 3] != ':') return std::nullopt;
    const auto seconds = sexagesimal(j + 4);
    if (!seconds) return std::nullopt;
    const int hours = std::stoi(std::string(lower_.substr(i, digits)));
    return clock_tail(j + 6, hours * 3600.0 + *minutes * 60.0 + *seconds);
  }

  // M ":" SS ("." DIGIT+)? with M 1-3 digits.
  std::optional<Match> clock2(size_t i) const {
    size_t j = i;
    while (is_digit(j))
      ++j;
    const size_t digits = j - i;
    if (digits < 1 || digits > 3 || j >= lower_.size() || lower_[j] != ':') return std::nullopt;
    const auto seconds = sexagesimal(j + 1);
    if (!seconds) return std::nullopt;
    const int minutes = std::stoi(std::string(lower_.substr(i, digits)));
    return clock_tail(j + 3, minutes * 60.0 + *seconds);
  }

  // (NUM WS? U_H)? WS? (NUM WS? U_M)? WS? (NUM WS? U_S)?, at least one part, in that order.
  std::optional<Match> compound(size_t i) const {
    size_t j = i;
    double value = 0.0;
    int parts = 0;
    Unit last = Unit::kNone;
    while (true) {
      const size_t start = parts == 0 ? j : j + whitespace(j);
      if (parts > 0 && !is_digit(start)) break;
      const auto num = number(start);
      if (!num) break;
      const auto u = unit(num->end + whitespace(num->end));
      if (!u || static_cast<int>(u->first) <= static_cast<int>(last)) break;
      static constexpr double kFactor[] = {0.0, 3600.0, 60.0, 1.0};
      value += num->value * kFactor[static_cast<int>(u->first)];
      last = u->first;
      j = u->second;
      ++parts;
    }
    if (parts == 0) return std::nullopt;
    return Match{j, value, parts == 1 ? last : Unit::kNone};
  }

  // ("sec" | "second") "{" NUM "}".
  std::optional<Match> braced(size_t i) const {
    for (const std::string_view word : {std::string_view("second{"), std::string_view("sec{")}) {
      if (!starts(i, word)) continue;
      const auto num = number(i + word.size());
      if (num && num->end < lower_.size() && lower_[num->end] == '}') {
        return Match{num->end + 1, num->value, Unit::kNone};
      }
    }
    return std::nullopt;
  }

  // "[" COMPOUND "]" | "t=" NUM "s".
  std::optional<Match> tagged(size_t i) const {
    if (i < lower_.size() && lower_[i] == '[') {
      const auto inner = compound(i + 1);
      if (inner && inner->end < lower_.size() && lower_[inner->end] == ']') {
        return Match{inner->end + 1, inner->value, Unit::kNone};
      }
    }
    if (starts(i, "t=")) {
      const auto num = number(i + 2);
      if (num && num->end < lower_.size() && lower_[num->end] == 's' && !is_letter(num->end + 1)) {
        return Match{num->end + 1, num->value, Unit::kNone};
      }
    }
    return std::nullopt;
  }

  std::optional<Match> time(size_t i) const {
    std::optional<Match> best;
    for (const auto& candidate : {clock3(i), clock2(i), braced(i), tagged(i), compound(i)}) {
      if (candidate && (!best || candidate->end > best->end)) best = candidate;
    }
    return best;
  }

  // ("from" | "between")? (TIME | NUM) WS? sep WS? TIME.
  std::optional<TimeMention> range(size_t i) const {
    size_t j = i;
    bool between = false;
    for (const std::string_view word : {std::string_view("from"), std::string_view("between")}) {
      if (starts(i, word) && !is_letter(i + word.size())) {
        const size_t gap = whitespace(i + word.size());
        if (gap == 0) return std::nullopt;
        j = i + word.size() + gap;
        between = word == "between";
        break;
      }
    }
    std::optional<Match> left = time(j);
    bool bare = false;
    if (!left) {
      left = number(j);
      if (!left || is_letter(left->end)) return std::nullopt;
      bare = true;
    }
    size_t k = left->end + whitespace(left->end);
    size_t after = 0;
    for (const std::string_view word :
         {std::string_view("until"), std::string_view("and"), std::string_view("to")}) {
      if (starts(k, word) && !is_letter(k + word.size())) {
        if (word == "and" && !between) return std::nullopt;
        after = k + word.size();
        break;
      }
    }
    if (after == 0) {
      for (const std::string_view dash : {std::string_view("-"), std::string_view("\xe2\x80\x93"),
                                          std::string_view("\xe2\x80\x94")}) {
        if (starts(k, dash)) {
          after = k + dash.size();
          break;
        }
      }
    }
    if (after == 0) return std::nullopt;
    const auto right = time(after + whitespace(after));
    if (!right) return std::nullopt;
    double left_value = left->value;
    if (bare) {
      static constexpr double kFactor[] = {0.0, 3600.0, 60.0, 1.0};
      if (right->single_unit == Unit::kNone) return std::nullopt;
      left_value *= kFactor[static_cast<int>(right->single_unit)];
    }
    if (right->value < left_value) return std::nullopt;
    TimeMention mention;
    mention.start_s = left_value;
    mention.end_s = right->value;
    mention.is_range = true;
    mention.char_begin = i;
    mention.char_end = right->end;
    return mention;
  }

 private:
  std::string lower_;
};

}  // namespace

std::vector<TimeMention> parse_times(std::string_view text) {
  const Scanner scan(text);
  std::vector<TimeMention> mentions;
  size_t i = 0;
  while (i < scan.size()) {
    if (!scan.boundary_before(i)) {
      ++i;
      continue;
    }
    std::optional<TimeMention> best = scan.range(i);
    if (const auto moment = scan.time(i); moment && (!best || moment->end > best->char_end)) {
      best = TimeMention{moment->value, moment->value, false, false, i, moment->end};
    }
    if (best) {
      mentions.push_back(*best);
      i = best->char_end;
    } else {
      ++i;
    }
  }
  return mentions;
}

std::vector<TimeMention> parse_times(std::string_view text, double duration_seconds) {
  std::vector<TimeMention> mentions = parse_times(text);
  if (!(duration_seconds >= 0.0)) return mentions;
  for (TimeMention& m : mentions) {
    if (m.start_s > duration_seconds || m.end_s > duration_seconds) m.out_of_range = true;
    m.start_s = std::clamp(m.start_s, 0.0, duration_seconds);
    m.end_s = std::clamp(m.end_s, 0.0, duration_seconds);
  }
  return mentions;
}

}  // namespace clipmind::compress
