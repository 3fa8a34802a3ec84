// Scratch folders for generated test files, under CLIPMIND_TEST_WORK_DIR (the build tree, never
// the repository; clipmind_test() defines it). Header-only; any test target may include it.
#pragma once

#include <filesystem>

namespace clipmind::test {

// CLIPMIND_TEST_WORK_DIR/<relative>, created when missing.
inline std::filesystem::path work_dir(const std::filesystem::path& relative) {
  const auto dir = std::filesystem::path(CLIPMIND_TEST_WORK_DIR) / relative;
  std::filesystem::create_directories(dir);
  return dir;
}

// CLIPMIND_TEST_WORK_DIR/<relative>, empty: whatever an earlier run left there is removed.
inline std::filesystem::path fresh_work_dir(const std::filesystem::path& relative) {
  const auto dir = std::filesystem::path(CLIPMIND_TEST_WORK_DIR) / relative;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace clipmind::test
