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

LayerCheck cancel_check(const CancelToken& token) {
  return [token](int64_t) { token.throw_if_cancelled(); };
}

LayerCheck chain_checks(LayerCheck first, LayerCheck then) {
  if (!first) return then;
  if (!then) return first;
  return [first = std::move(first), then = std::move(then)](int64_t layer) {
    first(layer);
    then(layer);
  };
}

at::Tensor linear_rows(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  std::vector<int64_t> sizes = x.sizes().vec();
  const int64_t in = sizes.back();
  const at::Tensor rows = x.reshape({-1, in});
  at::Tensor y = bias.defined() ? at::addmm(bias, rows, weight.t()) : at::mm(rows, weight.t());
  sizes.back() = weight.size(0);
  return y.view(sizes);
}

namespace {

bool reduced_precision_cpu(const at::Tensor& t) {
  return t.is_cpu() && (t.scalar_type() == at::kBFloat16 || t.scalar_type() == at::kHalf);
}

at::Tensor to_float_if_defined(const at::Tensor& t) {
  return t.defined() ? t.to(at::kFloat) : t;
}

}  // namespace

void gelu_inplace(at::Tensor& x, GeluKind kind, at::Tensor* scratch) {
  const char* approximate = kind == GeluKind::kTanh ? "tanh" : "none";
  // Only the tanh form is slow in bfloat16 (the erf form is vectorised and as fast as float32).
  if (kind != GeluKind::kTanh || !reduced_precision_cpu(x)) {
    at::gelu_(x, approximate);
    return;
  }
  at::Tensor wide;
  if (scratch && scratch->defined() && scratch->sizes() == x.sizes() &&
      scratch->scalar_type() == at::kFloat) {
    wide = *scratch;
    wide.copy_(x);
  } else {
    wide = x.to(at::kFloat);
  }
  at::gelu_(wide, approximate);
  x.copy_(wide);
}

at::Tensor layer_norm_last(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           double eps) {
  const int64_t d = x.size(-1);
  if (!reduced_precision_cpu(x)) return at::layer_norm(x, {d}, weight, bias, eps);
  return at::layer_norm(x.to(at::kFloat), {d}, to_float_if_defined(weight),
                        to_float_if_defined(bias), eps)
      .to(x.scalar_type());
}

at::Tensor softmax_last_float(const at::Tensor& scores) {
  return at::_softmax(scores.scalar_type() == at::kFloat ? scores : scores.to(at::kFloat), -1,
                      false);
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

// Buffers reused by every layer of one forward call: after the first layer no large tensor is
// allocated, which matters on CPUs where fresh multi-megabyte allocations are page-faulted in.
struct SiglipEncoder::Workspace {
  at::Tensor x;          // [B, N, D] hidden states (the output of the last layer run)
  at::Tensor y;          // [B, N, D] after the attention block
  at::Tensor qkv;        // [B*N, 3D]
  at::Tensor ctx;        // [B*N, D]
  at::Tensor mlp;        // [B*N, M]
  at::Tensor mlp_float;  // [B*N, M] float32 GELU scratch (reduced-precision CPU only)
  at::Tensor scores;     // [heads per group, N, N] float32 (CPU float path)
  at::Tensor probs;      // [heads per group, N, N] float32
  // Reduced precision on CPU: [sequences per chunk * heads, N, N] in the model dtype for the
  // GEMMs, with `scores` / `probs` (same shape, float32) for the softmax. Preallocated because
  // fresh 34 MB buffers per sequence and layer are page-faulted in every time: measured on
  // so400m, 4 frames, one layer, bf16: converting and softmax took 1060 ms with fresh tensors
  // vs 90 ms with these buffers.
  at::Tensor scores_low;
  bool per_head = false;  // attention_cpu (float32 on CPU) rather than attention_batched
};

void SiglipEncoder::attention_cpu(Workspace& ws, int64_t batch, int64_t n,
                                  at::Tensor* attention) const {
  // Per sequence: the QK^T GEMMs of a group of heads (strided views of qkv; BLAS takes the row
  // stride) into one [heads, N, N] buffer, ONE softmax over the group, then the AV GEMMs. This
  // ATen build runs batched matmul far below its GEMM speed, so one GEMM per head is faster
  // than bmm. Grouping the softmax matters as much: GEMMs run on OpenBLAS's threads and softmax
  // on ATen's OpenMP pool, whose threads spin after each parallel region; alternating the two
  // 48 times per frame made the cores fight (measured on 2 cores: attention of 4 so400m frames
  // 222 ms per layer interleaved vs ~100 ms for the same ops run grouped; 3-4x when the machine
  // is loaded).
  const int64_t d = shape_.hidden_size;
  const int64_t heads = shape_.num_heads;
  const int64_t hd = d / heads;
  const int64_t group = ws.scores.size(0);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  for (int64_t b = 0; b < batch; ++b) {
    const at::Tensor rows = ws.qkv.slice(0, b * n, (b + 1) * n);
    const at::Tensor ctx = ws.ctx.slice(0, b * n, (b + 1) * n);
    at::Tensor received;
    if (attention) received = at::zeros({n}, rows.options());
    for (int64_t h0 = 0; h0 < heads; h0 += group) {
      const int64_t g = std::min(group, heads - h0);
      at::Tensor scores = ws.scores.narrow(0, 0, g);
      at::Tensor probs = ws.probs.narrow(0, 0, g);
      for (int64_t j = 0; j < g; ++j) {
        const int64_t h = h0 + j;
        at::Tensor s = scores[j];
        at::addmm_out(s, s, rows.narrow(1, h * hd, hd), rows.narrow(1, d + h * hd, hd).t(),
                      /*beta=*/0, /*alpha=*/scale);
      }
      at::_softmax_out(probs, scores, -1, false);
      if (attention) received.add_(probs.sum(at::IntArrayRef{0, 1}));
      for (int64_t j = 0; j < g; ++j) {
        const int64_t h = h0 + j;
        at::Tensor out = ctx.narrow(1, h * hd, hd);
        at::mm_out(out, probs[j], rows.narrow(1, 2 * d + h * hd, hd));
      }
    }
    // Mean over heads and queries: the attention each key token receives.
    if (attention) (*attention)[b].copy_(received.div_(static_cast<double>(heads * n)));
  }
}

void SiglipEncoder::attention_batched(Workspace& ws, int64_t batch, int64_t n,
                                      at::Tensor* attention) const {
  const int64_t d = shape_.hidden_size;
  const int64_t heads = shape_.num_heads;
  const int64_t hd = d / heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const at::Tensor qkv = ws.qkv.view({batch, n, 3, heads, hd});
  const at::Tensor context = ws.ctx.view({batch, n, d});
  const int64_t per_sequence = heads * n * n * 4;
  const bool buffers = ws.scores_low.defined();
  const int64_t chunk =
      buffers ? ws.scores_low.size(0) / heads
              : std::max<int64_t>(1, kAttentionScoreBudget / std::max<int64_t>(1, per_sequence));
  for (int64_t b0 = 0; b0 < batch; b0 += chunk) {
    const int64_t b1 = std::min(batch, b0 + chunk);
    const int64_t c = b1 - b0;
    // [c, n, 3, H, hd] -> three [c*H, n, hd] operands for batched GEMMs.
    const at::Tensor part = qkv.slice(0, b0, b1).permute({2, 0, 3, 1, 4});
    const at::Tensor q = part[0].reshape({c * heads, n, hd});
    const at::Tensor k = part[1].reshape({c * heads, n, hd});
    const at::Tensor v = part[2].reshape({c * heads, n, hd});
    // Scale and softmax in float32 (softmax_last_float says why not at::softmax(.., kFloat)).
    at::Tensor probs;
    at::Tensor weights;  // probs in the model dtype, for the AV GEMM
    if (buffers) {
      at::Tensor low = ws.scores_low.narrow(0, 0, c * heads);
      at::bmm_out(low, q, k.transpose(1, 2));
      at::Tensor scores = ws.scores.narrow(0, 0, c * heads);
      scores.copy_(low).mul_(scale);
      probs = ws.probs.narrow(0, 0, c * heads);
      at::_softmax_out(probs, scores, -1, false);
      weights = low;
      weights.copy_(probs);
    } else {
      at::Tensor scores = at::bmm(q, k.transpose(1, 2)).to(at::kFloat);
      scores.mul_(scale);
      probs = softmax_last_float(scores);
      weights = probs.scalar_type() == qkv.scalar_type() ? probs : probs.to(qkv.scalar_type());
    }
    if (attention) attention->slice(0, b0, b1).copy_(probs.view({c, heads * n, n}).mean(1));
    const at::Tensor out = at::bmm(weights, v);  // [c*H, n, hd]
    context.slice(0, b0, b1).copy_(out.view({c, heads, n, hd}).transpose(1, 2).reshape({c, n, d}));
  }
}

void SiglipEncoder::layer_forward(const Layer& layer, Workspace& ws, at::Tensor* attention) const {
  const int64_t batch = ws.x.size(0);
  const int64_t n = ws.x.size(1);
  const int64_t d = shape_.hidden_size;
  const double eps = shape_.layer_norm_eps;
  at::Tensor x_rows = ws.x.view({batch * n, d});
  at::Tensor y_rows = ws.y.view({batch * n, d});
  {
    const at::Tensor h = layer_norm_last(x_rows, layer.ln1_w, layer.ln1_b, eps);
    at::addmm_out(ws.qkv, layer.qkv_b, h, layer.qkv_w.t());
  }
  if (attention) *attention = at::empty({batch, n}, ws.x.options().dtype(at::kFloat));
  if (ws.per_head) {
    attention_cpu(ws, batch, n, attention);
  } else {
    attention_batched(ws, batch, n, attention);
  }
  at::addmm_out(y_rows, layer.out_b, ws.ctx, layer.out_w.t());
  ws.y.add_(ws.x);  // residual: y = x + Attn(LN1(x))
  {
    const at::Tensor h = layer_norm_last(y_rows, layer.ln2_w, layer.ln2_b, eps);
    at::addmm_out(ws.mlp, layer.fc1_b, h, layer.fc1_w.t());
  }
  gelu_inplace(ws.mlp, shape_.act, &ws.mlp_float);
  at::addmm_out(x_rows, layer.fc2_b, ws.mlp, layer.fc2_w.t());
  ws.x.add_(ws.y);  // residual: x = y + MLP(LN2(y))
}

at::Tensor SiglipEncoder::forward(at::Tensor x, int64_t end_layer, at::Tensor* attention_out,
                                  const std::function<void(int64_t, const at::Tensor&)>& record,
                                  const LayerCheck& check) const {
  if (end_layer < 0 || end_layer > loaded_layers()) {
    throw Error(ErrorKind::kInvalidArgument,
                "SigLIP encoder: layer " + std::to_string(end_layer) + " requested but only " +
                    std::to_string(loaded_layers()) + " layers are loaded");
  }
  if (attention_out && end_layer == 0) {
    throw Error(ErrorKind::kInvalidArgument,
                "SigLIP encoder: attention requested from the embeddings (feature layer 0)");
  }
  if (end_layer == 0) return x;
  const int64_t batch = x.size(0);
  const int64_t n = x.size(1);
  const int64_t d = shape_.hidden_size;
  Workspace ws;
  ws.x = x.contiguous().clone();  // the caller's tensor is never modified
  ws.y = at::empty_like(ws.x);
  ws.qkv = at::empty({batch * n, 3 * d}, x.options());
  ws.ctx = at::empty({batch * n, d}, x.options());
  ws.mlp = at::empty({batch * n, shape_.intermediate_size}, x.options());
  if (x.is_cpu() && (x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf)) {
    ws.mlp_float = at::empty({batch * n, shape_.intermediate_size}, x.options().dtype(at::kFloat));
    // Whole sequences per chunk while their float32 scores fit the budget (so400m: one).
    const int64_t per_sequence = shape_.num_heads * n * n * 4;
    const int64_t rows =
        std::clamp<int64_t>(kAttentionScoreBudget / per_sequence, 1, batch) * shape_.num_heads;
    ws.scores_low = at::empty({rows, n, n}, x.options());
    ws.scores = at::empty({rows, n, n}, x.options().dtype(at::kFloat));
    ws.probs = at::empty({rows, n, n}, x.options().dtype(at::kFloat));
  }
  if (x.is_cpu() && x.scalar_type() == at::kFloat) {
    // Heads per softmax group: all of them when their scores fit the budget (so400m: 16 x 729^2
    // floats = 34 MB), fewer for long sequences.
    const int64_t group =
        std::clamp<int64_t>(kAttentionScoreBudget / (n * n * 4), 1, shape_.num_heads);
    ws.scores = at::empty({group, n, n}, x.options());
    ws.probs = at::empty({group, n, n}, x.options());
    ws.per_head = true;
  }
  for (int64_t i = 0; i < end_layer; ++i) {
    if (check) check(i);
    const bool last = i + 1 == end_layer;
    layer_forward(layers_[static_cast<size_t>(i)], ws, last ? attention_out : nullptr);
    // The buffer is overwritten by the next layer: recorders get a copy.
    if (record) record(i + 1, last ? ws.x : ws.x.clone());
  }
  return ws.x;
}

}  // namespace clipmind::models
