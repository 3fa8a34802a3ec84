// Frames for previews (the GUI timeline's hover thumbnails, index thumbnails): RGB frames of a
// video at given times, fitted into a box with the aspect ratio kept, and JPEG bytes of them.
// A thin wrapper over decode::FrameSampler (keyframe-near "fast" mode by default: previews need
// speed more than the exact frame). Failures are StageErrors naming the file and the stage, as the
// CLI prints them ("clip.mp4: decode: ..."; the JPEG encoder's "thumbnails"); Cancelled.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "clipmind/progress.h"
#include "decode/frame.h"
#include "decode/media_index.h"

namespace clipmind::pipeline {

struct ThumbnailOptions {
  int max_width = 192;
  int max_height = 108;
  bool exact = false;  // true: the frame nearest each time (slower), else a nearby keyframe
  // Shared with other probes and samplers of the file (decode/media_index.h); may be null.
  std::shared_ptr<decode::MediaIndexCache> index_cache;
};

// One frame per time that could be decoded, in the order of `times` (which must ascend).
std::vector<decode::Frame> thumbnail_frames(const std::filesystem::path& video,
                                            const std::vector<double>& times,
                                            const ThumbnailOptions& options = {},
                                            const CancelToken& cancel = {});

// JPEG bytes of the frame nearest `time` (empty when none could be decoded).
std::vector<uint8_t> thumbnail_jpeg(const std::filesystem::path& video, double time,
                                    const ThumbnailOptions& options = {}, int quality = 80);

}  // namespace clipmind::pipeline
