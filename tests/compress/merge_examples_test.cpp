// The worked examples of docs/design/methods.md "Token merging and pruning", numbers typed in
// from the notes (computed there with numpy, independently of this code).
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "compress/merge/divprune.h"
#include "compress/merge/dpc_knn.h"
#include "compress/merge/holitom.h"
#include "compress/merge/inner_reducers.h"
#include "compress/merge/tome.h"

namespace clipmind::compress {
namespace {

at::Tensor rows(std::vector<std::vector<float>> values) {
  const auto count = static_cast<int64_t>(values.size());
  const auto dim = static_cast<int64_t>(values.front().size());
  at::Tensor t = at::empty({count, dim}, at::kFloat);
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t j = 0; j < dim; ++j)
      t[i][j] = values[static_cast<size_t>(i)][static_cast<size_t>(j)];
  }
  return t;
}

void expect_rows_near(const at::Tensor& got, const std::vector<std::vector<float>>& want,
                      double tolerance) {
  ASSERT_EQ(got.size(0), static_cast<int64_t>(want.size()));
  const at::Tensor expected = rows(want);
  EXPECT_LE((got.to(at::kFloat) - expected).abs().max().item<double>(), tolerance)
      << "got\n"
      << got << "\nwant\n"
      << expected;
}

// HoliTom worked example: T=4, N=9 (3x3), D=2, R=0.3, tau=0.8, beta=0.6, k_max=7.
struct HolitomExample {
  at::Tensor x = at::zeros({4, 9, 2}, at::kFloat);
  at::Tensor attn = at::zeros({4, 9}, at::kFloat);
  HolitomExample() {
    const std::vector<std::vector<float>> b = {{1, 0},       {0.9f, 0.2f}, {0, 1},
                                               {0.3f, 1.1f}, {1, 1},       {1.4f, 0.9f}};
    for (int n = 0; n < 6; ++n) {
      x[0][n] = at::tensor(b[n]);
      x[1][n] = at::tensor(std::vector<float>{b[n][0] + 0.1f, b[n][1]});
      x[2][n] = at::tensor(std::vector<float>{b[n][0], b[n][1] + 0.1f});
    }
    x[0].slice(0, 6, 9).copy_(rows({{1, 0}, {0, 1}, {1, 1}}));
    x[1].slice(0, 6, 9).copy_(rows({{0, 1}, {-1, 0}, {-1, 1}}));
    x[2].slice(0, 6, 9).copy_(rows({{-1, 0}, {0, -1}, {-1, -1}}));
    x[3].copy_(rows({{-0.1f, 1},
                     {-0.3f, 0.9f},
                     {-1.1f, 0},
                     {-1.2f, 0.3f},
                     {-1.1f, 1},
                     {-1, 1.4f},
                     {0, -1},
                     {1, 0},
                     {1, -1}}));
    attn.slice(0, 0, 3).slice(1, 0, 6).fill_(0.1);
    attn[0].slice(0, 6, 9).copy_(at::tensor(std::vector<float>{0.05f, 0.20f, 0.10f}));
    attn[1].slice(0, 6, 9).copy_(at::tensor(std::vector<float>{0.30f, 0.10f, 0.20f}));
    attn[2].slice(0, 6, 9).copy_(at::tensor(std::vector<float>{0.10f, 0.15f, 0.25f}));
    attn[3].copy_(at::tensor(
        std::vector<float>{0.02f, 0.09f, 0.11f, 0.05f, 0.20f, 0.13f, 0.07f, 0.16f, 0.17f}));
  }
  HolitomOptions options() const {
    HolitomOptions o;
    o.retain_ratio = 0.3;
    o.tau = 0.8;
    o.beta = 0.6;
    o.k_max = 7;
    return o;
  }
};

TEST(HolitomWorkedExample, SimilaritiesSegmentsAndRatio) {
  const HolitomExample ex;
  const at::Tensor s = holitom_similarity(ex.x);
  const std::vector<float> s0 = {1, .999774f, .995037f, .996597f, .998868f, .999522f};
  const std::vector<float> s1 = {.995037f, .992278f, .995037f, .994618f, .995475f, .996815f};
  for (int n = 0; n < 6; ++n) {
    EXPECT_NEAR(s[0][n].item<float>(), s0[n], 1e-5);
    EXPECT_NEAR(s[1][n].item<float>(), s1[n], 1e-5);
  }
  EXPECT_LE(s[2].abs().max().item<float>(), 1e-6);
  EXPECT_LE(s.slice(1, 6, 9).abs().max().item<float>(), 1e-6);

  const HolitomSegmentation seg = holitom_segment(ex.x, 0.8, 1024);
  ASSERT_EQ(seg.segments.size(), 2u);
  EXPECT_EQ(seg.segments[0], std::make_pair(int64_t{0}, int64_t{2}));
  EXPECT_EQ(seg.segments[1], std::make_pair(int64_t{3}, int64_t{3}));
  EXPECT_EQ(seg.reduced, 12);
  EXPECT_NEAR(holitom_effective_ratio(0.3, 4, 9, seg.reduced), 0.45, 1e-12);
  EXPECT_EQ(seg.static_mask[0], (std::vector<uint8_t>{1, 1, 1, 1, 1, 1, 0, 0, 0}));
}

TEST(HolitomWorkedExample, GainsOfEveryWindow) {
  // P(0,1)=6, P(1,2)=6, P(0,2)=12 and nothing gained with frame 3: with max_window 2 the best
  // partition gains 6, with 3 it gains 12.
  const HolitomExample ex;
  EXPECT_EQ(holitom_segment(ex.x, 0.8, 1).reduced, 0);
  EXPECT_EQ(holitom_segment(ex.x, 0.8, 2).reduced, 6);
  EXPECT_EQ(holitom_segment(ex.x, 0.8, 3).reduced, 12);
  EXPECT_EQ(holitom_segment(ex.x.slice(0, 2, 4), 0.8, 1024).reduced, 0);  // P(2,3) = 0
}

TEST(HolitomWorkedExample, DpcKnnOnStaticMeans) {
  const HolitomExample ex;
  const at::Tensor means = ex.x.slice(0, 0, 3).slice(1, 0, 6).mean(0);
  expect_rows_near(means,
                   {{1.033333f, 0.033333f},
                    {0.933333f, 0.233333f},
                    {0.033333f, 1.033333f},
                    {0.333333f, 1.133333f},
                    {1.033333f, 1.033333f},
                    {1.433333f, 0.933333f}},
                   1e-5);
  const DpcKnnScores scores = dpc_knn_scores(pairwise_distances_direct(means), 3);
  const std::vector<float> rho = {.843665f, .889882f, .832491f, .904837f, .894342f, .859275f};
  const std::vector<float> delta = {.158114f, .570088f, .223607f, 1.0f, .5f, .291548f};
  const std::vector<float> gamma = {.133395f, .507311f, .186151f, .904837f, .447171f, .250519f};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_NEAR(scores.density[i], rho[i], 1e-5) << i;
    EXPECT_NEAR(scores.delta[i], delta[i], 1e-5) << i;
    EXPECT_NEAR(scores.score[i], gamma[i], 1e-5) << i;
  }
  const DpcKnnClusters clusters = dpc_knn_cluster(means, 3, 3);
  EXPECT_EQ(clusters.centres, (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(clusters.assignment, (std::vector<int64_t>{0, 0, 1, 1, 2, 2}));
  expect_rows_near(dpc_knn_merge(means, clusters, 0.6),
                   {{0.973333f, 0.153333f}, {0.213333f, 1.093333f}, {1.193333f, 0.993333f}}, 1e-5);
  expect_rows_near(dpc_knn_merge(means, clusters, std::nullopt),
                   {{0.983333f, 0.133333f}, {0.183333f, 1.083333f}, {1.233333f, 0.983333f}}, 1e-5);
}

TEST(HolitomWorkedExample, OneTokenOutputInAuthorsOrder) {
  const HolitomExample ex;
  const MergeResult result = holitom_merge(ex.x, ex.attn, {}, ex.options());
  ASSERT_EQ(result.token_count(), 14);
  // s1 s3 s4 | f0p7 f0p8 | f1p6 f1p8 | f2p7 f2p8 || f3p2 f3p4 f3p5 f3p7 f3p8 (ascending
  // positions inside a frame, as the authors' code emits them; see the fixture README).
  expect_rows_near(result.concatenated_tokens(),
                   {{0.973333f, 0.153333f},
                    {0.213333f, 1.093333f},
                    {1.193333f, 0.993333f},
                    {0, 1},
                    {1, 1},
                    {0, 1},
                    {-1, 1},
                    {0, -1},
                    {-1, -1},
                    {-1.1f, 0},
                    {-1.1f, 1},
                    {-1, 1.4f},
                    {1, 0},
                    {1, -1}},
                   1e-5);
  const std::vector<TokenOrigin> origins = result.concatenated_origins();
  const std::vector<int32_t> positions = {1, 3, 4, 7, 8, 6, 8, 7, 8, 2, 4, 5, 7, 8};
  for (size_t i = 0; i < origins.size(); ++i)
    EXPECT_EQ(origins[i].pos, positions[i]) << i;
  EXPECT_EQ(result.segments[0].t_begin, 0.0);
  EXPECT_EQ(result.segments[0].t_end, 2.0);
}

TEST(HolitomWorkedExample, GridOutput) {
  const HolitomExample ex;
  HolitomOptions options = ex.options();
  options.layout = NewlineLayout::kGrid;
  const at::Tensor newline = at::full({2}, 9.0f);
  const MergeResult result = holitom_merge(ex.x, ex.attn, {}, options, newline);
  const std::vector<TokenOrigin> origins = result.concatenated_origins();
  ASSERT_EQ(origins.size(), 22u);
  // s1 NL s3 s4 NL f0p7 f0p8 NL | f1p6 f1p8 NL | f2p7 f2p8 NL | f3p2 NL f3p4 f3p5 NL f3p7 f3p8 NL
  const std::vector<int32_t> positions = {1, -1, 3,  4, -1, 7, 8, -1, 6, 8, -1,
                                          7, 8,  -1, 2, -1, 4, 5, -1, 7, 8, -1};
  const at::Tensor tokens = result.concatenated_tokens();
  for (size_t i = 0; i < origins.size(); ++i) {
    EXPECT_EQ(origins[i].pos, positions[i]) << i;
    if (positions[i] == -1) {
      EXPECT_EQ(origins[i].kind, TokenKind::kNewline);
      EXPECT_TRUE(tokens[static_cast<int64_t>(i)].eq(9.0f).all().item<bool>());
    }
  }
  EXPECT_EQ(result.token_count(), 14);
  EXPECT_EQ(result.row_count(), 22);
}

TEST(HolitomWorkedExample, BudgetedMergeNeverExceedsTheCap) {
  // The authors' rounding gives 14 tokens for R = 0.3, above R*T*N = 10.8. Within a ratio
  // budget of 0.3 the cap is 10: the largest R that fits gives R' = 1/3 and
  // round(6/3) + 3*ceil(3/3) + ceil(9/3) = 8 tokens (R' just above 1/3 would give 12).
  const HolitomExample ex;
  const MergeResult result =
      holitom_merge_within(ex.x, ex.attn, {}, TokenBudget::ratio(0.3), ex.options());
  EXPECT_EQ(result.budget, 10);
  EXPECT_EQ(result.token_count(), 8);
  EXPECT_NEAR(result.retain_ratio, 2.0 / 9.0, 1e-9);
  const MergeResult exact =
      holitom_merge_within(ex.x, ex.attn, {}, TokenBudget::tokens(14), ex.options());
  EXPECT_EQ(exact.token_count(), 14);
}

TEST(TomeExample, OneRoundAsTheReferenceOrdersIt) {
  const at::Tensor x = rows({{1, 0}, {1, 0.1f}, {0.95f, 0.2f}, {0, 1}, {-1, 0.3f}, {-1, 0}});
  const TomeRound round = tome_round(x, {}, 2);
  expect_rows_near(round.tokens, {{-1, 0.3f}, {0.983333f, 0.1f}, {0, 1}, {-1, 0}}, 1e-5);
  EXPECT_TRUE(round.sizes.equal(at::tensor(std::vector<float>{1, 3, 1, 1})));
  EXPECT_EQ(round.destination, (std::vector<int64_t>{1, 1, 1, 2, 0, 3}));
  EXPECT_EQ(round.source, (std::vector<int64_t>{4, 1, 3, 5}));
}

TEST(DivPruneExample, PicksTheMostIsolatedThenTheFarthest) {
  const at::Tensor x = rows({{1, 0}, {1, 0.2f}, {0, 1}, {-1, 0.1f}, {0.7f, 0.7f}});
  EXPECT_EQ(divprune_pick_order(x, 3), (std::vector<int64_t>{3, 0, 2}));
  EXPECT_EQ(divprune_select(x, 3), (std::vector<int64_t>{0, 2, 3}));
  DivPruneOptions streaming;
  streaming.max_matrix_bytes = 0;  // recompute rows instead of keeping the matrix
  EXPECT_EQ(divprune_pick_order(x, 3, streaming), (std::vector<int64_t>{3, 0, 2}));
}

// Inner example: [t0, t1, v0..v5, t2, t3], v0 = 2, L = 6.
struct InnerExample {
  at::Tensor hidden = rows({{0.3f, -0.2f},
                            {0.5f, 0.5f},
                            {1, 0.2f},
                            {1, 0},
                            {0.9f, 0.1f},
                            {0, 1},
                            {0.6f, 0.8f},
                            {0.8f, 0.6f},
                            {-0.4f, 0.1f},
                            {0.2f, 0.9f}});
  at::Tensor importance =
      at::tensor(std::vector<float>{0.4f, 0.3f, .05f, .30f, .10f, .25f, .08f, .22f, 0.2f, 0.9f});
  std::vector<VisualSpan> spans = {{2, 6}};
  LayerReductionInput input() const { return {hidden, importance, spans}; }
};

TEST(InnerMergeExample, RunningPairwiseAverage) {
  const InnerExample ex;
  const HolitomInnerMerge merge(18, 0.5);
  EXPECT_EQ(merge.layer(), 18);
  const LayerReduction out = merge.reduce(ex.input());
  EXPECT_TRUE(out.keep.equal(at::tensor(std::vector<int64_t>{0, 1, 3, 5, 7, 8, 9})));
  expect_rows_near(out.hidden.slice(0, 2, 5), {{0.95f, 0.1f}, {0, 1}, {0.7f, 0.7f}}, 1e-6);
  expect_rows_near(out.hidden.slice(0, 0, 2), {{0.3f, -0.2f}, {0.5f, 0.5f}}, 0);
  // A uniform mean of v1, v0, v2 would give (0.966667, 0.1): the merge must not.
  EXPECT_GT(std::abs(out.hidden[2][0].item<float>() - 0.966667f), 1e-3);
}

TEST(FastVExample, KeepsTheSameSetUnmerged) {
  const InnerExample ex;
  const FastVPruning prune(2, 0.5);
  const LayerReduction out = prune.reduce(ex.input());
  EXPECT_TRUE(out.keep.equal(at::tensor(std::vector<int64_t>{0, 1, 3, 5, 7, 8, 9})));
  expect_rows_near(out.hidden.slice(0, 2, 5), {{1, 0}, {0, 1}, {0.8f, 0.6f}}, 0);
}

}  // namespace
}  // namespace clipmind::compress
