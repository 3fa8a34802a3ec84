// Picks the next token from a row of logits: greedy (temperature 0) or temperature / top-k /
// top-p sampling in Hugging Face's order (temperature, then top-k keeping ties with the k-th
// value, then top-p keeping the smallest set whose probability reaches p, at least one token).
// A seeded 64-bit Mersenne Twister makes sampling reproducible across runs and machines.
#pragma once

#include <cstdint>
#include <random>

#include <ATen/core/Tensor.h>

namespace clipmind::models {

struct SamplingOptions {
  double temperature = 0.0;  // <= 0: greedy (argmax, lowest id on ties)
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // 1: off
  uint64_t seed = 0;
};

class Sampler {
 public:
  // Throws kInvalidArgument for negative top_k or top_p outside (0, 1].
  explicit Sampler(const SamplingOptions& options);
  // logits: [V] or [1, V], any dtype/device; -inf masks a token. Throws NonFiniteOutput
  // (kInvalidInput) for any NaN or +inf, kInvalidInput when every logit is -inf.
  int64_t sample(const at::Tensor& logits);

 private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace clipmind::models
