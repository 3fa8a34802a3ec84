// Shared plumbing of the conformance tests against tests/data/vlm-golden (the reference outputs
// transformers computed for the tiny models there): where a fixture lives, reading its .npy
// tensors, the tolerance and the comparison, and writing a modified copy of a fixture's
// checkpoint under CLIPMIND_TEST_WORK_DIR. The reference values themselves always come from the
// fixture files, never from the code under test.
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/work_dir.h"
#include <ATen/core/Tensor.h>
#include <gtest/gtest.h>

#include "models/vision/vision_config.h"

namespace clipmind::test {

// Absolute tolerance the fixtures' READMEs promise for every stage.
inline constexpr double kGoldenAtol = 1e-4;

// tests/data/vlm-golden/<model>.
std::filesystem::path vlm_golden_dir(const std::string& model);

// <dir>/<name>.npy as a tensor; golden_ids: the same as a list of token ids.
at::Tensor read_golden_tensor(const std::filesystem::path& dir, const std::string& name);
std::vector<int64_t> read_golden_ids(const std::filesystem::path& dir, const std::string& name);

// Largest absolute difference (in double); a shape mismatch fails the test and returns 1e9.
double max_abs_diff(const at::Tensor& a, const at::Tensor& b);

// HoliTom's A recomputed naively in float32 from the fixture's unfused checkpoint weights: the
// attention probabilities of SigLIP layer `layer` (its input from a float32 tower stopped there),
// head by head, averaged over heads and queries. [frames, patches].
at::Tensor naive_mean_attention(const std::filesystem::path& dir,
                                const models::SiglipVisionConfig& config, const at::Tensor& pixels,
                                int64_t layer);

// Writes `tensors` as <to>/model.safetensors and copies `files` from the fixture folder `from`,
// so `to` loads like a user's download.
void write_checkpoint_copy(const std::filesystem::path& from, const std::filesystem::path& to,
                           const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                           std::initializer_list<const char*> files);

// Base of a GoogleTest suite whose tests share one model loaded from a fixture folder: the
// suite's SetUpTestSuite() calls load(dir); the model is freed when the suite ends.
template <typename Model>
class GoldenSuite : public ::testing::Test {
 protected:
  static void load(const std::filesystem::path& dir) {
    model_ = std::make_unique<Model>(Model::load(dir));
  }
  static void TearDownTestSuite() { model_.reset(); }
  static inline std::unique_ptr<Model> model_;
};

}  // namespace clipmind::test
