// Properties every outer-LLM reducer must have (issue 6): budget never exceeded, segments cover
// the frames in order without overlap, merged tokens are what their members say, identical frames
// collapse, hard cuts are respected, edge budgets behave, same input gives the same output.
#include <functional>
#include <set>
#include <string>

#include "synthetic_video.h"
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "compress/merge/divprune.h"
#include "compress/merge/holitom.h"
#include "compress/merge/tome.h"

namespace clipmind::compress {
namespace {

using testing::synthetic_attention;
using testing::synthetic_video;

using Reducer =
    std::function<MergeResult(const at::Tensor&, std::span<const double>, const TokenBudget&)>;

struct NamedReducer {
  std::string name;
  Reducer run;
};

std::vector<NamedReducer> reducers(const at::Tensor& attention) {
  return {
      {"holitom",
       [attention](const at::Tensor& x, std::span<const double> times, const TokenBudget& b) {
         return holitom_merge_within(x, attention.slice(0, 0, x.size(0)), times, b, {});
       }},
      {"tome", [](const at::Tensor& x, std::span<const double> times,
                  const TokenBudget& b) { return tome_merge(x, times, b); }},
      {"divprune", [](const at::Tensor& x, std::span<const double> times,
                      const TokenBudget& b) { return divprune_merge(x, times, b); }},
  };
}

std::vector<TokenBudget> budgets() {
  return {TokenBudget::tokens(0),   TokenBudget::tokens(1),    TokenBudget::tokens(7),
          TokenBudget::tokens(50),  TokenBudget::tokens(100),  TokenBudget::tokens(191),
          TokenBudget::tokens(192), TokenBudget::tokens(1000), TokenBudget::ratio(0.0),
          TokenBudget::ratio(0.05), TokenBudget::ratio(0.1),   TokenBudget::ratio(0.3),
          TokenBudget::ratio(0.5),  TokenBudget::ratio(1.0)};
}

void expect_cover(const MergeResult& result, int64_t frames, const std::vector<double>& times,
                  const std::string& what) {
  ASSERT_FALSE(result.segments.empty()) << what;
  int64_t next = 0;
  for (const MergedSegment& segment : result.segments) {
    EXPECT_EQ(segment.frame_begin, next) << what;
    EXPECT_LE(segment.frame_begin, segment.frame_end) << what;
    EXPECT_EQ(segment.t_begin, times[static_cast<size_t>(segment.frame_begin)]) << what;
    EXPECT_EQ(segment.t_end, times[static_cast<size_t>(segment.frame_end)]) << what;
    EXPECT_EQ(segment.tokens.size(0), static_cast<int64_t>(segment.origins.size())) << what;
    EXPECT_EQ(segment.members.size(), segment.origins.size()) << what;
    for (const TokenOrigin& origin : segment.origins) {
      EXPECT_GE(origin.frame_begin, segment.frame_begin) << what;
      EXPECT_LE(origin.frame_end, segment.frame_end) << what;
    }
    next = segment.frame_end + 1;
  }
  EXPECT_EQ(next, frames) << what;
}

TEST(MergeProperties, BudgetNeverExceededAndSegmentsCoverTheFrames) {
  const at::Tensor x = synthetic_video({3, 5, 4}, 16, 8, 0.25, 1);
  const at::Tensor attn = synthetic_attention(12, 16, 2);
  std::vector<double> times;
  for (int t = 0; t < 12; ++t)
    times.push_back(0.5 + 2.0 * t);
  for (const NamedReducer& reducer : reducers(attn)) {
    for (const TokenBudget& budget : budgets()) {
      const MergeResult result = reducer.run(x, times, budget);
      const std::string what = reducer.name + " cap " + std::to_string(budget.cap(192));
      EXPECT_EQ(result.budget, budget.cap(192)) << what;
      EXPECT_LE(result.token_count(), budget.cap(192)) << what;
      EXPECT_EQ(result.input_tokens, 192) << what;
      expect_cover(result, 12, times, what);
    }
  }
}

TEST(MergeProperties, ToMeAndDivPruneMeetTheBudgetExactly) {
  const at::Tensor x = synthetic_video({6, 6}, 16, 8, 0.25, 3);
  for (const int64_t cap : {1, 10, 37, 96, 191}) {
    EXPECT_EQ(tome_merge(x, {}, TokenBudget::tokens(cap)).token_count(), cap);
    EXPECT_EQ(divprune_merge(x, {}, TokenBudget::tokens(cap)).token_count(), cap);
  }
}

TEST(MergeProperties, ToMeTokensAreSizeWeightedMeansOfTheirMembers) {
  const at::Tensor x = synthetic_video({4, 4}, 9, 6, 0.3, 4);
  const at::Tensor flat = x.reshape({-1, 6});
  const MergeResult result = tome_merge(x, {}, TokenBudget::tokens(20));
  std::set<int32_t> seen;
  for (const MergedSegment& segment : result.segments) {
    for (size_t i = 0; i < segment.members.size(); ++i) {
      std::vector<int64_t> rows(segment.members[i].begin(), segment.members[i].end());
      for (const int64_t r : rows)
        EXPECT_TRUE(seen.insert(static_cast<int32_t>(r)).second);
      const at::Tensor mean = flat.index_select(0, at::tensor(rows, at::kLong)).mean(0);
      EXPECT_LE((segment.tokens[static_cast<int64_t>(i)] - mean).abs().max().item<float>(), 1e-5);
      EXPECT_EQ(segment.origins[i].kind, rows.size() > 1 ? TokenKind::kMerged : TokenKind::kKept);
    }
  }
  EXPECT_EQ(seen.size(), 72u);  // every input token is in exactly one output token
}

TEST(MergeProperties, HolitomTokensAreWhatTheirMembersSay) {
  const at::Tensor x = synthetic_video({5, 6}, 16, 8, 0.25, 5);
  const at::Tensor attn = synthetic_attention(11, 16, 6);
  HolitomOptions options;
  options.retain_ratio = 0.3;
  const MergeResult result = holitom_merge(x, attn, {}, options);
  int merged = 0;
  for (const MergedSegment& segment : result.segments) {
    for (size_t i = 0; i < segment.origins.size(); ++i) {
      const TokenOrigin& o = segment.origins[i];
      const at::Tensor token = segment.tokens[static_cast<int64_t>(i)];
      if (o.kind == TokenKind::kKept) {
        EXPECT_TRUE(token.equal(x[o.frame_begin][o.pos]));  // bit for bit
        continue;
      }
      ++merged;
      // Static: beta * temporal mean of the centre + (1 - beta) * mean of the members' means.
      std::set<int32_t> positions;
      for (const int32_t m : segment.members[i])
        positions.insert(m % 16);
      EXPECT_EQ(segment.members[i].size(),
                positions.size() * static_cast<size_t>(o.frame_end - o.frame_begin + 1));
      const at::Tensor means = x.slice(0, o.frame_begin, o.frame_end + 1).mean(0);
      at::Tensor want = means[o.pos];
      positions.erase(o.pos);
      if (!positions.empty()) {
        std::vector<int64_t> others(positions.begin(), positions.end());
        want = 0.6 * want + 0.4 * means.index_select(0, at::tensor(others, at::kLong)).mean(0);
      }
      EXPECT_LE((token - want).abs().max().item<float>(), 1e-5);
    }
  }
  EXPECT_GT(merged, 2);
}

TEST(MergeProperties, IdenticalFramesCollapseIntoOneSegment) {
  const at::Tensor frame = synthetic_video({1}, 16, 8, 0.0, 7);
  const at::Tensor x = frame.expand({6, 16, 8}).contiguous();
  const MergeResult result = holitom_merge(x, synthetic_attention(6, 16, 8), {}, {});
  ASSERT_EQ(result.segments.size(), 1u);
  EXPECT_EQ(result.segments[0].frame_begin, 0);
  EXPECT_EQ(result.segments[0].frame_end, 5);
  for (const TokenOrigin& o : result.segments[0].origins)
    EXPECT_EQ(o.kind, TokenKind::kMerged);
  // R' = min(0.1 * 96 / (96 - 80), 1) = 0.6: round(16 * 0.6) = 10 centres, nothing dynamic.
  EXPECT_EQ(result.token_count(), 10);
}

TEST(MergeProperties, SegmentationFindsTheSceneCuts) {
  const at::Tensor x = synthetic_video({10, 12, 10}, 196, 32, 0.3, 9);
  const HolitomSegmentation seg = holitom_segment(x, 0.8, 1024);
  ASSERT_EQ(seg.segments.size(), 3u);
  EXPECT_EQ(seg.segments[0], std::make_pair(int64_t{0}, int64_t{9}));
  EXPECT_EQ(seg.segments[1], std::make_pair(int64_t{10}, int64_t{21}));
  EXPECT_EQ(seg.segments[2], std::make_pair(int64_t{22}, int64_t{31}));
}

TEST(MergeProperties, DistinctFramesNeverMergeAcrossAHardCut) {
  const at::Tensor x = synthetic_video({5, 7}, 16, 8, 0.25, 10);
  for (const double ratio : {0.05, 0.2, 0.6, 1.0}) {
    HolitomOptions options;
    options.retain_ratio = ratio;
    const MergeResult result = holitom_merge(x, synthetic_attention(12, 16, 11), {}, options);
    for (const MergedSegment& segment : result.segments) {
      EXPECT_TRUE(segment.frame_end < 5 || segment.frame_begin >= 5);
      for (const auto& members : segment.members) {
        for (const int32_t m : members)
          EXPECT_EQ(m / 16 < 5, members.front() / 16 < 5);
      }
    }
  }
}

TEST(MergeProperties, OneFrame) {
  const at::Tensor x = synthetic_video({1}, 16, 8, 0.5, 12);
  const at::Tensor attn = synthetic_attention(1, 16, 13);
  const std::vector<double> times = {42.0};
  for (const NamedReducer& reducer : reducers(attn)) {
    const MergeResult result = reducer.run(x, times, TokenBudget::tokens(5));
    ASSERT_EQ(result.segments.size(), 1u) << reducer.name;
    EXPECT_EQ(result.segments[0].t_begin, 42.0);
    EXPECT_EQ(result.segments[0].t_end, 42.0);
    EXPECT_LE(result.token_count(), 5) << reducer.name;
    EXPECT_GE(result.token_count(), 4) << reducer.name;
  }
}

TEST(MergeProperties, ZeroBudgetGivesNoTokensButCoversTheFrames) {
  const at::Tensor x = synthetic_video({3, 3}, 16, 8, 0.25, 14);
  const at::Tensor attn = synthetic_attention(6, 16, 15);
  std::vector<double> times = {0, 1, 2, 3, 4, 5};
  for (const NamedReducer& reducer : reducers(attn)) {
    const MergeResult result = reducer.run(x, times, TokenBudget::tokens(0));
    EXPECT_EQ(result.token_count(), 0) << reducer.name;
    EXPECT_EQ(result.concatenated_tokens().size(0), 0) << reducer.name;
    expect_cover(result, 6, times, reducer.name);
  }
}

TEST(MergeProperties, BudgetLargerThanTheInput) {
  const at::Tensor x = synthetic_video({3, 3}, 16, 8, 0.25, 16);
  const at::Tensor flat = x.reshape({-1, 8});
  const MergeResult tome = tome_merge(x, {}, TokenBudget::tokens(10000));
  EXPECT_TRUE(tome.concatenated_tokens().equal(flat));
  const MergeResult divprune = divprune_merge(x, {}, TokenBudget::ratio(1.0));
  EXPECT_TRUE(divprune.concatenated_tokens().equal(flat));
  // HoliTom keeps every dynamic token and one temporal mean per static position (R' = 1).
  const MergeResult holitom =
      holitom_merge_within(x, synthetic_attention(6, 16, 17), {}, TokenBudget::tokens(10000), {});
  const HolitomSegmentation seg = holitom_segment(x, 0.8, 1024);
  EXPECT_EQ(holitom.token_count(), 96 - seg.reduced);
  EXPECT_EQ(holitom.retain_ratio, 1.0);
}

TEST(MergeProperties, SameInputSameOutput) {
  const at::Tensor x = synthetic_video({4, 4}, 16, 8, 0.25, 18);
  const at::Tensor attn = synthetic_attention(8, 16, 19);
  for (const NamedReducer& reducer : reducers(attn)) {
    const MergeResult a = reducer.run(x, {}, TokenBudget::ratio(0.2));
    const MergeResult b = reducer.run(x.clone(), {}, TokenBudget::ratio(0.2));
    EXPECT_TRUE(a.concatenated_tokens().equal(b.concatenated_tokens())) << reducer.name;
    EXPECT_EQ(a.concatenated_origins(), b.concatenated_origins()) << reducer.name;
  }
}

TEST(MergeProperties, DensityNoiseIsOptInAndSeeded) {
  const at::Tensor x = synthetic_video({6}, 16, 8, 0.25, 20);
  const at::Tensor attn = synthetic_attention(6, 16, 21);
  HolitomOptions options;
  options.retain_ratio = 0.3;
  options.density_noise_seed = 0;
  const MergeResult a = holitom_merge(x, attn, {}, options);
  const MergeResult b = holitom_merge(x, attn, {}, options);
  EXPECT_TRUE(a.concatenated_tokens().equal(b.concatenated_tokens()));
}

TEST(MergeProperties, BadInputIsRejected) {
  const at::Tensor x = synthetic_video({2}, 4, 3, 0.0, 22);
  const at::Tensor attn = synthetic_attention(2, 4, 23);
  auto kind_of = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::kInternal;
  };
  EXPECT_EQ(kind_of([&] { holitom_merge(x[0], attn, {}, {}); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of([&] { holitom_merge(x, attn.t(), {}, {}); }), ErrorKind::kInvalidArgument);
  const std::vector<double> one_time = {0.0};
  EXPECT_EQ(kind_of([&] { tome_merge(x, one_time, TokenBudget::tokens(1)); }),
            ErrorKind::kInvalidArgument);
  at::Tensor bad = x.clone();
  bad[0][0][0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(kind_of([&] { divprune_merge(bad, {}, TokenBudget::tokens(1)); }),
            ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of([] { TokenBudget::ratio(1.5); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of([] { TokenBudget::tokens(-1); }), ErrorKind::kInvalidArgument);
  HolitomOptions grid;
  grid.layout = NewlineLayout::kGrid;  // N = 4 is square, but no newline vector
  EXPECT_EQ(kind_of([&] { holitom_merge(x, attn, {}, grid); }), ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace clipmind::compress
