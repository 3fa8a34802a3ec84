// Separator text (docs/design/methods.md "Our defaults") and the answer-time parser: every row
// of the methods.md parse table, its five rejections, and more real-world phrasings.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compress/separators/time_parser.h"
#include "compress/separators/time_separators.h"

namespace clipmind::compress {
namespace {

TEST(Separators, OneDecimalRoundedHalfUpSecondsOnly) {
  EXPECT_EQ(separator_text(62.5), "[62.5s]");
  EXPECT_EQ(separator_text(3725.0), "[3725.0s]");
  EXPECT_EQ(separator_text(0.0), "[0.0s]");
  EXPECT_EQ(separator_text(28.125), "[28.1s]");
  EXPECT_EQ(separator_text(56.25), "[56.3s]");  // half up, not half even
  EXPECT_EQ(separator_text(0.35), "[0.4s]");    // 0.34999999999999998 in binary
  EXPECT_EQ(separator_text(0.05), "[0.1s]");
  EXPECT_EQ(separator_text(1.04999), "[1.0s]");
  EXPECT_EQ(separator_text(99.96), "[100.0s]");
  EXPECT_EQ(separator_text(-3.0), "[0.0s]");
}

TEST(Separators, SpansForMergedSegments) {
  EXPECT_EQ(span_separator_text(62.5, 70.0), "[62.5s-70.0s]");
  EXPECT_EQ(span_separator_text(12.0, 12.0), "[12.0s]");
  EXPECT_EQ(span_separator_text(12.01, 12.04), "[12.0s]");
  MergedSegment segment;
  segment.t_begin = 10.0;
  segment.t_end = 14.5;
  EXPECT_EQ(separator_for(segment), "[10.0s-14.5s]");
  // The parser reads our own separators back.
  const auto spans = parse_times("[62.5s-70.0s] and [12.0s]");
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_TRUE(spans[0].is_range);
  EXPECT_EQ(spans[0].start_s, 62.5);
  EXPECT_EQ(spans[0].end_s, 70.0);
  EXPECT_EQ(spans[1].start_s, 12.0);
}

TEST(Separators, Header) {
  EXPECT_EQ(separator_header(62.5),
            "The video lasts 62.5 seconds. Each frame is preceded by its time in seconds, like "
            "[12.5s]. Give times in seconds.");
  EXPECT_EQ(separator_header(3600.04, true),
            "The video lasts 3600.0 seconds. Each frame is preceded by its time in seconds, like "
            "[12.5s]. A group of similar frames is preceded by its time span, like "
            "[12.5s-20.0s]. Give times in seconds.");
}

struct Row {
  std::string text;
  // Expected mentions as (start, end, matched text); empty = must not parse.
  std::vector<std::tuple<double, double, std::string>> want;
};

std::vector<Row> parse_table() {
  return {
      // methods.md parse table, rows 1-20.
      {"at 1:02", {{62, 62, "1:02"}}},
      {"12.5s", {{12.5, 12.5, "12.5s"}}},
      {"00:01:02.5", {{62.5, 62.5, "00:01:02.5"}}},
      {"from 1:02 to 1:10", {{62, 70, "from 1:02 to 1:10"}}},
      {"between 62 and 70 seconds", {{62, 70, "between 62 and 70 seconds"}}},
      {"1:02:03", {{3723, 3723, "1:02:03"}}},
      {"around 45 seconds", {{45, 45, "45 seconds"}}},
      {"2 minutes", {{120, 120, "2 minutes"}}},
      {"1.5 min", {{90, 90, "1.5 min"}}},
      {"1m2.5s", {{62.5, 62.5, "1m2.5s"}}},
      {"[10m50.50s]", {{650.5, 650.5, "[10m50.50s]"}}},
      {"[62.5s]", {{62.5, 62.5, "[62.5s]"}}},
      {"second{4.0} - second{6.0}", {{4, 6, "second{4.0} - second{6.0}"}}},
      {"sec{20}", {{20, 20, "sec{20}"}}},
      {"62-70s", {{62, 70, "62-70s"}}},
      {"1:02\xe2\x80\x93"
       "1:10",
       {{62, 70,
         "1:02\xe2\x80\x93"
         "1:10"}}},
      {"1 hour 2 minutes 3 seconds", {{3723, 3723, "1 hour 2 minutes 3 seconds"}}},
      {"1h2m", {{3720, 3720, "1h2m"}}},
      {"at 90 sec", {{90, 90, "90 sec"}}},
      {"from 30s to 1:05", {{30, 65, "from 30s to 1:05"}}},
      // methods.md rejections.
      {"version 2.5", {}},
      {"3 people", {}},
      {"10:75", {}},
      {"2.5x speed", {}},
      {"between 3 and 4 people", {}},
      // More phrasings models produce.
      {"The goal is scored at 1:23.", {{83, 83, "1:23"}}},
      {"It happens around the 2:15 mark.", {{135, 135, "2:15"}}},
      {"The dog appears at 45s and leaves at 1:10.", {{45, 45, "45s"}, {70, 70, "1:10"}}},
      {"At 10s and 20s the light changes.", {{10, 10, "10s"}, {20, 20, "20s"}}},
      {"Second{2.0}: a man walks in.", {{2, 2, "Second{2.0}"}}},
      {"The clip is at second{4.0} - second{6.0} in the video",
       {{4, 6, "second{4.0} - second{6.0}"}}},
      {"[0m5.00s] the scene starts", {{5, 5, "[0m5.00s]"}}},
      {"<t=12.0s> shows a car", {{12, 12, "t=12.0s"}}},
      {"From 0:05 until 0:12 the car turns.", {{5, 12, "From 0:05 until 0:12"}}},
      {"between 1 and 2 minutes in", {{60, 120, "between 1 and 2 minutes"}}},
      {"(0:45)", {{45, 45, "0:45"}}},
      {"[1:02]", {{62, 62, "1:02"}}},
      {"at 5 min 30 s", {{330, 330, "5 min 30 s"}}},
      {"1.5 hours in", {{5400, 5400, "1.5 hours"}}},
      {"after 2 hrs", {{7200, 7200, "2 hrs"}}},
      {"at 1h 2m 3s", {{3723, 3723, "1h 2m 3s"}}},
      {"0:05.5", {{5.5, 5.5, "0:05.5"}}},
      {"00:00:05", {{5, 5, "00:00:05"}}},
      {"120:00", {{7200, 7200, "120:00"}}},
      {"10s\xe2\x80\x94"
       "20s",
       {{10, 20,
         "10s\xe2\x80\x94"
         "20s"}}},
      {"1:02 - 1:10", {{62, 70, "1:02 - 1:10"}}},
      {"5 SECONDS", {{5, 5, "5 SECONDS"}}},
      {"10:15 was the final score", {{615, 615, "10:15"}}},         // the known false positive
      {"from 1:10 to 1:02", {{70, 70, "1:10"}, {62, 62, "1:02"}}},  // reversed range
      // Must not parse.
      {"page 12", {}},
      {"Chapter 3", {}},
      {"5ms latency", {}},
      {"15mm lens", {}},
      {"1080p video", {}},
      {"4K footage", {}},
      {"a 3-minute clip", {}},
      {"3:1 ratio", {}},
      {"12:60", {}},
      {"at 1:02pm", {}},
      {"v2.5s", {}},
      {"1,200 seconds", {}},
      {"from 12 to 20", {}},
      {"5 secretaries", {}},
      {"2 minus 1", {}},
      {"Figure 3 shows", {}},
      {"1:023", {}},
      {"score 100:01:02", {}},
  };
}

TEST(TimeParser, TableOfPhrasings) {
  const std::vector<Row> table = parse_table();
  EXPECT_GE(table.size(), 40u);
  for (const Row& row : table) {
    const std::vector<TimeMention> got = parse_times(row.text);
    ASSERT_EQ(got.size(), row.want.size()) << "text: " << row.text;
    for (size_t i = 0; i < got.size(); ++i) {
      const auto& [start, end, span] = row.want[i];
      EXPECT_DOUBLE_EQ(got[i].start_s, start) << row.text;
      EXPECT_DOUBLE_EQ(got[i].end_s, end) << row.text;
      EXPECT_EQ(got[i].is_range, start != end) << row.text;
      EXPECT_EQ(row.text.substr(got[i].char_begin, got[i].char_end - got[i].char_begin), span)
          << row.text;
      EXPECT_FALSE(got[i].out_of_range);
    }
  }
}

TEST(TimeParser, ClampsToTheDurationAndFlags) {
  const auto got = parse_times("at 1:30 and from 50s to 2:00", 100.0);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].start_s, 90.0);
  EXPECT_FALSE(got[0].out_of_range);
  EXPECT_EQ(got[1].start_s, 50.0);
  EXPECT_EQ(got[1].end_s, 100.0);
  EXPECT_TRUE(got[1].out_of_range);
  const auto beyond = parse_times("at 99:59", 60.0);
  ASSERT_EQ(beyond.size(), 1u);
  EXPECT_EQ(beyond[0].start_s, 60.0);
  EXPECT_TRUE(beyond[0].out_of_range);
}

TEST(TimeParser, OffsetsAreBytesIntoTheOriginalText) {
  const std::string text = "Zuerst \xc3\xa4 bei 12.5s, dann 1:02.";
  const auto got = parse_times(text);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(text.substr(got[0].char_begin, got[0].char_end - got[0].char_begin), "12.5s");
  EXPECT_EQ(text.substr(got[1].char_begin, got[1].char_end - got[1].char_begin), "1:02");
  EXPECT_TRUE(parse_times("").empty());
}

}  // namespace
}  // namespace clipmind::compress
