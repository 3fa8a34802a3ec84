// LLM prefill FLOPs, paper-compatible (FastV's count, reused by VisionZip and DyCoke), per
// docs/design/methods.md "7. Prefill FLOPs": for n tokens, hidden size d, FFN size m,
//   F_layer(n) = 4 n d^2 + 2 n^2 d + 2 n d m,   F_prefill(n) = layers * F_layer(n).
// It counts multiply-accumulates and ignores GQA, the third SwiGLU matrix, norms, the LM head and
// the vision tower, so ratios match the papers'. Values are doubles (exact below 2^53). Pure.
#pragma once

#include <cstdint>
#include <string>

namespace clipmind::compress {

struct LlmDims {
  std::string name;
  int64_t hidden = 0;  // d
  int64_t ffn = 0;     // m
  int64_t layers = 0;  // T

  static LlmDims qwen2_0_5b() { return {"Qwen2-0.5B", 896, 4864, 24}; }
  static LlmDims qwen2_7b() { return {"Qwen2-7B", 3584, 18944, 28}; }
};

double layer_flops(int64_t tokens, const LlmDims& llm);
double prefill_flops(int64_t tokens, const LlmDims& llm);

// Reduction inside the LLM at layer K: K * F(n) + (layers - K) * F(n_after).
double prefill_flops_reduced(int64_t tokens, int64_t tokens_after, int64_t layer,
                             const LlmDims& llm);

// DyCoke's optional decode term for `generated` tokens after a prefill of n:
// layers * R * ((4d^2 + 2dm) + 2(d n + d (R + 1) / 2)).
double decode_flops(int64_t tokens, int64_t generated, const LlmDims& llm);

}  // namespace clipmind::compress
