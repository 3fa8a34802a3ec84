// The SigLIP transformer encoder shared by the vision tower and the text tower: pre-norm layers
// `x += out_proj(Attn(LN1(x)))`, `x += fc2(GELU(fc1(LN2(x))))`, full (unmasked) multi-head
// attention with scale head_dim^-0.5, softmax in float32, biases on q/k/v/out and the MLP
// (docs/design/methods.md "Model contract" §4).
//
// q/k/v are fused into one [3D, D] weight at load time so each layer runs big GEMMs on [B*N, D]
// rows into buffers reused across layers. Attention scores are materialised for a group of heads of
// one sequence at a time on CPU in float32 (all heads when they fit in 64 MB), or for a few
// sequences (at most 64 MB of scores) with batched GEMMs for other dtypes and devices, so memory
// stays bounded for any batch. bfloat16 on CPU: GEMMs run in bfloat16 (oneDNN), LayerNorm, softmax
// and GELU in float32 (one-pass AVX-512 kernels for softmax and GELU, cache-sized row chunks
// otherwise), the attention scale folded into q's weights (docs/models-vision.md "bfloat16 on
// CPU"). Only the
// layers a caller needs are loaded (a LLaVA tower that uses hidden_states[-2] never loads its last
// layer). Weights are owned by the encoder, on its device and dtype; forward() is const and may run
// from several threads. Errors: kInvalidInput naming the checkpoint for missing tensors.
//
// Cancellation: forward() calls a LayerCheck before every layer, so a caller's CancelToken
// takes effect within one layer (~1 s for SigLIP-so400m on a 4-frame CPU micro-batch) instead
// of one whole tower call; whatever the check throws (clipmind::Cancelled) leaves forward().
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "clipmind/progress.h"
#include "models/vision/vision_config.h"
#include "models/weights/checkpoint.h"

namespace clipmind::models {

// Called with a layer's index just before that layer runs; throwing abandons the forward pass
// between layers. Empty: no check.
using LayerCheck = std::function<void(int64_t layer)>;

// A LayerCheck that throws clipmind::Cancelled once `token` is requested (it shares the
// token's flag, so it may outlive the caller's copy).
LayerCheck cancel_check(const CancelToken& token);

// `first` (when set), then `then` (when set); empty when both are.
LayerCheck chain_checks(LayerCheck first, LayerCheck then);

struct SiglipEncoderShape {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;  // layers in the checkpoint
  int64_t num_heads = 0;
  double layer_norm_eps = 1e-6;
  GeluKind act = GeluKind::kTanh;
};

// The tensors of `prefix + "layers.{i}."` for every layer in the checkpoint, for validate().
std::vector<TensorSpec> siglip_encoder_specs(const std::string& prefix,
                                             const SiglipEncoderShape& shape);

class SiglipEncoder {
 public:
  SiglipEncoder() = default;
  // Loads layers 0..layers_to_load-1 from `prefix` (e.g. "vision_model.encoder.").
  SiglipEncoder(const Checkpoint& checkpoint, const std::string& prefix,
                const SiglipEncoderShape& shape, int64_t layers_to_load, at::ScalarType dtype,
                at::Device device);

  const SiglipEncoderShape& shape() const { return shape_; }
  int64_t loaded_layers() const { return static_cast<int64_t>(layers_.size()); }

  // Runs layers 0..end_layer-1 on x [B, N, D] and returns the output of layer end_layer-1
  // (hidden_states[end_layer]). `record(k, h)` (optional) sees hidden_states[k] for k in
  // 1..end_layer as they are produced. With `attention_out` set, it receives layer
  // end_layer-1's attention probabilities averaged over heads and over queries: [B, N] float32,
  // the mean attention each token receives (HoliTom's `A`). `check(i)` (optional) runs before
  // layer i for i in 0..end_layer-1; what it throws propagates (the input is left unchanged).
  at::Tensor forward(at::Tensor x, int64_t end_layer, at::Tensor* attention_out = nullptr,
                     const std::function<void(int64_t, const at::Tensor&)>& record = {},
                     const LayerCheck& check = {}) const;

 private:
  struct Layer {
    at::Tensor ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  };
  struct Workspace;
  void layer_forward(const Layer& layer, Workspace& ws, at::Tensor* attention) const;
  void attention_cpu(Workspace& ws, int64_t batch, int64_t n, at::Tensor* attention) const;
  void attention_batched(Workspace& ws, int64_t batch, int64_t n, at::Tensor* attention) const;

  SiglipEncoderShape shape_;
  std::vector<Layer> layers_;
  // q's weight and bias carry the attention scale head_dim^-0.5 (reduced-precision dtypes).
  bool q_prescaled_ = false;
};

// x [.., in] -> [.., out] through a Linear stored as [out, in], with bias when defined; one GEMM
// over all leading rows.
at::Tensor linear_rows(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// Applies the chosen GELU in place. Reduced-precision (bfloat16/half) CPU tensors with the tanh
// form are computed in float32 as x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)) (the same
// function, more accurate than 0.5 x (1 + tanh) in the negative tail) and rounded back once:
// contiguous bfloat16 on AVX-512 CPUs by a one-pass kernel, otherwise in cache-sized float32 row
// chunks through ATen's sigmoid (~2x faster than its tanh-GELU). LibTorch 1.13's own bfloat16
// tanh-GELU is a slow kernel (2x float32's time).
void gelu_inplace(at::Tensor& x, GeluKind kind);

// LayerNorm over the last dimension. Reduced-precision CPU inputs are normalised in float32 and
// rounded back (same statistics as ATen's bfloat16 kernel, which accumulates in float32, but that
// kernel runs ~15x slower than the float32 one in LibTorch 1.13), in cache-sized row chunks.
at::Tensor layer_norm_last(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           double eps);
// The same into `out` (x's shape and dtype, contiguous; it must not overlap x).
void layer_norm_last_out(at::Tensor& out, const at::Tensor& x, const at::Tensor& weight,
                         const at::Tensor& bias, double eps);

// Softmax over the last dimension, computed and returned in float32 for any input dtype.
// at::softmax(x, dim, kFloat) on a bfloat16 CPU tensor takes a scalar path in LibTorch 1.13
// (~25x slower than converting first), so this converts, then runs the vectorised kernel.
at::Tensor softmax_last_float(const at::Tensor& scores);

// Softmax over the last dimension in place, computed in float32 and rounded once to scores'
// dtype. Contiguous bfloat16 on AVX-512 CPUs: one pass per row straight from bfloat16 (its own
// exp, relative error < 2e-7); other reduced-precision contiguous CPU tensors go through float32
// in cache-sized row chunks (no whole-tensor float32 copy). With `column_sums`, it receives
// [rows / rows_per_sum, last] float32: for each consecutive group of rows_per_sum rows
// (flattening all leading dimensions), the sum over those rows of the float32 probabilities
// (before rounding). Throws kInternal when the rows do not split into such groups.
void softmax_rows_inplace(at::Tensor& scores, at::Tensor* column_sums = nullptr,
                          int64_t rows_per_sum = 1);

}  // namespace clipmind::models
