// Test videos made at test time, whose frames say which frame they are.
//
// Every frame carries its index as a visible code: a 5 × 4 grid of black/white cells (16 bits
// of index + a 4-bit check), big enough to survive lossy compression and scaling. read_code()
// reads it back from a decoded RGB frame, so a test checks that the RIGHT frame was decoded.
// make_video() encodes with the `ffmpeg` CLI (raw RGB frames piped in) and caches the file
// under the test work directory, keyed by the spec, so reruns and parallel tests reuse it.
// Used by the decode tests and, later, the pipeline, e2e and ui tests. Throws
// std::runtime_error when ffmpeg fails (with its output).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace clipmind::decode {
struct Frame;
}

namespace clipmind::test {

inline constexpr int kCodeColumns = 5;
inline constexpr int kCodeRows = 4;
inline constexpr uint32_t kMaxCode = 0xFFFF;

// Draws the code of `index` over the whole width × height RGB image.
void draw_code(uint8_t* rgb, int width, int height, size_t stride, uint32_t index);
// Reads the code back; nullopt when the check bits do not match (not one of our frames, or
// the wrong orientation).
std::optional<uint32_t> read_code(const uint8_t* rgb, int width, int height, size_t stride);
std::optional<uint32_t> read_code(const decode::Frame& frame);

// A run of frames at one rate, for variable frame rate videos. 100/fps must be a whole number
// (times are multiples of 10 ms).
struct RateSegment {
  int frames = 0;
  int fps = 25;
};

struct VideoSpec {
  std::string name = "video";     // file name stem; the cache key adds a hash of the whole spec
  std::string container = "mp4";  // file extension: mp4, mov, mkv, webm, avi
  std::string codec = "libx264";  // ffmpeg encoder
  int width = 160;                // display size (what a viewer sees, after rotation)
  int height = 120;
  int frames = 50;
  int fps = 25;
  std::vector<RateSegment> vfr;  // when set, replaces frames/fps
  int gop = 12;                  // keyframe interval in frames (0: encoder default)
  int bframes = -1;              // -1: the encoder's default
  int rotation = 0;              // display rotation, clockwise: 0/90/180/270 (mp4/mov only)
  bool audio = false;            // add a sine tone
  std::string pix_fmt = "yuv420p";
  std::vector<std::string> extra;  // more ffmpeg output options
};

// MPEG-2 in MPEG-PS at a low rate (no rate set: a few hundred bytes per picture), 100 frames at
// 25 fps, a keyframe every 12, 2 B-frames: several pictures share one PES packet and later
// keyframes carry no timestamp of their own.
inline VideoSpec low_rate_mpeg_ps() {
  VideoSpec spec;
  spec.name = "low-rate-ps";
  spec.container = "mpg";
  spec.codec = "mpeg2video";
  spec.frames = 100;
  spec.fps = 25;
  spec.gop = 12;
  spec.bframes = 2;
  return spec;
}

// Test names show the spec's name, not its bytes.
inline void PrintTo(const VideoSpec& spec, std::ostream* out) {
  *out << spec.name;
}

// The directory for generated videos: $CLIPMIND_TEST_VIDEO_DIR if set, else
// CLIPMIND_TEST_WORK_DIR/videos.
std::filesystem::path video_dir();

// Makes (or reuses) the video; returns its path. `dir` defaults to video_dir().
std::filesystem::path make_video(const VideoSpec& spec, std::filesystem::path dir = {});

// Presentation time in seconds of every frame of `spec`, by construction.
std::vector<double> frame_times(const VideoSpec& spec);

// An audio-only file (a sine tone) with the given extension.
std::filesystem::path make_audio_only(const std::string& container = "mp4",
                                      std::filesystem::path dir = {});

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs a program (searched in PATH) with arguments, capturing stdout and stderr.
CommandResult run_command(const std::vector<std::string>& argv);

// Runs `ffmpeg -nostdin -v error -y -f lavfi -i SOURCE ARGS...`: a file made from a lavfi
// source (`args` end with the output path).
CommandResult ffmpeg_lavfi(const std::string& source, const std::vector<std::string>& args);

// Copies the video streams of `first` and `second` into `out`, in that order, with only the
// first marked default (ffmpeg marks both default when muxing two single-stream files).
CommandResult mux_two_video_streams(const std::filesystem::path& first,
                                    const std::filesystem::path& second,
                                    const std::filesystem::path& out);

// Decodes an image file (PNG, JPEG, ...) with FFmpeg's own decoders into packed RGB: an
// independent reference for what decode/ wrote or returned.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;
};
RgbImage read_image_rgb(const std::filesystem::path& path);

// Peak resident memory of this process in bytes (VmHWM), and a reset of that peak where the
// kernel allows it (returns false if not).
int64_t peak_rss_bytes();
bool reset_peak_rss();

}  // namespace clipmind::test
