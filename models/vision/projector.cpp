#include "models/vision/projector.h"

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "models/vision/siglip_encoder.h"

namespace clipmind::models {

std::vector<TensorSpec> llava_projector_specs(const std::string& prefix, int64_t in_features,
                                              int64_t out_features, bool bias) {
  std::vector<TensorSpec> specs = {
      {prefix + "linear_1.weight", {out_features, in_features}},
      {prefix + "linear_2.weight", {out_features, out_features}},
  };
  if (bias) {
    specs.push_back({prefix + "linear_1.bias", {out_features}});
    specs.push_back({prefix + "linear_2.bias", {out_features}});
  }
  return specs;
}

LlavaProjector::LlavaProjector(const Checkpoint& checkpoint, const std::string& prefix,
                               GeluKind act, bool bias, at::ScalarType dtype, at::Device device)
    : act_(act) {
  w1_ = checkpoint.load(prefix + "linear_1.weight", dtype, device);
  w2_ = checkpoint.load(prefix + "linear_2.weight", dtype, device);
  if (bias) {
    b1_ = checkpoint.load(prefix + "linear_1.bias", dtype, device);
    b2_ = checkpoint.load(prefix + "linear_2.bias", dtype, device);
  }
}

at::Tensor LlavaProjector::forward(const at::Tensor& x) const {
  if (x.size(-1) != in_features()) {
    throw Error(ErrorKind::kInvalidArgument,
                "projector: features have " + std::to_string(x.size(-1)) + " channels, expected " +
                    std::to_string(in_features()));
  }
  at::Tensor h = linear_rows(x, w1_, b1_);
  gelu_inplace(h, act_);
  return linear_rows(h, w2_, b2_);
}

at::Tensor pool_token_grid(const at::Tensor& tokens, int64_t grid_h, int64_t grid_w, int64_t out_h,
                           int64_t out_w) {
  const bool scores = tokens.dim() == 2;
  if ((tokens.dim() != 3 && !scores) || tokens.size(1) != grid_h * grid_w) {
    throw Error(ErrorKind::kInvalidArgument,
                "pooling: expected [F, " + std::to_string(grid_h * grid_w) + "(, C)] tokens, got " +
                    describe_shape(tokens.sizes().vec()));
  }
  if (out_h < 1 || out_w < 1 || out_h > grid_h || out_w > grid_w) {
    throw Error(ErrorKind::kInvalidArgument,
                "pooling: output grid " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                    " must be between 1x1 and the input grid " + std::to_string(grid_h) + "x" +
                    std::to_string(grid_w));
  }
  const int64_t frames = tokens.size(0);
  const int64_t channels = scores ? 1 : tokens.size(2);
  const at::ScalarType dtype = tokens.scalar_type();
  const at::ScalarType work = dtype == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor grid = tokens.to(work)
                              .reshape({frames, grid_h, grid_w, channels})
                              .permute({0, 3, 1, 2})
                              .contiguous();
  const at::Tensor resized = at::upsample_bilinear2d(grid, {out_h, out_w}, false);
  at::Tensor out = resized.permute({0, 2, 3, 1}).reshape({frames, out_h * out_w, channels});
  if (scores) out = out.squeeze(2);
  return out.to(dtype).contiguous();
}

}  // namespace clipmind::models
