// Shared specs and helpers of the decode tests.
#pragma once

#include <string>
#include <vector>

#include "tests/decode/test_videos.h"

#include "decode/frame_sampler.h"

namespace clipmind::test {

// One spec per codec/container pair the decoder must read. Small and short: fast to make.
inline std::vector<VideoSpec> codec_matrix() {
  std::vector<VideoSpec> specs;
  auto add = [&](std::string name, std::string container, std::string codec,
                 std::vector<std::string> extra = {}, std::string pix_fmt = "yuv420p") {
    VideoSpec s;
    s.name = std::move(name);
    s.container = std::move(container);
    s.codec = std::move(codec);
    s.extra = std::move(extra);
    s.pix_fmt = std::move(pix_fmt);
    s.frames = 60;
    s.gop = 12;
    specs.push_back(s);
  };
  add("h264-mp4", "mp4", "libx264", {"-preset", "veryfast"});
  add("h264-mkv", "mkv", "libx264", {"-preset", "veryfast"});
  add("h264-mov", "mov", "libx264", {"-preset", "veryfast"});
  add("hevc-mkv", "mkv", "libx265", {"-preset", "ultrafast"});
  add("hevc-mp4", "mp4", "libx265", {"-preset", "ultrafast", "-tag:v", "hvc1"});
  add("vp9-webm", "webm", "libvpx-vp9", {"-deadline", "realtime", "-cpu-used", "8"});
  add("av1-mp4", "mp4", "libsvtav1", {"-preset", "12"});
  add("av1-mkv", "mkv", "libsvtav1", {"-preset", "12"});
  add("mpeg4-avi", "avi", "mpeg4", {"-q:v", "3"});
  add("mjpeg-avi", "avi", "mjpeg", {"-q:v", "3"}, "yuvj420p");
  add("mjpeg-mov", "mov", "mjpeg", {"-q:v", "3"}, "yuvj420p");
  // MPEG-TS (its clock starts at 1.4 s) and MPEG-PS: no index, demuxers that find streams and
  // keyframes only by reading packets; B-frames in both. The MPEG-2 rate is a DVD's, so that
  // every picture starts its own PES packet and has a timestamp (docs/decode.md, limits).
  add("h264-ts", "ts", "libx264", {"-preset", "veryfast"});
  add("mpeg2-mpg", "mpg", "mpeg2video",
      {"-b:v", "8M", "-minrate", "8M", "-maxrate", "8M", "-bufsize", "2M", "-bf", "2"});
  return specs;
}

// The short container name probe() reports for a spec's file extension.
inline std::string expected_container(const std::string& extension) {
  if (extension == "ts") return "mpegts";
  if (extension == "mpg") return "mpeg";
  return extension;
}

inline std::string spec_label(const VideoSpec& s) {
  return s.name;
}

// Collects every sample of a sampler.
inline std::vector<decode::Sample> sample_all(const std::filesystem::path& path,
                                              std::vector<double> times,
                                              decode::SamplerOptions options = {},
                                              std::vector<std::string>* warnings = nullptr) {
  std::vector<decode::Sample> out;
  std::vector<std::string> w =
      decode::sample_frames(path, std::move(times), std::move(options),
                            [&](decode::Sample&& s) { out.push_back(std::move(s)); });
  if (warnings) *warnings = std::move(w);
  return out;
}

// The index of the frame nearest to t by the documented rule (ties to the earlier frame),
// computed independently from the spec's frame times.
inline size_t expected_nearest(const std::vector<double>& frame_times, double t) {
  size_t best = 0;
  for (size_t i = 1; i < frame_times.size(); ++i) {
    if (std::abs(frame_times[i] - t) < std::abs(frame_times[best] - t) - 1e-9) best = i;
  }
  return best;
}

}  // namespace clipmind::test
