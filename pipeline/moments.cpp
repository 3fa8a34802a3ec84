#include "pipeline/moments.h"

#include "compress/separators/time_parser.h"

namespace clipmind::pipeline {

std::vector<Moment> moments_in(std::string_view answer, double duration_s) {
  const std::vector<compress::TimeMention> mentions =
      duration_s > 0.0 ? compress::parse_times(answer, duration_s) : compress::parse_times(answer);
  std::vector<Moment> out;
  out.reserve(mentions.size());
  for (const compress::TimeMention& m : mentions) {
    Moment moment;
    moment.start_s = m.start_s;
    moment.end_s = m.end_s;
    moment.is_range = m.is_range;
    moment.clamped = m.out_of_range;
    moment.char_begin = m.char_begin;
    moment.char_end = m.char_end;
    moment.text = std::string(answer.substr(m.char_begin, m.char_end - m.char_begin));
    out.push_back(std::move(moment));
  }
  return out;
}

MomentStream::MomentStream(double duration_s, Callback on_moment, size_t lookahead)
    : duration_s_(duration_s), on_moment_(std::move(on_moment)), lookahead_(lookahead) {}

void MomentStream::append(std::string_view text) {
  if (text.empty()) return;
  text_.append(text);
  report(false);
}

void MomentStream::finish() {
  report(true);
}

void MomentStream::report(bool all) {
  for (const Moment& m : moments_in(text_, duration_s_)) {
    if (m.char_begin < reported_until_) continue;
    if (!all && m.char_end + lookahead_ > text_.size()) break;
    reported_until_ = m.char_end;
    reported_.push_back(m);
    if (on_moment_) on_moment_(m);
  }
}

}  // namespace clipmind::pipeline
