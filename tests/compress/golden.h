// Helpers for the merge-golden fixtures (tests/data/merge-golden, see its README).
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "models/npy.h"
#include "models/npy_tensor.h"

namespace clipmind::compress::testing {

inline std::filesystem::path golden_dir() {
  return std::filesystem::path(CLIPMIND_TEST_DATA_DIR) / "merge-golden";
}

inline at::Tensor load_npy(const std::filesystem::path& path) {
  return models::npy_to_tensor(models::read_npy(path));
}

inline nlohmann::json load_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

inline const char* const kOuterCases[] = {"a_small", "b_medium", "c_realistic", "d_realistic",
                                          "worked"};
inline const char* const kInnerCases[] = {"inner_worked", "inner_random_0", "inner_random_1"};

}  // namespace clipmind::compress::testing
