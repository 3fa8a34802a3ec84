// Deinterlacer: one interlaced frame (two fields woven into one picture, taken 1/50 or 1/60 s
// apart) turned into a progressive picture at the same size, with libavfilter's estdif, before
// the frame is scaled. Private to decode/.
//
// Why estdif (edge slope tracing, spatial only) and not yadif or bwdif: those are temporal
// and need the frames before and after the one they filter, which the sampler does not have
// in order (it seeks, leaves out frames no request needs, and decodes GOPs in parallel). Given
// a single frame, yadif and bwdif take it as its own neighbours and leave the combing in.
// estdif keeps the frame's first field (by its field order) and interpolates the other field's
// lines along edges, from that frame alone, so the result does not depend on how it was reached.
#pragma once

#include <string>

#include "decode/internal/ffmpeg_ptr.h"

namespace clipmind::decode::internal {

// Whether the decoder marked the frame interlaced (MPEG-2 progressive_frame = 0, H.264/HEVC
// field or MBAFF/PAFF pictures, ...).
bool frame_is_interlaced(const AVFrame* frame);
// Whether the frame's top field comes first (it is the earlier one in time).
bool frame_top_field_first(const AVFrame* frame);

class Deinterlacer {
 public:
  // Deinterlaces `decoded` into `out` (same size; same pixel format, except that a semi-planar one,
  // NV12 or P010 from a hardware decoder, comes out in its planar layout: estdif takes only
  // planar YUV, and moving the chroma samples into their own planes changes no value). False
  // with `why` when libavfilter cannot (a pixel format estdif does not take, such as packed RGB).
  bool run(const AVFrame* decoded, AVFrame* out, std::string& why);

 private:
  SwsContextPtr to_planar_;  // semi-planar to planar, cached for the frame size and format
  FramePtr planar_ = make_frame();
};

}  // namespace clipmind::decode::internal
