#include "tests/models/support/golden_fixture.h"

#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "models/npy.h"
#include "models/npy_tensor.h"
#include "models/vision/siglip_vision.h"
#include "models/vision/video_encoder.h"
#include "models/weights/checkpoint.h"
#include "models/weights/safetensors.h"

namespace clipmind::test {

namespace fs = std::filesystem;

fs::path vlm_golden_dir(const std::string& model) {
  return fs::path(CLIPMIND_TEST_DATA_DIR) / "vlm-golden" / model;
}

at::Tensor naive_mean_attention(const fs::path& dir, const models::SiglipVisionConfig& config,
                                const at::Tensor& pixels, int64_t layer) {
  using models::Checkpoint;
  const Checkpoint ck = Checkpoint::open(dir, models::llava_onevision_rewrites());
  const std::string p = "vision_tower.vision_model.";
  const models::SiglipVisionTower tower(ck, p, config, {});  // float32
  models::VisionRequest request;
  request.layers = {layer};
  const at::Tensor x = tower.forward(pixels, request).features;  // [F, N, D]
  const std::string l = p + "encoder.layers." + std::to_string(layer) + ".";
  const at::Tensor h = at::layer_norm(x, {config.hidden_size}, ck.load(l + "layer_norm1.weight"),
                                      ck.load(l + "layer_norm1.bias"), config.layer_norm_eps);
  const at::Tensor q =
      at::linear(h, ck.load(l + "self_attn.q_proj.weight"), ck.load(l + "self_attn.q_proj.bias"));
  const at::Tensor k =
      at::linear(h, ck.load(l + "self_attn.k_proj.weight"), ck.load(l + "self_attn.k_proj.bias"));
  const int64_t heads = config.num_heads;
  const int64_t hd = config.head_dim();
  at::Tensor expected = at::zeros({x.size(0), x.size(1)});
  for (int64_t head = 0; head < heads; ++head) {
    const at::Tensor qh = q.slice(2, head * hd, (head + 1) * hd);
    const at::Tensor kh = k.slice(2, head * hd, (head + 1) * hd);
    const at::Tensor probs =
        at::softmax(at::matmul(qh, kh.transpose(1, 2)) / std::sqrt(static_cast<double>(hd)), -1);
    expected += probs.mean(1) / static_cast<double>(heads);  // mean over queries
  }
  return expected;
}

at::Tensor read_golden_tensor(const fs::path& dir, const std::string& name) {
  return models::npy_to_tensor(models::read_npy(dir / (name + ".npy")));
}

std::vector<int64_t> read_golden_ids(const fs::path& dir, const std::string& name) {
  const at::Tensor t = read_golden_tensor(dir, name).to(at::kLong).contiguous();
  return {t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()};
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e9;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

void write_checkpoint_copy(const fs::path& from, const fs::path& to,
                           const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                           std::initializer_list<const char*> files) {
  models::write_safetensors(to / "model.safetensors", tensors);
  for (const char* f : files)
    fs::copy_file(from / f, to / f);
}

}  // namespace clipmind::test
