// An opened video file: the demuxer, the chosen video stream, and time conversion.
// Private to decode/. Opening validates the path and turns every failure into a
// clipmind::Error that names the file and the problem.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "clipmind/progress.h"
#include "decode/internal/ffmpeg_log.h"
#include "decode/internal/ffmpeg_ptr.h"
#include "decode/video_info.h"

namespace clipmind::decode::internal {

struct CodecParametersDeleter {
  void operator()(AVCodecParameters* p) const { avcodec_parameters_free(&p); }
};
using CodecParametersPtr = std::unique_ptr<AVCodecParameters, CodecParametersDeleter>;

// A keyframe's presentation time (seconds, and in the stream's time base) and the byte position
// of its packet in the file.
struct KeyframePosition {
  double time = 0.0;
  int64_t pos = -1;  // where reading finds this keyframe first (its packet, or one before it)
  int64_t pts = 0;
  int64_t dts = AV_NOPTS_VALUE;
  // Keyframes read from `pos` before this one (several small GOPs in one PES packet): after a
  // seek to `pos`, the keyframe packet to take is the (skip + 1)-th.
  int32_t skip = 0;
};

// What every decoder of one file shares, taken once from the fully probed file so that
// worker decoders can open the file cheaply (without avformat_find_stream_info).
struct StreamFacts {
  int stream_index = -1;
  AVRational time_base{1, 1};
  // Stream time of the file's start, time 0: the earliest start of its video and audio
  // streams, where a player's clock starts. Usually the first frame's own time.
  int64_t origin_pts = 0;
  int64_t start_pts = 0;  // stream time of the first frame (at or after origin_pts)
  CodecParametersPtr codecpar;
  double frame_duration = 0.04;  // seconds, from the average frame rate (a guess for gaps)
  bool reorders = false;         // frames are stored out of presentation order (B-frames)
  // MPEG-TS and MPEG-PS: FFmpeg's timestamp seek is a search by time that lands anywhere in
  // a GOP, and their demuxers file the packets it looks at as keyframes. Their keyframes are
  // read from the packets instead, and decoders seek to a keyframe's byte position.
  bool seek_by_position = false;
  std::vector<KeyframePosition> keyframe_positions;  // ascending time; for seek_by_position
};

inline double to_seconds(int64_t pts, const StreamFacts& facts) {
  return static_cast<double>(pts - facts.origin_pts) * av_q2d(facts.time_base);
}
inline int64_t to_pts(double seconds, const StreamFacts& facts) {
  return facts.origin_pts + static_cast<int64_t>(std::floor(seconds / av_q2d(facts.time_base)));
}

// Checks that `path` can be a video file at all (exists, not a directory, pipe, socket or
// character device, not empty).
void check_input_path(const std::filesystem::path& path);

class MediaFile {
 public:
  // Opens the file; with `probe_streams`, also runs avformat_find_stream_info and picks the
  // video stream. Without it, `facts` from an earlier probe say which stream to use (formats
  // that find their streams only by reading packets, such as MPEG-PS, are probed anyway).
  MediaFile(const std::filesystem::path& path, WarningSink& sink, bool probe_streams,
            const StreamFacts* facts = nullptr);
  ~MediaFile();
  MediaFile(const MediaFile&) = delete;
  MediaFile& operator=(const MediaFile&) = delete;

  AVFormatContext* format() const { return fmt_.get(); }
  AVStream* stream() const { return stream_; }
  int stream_index() const { return stream_index_; }
  const std::filesystem::path& path() const { return path_; }
  WarningSink& sink() const { return *sink_; }
  std::string name() const { return path_.string(); }

  // Facts for worker decoders; only for a MediaFile opened with probe_streams.
  StreamFacts facts() const;

  // Whether the next av_read_frame() returns the first packet: nothing was read or sought
  // since opening (the packets avformat_find_stream_info() read come first). Some demuxers
  // cannot seek back there (a single image), so a full read starts without seeking when it can.
  bool at_start() const { return at_start_; }
  void moved() { at_start_ = false; }

 private:
  std::filesystem::path path_;
  WarningSink* sink_;
  std::unique_ptr<LogTarget> log_target_;  // outlives fmt_
  FormatContextPtr fmt_;
  AVStream* stream_ = nullptr;
  int stream_index_ = -1;
  bool at_start_ = true;
};

// What reading every packet of the video stream finds (demuxing only, no decoding).
struct PacketScan {
  double end = 0.0;                    // where the last frame ends, seconds from the file's start
  std::vector<double> keyframe_times;  // ascending, distinct
  // Ascending time, distinct; keyframes whose packet had no byte position are left out.
  std::vector<KeyframePosition> keyframes;
};

// Reads every packet of the file from its start, then goes back to the start.
PacketScan scan_packets(MediaFile& file, const StreamFacts& facts, const CancelToken& cancel,
                        const ProgressCallback& progress);

class FileScan;  // decode/internal/file_scan.h: scan_packets() at most once, shared by a cache

// The VideoInfo of an opened (probed) file. When neither the stream nor the container states
// a duration (a WebM recorded live, a single PNG), it takes the end from `scan` (every packet
// read), which leaves the file at its start.
VideoInfo describe(MediaFile& file, FileScan& scan);

// Keyframe presentation times in seconds (ascending, from the file's start). Uses the
// container index when it lists every frame (mp4/mov, AVI); a sparse index (Matroska cues,
// often one per cluster) is used as it is unless `need_all`, which then takes them from `scan`
// (every packet read, no decoding), as it does without an index and for MPEG-TS/PS (whose
// demuxer indexes are not keyframes). Reads packets either way, so call it on a file opened
// for this purpose only. `positions`, when given, receives the keyframes' byte positions where
// packets were read (empty otherwise).
std::vector<double> read_keyframe_times(MediaFile& file, const StreamFacts& facts, bool need_all,
                                        FileScan& scan, const CancelToken& cancel,
                                        std::vector<KeyframePosition>* positions = nullptr);

// Clockwise display rotation in degrees (0, 90, 180, 270) from the stream's display matrix.
int display_rotation(const AVStream* stream);

}  // namespace clipmind::decode::internal
