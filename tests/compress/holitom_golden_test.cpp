// HoliTom outer merge against the authors' outputs (tests/data/merge-golden): same segments,
// same token count, same origins row by row, every token within 1e-4, in both layouts.
#include "golden.h"
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "compress/merge/holitom.h"

namespace clipmind::compress {
namespace {

using testing::golden_dir;
using testing::load_json;
using testing::load_npy;

class HolitomGolden : public ::testing::TestWithParam<const char*> {};

HolitomOptions options_from(const nlohmann::json& params, NewlineLayout layout) {
  HolitomOptions options;
  options.retain_ratio = params.at("R").get<double>();
  options.tau = params.at("tau").get<double>();
  options.beta = params.at("beta").get<double>();
  options.contextual_share = params.at("D_share").get<double>();
  options.k_max = params.at("K").get<int64_t>();
  options.max_window = params.at("W_max").get<int64_t>();
  options.layout = layout;
  return options;
}

void expect_matches(const MergeResult& result, const at::Tensor& want_tokens,
                    const at::Tensor& want_index) {
  const at::Tensor got = result.concatenated_tokens();
  const std::vector<TokenOrigin> origins = result.concatenated_origins();
  ASSERT_EQ(got.size(0), want_tokens.size(0));
  ASSERT_EQ(static_cast<int64_t>(origins.size()), want_index.size(0));
  const at::Tensor index = want_index.to(at::kInt).contiguous();
  const int32_t* rows = index.data_ptr<int32_t>();
  for (size_t i = 0; i < origins.size(); ++i) {
    EXPECT_EQ(static_cast<int32_t>(origins[i].kind), rows[4 * i]) << "row " << i;
    EXPECT_EQ(origins[i].frame_begin, rows[4 * i + 1]) << "row " << i;
    EXPECT_EQ(origins[i].frame_end, rows[4 * i + 2]) << "row " << i;
    EXPECT_EQ(origins[i].pos, rows[4 * i + 3]) << "row " << i;
  }
  const double max_error = (got - want_tokens).abs().max().item<double>();
  EXPECT_LE(max_error, 1e-4);
}

TEST_P(HolitomGolden, OneTokenLayoutMatchesAuthors) {
  const auto dir = golden_dir() / GetParam();
  const at::Tensor x = load_npy(dir / "x.npy");
  const at::Tensor attn = load_npy(dir / "attn.npy");
  const nlohmann::json params = load_json(dir / "params.json");
  const nlohmann::json segments = load_json(dir / "segments.json");

  const MergeResult result =
      holitom_merge(x, attn, {}, options_from(params, NewlineLayout::kOneToken));
  ASSERT_EQ(result.segments.size(), segments.at("segments").size());
  for (size_t i = 0; i < result.segments.size(); ++i) {
    EXPECT_EQ(result.segments[i].frame_begin, segments["segments"][i][0].get<int64_t>());
    EXPECT_EQ(result.segments[i].frame_end, segments["segments"][i][1].get<int64_t>());
  }
  const HolitomSegmentation segmentation =
      holitom_segment(x, params["tau"].get<double>(), params["W_max"].get<int64_t>());
  EXPECT_EQ(static_cast<double>(segmentation.reduced), segments["reduced"].get<double>());
  EXPECT_NEAR(holitom_effective_ratio(params["R"].get<double>(), x.size(0), x.size(1),
                                      segmentation.reduced),
              segments["retain_ratio_eff"].get<double>(), 1e-12);
  EXPECT_EQ(result.token_count(), segments["M"].get<int64_t>());
  EXPECT_EQ(holitom_token_count(segmentation,
                                holitom_effective_ratio(params["R"].get<double>(), x.size(0),
                                                        x.size(1), segmentation.reduced)),
            segments["M"].get<int64_t>());
  expect_matches(result, load_npy(dir / "out_tokens.npy"), load_npy(dir / "out_index.npy"));
}

TEST_P(HolitomGolden, GridLayoutMatchesAuthors) {
  const auto dir = golden_dir() / GetParam();
  const at::Tensor x = load_npy(dir / "x.npy");
  const at::Tensor attn = load_npy(dir / "attn.npy");
  const nlohmann::json params = load_json(dir / "params.json");
  // The fixture's newline sentinel: 1000 + arange(dim).
  const at::Tensor newline = at::arange(x.size(2), at::kFloat) + 1000;
  const MergeResult result =
      holitom_merge(x, attn, {}, options_from(params, NewlineLayout::kGrid), newline);
  expect_matches(result, load_npy(dir / "out_tokens_grid.npy"),
                 load_npy(dir / "out_index_grid.npy"));
  EXPECT_EQ(result.row_count(), load_json(dir / "segments.json")["M_grid"].get<int64_t>());
}

TEST_P(HolitomGolden, SimilarityMatchesAuthors) {
  const auto dir = golden_dir() / GetParam();
  const at::Tensor sim = holitom_similarity(load_npy(dir / "x.npy"));
  EXPECT_LE((sim - load_npy(dir / "sim.npy")).abs().max().item<double>(), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(MergeGolden, HolitomGolden, ::testing::ValuesIn(testing::kOuterCases));

}  // namespace
}  // namespace clipmind::compress
