// Helpers for the index tests: deterministic embeddings and segments, fresh temp folders,
// and an independent brute-force nearest-neighbour reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "index/store.h"

namespace clipmind::index::test {

inline std::vector<float> random_vector(uint64_t seed, int dim) {
  std::mt19937_64 gen(seed * 7919 + 17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(dim);
  for (auto& x : v)
    x = normal(gen);
  return v;
}

inline std::vector<float> unit(std::vector<float> v) {
  double s = 0;
  for (float x : v)
    s += double(x) * x;
  for (auto& x : v)
    x = float(x / std::sqrt(s));
  return v;
}

inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += double(a[i]) * b[i];
  return s;
}

// Segments of a synthetic video: `count` segments of 2 s, embeddings from (video, index).
inline std::vector<Segment> make_segments(int video, int count, int dim, bool captions = true,
                                          bool thumbs = false) {
  std::vector<Segment> out;
  for (int j = 0; j < count; ++j) {
    Segment s;
    s.t_begin = 2.0 * j;
    s.t_end = 2.0 * j + 2.0;
    s.embedding = random_vector(uint64_t(video) * 1000 + j, dim);
    if (captions) s.caption = "video " + std::to_string(video) + " segment " + std::to_string(j);
    if (thumbs) s.thumbnail_jpeg = std::vector<uint8_t>(64 + j, static_cast<uint8_t>(video + j));
    out.push_back(std::move(s));
  }
  return out;
}

inline FileStamp stamp_for(int video, int version = 0) {
  return FileStamp{"hash-" + std::to_string(video) + "-" + std::to_string(version),
                   1000 + video + 100 * version, 5000 + video + 100 * version};
}

inline std::string video_path(int video) {
  return "/archive/video" + std::to_string(video) + ".mp4";
}

// A folder for one test under the build tree's test-work directory, emptied first.
inline std::filesystem::path fresh_dir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = tag;
  if (info) name += std::string("-") + info->test_suite_name() + "-" + info->name();
  for (auto& c : name) {
    if (c == '/') c = '_';
  }
  auto dir = std::filesystem::path(CLIPMIND_TEST_WORK_DIR) / "index" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

struct RefHit {
  int64_t key;
  double similarity;
};

// Brute force over (key, vector) pairs, computed here independently of the index code.
inline std::vector<RefHit> brute_force(
    const std::vector<std::pair<int64_t, std::vector<float>>>& items,
    const std::vector<float>& query, size_t k) {
  const auto q = unit(query);
  std::vector<RefHit> all;
  for (const auto& [key, v] : items)
    all.push_back({key, dot(unit(v), q)});
  std::sort(all.begin(), all.end(), [](const RefHit& a, const RefHit& b) {
    return a.similarity != b.similarity ? a.similarity > b.similarity : a.key < b.key;
  });
  if (all.size() > k) all.resize(k);
  return all;
}

}  // namespace clipmind::index::test
