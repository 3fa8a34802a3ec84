// The merge stage on synthetic encoded frames with known structure.
#include "pipeline/merge_stage.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "clipmind/error.h"

namespace clipmind::pipeline {
namespace {

// T frames of a 3x3 grid (N = 9), D = 4. Frames 0..3 are the same picture (static), frames
// 4..5 another one: HoliTom must find two segments.
std::vector<EncodedFrame> frames_with_a_cut() {
  at::manual_seed(7);
  const at::Tensor a = at::randn({9, 4});
  const at::Tensor b = at::randn({9, 4});
  std::vector<EncodedFrame> frames;
  for (int t = 0; t < 6; ++t) {
    EncodedFrame f;
    f.time = t * 2.0;
    f.requested_time = f.time;
    f.grid = 3;
    f.tokens = (t < 4 ? a : b) + 0.001 * at::randn({9, 4});
    f.attention = at::softmax(at::randn({9}), 0);
    frames.push_back(f);
  }
  return frames;
}

TEST(MergeStage, NoneKeepsEveryTokenOneSegmentPerFrame) {
  auto frames = frames_with_a_cut();
  frames[2].grid = 2;  // adaptive resolution is fine without merging
  frames[2].tokens = at::randn({4, 4});
  const compress::MergeResult r = merge_frames(frames, {.method = "none"});
  ASSERT_EQ(r.segments.size(), 6u);
  EXPECT_EQ(r.token_count(), 5 * 9 + 4);
  EXPECT_DOUBLE_EQ(r.segments[3].t_begin, 6.0);
  EXPECT_TRUE(at::equal(r.segments[0].tokens, frames[0].tokens));
}

TEST(MergeStage, HolitomFindsTheCutAndKeepsTheCap) {
  const auto frames = frames_with_a_cut();
  MergeSettings s;
  s.method = "holitom";
  s.cap = 12;
  const compress::MergeResult r = merge_frames(frames, s);
  EXPECT_LE(r.token_count(), 12);
  ASSERT_EQ(r.segments.size(), 2u);
  EXPECT_DOUBLE_EQ(r.segments[0].t_begin, 0.0);
  EXPECT_DOUBLE_EQ(r.segments[0].t_end, 6.0);
  EXPECT_DOUBLE_EQ(r.segments[1].t_begin, 8.0);
  EXPECT_DOUBLE_EQ(r.segments[1].t_end, 10.0);
}

TEST(MergeStage, TomeAndDivpruneKeepTheCap) {
  const auto frames = frames_with_a_cut();
  for (const std::string method : {"tome", "divprune"}) {
    MergeSettings s;
    s.method = method;
    s.cap = 10;
    const compress::MergeResult r = merge_frames(frames, s);
    EXPECT_LE(r.token_count(), 10) << method;
    EXPECT_GT(r.token_count(), 0) << method;
  }
}

TEST(MergeStage, MixedGridsNeedMethodNone) {
  auto frames = frames_with_a_cut();
  frames[1].grid = 2;
  frames[1].tokens = at::randn({4, 4});
  EXPECT_THROW(merge_frames(frames, {.method = "holitom"}), Error);
  EXPECT_THROW(merge_frames({}, {.method = "none"}), Error);
  EXPECT_THROW(merge_frames(frames_with_a_cut(), {.method = "magic"}), Error);
}

}  // namespace
}  // namespace clipmind::pipeline
