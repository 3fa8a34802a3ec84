// Frame selection with fake decoders and relevance models whose answers are known.
#include "pipeline/frame_selection.h"

#include <map>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace clipmind::pipeline {
namespace {

SelectionInputs inputs(double duration) {
  SelectionInputs in;
  in.duration_s = duration;
  in.separator_tokens = 7;
  in.prompt_tokens = 60;
  return in;
}

TEST(FrameSelection, UniformWithMergingTakes32FullFrames) {
  PipelineConfig config;
  config.select.method = "uniform";
  const FramePlan plan = plan_frames(config, inputs(600.0), Logger());
  EXPECT_EQ(plan.method, "uniform");
  ASSERT_EQ(plan.frames.size(), 32u);
  EXPECT_DOUBLE_EQ(plan.frames[1].time, 600.0 / 32);
  for (const auto& f : plan.frames)
    EXPECT_EQ(f.grid, 14);
  // HoliTom's default keeps 10 % of 32 x 196 tokens.
  EXPECT_EQ(plan.merge_cap, static_cast<int64_t>(0.1 * 32 * 196));
  EXPECT_EQ(plan.clips.size(), 32u);
}

TEST(FrameSelection, UniformWithoutMergingFitsTheBudgetAtFullResolution) {
  PipelineConfig config;
  config.select.method = "uniform";
  config.merge.method = "none";
  config.select.max_frames = 32;
  config.budget.tokens = 32 * (196 + 7);
  FramePlan plan = plan_frames(config, inputs(600.0), Logger());
  EXPECT_EQ(plan.frames.size(), 32u);
  config.budget.tokens = 6272;  // 30 frames of 196 + 7 fit
  plan = plan_frames(config, inputs(600.0), Logger());
  EXPECT_EQ(plan.frames.size(), 30u);
  EXPECT_FALSE(plan.notes.empty());
}

TEST(FrameSelection, AnylengthShrinksTheGridWithoutMerging) {
  PipelineConfig config;
  config.select.method = "anylength";
  config.merge.method = "none";
  config.budget.tokens = 6272;
  // methods.md worked example: D = 100 s -> 100 frames at g = 7.
  const FramePlan plan = plan_frames(config, inputs(100.0), Logger());
  ASSERT_EQ(plan.frames.size(), 100u);
  EXPECT_EQ(plan.frames[0].grid, 7);
  EXPECT_DOUBLE_EQ(plan.frames[2].time, 2.0);
}

// The model's pooled grid G (SelectionInputs::full_grid) bounds every method, never a constant
// 14: at encode.input_size 224 LLaVA-OneVision's frames pool to 8x8 (16 patches -> 8).
TEST(FrameSelection, EveryMethodTakesTheModelsGridNotFourteen) {
  SelectionInputs in = inputs(20.0);  // 20 s: AnyLength's 1 fps -> N = 20
  in.full_grid = 8;
  in.low_res_frames = [](const std::vector<double>& times) {
    return at::zeros({static_cast<int64_t>(times.size()), 8, 8, 3}, at::kByte);
  };
  PipelineConfig config;
  config.merge.method = "none";
  for (const char* method : {"uniform", "anylength", "scene"}) {
    config.select.method = method;
    const FramePlan plan = plan_frames(config, in, Logger());
    // B / N = 6272 / 20 leaves room for g = 17 > G: every frame is at G.
    ASSERT_EQ(plan.frames.size(), 20u) << method;
    for (const auto& f : plan.frames)
      EXPECT_EQ(f.grid, 8) << method;
    for (const auto& c : plan.clips)
      EXPECT_EQ(c.grid, 8) << method;
    EXPECT_EQ(plan.plan.tokens_before_merge, 20 * 64) << method;
  }
  // Uniform without merging fits N full frames of G^2 + c_sep: 710 / (64 + 7) = 10 frames.
  config.select.method = "uniform";
  config.budget.tokens = 710;
  EXPECT_EQ(plan_frames(config, in, Logger()).frames.size(), 10u);
  // With merging the frames are G x G and the cap is R * N * G^2 (R = 0.10, N = 32 of 600 s).
  config = PipelineConfig();
  config.select.method = "uniform";
  SelectionInputs long_video = inputs(600.0);
  long_video.full_grid = 8;
  const FramePlan merged = plan_frames(config, long_video, Logger());
  ASSERT_EQ(merged.frames.size(), 32u);
  EXPECT_EQ(merged.frames[0].grid, 8);
  EXPECT_EQ(merged.merge_cap, 204);  // floor(0.1 * 32 * 64)
}

TEST(FrameSelection, ShortVideoNeverRepeatsFrames) {
  PipelineConfig config;
  config.select.method = "uniform";
  SelectionInputs in = inputs(20.0);
  in.frame_count = 12;
  const FramePlan plan = plan_frames(config, in, Logger());
  EXPECT_EQ(plan.frames.size(), 12u);
}

TEST(FrameSelection, SceneSpreadsFramesOverDetectedScenes) {
  PipelineConfig config;
  config.select.method = "scene";
  config.select.max_frames = 6;
  SelectionInputs in = inputs(90.0);
  std::vector<double> asked;
  in.low_res_frames = [&](const std::vector<double>& times) {
    asked = times;
    // Red until 60 s, then blue: one cut.
    at::Tensor frames = at::zeros({static_cast<int64_t>(times.size()), 8, 8, 3}, at::kByte);
    for (size_t i = 0; i < times.size(); ++i) {
      frames[static_cast<int64_t>(i)].select(2, times[i] < 60.0 ? 0 : 2).fill_(255);
    }
    return frames;
  };
  const FramePlan plan = plan_frames(config, in, Logger());
  EXPECT_EQ(plan.method, "scene");
  EXPECT_EQ(plan.scene_cuts, 1);
  EXPECT_EQ(asked.size(), 90u);  // 1 fps probes
  ASSERT_EQ(plan.frames.size(), 6u);
  // 60 s and 30 s scenes share 6 frames in proportion: 4 and 2, centred inside each scene.
  int64_t before = 0;
  for (const auto& f : plan.frames)
    before += f.time < 60.0 ? 1 : 0;
  EXPECT_EQ(before, 4);
}

TEST(FrameSelection, SceneCutsAreMemoisedWhenTheCallerCan) {
  PipelineConfig config;
  config.select.method = "scene";
  SelectionInputs in = inputs(90.0);
  int decoded = 0;
  in.low_res_frames = [&](const std::vector<double>& times) {
    ++decoded;
    at::Tensor frames = at::zeros({static_cast<int64_t>(times.size()), 8, 8, 3}, at::kByte);
    for (size_t i = 0; i < times.size(); ++i) {
      frames[static_cast<int64_t>(i)].select(2, times[i] < 60.0 ? 0 : 2).fill_(255);
    }
    return frames;
  };
  std::map<std::string, std::vector<int64_t>> memo;
  in.load_scene_cuts = [&](const std::string& key) -> std::optional<std::vector<int64_t>> {
    auto it = memo.find(key);
    if (it == memo.end()) return std::nullopt;
    return it->second;
  };
  in.store_scene_cuts = [&](const std::string& key, const std::vector<int64_t>& cuts) {
    memo[key] = cuts;
  };
  const FramePlan first = plan_frames(config, in, Logger());
  const FramePlan second = plan_frames(config, in, Logger());
  EXPECT_EQ(decoded, 1);
  ASSERT_EQ(memo.size(), 1u);
  EXPECT_EQ(memo.begin()->second, (std::vector<int64_t>{60}));
  ASSERT_EQ(first.frames.size(), second.frames.size());
  for (size_t i = 0; i < first.frames.size(); ++i) {
    EXPECT_DOUBLE_EQ(first.frames[i].time, second.frames[i].time);
  }
  config.select.scene_threshold = 0.3;  // another setting, another memo entry
  plan_frames(config, in, Logger());
  EXPECT_EQ(decoded, 2);
}

TEST(FrameSelection, F2cWithoutRelevanceSaysSoOnceAndFallsBack) {
  PipelineConfig config;
  config.select.method = "f2c";
  std::vector<LogRecord> records;
  Logger log([&](const LogRecord& r) { records.push_back(r); });
  SelectionInputs in = inputs(30.0);
  in.low_res_frames = [](const std::vector<double>& times) {
    return at::zeros({static_cast<int64_t>(times.size()), 4, 4, 3}, at::kByte);
  };
  EXPECT_EQ(plan_frames(config, in, log).method, "scene");
  EXPECT_EQ(plan_frames(config, in, log).method, "scene");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].level, LogLevel::kWarning);
  EXPECT_NE(records[0].message.find("relevance model"), std::string::npos);
  config.select.method = "auto";
  EXPECT_EQ(plan_frames(config, in, log).method, "scene");
  EXPECT_EQ(records.size(), 1u);  // auto is not a fallback: nothing to say
}

TEST(FrameSelection, F2cFollowsTheQuestionsRelevance) {
  PipelineConfig config;
  config.select.method = "f2c";
  config.select.max_frames = 4;
  SelectionInputs in = inputs(100.0);
  in.relevance = [](const std::vector<double>& times) {
    RelevanceScores r;
    // Peaks at 20 s and 70 s; distinct random embeddings.
    for (const double t : times) {
      r.scores.push_back(std::exp(-std::pow((t - 20) / 3, 2)) +
                         std::exp(-std::pow((t - 70) / 3, 2)));
    }
    at::manual_seed(3);
    r.embeddings = at::randn({static_cast<int64_t>(times.size()), 16}, at::kDouble);
    return r;
  };
  const FramePlan plan = plan_frames(config, in, Logger());
  EXPECT_EQ(plan.method, "f2c");
  EXPECT_EQ(plan.candidates, 101);
  bool near20 = false, near70 = false;
  for (const auto& f : plan.frames) {
    EXPECT_EQ(f.grid, 14);  // merging: one grid for all
    near20 = near20 || std::abs(f.time - 20) <= 1;
    near70 = near70 || std::abs(f.time - 70) <= 1;
  }
  EXPECT_TRUE(near20);
  EXPECT_TRUE(near70);
  EXPECT_LE(plan.frames.size(), 4u);
  EXPECT_NEAR(plan.clips[0].relevance, 1.0, 0.01);
}

}  // namespace
}  // namespace clipmind::pipeline
