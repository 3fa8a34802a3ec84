// Converts decoded AVFrames to clipmind Frames: RGB24 at the requested size, display
// rotation and pixel aspect applied, colours converted with the stream's matrix and range;
// frames the decoder marks interlaced are deinterlaced first (deinterlacer.h), at full size.
// Private to decode/. One converter per thread (it caches a SwsContext).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "decode/frame.h"
#include "decode/internal/deinterlacer.h"
#include "decode/internal/ffmpeg_ptr.h"
#include "decode/video_info.h"

namespace clipmind::decode::internal {

struct Geometry {
  int display_width = 0;  // after pixel aspect and rotation
  int display_height = 0;
  int out_width = 0;  // the Frame's size
  int out_height = 0;
  int scaled_width = 0;  // what swscale produces, before rotation
  int scaled_height = 0;
};

// Output geometry for a coded size. width/height/fit as in SamplerOptions.
Geometry plan_geometry(int coded_width, int coded_height, Rational sar, int rotation, int width,
                       int height, bool fit);

// Rotates a packed RGB24 image clockwise by 0/90/180/270 degrees.
void rotate_rgb(const uint8_t* src, int src_width, int src_height, int rotation, uint8_t* dst);

class FrameConverter {
 public:
  FrameConverter(int width, int height, bool fit, int rotation, Rational sar,
                 bool deinterlace = true);

  // Converts `src` (a software frame); throws clipmind::Error(kInternal) if swscale fails.
  // An interlaced frame that cannot be deinterlaced is converted as it is (see
  // deinterlace_failure()).
  Frame convert(const AVFrame* src, double time);

  int64_t deinterlaced() const { return deinterlaced_; }  // frames deinterlaced so far
  // Why the last interlaced frame could not be deinterlaced; "" when it was.
  const std::string& deinterlace_failure() const { return deinterlace_failure_; }

 private:
  int width_;
  int height_;
  bool fit_;
  int rotation_;
  Rational sar_;
  bool deinterlace_;
  Deinterlacer deinterlacer_;
  FramePtr progressive_ = make_frame();
  int64_t deinterlaced_ = 0;
  std::string deinterlace_failure_;
  SwsContext* sws_ = nullptr;  // owned; sws_getCachedContext replaces it when inputs change
  SwsContextPtr owner_;
  std::vector<uint8_t> scratch_;
};

}  // namespace clipmind::decode::internal
