// A decoded video frame as the rest of clipmind sees it: H×W×3 uint8 RGB plus its time.
//
// Time is seconds from the start of the video stream (the stream's first pts is 0), taken
// from the frame's presentation timestamp, never from index × nominal frame rate. Display
// rotation and non-square pixels are already applied. A Frame owns its pixels; moving it is
// cheap, copying it copies the pixels. No FFmpeg types here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace clipmind::decode {

struct Frame {
  int width = 0;
  int height = 0;
  // height rows of width×3 bytes (R, G, B), top row first, no padding.
  std::vector<uint8_t> rgb;
  double time = 0.0;      // presentation time in seconds from the stream start
  bool keyframe = false;  // decoded from a keyframe (an intra picture the decoder can start at)

  size_t stride() const { return static_cast<size_t>(width) * 3; }
  const uint8_t* row(int y) const { return rgb.data() + static_cast<size_t>(y) * stride(); }
  uint8_t* row(int y) { return rgb.data() + static_cast<size_t>(y) * stride(); }
  bool empty() const { return width <= 0 || height <= 0; }
};

}  // namespace clipmind::decode
