// FrameSampler: the frames of a video nearest to a list of times, streamed in order.
//
// Give it ascending times in seconds (from the stream start, first frame = 0); for each time
// it yields one Sample: the decoded frame chosen by the mode, converted to RGB at the size
// asked for, with its true presentation time. Samples come back in request order, one at a
// time (next(), or a callback through sample_frames()); only a bounded number of converted
// frames is ever held, whatever the length of the video (see SamplerStats::max_buffered_frames
// and docs/decode.md).
//
// Which frame (documented with examples in docs/decode.md):
//   kAccurate  the decoded frame whose time is nearest to the requested time; a tie (equal
//              distance, within 1 ns) goes to the earlier frame; a time before the first frame
//              gets the first frame, a time after the last frame gets the last frame.
//   kFast      the keyframe nearest to the requested time when it lies within
//              `fast_tolerance` seconds, else the first frame at or after (time − tolerance),
//              decoded from the keyframe before it (the nearest frame when a gap in a
//              variable-frame-rate stream leaves no frame within the tolerance).
//   kKeyframes the nearest keyframe, whatever the distance (previews, scene scans).
// How: the sampler reads the keyframe positions and picks a strategy from the sampling density
// (sequential decode for dense times, parallel seek-and-decode of independent GOPs for sparse
// ones, keyframe seeks for kFast/kKeyframes); `strategy` can force one. Decoding forward to a
// time, the decoder leaves out the non-reference frames (most B-frames) that a frame already
// read proves unable to answer any pending time; the chosen frames are exactly those of
// decoding everything, ties included (skip_unneeded_frames, docs/decode.md).
//
// Threads: the sampler runs decoders on its own threads; next(), the sample callback, the
// progress callback and the warning callback all run on the caller's thread. A FrameSampler
// is used by one thread at a time. Destroying it early stops and joins its threads.
//
// Errors: the constructor throws what probe() throws (clipmind::Error naming the file) and
// kInvalidArgument for bad times or options. Damaged data does not throw: it gives warnings
// (via on_warning and warnings()) and, for times no frame could be decoded for, no sample;
// each Sample carries the index of the request it answers. Cancellation throws
// clipmind::Cancelled from next().
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clipmind/progress.h"
#include "decode/frame.h"
#include "decode/media_index.h"
#include "decode/video_info.h"

namespace clipmind::decode {

enum class SampleMode { kAccurate, kFast, kKeyframes };

enum class Strategy {
  kAuto,          // choose from the mode and the sampling density (the default)
  kSequential,    // one decoder reads straight through (FFmpeg frame threads), skipping gaps
  kSeek,          // per group of times: seek to the keyframe before it, decode forward; groups
                  // are independent GOPs decoded in parallel by `threads` decoders
  kKeyframeSeek,  // kFast/kKeyframes: seek to each chosen keyframe, decode only it
  kKeyframeScan,  // kKeyframes: read the whole file, decode keyframes only (chosen only when
                  // the keyframes are unknown; seeking is cheaper with an index)
};

enum class Resize {
  kExact,  // exactly width × height (aspect ratio not kept)
  kFit,    // largest size within width × height that keeps the display aspect ratio (no padding)
};

enum class HwAccel { kNone, kAuto, kVaapi, kCuda };

using WarningCallback = std::function<void(const std::string& warning)>;

struct SamplerOptions {
  // Output size. 0 × 0: the display size (VideoInfo::display_width × display_height). With
  // kExact and one side 0, that side follows the display aspect ratio.
  int width = 0;
  int height = 0;
  Resize resize = Resize::kExact;

  SampleMode mode = SampleMode::kAccurate;
  double fast_tolerance = 1.0;  // seconds, kFast only
  Strategy strategy = Strategy::kAuto;
  int threads = 0;                   // decoding threads in all; 0 = all cores
  HwAccel hwaccel = HwAccel::kNone;  // falls back to software (with a warning) when unavailable
  // Leave out a sample whose frame is the one the previous sample returned (same time), e.g.
  // keyframe previews at a rate higher than the keyframe rate.
  bool skip_duplicates = false;
  // false: decode and choose frames but leave Frame::rgb empty (width = height = 0); for
  // passes that need only the frames' times (frame lists, benchmarks of the decoder alone).
  bool convert = true;
  // kAccurate/kFast: let the decoder leave out non-reference frames (most B-frames) that are
  // proven unable to answer any pending request (docs/decode.md, "Skip frames no request
  // needs"). Exact: the samples are the same either way, only SamplerStats::frames_decoded
  // and the time drop. false decodes every frame up to each request: the reference the tests
  // and the benchmark compare against.
  bool skip_unneeded_frames = true;
  // Frames the decoder marks interlaced are deinterlaced (libavfilter's estdif, at the coded
  // size, before scaling); progressive frames are never touched. false returns interlaced
  // frames with both fields woven together, as decoded.
  bool deinterlace = true;
  // Shared with the other probes and samplers of the same files: a file with no index
  // (MPEG-TS/PS) or no stated duration is then read in full once, not once per sampler
  // (decode/media_index.h). Null: this sampler reads it itself.
  std::shared_ptr<MediaIndexCache> index_cache;

  CancelToken cancel;
  ProgressCallback progress;  // stage "decode": done = requests answered, total = requests
  WarningCallback on_warning;
};

struct Sample {
  size_t request = 0;           // index into the requested times
  double requested_time = 0.0;  // that time
  Frame frame;                  // frame.time is the frame's own presentation time
};

struct SamplerStats {
  int64_t packets_read = 0;
  int64_t frames_decoded = 0;    // frames the decoders returned (left-out frames are not)
  int64_t frames_converted = 0;  // frames converted to RGB (only returned frames are)
  int64_t seeks = 0;
  int64_t frames_deinterlaced = 0;  // converted frames that were interlaced and deinterlaced
  int64_t max_buffered_frames = 0;  // most converted frames held at once, waiting for next()
  int64_t buffer_limit = 0;         // the bound max_buffered_frames never exceeds
};

class FrameSampler {
 public:
  // Opens `path` and plans the work; decoding starts on the first next(). `times` must be
  // finite and ascending (equal neighbours allowed).
  FrameSampler(const std::filesystem::path& path, std::vector<double> times,
               SamplerOptions options = {});
  ~FrameSampler();
  FrameSampler(FrameSampler&&) noexcept;
  FrameSampler& operator=(FrameSampler&&) noexcept;

  // The next sample in request order, or std::nullopt when all requests are answered.
  std::optional<Sample> next();

  const VideoInfo& info() const;
  Strategy strategy() const;                         // the strategy in use (never kAuto)
  int decoders() const;                              // decoders running in parallel
  const std::vector<std::string>& warnings() const;  // all warnings delivered so far
  SamplerStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs a FrameSampler to the end, calling `on_sample` for each sample; returns the warnings.
std::vector<std::string> sample_frames(const std::filesystem::path& path, std::vector<double> times,
                                       SamplerOptions options,
                                       const std::function<void(Sample&&)>& on_sample);

// Hardware device types this FFmpeg build knows ("cuda", "vaapi", ...); being listed does not
// mean a device is present.
std::vector<std::string> hwaccel_types();

const char* to_string(Strategy strategy);
const char* to_string(SampleMode mode);

}  // namespace clipmind::decode
