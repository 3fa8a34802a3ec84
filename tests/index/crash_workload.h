// The workload of the kill -9 test, shared by the driver that is killed and the test that
// checks what survived: video i has 20 + i % 7 segments with deterministic content.
#pragma once

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "index/store.h"

namespace clipmind::index::crash {

constexpr int kDim = 32;
constexpr int kVideos = 60;

inline std::string path(int i) {
  return "/crash/video" + std::to_string(i) + ".mp4";
}
inline FileStamp stamp(int i) {
  return {"sha-" + std::to_string(i), 10000 + i, 77 + i};
}
inline int segment_count(int i) {
  return 20 + i % 7;
}

inline std::vector<Segment> segments(int i) {
  std::vector<Segment> out;
  for (int j = 0; j < segment_count(i); ++j) {
    Segment s;
    s.t_begin = 3.0 * j;
    s.t_end = 3.0 * j + 3.0;
    s.embedding.resize(kDim);
    // Independent random directions (splitmix64-mixed seed), so no two segments look alike.
    uint64_t z = uint64_t(i) * 1000 + j + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    std::mt19937_64 gen(z ^ (z >> 31));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto& x : s.embedding)
      x = normal(gen);
    s.caption = "crash video " + std::to_string(i) + " part " + std::to_string(j);
    // Large enough that a commit takes a while, so kills land inside transactions too.
    s.thumbnail_jpeg.assign(16384, static_cast<uint8_t>(i * 31 + j));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace clipmind::index::crash
