#include "tests/models/support/golden_fixture.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "models/npy.h"
#include "models/npy_tensor.h"
#include "models/weights/safetensors.h"

namespace clipmind::test {

namespace fs = std::filesystem;

fs::path vlm_golden_dir(const std::string& model) {
  return fs::path(CLIPMIND_TEST_DATA_DIR) / "vlm-golden" / model;
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
