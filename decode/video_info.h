// probe(): what a video file contains, read from its container and stream headers.
//
// probe() opens the file, reads the headers (FFmpeg's avformat_find_stream_info, which may
// decode a few packets) and closes it; it is fast and does not decode the whole stream.
// keyframe_times() lists where the decoder can start: from the container's index when it
// has one (mp4/mov sample tables, Matroska cues, AVI idx1), else by reading every packet
// (no decoding). Both throw clipmind::Error naming the file:
//   kNotFound (no such file), kInvalidInput (a directory, empty file, not a video, no video
//   stream, damaged headers), kUnsupported (no decoder for the codec), kIo (unreadable).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "clipmind/progress.h"

namespace clipmind::decode {

struct Rational {
  int num = 0;
  int den = 1;
  double value() const { return den != 0 ? static_cast<double>(num) / den : 0.0; }
  bool operator==(const Rational&) const = default;
};

struct VideoInfo {
  std::filesystem::path path;
  std::string container;    // short name: "mp4", "mov", "mkv", "webm", "avi", ...
  std::string format_name;  // FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  // Times count from the file's start, where a player's clock starts: the earliest start of
  // its video and audio streams (an MPEG-TS whose clock starts at 1.4 s, or an mp4 written
  // with a 100 s offset, still starts at 0). `start_time` is when the video's first frame is
  // shown: 0 for almost every file; later when the audio starts first. `duration` is where the
  // video ends on that clock (its first frame's time plus its length); 0 when unknown (a file
  // stating no duration is read to its end to find it).
  double start_time = 0.0;
  double duration = 0.0;
  // A file cut short (a download or copy that stopped) whose container index (mp4/mov sample
  // tables, AVI idx1) lists frames past the end of the file: what the header promised, while
  // `duration` is where the stored video data ends. 0 when the data is all there or the
  // container has no such index (then decoding finds the end; FrameSampler warns).
  double header_duration = 0.0;
  std::string codec;  // FFmpeg codec name of the video stream: "h264", "hevc", "vp9", ...
  std::string codec_long_name;
  std::string profile;       // e.g. "High"; "" when unknown
  std::string pixel_format;  // e.g. "yuv420p"
  int width = 0;             // coded (stored) size in pixels
  int height = 0;
  int rotation = 0;  // degrees clockwise the stored picture is turned for display: 0/90/180/270
  Rational sample_aspect_ratio{1, 1};  // pixel shape; 1:1 when unknown
  // Size of a frame as shown: non-square pixels stretched (never shrunk), then rotated. This
  // is the size FrameSampler returns when no size is requested.
  int display_width = 0;
  int display_height = 0;
  Rational avg_frame_rate;         // average frames per second; 0/1 when unknown
  int64_t frame_count = 0;         // video frames; exact when frame_count_exact, else an estimate
  bool frame_count_exact = false;  // true when the container states the count (mp4/mov, avi)
  int64_t bit_rate = 0;            // whole file, bits per second; 0 when unknown
  int64_t video_bit_rate = 0;      // video stream alone; 0 when unknown
  bool has_b_frames = false;       // frames are stored out of presentation order
  // How the stream says its pictures are scanned: "progressive", or interlaced with two fields
  // per picture: "tt" (top field coded and shown first), "bb" (bottom, bottom), "tb" (top
  // coded first, bottom shown first), "bt"; "" when the stream does not say. Each frame's own
  // flag decides whether it is deinterlaced (SamplerOptions::deinterlace).
  std::string field_order;
  bool interlaced() const {
    return field_order == "tt" || field_order == "bb" || field_order == "tb" || field_order == "bt";
  }
  bool has_audio = false;
  std::string audio_codec;  // "" without audio

  double frame_rate() const { return avg_frame_rate.value(); }
};

class MediaIndexCache;  // decode/media_index.h

// "top field first", "bottom field first", ... for a VideoInfo::field_order; "progressive" or
// "unknown" otherwise.
const char* describe_field_order(const std::string& field_order);

// Reads the headers of `path`. Throws clipmind::Error (see above). A file that states no
// duration is read to its end, once per `index_cache` when one is given.
VideoInfo probe(const std::filesystem::path& path, MediaIndexCache* index_cache = nullptr);

// Whether `path` reads as a URL ("https://host/v.mp4", "rtsp://cam/stream"): clipmind opens
// local files only (it seeks, and hashes the whole file for its token cache), so a URL gets a
// message saying so instead of "no such file".
bool looks_like_url(std::string_view path);

// Presentation times (seconds from the stream start, ascending) of the keyframes of the video
// stream. Index-based times are accurate to a frame or two (some containers index decode
// times); decoding reports exact times. Long scans honour `cancel` and report `progress`.
std::vector<double> keyframe_times(const std::filesystem::path& path,
                                   const CancelToken& cancel = {},
                                   const ProgressCallback& progress = {},
                                   MediaIndexCache* index_cache = nullptr);

}  // namespace clipmind::decode
