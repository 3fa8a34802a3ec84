// TimeMarker-style temporal separators: the text placed before each frame's (or merged segment's)
// visual tokens, and the header line that tells the model what they mean. The one place that
// decides separator text (docs/design/architecture.md); format per docs/design/methods.md
// "Our defaults".
//
//   frame at 62.5 s            -> "[62.5s]"
//   segment 62.5 s .. 70.0 s   -> "[62.5s-70.0s]"   (our choice for merged spans; the answer
//                                                   parser reads it back as a range)
// Seconds only (no minutes or hours, "[3725.0s]"), one decimal, rounded half up to 0.1 s.
// Pure functions; nothing throws.
#pragma once

#include <string>

#include "compress/merge/merged_segment.h"

namespace clipmind::compress {

// t in seconds as tenths rounded half up: "62.5", "56.3" for 56.25, "0.0" for negatives and NaN.
// A value within 1e-6 s below a half tenth counts as the half (56.2499999 -> "56.3"), so times
// that went through float arithmetic still round the way the decimal value does.
std::string format_tenths(double seconds);

// "[62.5s]".
std::string separator_text(double seconds);

// "[t_begin s]" when both ends format the same, else "[62.5s-70.0s]".
std::string span_separator_text(double t_begin, double t_end);

// The separator for a merged segment (its t_begin .. t_end).
std::string separator_for(const MergedSegment& segment);

// The header after the system text:
//   "The video lasts {D:.1f} seconds. Each frame is preceded by its time in seconds, like
//    [12.5s]. Give times in seconds."
// With spans = true (merged segments in the prompt) one sentence is added before the last:
//   "A group of similar frames is preceded by its time span, like [12.5s-20.0s]."
std::string separator_header(double duration_seconds, bool spans = false);

}  // namespace clipmind::compress
