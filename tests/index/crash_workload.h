// The workload of the kill -9 test, shared by the driver that is killed and the test that
// checks what survived: video i has 20 + i % 7 segments with deterministic content.
#pragma once

#include <cmath>
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
    for (int d = 0; d < kDim; ++d)
      s.embedding[d] = float(std::sin(i * 1.7 + j * 0.31 + d * 0.9) + 0.01 * d);
    s.caption = "crash video " + std::to_string(i) + " part " + std::to_string(j);
    // Large enough that a commit takes a while, so kills land inside transactions too.
    s.thumbnail_jpeg.assign(16384, static_cast<uint8_t>(i * 31 + j));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace clipmind::index::crash
