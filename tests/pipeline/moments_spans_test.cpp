// Moments from answers (streamed and final) and caption spans.
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "pipeline/caption_spans.h"
#include "pipeline/moments.h"

namespace clipmind::pipeline {
namespace {

TEST(Moments, ParsesAndClampsToTheVideo) {
  const std::string answer =
      "The dog appears at [12.5s] and again from 1:02 to 1:10, then at 5 minutes.";
  const std::vector<Moment> m = moments_in(answer, 100.0);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_DOUBLE_EQ(m[0].start_s, 12.5);
  EXPECT_FALSE(m[0].is_range);
  EXPECT_EQ(m[0].text, "[12.5s]");
  EXPECT_TRUE(m[1].is_range);
  EXPECT_DOUBLE_EQ(m[1].start_s, 62.0);
  EXPECT_DOUBLE_EQ(m[1].end_s, 70.0);
  EXPECT_EQ(answer.substr(m[1].char_begin, m[1].char_end - m[1].char_begin), m[1].text);
  EXPECT_DOUBLE_EQ(m[2].start_s, 100.0);  // 300 s said, clamped to the 100 s video
  EXPECT_TRUE(m[2].clamped);
}

TEST(Moments, NoTimesNoMoments) {
  EXPECT_TRUE(moments_in("version 2.5 has 3 people", 10.0).empty());
}

TEST(MomentStream, ReportsEachMentionOnceWhenFinalAndTheRestAtTheEnd) {
  const std::string answer = "From 30s to 1:05 the man talks. At 1:20 he leaves [85.0s]";
  std::vector<Moment> streamed;
  MomentStream stream(120.0, [&](const Moment& m) { streamed.push_back(m); });
  // Token-sized pieces, as a generator delivers them.
  for (size_t i = 0; i < answer.size(); i += 3)
    stream.append(answer.substr(i, 3));
  const size_t before_finish = streamed.size();
  stream.finish();
  EXPECT_LT(before_finish, streamed.size());  // "[85.0s]" ends the answer: reported at finish
  const std::vector<Moment> final = moments_in(answer, 120.0);
  ASSERT_EQ(streamed.size(), final.size());
  for (size_t i = 0; i < final.size(); ++i) {
    EXPECT_EQ(streamed[i].char_begin, final[i].char_begin) << i;
    EXPECT_DOUBLE_EQ(streamed[i].start_s, final[i].start_s) << i;
    EXPECT_DOUBLE_EQ(streamed[i].end_s, final[i].end_s) << i;
  }
  // "From 30s" was never reported as a single moment before the range completed.
  EXPECT_TRUE(streamed[0].is_range);
  EXPECT_DOUBLE_EQ(streamed[0].end_s, 65.0);
}

TEST(CaptionSpans, FixedWindowsCoverTheVideo) {
  const auto spans = fixed_windows(65.0, 30.0);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_DOUBLE_EQ(spans[1].t_begin, 30.0);
  EXPECT_DOUBLE_EQ(spans[2].t_end, 65.0);
  EXPECT_EQ(fixed_windows(60.0, 30.0).size(), 2u);
  EXPECT_EQ(fixed_windows(5.0, 30.0).size(), 1u);
  // A sliver at the end joins the last full window; a readable remainder stays its own.
  const auto joined = fixed_windows(6.006, 1.5);
  ASSERT_EQ(joined.size(), 4u);
  EXPECT_DOUBLE_EQ(joined.back().t_begin, 4.5);
  EXPECT_DOUBLE_EQ(joined.back().t_end, 6.006);
  EXPECT_EQ(fixed_windows(7.0, 2.0).size(), 4u);
  EXPECT_THROW(fixed_windows(5.0, 0.0), Error);
}

TEST(CaptionSpans, SegmentsBecomeSpansWithMidpointBoundaries) {
  const std::vector<double> times = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18};
  const std::vector<std::pair<int64_t, int64_t>> segments = {{0, 3}, {4, 4}, {5, 9}};
  // Without joining: [0, 7), [7, 9), [9, 20]
  auto spans = spans_from_segments(times, segments, 20.0, 0.5, 100.0);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_DOUBLE_EQ(spans[0].t_end, 7.0);
  EXPECT_DOUBLE_EQ(spans[1].t_begin, 7.0);
  EXPECT_DOUBLE_EQ(spans[1].t_end, 9.0);
  EXPECT_DOUBLE_EQ(spans[2].t_end, 20.0);
  // min 3 s: the 2 s middle span joins its shorter neighbour (the first, 7 s, vs 11 s).
  spans = spans_from_segments(times, segments, 20.0, 3.0, 100.0);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_DOUBLE_EQ(spans[0].t_end, 9.0);
  // max 5 s: [0,7) -> 2 parts, [7,9) stays, [9,20] -> 3 parts.
  spans = spans_from_segments(times, segments, 20.0, 0.5, 5.0);
  ASSERT_EQ(spans.size(), 6u);
  EXPECT_DOUBLE_EQ(spans[1].t_begin, 3.5);
  EXPECT_NEAR(spans[4].t_begin, 9.0 + 11.0 / 3.0, 1e-12);
  EXPECT_THROW(spans_from_segments(times, std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {5, 9}},
                                   20.0, 1, 10),
               Error);
}

}  // namespace
}  // namespace clipmind::pipeline
