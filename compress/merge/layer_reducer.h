// The interface between the decoder LLM (models/llm) and inner-LLM token reducers
// (HoliTom's inner merge, FastV pruning), which live in compress/.
//
// During prefill, after layer K-1 has run over the whole prompt, the decoder calls
// reduce() once with the hidden states entering layer K. The reducer returns which positions
// the remaining layers (and their KV cache) continue with, and their states. The decoder keeps
// each kept position's original position id for RoPE (gaps are expected), and decoding after
// the prompt continues at the full, unreduced prompt length. Batch size 1; prefill only.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <span>

namespace clipmind::compress {

// A run of visual-token positions in the prompt: [begin, begin + length).
struct VisualSpan {
  int64_t begin = 0;
  int64_t length = 0;
};

struct LayerReductionInput {
  // [S, H] hidden states entering layer K, one sequence.
  const at::Tensor& hidden;
  // [S] float: attention probability each position receives from the last prompt token in
  // layer K-1, averaged over query heads (GQA: each query head against its KV group).
  const at::Tensor& importance;
  // Visual spans in ascending order, not overlapping.
  std::span<const VisualSpan> visual;
};

struct LayerReduction {
  at::Tensor keep;    // [S'] int64, strictly ascending indices into the input sequence
  at::Tensor hidden;  // [S', H] states to continue with (gathered, possibly merged)
};

class LayerReducer {
 public:
  virtual ~LayerReducer() = default;

  // K: the reducer runs after layer K-1 and before layer K (1 <= K < number of layers).
  virtual int layer() const = 0;

  virtual LayerReduction reduce(const LayerReductionInput& input) const = 0;
};

}  // namespace clipmind::compress
