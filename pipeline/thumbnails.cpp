#include "pipeline/thumbnails.h"

#include "decode/frame_sampler.h"
#include "decode/image_writer.h"
#include "pipeline/errors.h"
#include "pipeline/video_prep.h"

namespace clipmind::pipeline {

std::vector<decode::Frame> thumbnail_frames(const std::filesystem::path& video,
                                            const std::vector<double>& times,
                                            const ThumbnailOptions& options,
                                            const CancelToken& cancel) {
  decode::SamplerOptions so;
  so.width = options.max_width;
  so.height = options.max_height;
  so.resize = decode::Resize::kFit;
  so.mode = options.exact ? decode::SampleMode::kAccurate : decode::SampleMode::kFast;
  so.fast_tolerance = 1.0;
  so.cancel = cancel;
  so.index_cache = options.index_cache;
  std::vector<decode::Frame> out;
  for_each_sample(video, times, so,
                  [&](decode::Sample&& sample) { out.push_back(std::move(sample.frame)); });
  return out;
}

std::vector<uint8_t> thumbnail_jpeg(const std::filesystem::path& video, double time,
                                    const ThumbnailOptions& options, int quality) {
  const std::vector<decode::Frame> frames = thumbnail_frames(video, {time}, options);
  if (frames.empty()) return {};
  decode::ImageOptions jpeg;
  jpeg.jpeg_quality = quality;
  return in_stage("thumbnails", video.string(),
                  [&] { return decode::encode_image(frames.front(), jpeg); });
}

}  // namespace clipmind::pipeline
