// Finds times in a model's answer ("at 1:02", "12.5s", "00:01:02.5", "from 1:02 to 1:10",
// "between 62 and 70 seconds", "[62.5s]", "second{4.0}", ...) and returns moments and ranges in
// seconds with the text span they came from. Grammar: docs/design/methods.md "Answer-time
// grammar" (case-insensitive, leftmost-longest), with the choices listed in docs/compress.md:
//   - a match must start at a word boundary: not after a letter or digit, nor after '.', ',' or
//     ':' that follows a digit ("v2.5s", "1,200 seconds", "10:75s" give nothing);
//   - "X and Y" is a range only after "between"; "10s and 20s" are two moments;
//   - a clock followed by a letter ("1:02pm") is not a time;
//   - a range whose right side is earlier than its left is dropped, and its two ends are then
//     read as separate moments.
// Offsets are UTF-8 byte offsets into the text. Pure; never throws.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace clipmind::compress {

struct TimeMention {
  double start_s = 0.0;
  double end_s = 0.0;  // == start_s for a moment
  bool is_range = false;
  bool out_of_range = false;  // a value was above the duration and was clamped to it
  size_t char_begin = 0;      // [char_begin, char_end) in the text, UTF-8 bytes
  size_t char_end = 0;
};

// All mentions in text order, values as written (not clamped).
std::vector<TimeMention> parse_times(std::string_view text);

// The same, clamped to [0, duration] with out_of_range set where a value was clamped.
std::vector<TimeMention> parse_times(std::string_view text, double duration_seconds);

}  // namespace clipmind::compress
