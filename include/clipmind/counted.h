// A count with its noun for text a user reads: "1 segment", "2 segments", "0 files". English
// plural by "s" unless a plural is given ("1 entry", "3 entries"). Every count the CLI and the
// pipeline print goes through it, so no summary says "(1 segments)" or "file(s)".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace clipmind {

inline std::string counted(int64_t count, std::string_view singular, std::string_view plural = {}) {
  std::string text = std::to_string(count) + " ";
  if (count == 1 || count == -1) {
    text += singular;
  } else if (plural.empty()) {
    text += singular;
    text += 's';
  } else {
    text += plural;
  }
  return text;
}

}  // namespace clipmind
