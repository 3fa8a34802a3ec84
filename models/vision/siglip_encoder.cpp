#include "models/vision/siglip_encoder.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "clipmind/error.h"

namespace clipmind::models {
namespace {

// Bytes of attention scores (float32) materialised at once; sequences are processed in chunks
// that fit. One SigLIP-so400m frame needs 16 x 729 x 729 x 4 = 34 MB.
constexpr int64_t kAttentionScoreBudget = int64_t{64} << 20;

std::string layer_prefix(const std::string& prefix, int64_t i) {
  return prefix + "layers." + std::to_string(i) + ".";
}

}  // namespace

at::Tensor linear_rows(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  std::vector<int64_t> sizes = x.sizes().vec();
  const int64_t in = sizes.back();
  const at::Tensor rows = x.reshape({-1, in});
  at::Tensor y = bias.defined() ? at::addmm(bias, rows, weight.t()) : at::mm(rows, weight.t());
  sizes.back() = weight.size(0);
  return y.view(sizes);
}

void gelu_inplace(at::Tensor& x, GeluKind kind) {
  at::gelu_(x, kind == GeluKind::kTanh ? "tanh" : "none");
}

std::vector<TensorSpec> siglip_encoder_specs(const std::string& prefix,
                                             const SiglipEncoderShape& s) {
  std::vector<TensorSpec> specs;
  const int64_t d = s.hidden_size;
  const int64_t m = s.intermediate_size;
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const std::string p = layer_prefix(prefix, i);
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      specs.push_back({p + "self_attn." + proj + ".weight", {d, d}});
      specs.push_back({p + "self_attn." + proj + ".bias", {d}});
    }
    for (const char* norm : {"layer_norm1", "layer_norm2"}) {
      specs.push_back({p + norm + ".weight", {d}});
      specs.push_back({p + norm + ".bias", {d}});
    }
    specs.push_back({p + "mlp.fc1.weight", {m, d}});
    specs.push_back({p + "mlp.fc1.bias", {m}});
    specs.push_back({p + "mlp.fc2.weight", {d, m}});
    specs.push_back({p + "mlp.fc2.bias", {d}});
  }
  return specs;
}

SiglipEncoder::SiglipEncoder(const Checkpoint& checkpoint, const std::string& prefix,
                             const SiglipEncoderShape& shape, int64_t layers_to_load,
                             at::ScalarType dtype, at::Device device)
    : shape_(shape) {
  if (layers_to_load < 0 || layers_to_load > shape.num_layers) {
    throw Error(ErrorKind::kInternal, "SiglipEncoder: cannot load " +
                                          std::to_string(layers_to_load) + " of " +
                                          std::to_string(shape.num_layers) + " layers");
  }
  const auto load = [&](const std::string& name) { return checkpoint.load(name, dtype, device); };
  layers_.reserve(static_cast<size_t>(layers_to_load));
  for (int64_t i = 0; i < layers_to_load; ++i) {
    const std::string p = layer_prefix(prefix, i);
    const std::string a = p + "self_attn.";
    Layer layer;
    layer.ln1_w = load(p + "layer_norm1.weight");
    layer.ln1_b = load(p + "layer_norm1.bias");
    layer.qkv_w =
        at::cat({load(a + "q_proj.weight"), load(a + "k_proj.weight"), load(a + "v_proj.weight")},
                0)
            .contiguous();
    layer.qkv_b =
        at::cat({load(a + "q_proj.bias"), load(a + "k_proj.bias"), load(a + "v_proj.bias")}, 0);
    layer.out_w = load(a + "out_proj.weight");
    layer.out_b = load(a + "out_proj.bias");
    layer.ln2_w = load(p + "layer_norm2.weight");
    layer.ln2_b = load(p + "layer_norm2.bias");
    layer.fc1_w = load(p + "mlp.fc1.weight");
    layer.fc1_b = load(p + "mlp.fc1.bias");
    layer.fc2_w = load(p + "mlp.fc2.weight");
    layer.fc2_b = load(p + "mlp.fc2.bias");
    layers_.push_back(std::move(layer));
  }
}

at::Tensor SiglipEncoder::layer_forward(const Layer& layer, const at::Tensor& x,
                                        at::Tensor* attention) const {
  const int64_t batch = x.size(0);
  const int64_t n = x.size(1);
  const int64_t d = shape_.hidden_size;
  const int64_t heads = shape_.num_heads;
  const int64_t hd = d / heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const double eps = shape_.layer_norm_eps;

  at::Tensor qkv;
  {
    const at::Tensor h = at::layer_norm(x, {d}, layer.ln1_w, layer.ln1_b, eps);
    qkv = linear_rows(h, layer.qkv_w, layer.qkv_b).view({batch, n, 3, heads, hd});
  }
  at::Tensor context = at::empty({batch, n, d}, x.options());
  if (attention) *attention = at::empty({batch, n}, x.options().dtype(at::kFloat));
  const int64_t per_sequence = heads * n * n * 4;
  const int64_t chunk =
      std::max<int64_t>(1, kAttentionScoreBudget / std::max<int64_t>(1, per_sequence));
  for (int64_t b0 = 0; b0 < batch; b0 += chunk) {
    const int64_t b1 = std::min(batch, b0 + chunk);
    const int64_t c = b1 - b0;
    // [c, n, 3, H, hd] -> three [c*H, n, hd] operands for batched GEMMs.
    const at::Tensor part = qkv.slice(0, b0, b1).permute({2, 0, 3, 1, 4});
    const at::Tensor q = part[0].reshape({c * heads, n, hd});
    const at::Tensor k = part[1].reshape({c * heads, n, hd});
    const at::Tensor v = part[2].reshape({c * heads, n, hd});
    at::Tensor scores = at::bmm(q, k.transpose(1, 2));
    scores.mul_(scale);
    at::Tensor probs = at::softmax(scores, -1, at::kFloat);
    scores.reset();
    if (attention) {
      // Mean over heads and queries: the attention each key token receives.
      attention->slice(0, b0, b1).copy_(probs.view({c, heads * n, n}).mean(1));
    }
    if (probs.scalar_type() != x.scalar_type()) probs = probs.to(x.scalar_type());
    const at::Tensor out = at::bmm(probs, v);  // [c*H, n, hd]
    context.slice(0, b0, b1).copy_(out.view({c, heads, n, hd}).transpose(1, 2).reshape({c, n, d}));
  }
  qkv.reset();
  at::Tensor y = linear_rows(context, layer.out_w, layer.out_b);
  context.reset();
  y.add_(x);  // residual; y now holds x after attention
  at::Tensor h = at::layer_norm(y, {d}, layer.ln2_w, layer.ln2_b, eps);
  h = linear_rows(h, layer.fc1_w, layer.fc1_b);
  gelu_inplace(h, shape_.act);
  h = linear_rows(h, layer.fc2_w, layer.fc2_b);
  h.add_(y);
  return h;
}

at::Tensor SiglipEncoder::forward(
    at::Tensor x, int64_t end_layer, at::Tensor* attention_out,
    const std::function<void(int64_t, const at::Tensor&)>& record) const {
  if (end_layer < 0 || end_layer > loaded_layers()) {
    throw Error(ErrorKind::kInvalidArgument,
                "SigLIP encoder: layer " + std::to_string(end_layer) + " requested but only " +
                    std::to_string(loaded_layers()) + " layers are loaded");
  }
  if (attention_out && end_layer == 0) {
    throw Error(ErrorKind::kInvalidArgument,
                "SigLIP encoder: attention requested from the embeddings (feature layer 0)");
  }
  for (int64_t i = 0; i < end_layer; ++i) {
    const bool last = i + 1 == end_layer;
    x = layer_forward(layers_[static_cast<size_t>(i)], x, last ? attention_out : nullptr);
    if (record) record(i + 1, x);
  }
  return x;
}

}  // namespace clipmind::models
