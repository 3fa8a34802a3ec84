// The pure rules of the sampler: which frame answers which time, and how work is planned.
#include "decode/sampling_plan.h"

#include <vector>

#include <gtest/gtest.h>

#include "clipmind/error.h"

namespace clipmind::decode {
namespace {

using Pick = NearestFrameMatcher::Pick;

// Runs the matcher over frame times; returns for each request the time of the frame chosen,
// or -1 when none.
std::vector<double> match(const std::vector<double>& frames, const std::vector<double>& targets,
                          double tolerance = 0.0) {
  std::vector<double> chosen(targets.size(), -1.0);
  NearestFrameMatcher m(targets, tolerance);
  double previous = -1.0;
  for (double f : frames) {
    m.offer(f, [&](size_t i, Pick pick) { chosen[i] = pick == Pick::kPrevious ? previous : f; });
    previous = f;
  }
  m.finish([&](size_t i, Pick) { chosen[i] = previous; }, [](size_t) {});
  return chosen;
}

TEST(NearestFrameMatcher, PicksTheNearestFrame) {
  const std::vector<double> frames = {0.0, 0.04, 0.08, 0.12};
  EXPECT_EQ(match(frames, {0.0}), std::vector<double>{0.0});
  EXPECT_EQ(match(frames, {0.01, 0.03, 0.05, 0.07}), (std::vector<double>{0.0, 0.04, 0.04, 0.08}));
  EXPECT_EQ(match(frames, {0.08}), std::vector<double>{0.08});
}

TEST(NearestFrameMatcher, TiesGoToTheEarlierFrame) {
  // 0.5 is exactly halfway between frames at 0 and 1 (binary-exact values).
  EXPECT_EQ(match({0.0, 1.0, 2.0}, {0.5, 1.5}), (std::vector<double>{0.0, 1.0}));
}

TEST(NearestFrameMatcher, OutOfRangeTimesGetTheFirstOrLastFrame) {
  EXPECT_EQ(match({1.0, 2.0}, {-5.0, 0.0, 99.0}), (std::vector<double>{1.0, 1.0, 2.0}));
}

TEST(NearestFrameMatcher, RepeatedTimesGetTheSameFrame) {
  EXPECT_EQ(match({0.0, 1.0, 2.0}, {1.1, 1.1, 1.2}), (std::vector<double>{1.0, 1.0, 1.0}));
}

TEST(NearestFrameMatcher, NoFramesLeavesRequestsUnanswered) {
  NearestFrameMatcher m(std::vector<double>{1.0, 2.0});
  int missing = 0;
  m.finish([](size_t, Pick) { FAIL(); }, [&](size_t) { ++missing; });
  EXPECT_EQ(missing, 2);
}

TEST(NearestFrameMatcher, ToleranceTakesTheFirstFrameWithinIt) {
  // Frames every second; with a 0.6 s tolerance the first frame at or after t-0.6 is taken.
  const std::vector<double> frames = {0, 1, 2, 3, 4, 5};
  EXPECT_EQ(match(frames, {2.4}, 0.6), std::vector<double>{2.0});
  EXPECT_EQ(match(frames, {2.7}, 0.6), std::vector<double>{3.0});
  // A gap with no frame within the tolerance: the nearest one.
  EXPECT_EQ(match({0.0, 10.0}, {4.0}, 1.0), std::vector<double>{0.0});
  EXPECT_EQ(match({0.0, 10.0}, {6.0}, 1.0), std::vector<double>{10.0});
}

TEST(NearestFrameMatcher, SkipLimitFollowsThePendingRequest) {
  const std::vector<double> targets = {1.0, 3.0};
  NearestFrameMatcher m(targets, 0.5);
  EXPECT_DOUBLE_EQ(m.skip_limit(), 0.5);
  m.offer(0.9, [](size_t, Pick) {});
  EXPECT_DOUBLE_EQ(m.skip_limit(), 2.5);
}

TEST(KeyframeBefore, FindsTheLastKeyframeAtOrBefore) {
  const std::vector<double> k = {0.0, 10.0, 20.0};
  EXPECT_EQ(keyframe_before(k, -1.0), 0);
  EXPECT_EQ(keyframe_before(k, 0.0), 0);
  EXPECT_EQ(keyframe_before(k, 9.99), 0);
  EXPECT_EQ(keyframe_before(k, 10.0), 1);
  EXPECT_EQ(keyframe_before(k, 100.0), 2);
  EXPECT_EQ(keyframe_before({}, 1.0), -1);
}

std::vector<double> range(double from, double step, int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i)
    v.push_back(from + step * i);
  return v;
}

TEST(PlanSampling, SparseAccurateRequestsSeekPerGopInParallel) {
  const std::vector<double> keyframes = range(0, 10, 60);  // 10-minute video, 10 s GOPs
  const std::vector<double> times = range(5, 600.0 / 32, 32);
  PlanInput in;
  in.times = times;
  in.keyframes = keyframes;
  in.threads = 2;
  const SamplingPlan plan = plan_sampling(in);
  EXPECT_EQ(plan.strategy, Strategy::kSeek);
  EXPECT_EQ(plan.decoders, 2);
  EXPECT_EQ(plan.codec_threads, 1);
  // Every request once, in order, each task within one GOP.
  size_t next = 0;
  for (const PlanTask& t : plan.tasks) {
    EXPECT_EQ(t.kind, PlanTask::Kind::kDecode);
    EXPECT_EQ(t.begin, next);
    next = t.end;
    for (size_t i = t.begin; i < t.end; ++i) {
      EXPECT_LE(t.keyframe, times[i]);
      EXPECT_GT(t.keyframe + 10.0, times[i]);
    }
  }
  EXPECT_EQ(next, times.size());
}

TEST(PlanSampling, DenseAccurateRequestsDecodeSequentially) {
  const std::vector<double> keyframes = range(0, 10, 6);
  const std::vector<double> times = range(0, 0.5, 120);  // 20 per GOP
  PlanInput in;
  in.times = times;
  in.keyframes = keyframes;
  in.threads = 2;
  const SamplingPlan plan = plan_sampling(in);
  EXPECT_EQ(plan.strategy, Strategy::kSequential);
  ASSERT_EQ(plan.tasks.size(), 1u);
  EXPECT_EQ(plan.decoders, 1);
  EXPECT_EQ(plan.codec_threads, 2);
}

TEST(PlanSampling, UnknownKeyframesDecodeSequentially) {
  const std::vector<double> times = {1, 50, 100};
  PlanInput in;
  in.times = times;
  in.threads = 4;
  EXPECT_EQ(plan_sampling(in).strategy, Strategy::kSequential);
}

TEST(PlanSampling, FastModeUsesKeyframesWithinToleranceAndDecodesTheRest) {
  const std::vector<double> keyframes = {0, 10, 20, 30};
  const std::vector<double> times = {0.5, 9.0, 15.0, 29.9};
  PlanInput in;
  in.times = times;
  in.keyframes = keyframes;
  in.mode = SampleMode::kFast;
  in.tolerance = 1.0;
  in.threads = 2;
  const SamplingPlan plan = plan_sampling(in);
  EXPECT_EQ(plan.strategy, Strategy::kKeyframeSeek);
  ASSERT_EQ(plan.tasks.size(), 4u);
  EXPECT_EQ(plan.tasks[0].kind, PlanTask::Kind::kKeyframe);
  EXPECT_DOUBLE_EQ(plan.tasks[0].keyframe, 0.0);
  EXPECT_EQ(plan.tasks[1].kind, PlanTask::Kind::kKeyframe);
  EXPECT_DOUBLE_EQ(plan.tasks[1].keyframe, 10.0);
  EXPECT_EQ(plan.tasks[2].kind, PlanTask::Kind::kDecode);  // 15 s is 5 s from any keyframe
  EXPECT_DOUBLE_EQ(plan.tasks[2].keyframe, 10.0);
  EXPECT_EQ(plan.tasks[3].kind, PlanTask::Kind::kKeyframe);
  EXPECT_DOUBLE_EQ(plan.tasks[3].keyframe, 30.0);
}

TEST(PlanSampling, KeyframesModeGroupsRequestsOfOneKeyframe) {
  const std::vector<double> keyframes = range(0, 10, 100);
  const std::vector<double> times = {1.0, 2.0, 4.9, 5.1, 500.0};
  PlanInput in;
  in.times = times;
  in.keyframes = keyframes;
  in.mode = SampleMode::kKeyframes;
  in.threads = 1;
  const SamplingPlan plan = plan_sampling(in);
  EXPECT_EQ(plan.strategy, Strategy::kKeyframeSeek);
  ASSERT_EQ(plan.tasks.size(), 3u);
  EXPECT_EQ(plan.tasks[0].end, 3u);  // 1, 2 and 4.9 → keyframe 0 (5.0 would tie, 4.9 does not)
  EXPECT_DOUBLE_EQ(plan.tasks[1].keyframe, 10.0);
  EXPECT_DOUBLE_EQ(plan.tasks[2].keyframe, 500.0);
}

TEST(PlanSampling, DenseKeyframeRequestsScan) {
  const std::vector<double> keyframes = range(0, 2, 50);
  const std::vector<double> times = range(0, 1, 100);
  PlanInput in;
  in.times = times;
  in.keyframes = keyframes;
  in.mode = SampleMode::kKeyframes;
  in.threads = 2;
  EXPECT_EQ(plan_sampling(in).strategy, Strategy::kKeyframeScan);
}

TEST(PlanSampling, RejectsAStrategyThatDoesNotFitTheMode) {
  const std::vector<double> times = {1.0};
  const std::vector<double> keyframes = {0.0};
  PlanInput in;
  in.times = times;
  in.keyframes = keyframes;
  in.strategy = Strategy::kKeyframeScan;
  EXPECT_THROW(plan_sampling(in), Error);
  in.mode = SampleMode::kFast;
  in.strategy = Strategy::kSequential;
  EXPECT_THROW(plan_sampling(in), Error);
}

}  // namespace
}  // namespace clipmind::decode
