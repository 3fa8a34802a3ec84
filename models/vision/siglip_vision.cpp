#include "models/vision/siglip_vision.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "clipmind/error.h"

namespace clipmind::models {
namespace {

SiglipEncoderShape encoder_shape(const SiglipVisionConfig& c) {
  return {c.hidden_size, c.intermediate_size, c.num_layers,
          c.num_heads,   c.layer_norm_eps,    c.hidden_act};
}

[[noreturn]] void bad_request(const std::string& what) {
  throw Error(ErrorKind::kInvalidArgument, "SigLIP vision tower: " + what);
}

}  // namespace

std::vector<TensorSpec> siglip_vision_specs(const std::string& prefix,
                                            const SiglipVisionConfig& c) {
  const int64_t d = c.hidden_size;
  const int64_t p = c.patch_size;
  std::vector<TensorSpec> specs = {
      {prefix + "embeddings.patch_embedding.weight", {d, c.num_channels, p, p}},
      {prefix + "embeddings.patch_embedding.bias", {d}},
      {prefix + "embeddings.position_embedding.weight", {c.num_positions(), d}},
  };
  for (auto& spec : siglip_encoder_specs(prefix + "encoder.", encoder_shape(c)))
    specs.push_back(std::move(spec));
  // LLaVA towers carry post_layernorm but never use it: tolerate its absence there.
  specs.push_back({prefix + "post_layernorm.weight", {d}, c.use_head});
  specs.push_back({prefix + "post_layernorm.bias", {d}, c.use_head});
  if (c.use_head) {
    const std::string h = prefix + "head.";
    specs.push_back({h + "probe", {1, 1, d}});
    specs.push_back({h + "attention.in_proj_weight", {3 * d, d}});
    specs.push_back({h + "attention.in_proj_bias", {3 * d}});
    specs.push_back({h + "attention.out_proj.weight", {d, d}});
    specs.push_back({h + "attention.out_proj.bias", {d}});
    specs.push_back({h + "layernorm.weight", {d}});
    specs.push_back({h + "layernorm.bias", {d}});
    specs.push_back({h + "mlp.fc1.weight", {c.intermediate_size, d}});
    specs.push_back({h + "mlp.fc1.bias", {c.intermediate_size}});
    specs.push_back({h + "mlp.fc2.weight", {d, c.intermediate_size}});
    specs.push_back({h + "mlp.fc2.bias", {d}});
  }
  return specs;
}

at::Tensor interpolate_position_embedding(const at::Tensor& table, int64_t grid_h, int64_t grid_w) {
  const int64_t n = table.size(0);
  const int64_t d = table.size(1);
  const auto g0 = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  if (g0 * g0 != n) bad_request("position table of " + std::to_string(n) + " rows is not square");
  if (grid_h <= 0 || grid_w <= 0) bad_request("empty patch grid");
  // [g0*g0, D] -> [1, D, g0, g0] -> bicubic -> [gh*gw, D]; computed in float32 at least, as
  // transformers interpolates the float32 parameter.
  const at::ScalarType dtype = table.scalar_type();
  const at::Tensor grid =
      table.to(at::kFloat).view({1, g0, g0, d}).permute({0, 3, 1, 2}).contiguous();
  const at::Tensor resized = at::upsample_bicubic2d(grid, {grid_h, grid_w}, false);
  return resized.permute({0, 2, 3, 1}).reshape({grid_h * grid_w, d}).to(dtype);
}

SiglipVisionTower::SiglipVisionTower(const Checkpoint& checkpoint, const std::string& prefix,
                                     const SiglipVisionConfig& config, const VisionTowerLoad& load)
    : config_(config), dtype_(load.dtype), device_(load.device) {
  const auto get = [&](const std::string& name) {
    return checkpoint.load(prefix + name, load.dtype, load.device);
  };
  const int64_t d = config.hidden_size;
  patch_w_ = get("embeddings.patch_embedding.weight").reshape({d, -1}).contiguous();
  patch_b_ = get("embeddings.patch_embedding.bias");
  positions_ = get("embeddings.position_embedding.weight");
  const int64_t layers = load.layers < 0 ? config.num_layers : load.layers;
  encoder_ = SiglipEncoder(checkpoint, prefix + "encoder.", encoder_shape(config), layers,
                           load.dtype, load.device);
  if (load.head || load.post_layernorm) {
    post_w_ = get("post_layernorm.weight");
    post_b_ = get("post_layernorm.bias");
  }
  if (load.head) {
    const std::string h = "head.";
    probe_ = get(h + "probe").reshape({1, d});
    const at::Tensor in_w = get(h + "attention.in_proj_weight");
    const at::Tensor in_b = get(h + "attention.in_proj_bias");
    // in_proj rows are q, k, v in that order (nn.MultiheadAttention's packing).
    head_q_w_ = in_w.slice(0, 0, d).contiguous();
    head_q_b_ = in_b.slice(0, 0, d).contiguous();
    head_kv_w_ = in_w.slice(0, d, 3 * d).contiguous();
    head_kv_b_ = in_b.slice(0, d, 3 * d).contiguous();
    head_out_w_ = get(h + "attention.out_proj.weight");
    head_out_b_ = get(h + "attention.out_proj.bias");
    head_ln_w_ = get(h + "layernorm.weight");
    head_ln_b_ = get(h + "layernorm.bias");
    head_fc1_w_ = get(h + "mlp.fc1.weight");
    head_fc1_b_ = get(h + "mlp.fc1.bias");
    head_fc2_w_ = get(h + "mlp.fc2.weight");
    head_fc2_b_ = get(h + "mlp.fc2.bias");
  }
}

at::Tensor SiglipVisionTower::embed(const at::Tensor& pixel_values, int64_t* grid_h,
                                    int64_t* grid_w) const {
  if (pixel_values.dim() != 4 || pixel_values.size(1) != config_.num_channels) {
    bad_request("pixel values must be [B, 3, H, W], got " +
                describe_shape(pixel_values.sizes().vec()));
  }
  const int64_t p = config_.patch_size;
  const int64_t b = pixel_values.size(0);
  const int64_t gh = pixel_values.size(2) / p;
  const int64_t gw = pixel_values.size(3) / p;
  if (gh == 0 || gw == 0) {
    bad_request("image " + std::to_string(pixel_values.size(2)) + "x" +
                std::to_string(pixel_values.size(3)) + " is smaller than one " + std::to_string(p) +
                "-pixel patch");
  }
  const at::Tensor pixels = pixel_values.to(device_, dtype_);
  // Unfold whole patches into rows of (channel, dy, dx), the conv weight's layout, and run the
  // stride-p convolution as one GEMM. Patch index = row * gw + col.
  const at::Tensor patches = pixels.slice(2, 0, gh * p)
                                 .slice(3, 0, gw * p)
                                 .reshape({b, config_.num_channels, gh, p, gw, p})
                                 .permute({0, 2, 4, 1, 3, 5})
                                 .reshape({b * gh * gw, -1});
  at::Tensor x = at::addmm(patch_b_, patches, patch_w_.t()).view({b, gh * gw, -1});
  const int64_t g0 = config_.grid();
  if (gh == g0 && gw == g0) {
    x.add_(positions_);
  } else {
    x.add_(interpolate_position_embedding(positions_, gh, gw));
  }
  if (grid_h) *grid_h = gh;
  if (grid_w) *grid_w = gw;
  return x;
}

VisionOutput SiglipVisionTower::forward(const at::Tensor& pixel_values,
                                        const VisionRequest& request) const {
  if (request.layers.empty()) bad_request("no hidden-state layer requested");
  int64_t last = 0;
  for (const int64_t layer : request.layers) {
    if (layer < 0 || layer > config_.num_layers) {
      bad_request("hidden_states[" + std::to_string(layer) + "] does not exist (tower has " +
                  std::to_string(config_.num_layers) + " layers)");
    }
    last = std::max(last, layer);
  }
  if (last > encoder_.loaded_layers()) {
    bad_request("hidden_states[" + std::to_string(last) + "] needs layers that were not loaded");
  }
  if (request.post_layernorm && (request.layers.size() != 1 ||
                                 request.layers[0] != config_.num_layers || !post_w_.defined())) {
    bad_request("post_layernorm applies to last_hidden_state only (and needs it loaded)");
  }
  VisionOutput out;
  at::Tensor x = embed(pixel_values, &out.grid_h, &out.grid_w);
  std::vector<at::Tensor> picked(request.layers.size());
  const auto keep = [&](int64_t index, const at::Tensor& h) {
    for (size_t i = 0; i < request.layers.size(); ++i) {
      if (request.layers[i] == index) picked[i] = h;
    }
  };
  keep(0, x);
  x = encoder_.forward(x, last, request.attention ? &out.attention : nullptr,
                       request.layers.size() > 1
                           ? std::function<void(int64_t, const at::Tensor&)>(keep)
                           : std::function<void(int64_t, const at::Tensor&)>(),
                       request.check);
  if (request.layers.size() == 1) {
    out.features = x;
  } else {
    out.features = at::cat(picked, -1);
  }
  if (request.post_layernorm) {
    out.features = layer_norm_last(out.features, post_w_, post_b_, config_.layer_norm_eps);
  }
  return out;
}

at::Tensor SiglipVisionTower::head(const at::Tensor& hidden) const {
  if (!probe_.defined()) bad_request("the attention-pooling head was not loaded");
  const int64_t b = hidden.size(0);
  const int64_t n = hidden.size(1);
  const int64_t d = config_.hidden_size;
  const int64_t heads = config_.num_heads;
  const int64_t hd = d / heads;
  // One learned query attends over all tokens (nn.MultiheadAttention, batch_first).
  const at::Tensor q = linear_rows(probe_, head_q_w_, head_q_b_).view({heads, 1, hd});
  const at::Tensor kv = linear_rows(hidden, head_kv_w_, head_kv_b_).view({b, n, 2, heads, hd});
  const at::Tensor k = kv.select(2, 0).permute({0, 2, 3, 1});  // [B, H, hd, N]
  const at::Tensor v = kv.select(2, 1).permute({0, 2, 1, 3});  // [B, H, N, hd]
  at::Tensor scores = at::matmul(q.unsqueeze(0), k);           // [B, H, 1, N]
  scores.mul_(1.0 / std::sqrt(static_cast<double>(hd)));
  at::Tensor probs = softmax_last_float(scores).to(hidden.scalar_type());
  const at::Tensor context = at::matmul(probs, v).reshape({b, d});  // [B, H, 1, hd] -> [B, D]
  const at::Tensor a = linear_rows(context, head_out_w_, head_out_b_);
  at::Tensor m = layer_norm_last(a, head_ln_w_, head_ln_b_, config_.layer_norm_eps);
  m = linear_rows(m, head_fc1_w_, head_fc1_b_);
  gelu_inplace(m, config_.hidden_act);
  m = linear_rows(m, head_fc2_w_, head_fc2_b_);
  // Residual around the MLP only (methods.md §8).
  return m.add_(a);
}

at::Tensor SiglipVisionTower::pooled(const at::Tensor& pixel_values,
                                     const LayerCheck& check) const {
  VisionRequest request;
  request.check = check;
  request.layers = {config_.num_layers};
  request.post_layernorm = true;
  return head(forward(pixel_values, request).features);
}

}  // namespace clipmind::models
