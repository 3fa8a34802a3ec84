// HoliTom's inner merge on the LayerReducer interface against the authors' outputs
// (tests/data/merge-golden/inner_*): same position ids, h_out within 1e-5.
#include "golden.h"
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "compress/merge/inner_reducers.h"

namespace clipmind::compress {
namespace {

class InnerGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(InnerGolden, MatchesAuthors) {
  const auto dir = testing::golden_dir() / GetParam();
  const at::Tensor h_in = testing::load_npy(dir / "h_in.npy");
  const at::Tensor attn = testing::load_npy(dir / "attn.npy");  // [heads, S, S]
  const nlohmann::json params = testing::load_json(dir / "params.json");
  // The decoder's importance: the last prompt token's row, averaged over heads.
  const at::Tensor importance = attn.select(1, attn.size(1) - 1).mean(0);
  const std::vector<VisualSpan> spans = {{params["v0"].get<int64_t>(), params["L"].get<int64_t>()}};
  const HolitomInnerMerge merge(18, params["r"].get<double>());
  const LayerReduction out = merge.reduce({h_in, importance, spans});

  const at::Tensor want_ids = testing::load_npy(dir / "position_ids.npy").to(at::kLong).flatten();
  EXPECT_TRUE(out.keep.equal(want_ids)) << out.keep << want_ids;
  const at::Tensor want = testing::load_npy(dir / "h_out.npy");
  ASSERT_EQ(out.hidden.sizes(), want.sizes());
  EXPECT_LE((out.hidden - want).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(inner_keep_count(params["L"].get<int64_t>(), params["r"].get<double>()),
            params["keep_count"].get<int64_t>());
}

INSTANTIATE_TEST_SUITE_P(MergeGolden, InnerGolden, ::testing::ValuesIn(testing::kInnerCases));

}  // namespace
}  // namespace clipmind::compress
