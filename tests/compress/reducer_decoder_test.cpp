// HolitomInnerMerge and FastVPruning inside the real decoder (models/llm) on the tiny Qwen2
// fixture: the decoder's hook accepts them, the kept set and merged rows match a plain
// sequential implementation written here (the reference's loop, not the closed form), and
// ratio 0 changes nothing.
#include <algorithm>
#include <filesystem>
#include <numeric>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "compress/merge/inner_reducers.h"
#include "models/llm/decoder.h"
#include "models/npy.h"
#include "models/npy_tensor.h"

namespace clipmind::compress {
namespace {

namespace fs = std::filesystem;

fs::path tiny() {
  return fs::path(CLIPMIND_TEST_DATA_DIR) / "llm-golden" / "qwen2-tiny";
}

std::vector<int64_t> prompt_ids() {
  const at::Tensor t =
      models::npy_to_tensor(models::read_npy(tiny() / "b_ids.npy")).to(at::kLong).contiguous();
  return {t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()};
}

// Records what the decoder hands over, then delegates.
class Recording final : public LayerReducer {
 public:
  explicit Recording(const LayerReducer& inner) : inner_(inner) {}
  int layer() const override { return inner_.layer(); }
  LayerReduction reduce(const LayerReductionInput& input) const override {
    hidden = input.hidden.clone();
    importance = input.importance.clone();
    output = inner_.reduce(input);
    return output;
  }
  mutable at::Tensor hidden;
  mutable at::Tensor importance;
  mutable LayerReduction output;

 private:
  const LayerReducer& inner_;
};

constexpr VisualSpan kSpan{5, 20};

models::ForwardResult run(const models::Decoder& decoder, const LayerReducer* reducer) {
  models::KvCache cache = decoder.new_cache();
  models::ForwardOptions options;
  options.reducer = reducer;
  options.visual = {kSpan};
  return decoder.forward(models::PromptInput::tokens(prompt_ids()), cache, options);
}

// The keep set by a plain sort: the top round(L/2) visual positions by importance.
std::vector<int64_t> expected_keep(const at::Tensor& importance, int64_t keep_visual,
                                   std::vector<int64_t>* ranked) {
  std::vector<int64_t> visual(static_cast<size_t>(kSpan.length));
  std::iota(visual.begin(), visual.end(), kSpan.begin);
  std::stable_sort(visual.begin(), visual.end(), [&](int64_t a, int64_t b) {
    return importance[a].item<float>() > importance[b].item<float>();
  });
  visual.resize(static_cast<size_t>(keep_visual));
  if (ranked) *ranked = visual;
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < importance.size(0); ++i) {
    const bool in_span = i >= kSpan.begin && i < kSpan.begin + kSpan.length;
    if (!in_span || std::find(visual.begin(), visual.end(), i) != visual.end()) keep.push_back(i);
  }
  return keep;
}

TEST(ReducersInDecoder, FastVKeepsTheMostAttendedVisualTokens) {
  const models::Decoder decoder = models::Decoder::load(tiny());
  const FastVPruning fastv(1, 0.5);
  const Recording recording(fastv);
  const models::ForwardResult result = run(decoder, &recording);
  const std::vector<int64_t> keep = expected_keep(recording.importance, 10, nullptr);
  EXPECT_TRUE(result.kept.equal(at::tensor(keep, at::kLong)));
  EXPECT_EQ(result.kept.size(0), 37 - 10);
  EXPECT_TRUE(
      recording.output.hidden.equal(recording.hidden.index_select(0, at::tensor(keep, at::kLong))));
}

TEST(ReducersInDecoder, HolitomMergeMatchesTheSequentialLoop) {
  const models::Decoder decoder = models::Decoder::load(tiny());
  const HolitomInnerMerge merge(1, 0.5);
  const Recording recording(merge);
  const models::ForwardResult result = run(decoder, &recording);
  std::vector<int64_t> ranked;
  const std::vector<int64_t> keep = expected_keep(recording.importance, 10, &ranked);
  ASSERT_TRUE(result.kept.equal(at::tensor(keep, at::kLong)));

  // The reference's loop: targets from pre-merge cosine, then h_t = (h_t + h_u) / 2 in order.
  const at::Tensor pre = recording.hidden.to(at::kDouble);
  at::Tensor h = pre.clone();
  for (int64_t u = kSpan.begin; u < kSpan.begin + kSpan.length; ++u) {
    if (std::find(ranked.begin(), ranked.end(), u) != ranked.end()) continue;
    int64_t target = ranked.front();
    double best = -2.0;
    for (const int64_t q : ranked) {
      const double cos = (at::dot(pre[u], pre[q]) / (pre[u].norm() * pre[q].norm())).item<double>();
      if (cos > best) {
        best = cos;
        target = q;
      }
    }
    h[target] = (h[target] + h[u]) / 2;
  }
  const at::Tensor want = h.index_select(0, at::tensor(keep, at::kLong)).to(at::kFloat);
  EXPECT_LE((recording.output.hidden - want).abs().max().item<double>(), 1e-5);
  EXPECT_GT(
      (recording.output.hidden - recording.hidden.index_select(0, at::tensor(keep, at::kLong)))
          .abs()
          .max()
          .item<double>(),
      1e-3);  // the merge changed something
}

TEST(ReducersInDecoder, RatioZeroChangesNothing) {
  const models::Decoder decoder = models::Decoder::load(tiny());
  const at::Tensor plain = run(decoder, nullptr).logits;
  const HolitomInnerMerge merge(1, 0.0);
  const FastVPruning fastv(1, 0.0);
  for (const LayerReducer* reducer :
       {static_cast<const LayerReducer*>(&merge), static_cast<const LayerReducer*>(&fastv)}) {
    const models::ForwardResult result = run(decoder, reducer);
    EXPECT_EQ(result.kept.size(0), 37);
    EXPECT_LE((result.logits - plain).abs().max().item<double>(), 1e-5);
  }
}

}  // namespace
}  // namespace clipmind::compress
