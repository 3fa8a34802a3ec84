#include "compress/budget/prefill_flops.h"

namespace clipmind::compress {

double layer_flops(int64_t tokens, const LlmDims& llm) {
  const auto n = static_cast<double>(tokens);
  const auto d = static_cast<double>(llm.hidden);
  const auto m = static_cast<double>(llm.ffn);
  return 4.0 * n * d * d + 2.0 * n * n * d + 2.0 * n * d * m;
}

double prefill_flops(int64_t tokens, const LlmDims& llm) {
  return static_cast<double>(llm.layers) * layer_flops(tokens, llm);
}

double prefill_flops_reduced(int64_t tokens, int64_t tokens_after, int64_t layer,
                             const LlmDims& llm) {
  return static_cast<double>(layer) * layer_flops(tokens, llm) +
         static_cast<double>(llm.layers - layer) * layer_flops(tokens_after, llm);
}

double decode_flops(int64_t tokens, int64_t generated, const LlmDims& llm) {
  const auto n = static_cast<double>(tokens);
  const auto r = static_cast<double>(generated);
  const auto d = static_cast<double>(llm.hidden);
  const auto m = static_cast<double>(llm.ffn);
  return static_cast<double>(llm.layers) * r *
         ((4.0 * d * d + 2.0 * d * m) + 2.0 * (d * n + d * (r + 1.0) / 2.0));
}

}  // namespace clipmind::compress
