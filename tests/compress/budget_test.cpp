// Prefill FLOPs (methods.md section 7 test vectors and the HoliTom cross-check) and the token
// planner's numbers, computed by hand from the rules in token_plan.h.
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "compress/budget/prefill_flops.h"
#include "compress/budget/token_plan.h"

namespace clipmind::compress {
namespace {

TEST(PrefillFlops, PaperTestVectors) {
  EXPECT_EQ(prefill_flops(1000, LlmDims::qwen2_0_5b()), 329'269'248'000.0);
  EXPECT_EQ(prefill_flops(1000, LlmDims::qwen2_7b()), 5'441'486'848'000.0);
  EXPECT_EQ(layer_flops(1, {"x", 2, 3, 1}), 4.0 * 4 + 2.0 * 2 + 2.0 * 2 * 3);
}

TEST(PrefillFlops, HolitomCrossCheck) {
  // 7B, 6272 visual tokens, 10% kept (627), half of them merged at layer 18 (314 kept):
  // about 6.8% of the FLOPs counting visual tokens only, about 8% with 100 text tokens.
  const LlmDims llm = LlmDims::qwen2_7b();
  EXPECT_NEAR(prefill_flops_reduced(627, 314, 18, llm) / prefill_flops(6272, llm), 0.068, 0.002);
  EXPECT_NEAR(prefill_flops_reduced(727, 414, 18, llm) / prefill_flops(6372, llm), 0.08, 0.005);
  EXPECT_EQ(prefill_flops_reduced(500, 500, 10, llm), prefill_flops(500, llm));
}

TEST(PrefillFlops, DecodeTerm) {
  const LlmDims llm = {"x", 4, 8, 2};
  // 2 * 3 * ((64 + 64) + 2 * (40 + 4 * 2)) = 6 * 224
  EXPECT_EQ(decode_flops(10, 3, llm), 1344.0);
}

TEST(TokenPlan, DefaultHolitomPlan) {
  PlanRequest request;
  request.duration_s = 600;
  const TokenPlan plan = plan_tokens(request);
  EXPECT_EQ(plan.frames, 32);
  EXPECT_EQ(plan.grid, 14);
  ASSERT_EQ(plan.planned.size(), 32u);
  EXPECT_EQ(plan.planned[1].time, 18.75);
  EXPECT_TRUE(plan.times_final);
  EXPECT_EQ(plan.tokens_before_merge, 6272);
  EXPECT_DOUBLE_EQ(plan.retain_ratio, 0.10);
  EXPECT_EQ(plan.merge_cap, 627);
  EXPECT_EQ(plan.merge_budget().cap(6272), 627);
  EXPECT_EQ(plan.max_segments, 32);
  EXPECT_EQ(plan.separator_tokens, 224);
  EXPECT_EQ(plan.visual_tokens, 627 + 224 + 1);
  EXPECT_EQ(plan.prefill_tokens, 64 + 852);
  EXPECT_EQ(plan.baseline_tokens, 64 + 6272 + 1);
  EXPECT_EQ(plan.prefill_flops, prefill_flops(916, LlmDims::qwen2_0_5b()));
  EXPECT_EQ(plan.baseline_flops, prefill_flops(6337, LlmDims::qwen2_0_5b()));
  EXPECT_NEAR(plan.flops_ratio, plan.prefill_flops / plan.baseline_flops, 1e-15);
  EXPECT_LT(plan.flops_ratio, 0.15);
  EXPECT_TRUE(plan.notes.empty());
}

TEST(TokenPlan, BudgetSetsTheRetainRatio) {
  PlanRequest request;
  request.duration_s = 600;
  request.budget_tokens = 3000;
  const TokenPlan plan = plan_tokens(request);
  // R = (3000 - 32 * 7) / 6272
  EXPECT_NEAR(plan.retain_ratio, 2776.0 / 6272.0, 1e-12);
  EXPECT_EQ(plan.merge_cap, 2776);
  EXPECT_EQ(plan.merge_cap + plan.separator_tokens, 3000);
}

TEST(TokenPlan, RatioWithToMeCountsWindowsAsSegments) {
  PlanRequest request;
  request.duration_s = 60;
  request.method = MergeMethod::kTome;
  request.retain_ratio = 0.25;
  const TokenPlan plan = plan_tokens(request);
  EXPECT_EQ(plan.merge_cap, 1568);
  EXPECT_EQ(plan.max_segments, 8);
  EXPECT_EQ(plan.separator_tokens, 56);
}

TEST(TokenPlan, NoMergingUsesAnyLength) {
  PlanRequest request;
  request.duration_s = 100;
  request.method = MergeMethod::kNone;
  const TokenPlan plan = plan_tokens(request);
  EXPECT_EQ(plan.frames, 100);
  EXPECT_EQ(plan.grid, 7);
  EXPECT_EQ(plan.merge_cap, 4900);
  EXPECT_EQ(plan.separator_tokens, 700);
  EXPECT_EQ(plan.baseline_tokens, 64 + 100 * 196 + 1);
  EXPECT_DOUBLE_EQ(plan.retain_ratio, 1.0);
}

TEST(TokenPlan, ShortVideoSamplesAtTwoFps) {
  PlanRequest request;
  request.duration_s = 5;
  const TokenPlan plan = plan_tokens(request);
  EXPECT_EQ(plan.fps, 2.0);
  EXPECT_EQ(plan.frames, 10);
  EXPECT_EQ(plan.merge_cap, 196);  // floor(0.1 * 1960)
}

TEST(TokenPlan, ContextClampsTheBudget) {
  PlanRequest request;
  request.duration_s = 100;
  request.method = MergeMethod::kNone;
  request.context_length = 4096;
  const TokenPlan plan = plan_tokens(request);
  EXPECT_FALSE(plan.notes.empty());
  EXPECT_LE(plan.prefill_tokens + request.answer_tokens, 4096);
  // AnyLength with B = 4096 - 64 - 512 - 1 = 3519: g = floor(sqrt(35.19 - 7)) = 5.
  EXPECT_EQ(plan.grid, 5);

  PlanRequest merging;
  merging.duration_s = 100;
  merging.retain_ratio = 1.0;
  merging.context_length = 2000;
  const TokenPlan clamped = plan_tokens(merging);
  EXPECT_EQ(clamped.merge_cap, 2000 - 64 - 512 - 1 - 32 * 7);
  EXPECT_LE(clamped.prefill_tokens + 512, 2000);
}

TEST(TokenPlan, KeyClipsNeedRelevance) {
  PlanRequest request;
  request.duration_s = 600;
  request.method = MergeMethod::kNone;
  request.selection = FrameSelection::kKeyClips;
  const TokenPlan fallback = plan_tokens(request);
  EXPECT_EQ(fallback.selection, FrameSelection::kSceneAware);
  EXPECT_FALSE(fallback.times_final);
  ASSERT_EQ(fallback.notes.size(), 1u);

  request.have_relevance = true;
  const TokenPlan plan = plan_tokens(request);
  EXPECT_EQ(plan.selection, FrameSelection::kKeyClips);
  EXPECT_EQ(plan.f2c_candidates, 512);  // 601 at 1 fps, capped
  EXPECT_EQ(plan.f2c_budget_frames, 6272 / (196 + 28));
  EXPECT_EQ(plan.merge_cap, 28 * 196);
  EXPECT_LE(plan.merge_cap + plan.separator_tokens, 6272);
  EXPECT_FALSE(plan.times_final);
}

TEST(TokenPlan, InnerMergeAtLayerK) {
  PlanRequest request;
  request.duration_s = 600;
  request.llm = LlmDims::qwen2_7b();
  request.inner = InnerMethod::kHolitomInner;
  const TokenPlan plan = plan_tokens(request);
  EXPECT_EQ(plan.inner_layer, 18);
  // 628 visual embeddings (627 + newline), round(314) kept.
  EXPECT_EQ(plan.tokens_after_inner, plan.prefill_tokens - 314);
  EXPECT_EQ(plan.prefill_flops,
            prefill_flops_reduced(plan.prefill_tokens, plan.tokens_after_inner, 18, request.llm));
  request.llm = LlmDims::qwen2_0_5b();
  EXPECT_EQ(plan_tokens(request).inner_layer, 15);  // 18/28 of 24 layers
  request.inner = InnerMethod::kFastV;
  EXPECT_EQ(plan_tokens(request).inner_layer, 2);
}

TEST(TokenPlan, ImpossibleRequestsAreRejected) {
  PlanRequest request;
  request.duration_s = 60;
  request.budget_tokens = 100;
  request.retain_ratio = 0.1;
  EXPECT_THROW(plan_tokens(request), Error);
  request.retain_ratio.reset();
  request.duration_s = -1;
  EXPECT_THROW(plan_tokens(request), Error);
  request.duration_s = 60;
  request.context_length = 500;
  EXPECT_THROW(plan_tokens(request), Error);
  EXPECT_THROW(parse_merge_method("fastest"), Error);
  EXPECT_EQ(parse_merge_method("divprune"), MergeMethod::kDivprune);
  EXPECT_EQ(parse_frame_selection("f2c"), FrameSelection::kKeyClips);
}

}  // namespace
}  // namespace clipmind::compress
