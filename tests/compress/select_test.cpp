// Frame and key-clip selection: uniform, AnyLength's worked table, F2C's worked example (both
// lambda_r settings), K-means anchors, a synthetic relevance peak, and scene-aware sampling on
// synthetic frames with known cuts. Expected numbers come from docs/design/methods.md or by hand.
#include <cmath>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "compress/select/anylength.h"
#include "compress/select/f2c.h"
#include "compress/select/scene_sampler.h"
#include "compress/select/uniform.h"
#include "compress/separators/time_separators.h"

namespace clipmind::compress {
namespace {

TEST(Uniform, StartAligned) {
  EXPECT_EQ(uniform_times(100.0, 4), (std::vector<double>{0, 25, 50, 75}));
  EXPECT_TRUE(uniform_times(10.0, 0).empty());
  EXPECT_THROW(uniform_times(-1.0, 3), Error);
}

TEST(AnyLength, WorkedTable) {
  struct Row {
    double duration;
    double fps;
    int64_t frames;
    double step;
    int64_t grid;
    int64_t per_frame;
    int64_t total;
    std::vector<std::string> first;
  };
  const std::vector<Row> table = {
      {5, 2, 10, 0.5, 14, 196, 2030, {"[0.0s]", "[0.5s]", "[1.0s]"}},
      {20, 1, 20, 1.0, 14, 196, 4060, {"[0.0s]", "[1.0s]", "[2.0s]"}},
      {100, 1, 100, 1.0, 7, 49, 5600, {"[0.0s]", "[1.0s]", "[2.0s]"}},
      {3600, 1, 128, 28.125, 6, 36, 5504, {"[0.0s]", "[28.1s]", "[56.3s]"}},
  };
  for (const Row& row : table) {
    const AnyLengthPlan plan = anylength_plan(row.duration);
    EXPECT_EQ(plan.fps, row.fps) << row.duration;
    EXPECT_EQ(plan.frames, row.frames) << row.duration;
    EXPECT_DOUBLE_EQ(plan.step_s, row.step) << row.duration;
    EXPECT_EQ(plan.grid, row.grid) << row.duration;
    EXPECT_EQ(plan.tokens_per_frame, row.per_frame) << row.duration;
    EXPECT_EQ(plan.total_tokens, row.total) << row.duration;
    EXPECT_LE(plan.total_tokens, 6272);
    ASSERT_EQ(static_cast<int64_t>(plan.times.size()), row.frames);
    for (size_t k = 0; k < 3; ++k)
      EXPECT_EQ(separator_text(plan.times[k]), row.first[k]);
  }
  EXPECT_NEAR(anylength_plan(3600).effective_fps, 0.0356, 5e-5);
}

TEST(AnyLength, SmallBudgetsLowerTheFrameCount) {
  AnyLengthOptions options;
  options.budget_tokens = 300;  // 128 frames would leave 2.3 - 7 tokens a frame
  const AnyLengthPlan plan = anylength_plan(3600, options);
  EXPECT_EQ(plan.frames, 300 / 11);  // floor(B / (4 + c_sep))
  EXPECT_EQ(plan.grid, 2);
  EXPECT_LE(plan.total_tokens, 300);
  options.budget_tokens = 7;
  EXPECT_THROW(anylength_plan(10, options), Error);
  options.budget_tokens = 9;  // one frame of 1x1 plus its separator
  EXPECT_EQ(anylength_plan(10, options).grid, 1);
  EXPECT_THROW(anylength_plan(0.0), Error);
}

// F2C worked example: D = 100 s, 20 candidates at 5 s, K = K_anchor = 4.
const std::vector<double> kRelevance = {.10, .12, .30, .28, .15, .14, .20, .35, .33, .18,
                                        .16, .17, .40, .42, .25, .12, .11, .22, .21, .13};

std::vector<double> worked_times() {
  std::vector<double> t;
  for (int i = 0; i < 20; ++i)
    t.push_back(5.0 * i);
  return t;
}

// Unit vectors with e_i . e_j = prod_{k=i}^{j-1} a_k (Cholesky of that Gram matrix).
at::Tensor chain_embeddings(const std::vector<double>& adjacent) {
  const auto m = static_cast<int64_t>(adjacent.size()) + 1;
  at::Tensor gram = at::empty({m, m}, at::kDouble);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      double v = 1.0;
      for (int64_t k = std::min(i, j); k < std::max(i, j); ++k)
        v *= adjacent[static_cast<size_t>(k)];
      gram[i][j] = v;
    }
  }
  return at::linalg_cholesky(gram);
}

at::Tensor worked_embeddings() {
  std::vector<double> a(19, 0.9);
  for (int k = 11; k <= 14; ++k)
    a[static_cast<size_t>(k)] = 0.5;
  return chain_embeddings(a);
}

TEST(F2C, WorkedExampleAnchors) {
  EXPECT_EQ(f2c_anchors(kRelevance, worked_times(), 4), (std::vector<int64_t>{2, 7, 13, 17}));
  // K-means by hand: 2 clusters start at the 0/1 quantiles {10, 85} -> {10, 35 | 65, 85};
  // best of each: 35 s (.35) and 65 s (.42).
  EXPECT_EQ(f2c_anchors(kRelevance, worked_times(), 2), (std::vector<int64_t>{7, 13}));
  // 3 clusters start at {10, 50, 85} -> {10 | 35, 65 | 85}.
  EXPECT_EQ(f2c_anchors(kRelevance, worked_times(), 3), (std::vector<int64_t>{2, 13, 17}));
}

TEST(F2C, WorkedExampleLambdaHalfCollapsesToKeyFrames) {
  F2COptions options;
  options.budget_frames = 4;
  options.lambda_r = 0.5;
  const F2CSelection s = f2c_select(worked_times(), kRelevance, worked_embeddings(), options);
  const std::vector<std::vector<double>> objective = {{.3125, -.1350, -.1642, -.1582},
                                                      {.3625, -.0850, -.1042, -.1058},
                                                      {.4325, .1100, .1858, .1704},
                                                      {.2325, -.2100, -.2175, -.2032}};
  ASSERT_EQ(s.clips.size(), 4u);
  for (size_t c = 0; c < 4; ++c) {
    ASSERT_EQ(s.clips[c].objective.size(), 4u);
    for (size_t l = 0; l < 4; ++l)
      EXPECT_NEAR(s.clips[c].objective[l], objective[c][l], 1e-4);
    EXPECT_EQ(s.clips[c].length, 1);
  }
  ASSERT_EQ(s.frames.size(), 4u);
  const std::vector<double> times = {10, 35, 65, 85};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(s.frames[i].time, times[i]);
    EXPECT_EQ(s.frames[i].grid, 14);
  }
  EXPECT_EQ(s.tokens, 784);
  EXPECT_EQ(s.budget_tokens, 784);
}

TEST(F2C, WorkedExampleLambdaZero) {
  F2COptions options;
  options.budget_frames = 4;
  options.lambda_r = 0.0;
  const F2CSelection s = f2c_select(worked_times(), kRelevance, worked_embeddings(), options);
  const std::vector<std::vector<double>> objective = {{.3125, .3150, .2708, .2625},
                                                      {.3625, .3650, .3308, .3150},
                                                      {.4325, .3600, .3942, .3475},
                                                      {.2325, .2400, .2175, .2175}};
  for (size_t c = 0; c < 4; ++c) {
    for (size_t l = 0; l < 4; ++l)
      EXPECT_NEAR(s.clips[c].objective[l], objective[c][l], 1e-4);
  }
  EXPECT_EQ(s.clips[0].length, 2);
  EXPECT_EQ(s.clips[2].length, 1);
  const std::vector<double> times = {10, 15, 35, 40, 65, 85, 90};
  const std::vector<int64_t> grids = {9, 9, 9, 9, 14, 9, 9};
  ASSERT_EQ(s.frames.size(), 7u);
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(s.frames[i].time, times[i]);
    EXPECT_EQ(s.frames[i].grid, grids[i]);
  }
  EXPECT_EQ(s.tokens, 682);
}

TEST(F2C, WorkedDetailWindowOfAnchor13) {
  // Window {12, 13, 14} at l = 3: R = .3567, Dn = .4167, J = .1858 (lambda_r = 0.5).
  F2COptions options;
  options.budget_frames = 4;
  const F2CSelection s = f2c_select(worked_times(), kRelevance, worked_embeddings(), options);
  EXPECT_NEAR(s.clips[2].objective[2], (.40 + .42 + .25) / 3 - 0.5 * (1.25 / 3) + 0.05 * 0.75,
              1e-9);
}

TEST(F2C, ShortVideoTakesEveryCandidate) {
  const std::vector<double> times = f2c_candidate_times(9.5);
  ASSERT_EQ(times.size(), 10u);
  const std::vector<double> relevance(10, 0.2);
  const F2CSelection s = f2c_select(times, relevance, at::eye(10, at::kDouble), {});
  EXPECT_TRUE(s.all_candidates);
  EXPECT_EQ(s.frames.size(), 10u);
  EXPECT_EQ(s.tokens, 1960);
}

TEST(F2C, CandidatePoolIsCapped) {
  const std::vector<double> times = f2c_candidate_times(3600.0, 512);
  ASSERT_EQ(times.size(), 512u);
  EXPECT_EQ(times.front(), 0.0);
  EXPECT_EQ(times.back(), 3600.0);
  EXPECT_EQ(f2c_candidate_times(99.9).size(), 100u);
}

TEST(F2C, RelevancePeakPicksClipsAroundIt) {
  const int m = 120;
  at::Generator gen = at::detail::createCPUGenerator(3);
  const at::Tensor noise = at::rand({m}, gen, at::kDouble);
  std::vector<double> times;
  std::vector<double> relevance;
  for (int i = 0; i < m; ++i) {
    times.push_back(i);
    relevance.push_back(0.10 + 0.02 * noise[i].item<double>() +
                        0.25 * std::exp(-std::pow((i - 60.0) / 3.0, 2)));
  }
  const at::Tensor embeddings = chain_embeddings(std::vector<double>(m - 1, 0.9));
  // Text embedding as the caller would compute relevance: here the scores are given directly.
  F2COptions options;
  options.budget_frames = 4;
  options.lambda_r = 0.0;
  const F2CSelection s = f2c_select(times, relevance, embeddings, options);
  bool anchor_at_peak = false;
  for (const F2CClip& clip : s.clips)
    anchor_at_peak |= clip.anchor == 60;
  EXPECT_TRUE(anchor_at_peak);
  int near_peak = 0;
  for (const F2CFrame& f : s.frames)
    near_peak += std::abs(f.time - 60.0) <= 3.0 ? 1 : 0;
  EXPECT_GE(near_peak, 1);
  EXPECT_LE(s.tokens, s.budget_tokens);
}

TEST(F2C, RelevanceScoresAreCosines) {
  const at::Tensor images = at::tensor(std::vector<double>{3, 0, 0, 2, 1, 1}).view({3, 2});
  const std::vector<double> r = relevance_scores(images, at::tensor(std::vector<double>{1, 0}));
  EXPECT_NEAR(r[0], 1.0, 1e-12);
  EXPECT_NEAR(r[1], 0.0, 1e-12);
  EXPECT_NEAR(r[2], std::sqrt(0.5), 1e-12);
}

// Synthetic low-resolution frames: three scenes of distinct colours with pixel noise.
at::Tensor scene_frames(const std::vector<int>& lengths) {
  at::Generator gen = at::detail::createCPUGenerator(5);
  const std::vector<std::vector<int>> colours = {{200, 40, 40}, {40, 180, 60}, {30, 50, 210}};
  std::vector<at::Tensor> frames;
  for (size_t s = 0; s < lengths.size(); ++s) {
    for (int i = 0; i < lengths[s]; ++i) {
      at::Tensor frame = at::empty({36, 64, 3}, at::kFloat);
      for (int c = 0; c < 3; ++c)
        frame.select(2, c).fill_(colours[s % 3][static_cast<size_t>(c)]);
      frame += at::randint(-12, 13, {36, 64, 3}, gen, at::kFloat);
      frame.slice(0, 10 + i, 14 + i).fill_(128);  // a moving grey bar
      frames.push_back(frame.clamp(0, 255).to(at::kByte));
    }
  }
  return at::stack(frames);
}

TEST(SceneDetection, FindsTheCutsWithBothMetrics) {
  const at::Tensor frames = scene_frames({10, 30, 60});
  EXPECT_EQ(detect_scene_cuts(frames), (std::vector<int64_t>{10, 40}));
  SceneDetectOptions pixel;
  pixel.metric = SceneMetric::kPixelDiff;
  pixel.threshold = 0.1;
  EXPECT_EQ(detect_scene_cuts(frames, pixel), (std::vector<int64_t>{10, 40}));
  const std::vector<double> scores = frame_change_scores(frames);
  ASSERT_EQ(scores.size(), 99u);
  EXPECT_LT(scores[3], 0.2);
  EXPECT_GT(scores[9], 0.6);
}

TEST(SceneDetection, ScenesAndSceneAwareTimes) {
  std::vector<double> times;
  for (int i = 0; i < 100; ++i)
    times.push_back(i);
  const std::vector<int64_t> cuts = {10, 40};
  const std::vector<Scene> scenes = scenes_from_cuts(cuts, times, 100.0);
  ASSERT_EQ(scenes.size(), 3u);
  EXPECT_EQ(scenes[1].t_begin, 10.0);
  EXPECT_EQ(scenes[1].t_end, 40.0);
  EXPECT_EQ(scenes[2].t_end, 100.0);
  // 10 frames: one each, 7 more by length 10:30:60 -> 0.7, 2.1, 4.2 -> 0+1, 2, 4 -> 2, 3, 5.
  EXPECT_EQ(scene_aware_times(scenes, 10),
            (std::vector<double>{2.5, 7.5, 15, 25, 35, 46, 58, 70, 82, 94}));
  // Fewer frames than scenes: the two longest scenes, at their centres.
  EXPECT_EQ(scene_aware_times(scenes, 2), (std::vector<double>{25, 70}));
  EXPECT_EQ(query_free_times(100.0, 4), (std::vector<double>{0, 25, 50, 75}));
  EXPECT_EQ(query_free_times(100.0, 3, scenes), (std::vector<double>{5, 25, 70}));
  const std::vector<int64_t> bad = {40, 10};
  EXPECT_THROW(scenes_from_cuts(bad, times, 100.0), Error);
}

}  // namespace
}  // namespace clipmind::compress
