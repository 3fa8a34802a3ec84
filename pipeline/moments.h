// Moments: the times an answer mentions, as clickable spans of the video.
//
// The answer-time grammar is compress/separators/time_parser.h; this module clamps its findings
// to the video ([0, duration]), keeps the text they came from, and streams them: while an
// answer is being generated, MomentStream reports each mention once it can no longer change
// (at least `lookahead` bytes of text follow it, or the answer ended), so a front end can turn
// times into links as they appear. The final list (moments_in()) parses the whole answer; it
// is what --json reports. Pure; never throws.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace clipmind::pipeline {

struct Moment {
  double start_s = 0.0;
  double end_s = 0.0;  // == start_s for a single point in time
  bool is_range = false;
  bool clamped = false;   // the answer said a time outside the video; clamped to it
  size_t char_begin = 0;  // [char_begin, char_end) in the answer, UTF-8 bytes
  size_t char_end = 0;
  std::string text;  // the words that said it: "from 1:02 to 1:10"
};

// Every mention in `answer`, clamped to [0, duration_s] (duration <= 0: not clamped).
std::vector<Moment> moments_in(std::string_view answer, double duration_s);

class MomentStream {
 public:
  using Callback = std::function<void(const Moment&)>;

  MomentStream(double duration_s, Callback on_moment, size_t lookahead = 12);

  // Appends generated text; reports mentions that became final.
  void append(std::string_view text);
  // The answer ended: reports what is left.
  void finish();

  const std::string& text() const { return text_; }
  // Everything reported so far, in text order.
  const std::vector<Moment>& reported() const { return reported_; }

 private:
  void report(bool all);

  double duration_s_;
  Callback on_moment_;
  size_t lookahead_;
  std::string text_;
  size_t reported_until_ = 0;  // mentions must begin at or after this byte to be new
  std::vector<Moment> reported_;
};

}  // namespace clipmind::pipeline
