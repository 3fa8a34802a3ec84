// Inner-LLM token reducers for the decoder hook in layer_reducer.h, per docs/design/methods.md:
//   HolitomInnerMerge  HoliTom (d): keep the round(L*(1-r)) visual tokens the last prompt token
//                      attends to most; merge every other visual token into its most similar
//                      kept token (cosine on the pre-merge states) by a running pairwise average
//                      in ascending source order.
//   FastVPruning       FastV: the same keep set with R the fraction dropped, no merging.
// L counts the positions of all visual spans together (the reference has one span). Text
// positions are always kept. The kept indices are the original positions, so the decoder's
// position ids (and RoPE) keep their gaps.
//
// Choices (docs/compress.md): ties in importance and similarity go to the lower index (among the
// kept tokens, in descending-importance order as the reference's top-k lists them); a zero
// hidden state has similarity 0 with everything (the reference would divide by zero). The
// running average is computed in closed form, h_t/2^n + sum_i h_ui/2^(n-i+1), in float32, then
// cast back to the hidden dtype. Any device. Throws clipmind::Error(kInvalidArgument) on
// inconsistent inputs.
#pragma once

#include "compress/merge/layer_reducer.h"

namespace clipmind::compress {

// Number of visual tokens kept: round(L * (1 - ratio)), half to even like Python's round().
int64_t inner_keep_count(int64_t visual_length, double ratio);

class HolitomInnerMerge final : public LayerReducer {
 public:
  // layer: K (runs after layer K-1); merge_ratio: r, the share of visual tokens merged away.
  // The released scripts use K = 18, r = 0.5 on Qwen2-7B.
  HolitomInnerMerge(int layer, double merge_ratio);

  int layer() const override { return layer_; }
  LayerReduction reduce(const LayerReductionInput& input) const override;

 private:
  int layer_;
  double ratio_;
};

class FastVPruning final : public LayerReducer {
 public:
  // layer: K; drop_ratio: R, the share of visual tokens dropped (paper default K = 2, R = 0.5).
  FastVPruning(int layer, double drop_ratio);

  int layer() const override { return layer_; }
  LayerReduction reduce(const LayerReductionInput& input) const override;

 private:
  int layer_;
  double ratio_;
};

}  // namespace clipmind::compress
