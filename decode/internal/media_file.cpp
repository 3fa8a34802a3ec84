#include "decode/internal/media_file.h"

extern "C" {
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
}

#include <algorithm>
#include <cctype>
#include <cmath>
#include <system_error>
#include <utility>

#include "clipmind/error.h"
#include "decode/internal/file_scan.h"

namespace clipmind::decode::internal {
namespace {

std::string lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    parts.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::string short_container_name(const std::string& format_name,
                                 const std::filesystem::path& path) {
  std::string ext = lower(path.extension().string());
  if (!ext.empty() && ext[0] == '.') ext.erase(0, 1);
  const std::vector<std::string> names = split(format_name, ',');
  if (std::find(names.begin(), names.end(), ext) != names.end()) return ext;
  if (format_name == "matroska,webm") return ext == "webm" ? "webm" : "mkv";
  if (names.size() > 1 && names[0] == "mov") return "mp4";
  return names.empty() ? format_name : names[0];
}

bool is_attached_picture(const AVStream* st) {
  return (st->disposition & AV_DISPOSITION_ATTACHED_PIC) != 0;
}

// Demuxers whose index lists only packets seen while searching by time, flagged as keyframes
// whatever they hold, and whose timestamp seek lands anywhere in a GOP.
bool seeks_by_position(const AVFormatContext* fmt) {
  const std::string name = fmt->iformat && fmt->iformat->name ? fmt->iformat->name : "";
  return name == "mpegts" || name == "mpeg";
}

// Stream time (in `st`'s time base) of the file's start: the earliest start of its video and
// audio streams, where players start their clock (ffprobe's format start_time ignoring
// subtitle and data streams). `st`'s own start when no other stream starts earlier.
int64_t origin_pts(const AVFormatContext* fmt, const AVStream* st) {
  if (st->start_time == AV_NOPTS_VALUE) return 0;
  int64_t origin = st->start_time;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVStream* other = fmt->streams[i];
    const AVMediaType type = other->codecpar->codec_type;
    const bool counts =
        type == AVMEDIA_TYPE_AUDIO || (type == AVMEDIA_TYPE_VIDEO && !is_attached_picture(other));
    if (!counts || other == st || other->start_time == AV_NOPTS_VALUE) continue;
    origin = std::min(origin, av_rescale_q(other->start_time, other->time_base, st->time_base));
  }
  return origin;
}

// avformat_find_stream_info() decodes the first frames of each stream to learn their
// parameters. Its decoders' complaints about a recording that starts inside a GOP ("non-existing
// PPS", "no frame!": pictures that need earlier ones) say nothing about the frames clipmind
// returns, since its own decoders start at a keyframe and report any damage they meet. They
// are kept out of the file's warnings; the last one explains a failure (`failure`).
int find_stream_info(AVFormatContext* fmt, std::string& failure) {
  WarningSink probe_log("");
  ScopedLogTarget route(&probe_log);
  const int ret = avformat_find_stream_info(fmt, nullptr);
  if (ret < 0) failure = probe_log.last_ffmpeg_error();
  return ret;
}

}  // namespace

void check_input_path(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    // "clip.mp4/x" (a file used as a folder) is a path that does not exist, not an I/O failure.
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
      throw Error(ErrorKind::kIo, path.string() + ": cannot access: " + ec.message());
    }
    if (looks_like_url(path.string())) {
      throw Error(ErrorKind::kNotFound,
                  path.string() +
                      ": is a URL; clipmind reads local video files only (download it first, "
                      "for example with curl -LO or yt-dlp)");
    }
    throw Error(ErrorKind::kNotFound, path.string() + ": no such file");
  }
  if (std::filesystem::is_directory(status)) {
    throw Error(ErrorKind::kInvalidInput, path.string() + ": is a directory, not a video file");
  }
  // Opening a FIFO blocks until something writes to it, where no cancel can reach; and the
  // sampler seeks, which a pipe cannot.
  if (std::filesystem::is_fifo(status) || std::filesystem::is_socket(status)) {
    throw Error(ErrorKind::kInvalidInput,
                path.string() +
                    ": is a pipe or socket, not a video file (save the stream to a file "
                    "first: clipmind needs to seek)");
  }
  // A terminal would block the open like a FIFO; /dev/zero and /dev/urandom never end.
  if (std::filesystem::is_character_file(status)) {
    throw Error(ErrorKind::kInvalidInput,
                path.string() +
                    ": is a character device (such as a terminal or /dev/zero), not "
                    "a video file");
  }
  if (std::filesystem::is_regular_file(status)) {
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec && size == 0) {
      throw Error(ErrorKind::kInvalidInput, path.string() + ": empty file (0 bytes), not a video");
    }
  }
}

MediaFile::MediaFile(const std::filesystem::path& path, WarningSink& sink, bool probe_streams,
                     const StreamFacts* facts)
    : path_(path), sink_(&sink), log_target_(std::make_unique<LogTarget>(&sink)) {
  install_log_router();
  ScopedLogTarget route(&sink);
  check_input_path(path);

  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) throw std::bad_alloc();
  raw->opaque = log_target_.get();
  int ret = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (ret < 0) {  // avformat_open_input frees the context on failure
    if (ret == AVERROR(EACCES) || ret == AVERROR(EPERM)) {
      throw Error(ErrorKind::kIo, name() + ": cannot open: " + av_error_text(ret));
    }
    if (ret == AVERROR(ENOENT)) throw Error(ErrorKind::kNotFound, name() + ": no such file");
    std::string detail = sink.last_ffmpeg_error();
    throw Error(ErrorKind::kInvalidInput, name() +
                                              ": not a readable video file: " + av_error_text(ret) +
                                              (detail.empty() ? "" : " (" + detail + ")"));
  }
  fmt_.reset(raw);

  if (!probe_streams) {
    const auto matches = [&] {
      return facts && facts->stream_index >= 0 &&
             facts->stream_index < static_cast<int>(fmt_->nb_streams) &&
             fmt_->streams[facts->stream_index]->codecpar->codec_id == facts->codecpar->codec_id;
    };
    // MPEG-PS announces no streams in a header: they appear as their packets are read, in the
    // same order for every reader of the file. A raw MPEG video stream (.m2v) opens as MPEG-1
    // and is found to be MPEG-2 only by its parser.
    if ((fmt_->ctx_flags & AVFMTCTX_NOHEADER) || !matches()) {
      std::string failure;
      ret = find_stream_info(fmt_.get(), failure);
      if (ret < 0) {
        throw Error(ErrorKind::kInvalidInput,
                    name() + ": cannot read the stream headers: " + av_error_text(ret));
      }
    }
    if (!matches()) {
      throw Error(ErrorKind::kInternal, name() + ": stream facts do not match the file");
    }
    stream_index_ = facts->stream_index;
    stream_ = fmt_->streams[stream_index_];
  } else {
    std::string failure;
    ret = find_stream_info(fmt_.get(), failure);
    if (ret < 0) {
      std::string detail = sink.last_ffmpeg_error();
      if (detail.empty()) detail = failure;
      throw Error(ErrorKind::kInvalidInput,
                  name() + ": cannot read the stream headers: " + av_error_text(ret) +
                      (detail.empty() ? "" : " (" + detail + ")"));
    }
    // The video stream a player shows: not a cover picture; one marked default before one
    // that is not; then the largest picture; then the first.
    int best = -1;
    std::pair<bool, int64_t> best_rank{false, -1};
    bool has_audio = false;
    for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
      const AVStream* st = fmt_->streams[i];
      if (st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) has_audio = true;
      if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO || is_attached_picture(st)) continue;
      const std::pair<bool, int64_t> rank{
          (st->disposition & AV_DISPOSITION_DEFAULT) != 0,
          static_cast<int64_t>(st->codecpar->width) * st->codecpar->height};
      if (best < 0 || rank > best_rank) {
        best = static_cast<int>(i);
        best_rank = rank;
      }
    }
    if (best < 0) {
      throw Error(ErrorKind::kInvalidInput,
                  name() + (has_audio ? ": no video stream (the file holds only audio)"
                                      : ": no video stream"));
    }
    stream_index_ = best;
    stream_ = fmt_->streams[best];
    if (!avcodec_find_decoder(stream_->codecpar->codec_id)) {
      throw Error(ErrorKind::kUnsupported, name() + ": no decoder for video codec '" +
                                               avcodec_get_name(stream_->codecpar->codec_id) +
                                               "' in this FFmpeg build");
    }
    if (stream_->codecpar->width <= 0 || stream_->codecpar->height <= 0) {
      throw Error(ErrorKind::kInvalidInput, name() +
                                                ": the video stream has no picture size "
                                                "(damaged headers)");
    }
  }
  // Other streams are never read: their packets would only be thrown away.
  for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
    if (static_cast<int>(i) != stream_index_) fmt_->streams[i]->discard = AVDISCARD_ALL;
  }
}

MediaFile::~MediaFile() {
  ScopedLogTarget route(sink_);
  fmt_.reset();
}

StreamFacts MediaFile::facts() const {
  StreamFacts f;
  f.stream_index = stream_index_;
  f.time_base = stream_->time_base;
  f.start_pts = stream_->start_time != AV_NOPTS_VALUE ? stream_->start_time : 0;
  f.origin_pts = origin_pts(fmt_.get(), stream_);
  f.seek_by_position = seeks_by_position(fmt_.get());
  f.codecpar.reset(avcodec_parameters_alloc());
  if (!f.codecpar || avcodec_parameters_copy(f.codecpar.get(), stream_->codecpar) < 0) {
    throw std::bad_alloc();
  }
  AVRational rate = stream_->avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = stream_->r_frame_rate;
  if (rate.num > 0 && rate.den > 0) f.frame_duration = av_q2d(av_inv_q(rate));
  f.reorders = stream_->codecpar->video_delay > 0;
  return f;
}

int display_rotation(const AVStream* stream) {
#if LIBAVFORMAT_VERSION_MAJOR >= 61 || \
    (LIBAVFORMAT_VERSION_MAJOR == 60 && LIBAVFORMAT_VERSION_MINOR >= 15)
  const AVPacketSideData* sd =
      av_packet_side_data_get(stream->codecpar->coded_side_data,
                              stream->codecpar->nb_coded_side_data, AV_PKT_DATA_DISPLAYMATRIX);
  const uint8_t* matrix = sd && sd->size >= 9 * 4 ? sd->data : nullptr;
#else
  size_t size = 0;
  const uint8_t* matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (size < 9 * 4) matrix = nullptr;
#endif
  if (!matrix) return 0;
  const double ccw = av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (std::isnan(ccw)) return 0;
  // av_display_rotation_get() gives the counter-clockwise angle; we report the clockwise turn.
  long cw = std::lround(-ccw / 90.0) * 90;
  cw %= 360;
  if (cw < 0) cw += 360;
  return static_cast<int>(cw);
}

namespace {

// Seconds from the stream start to the first video frame whose bytes the container's index
// places past the end of the file; -1 when every indexed frame is inside it or there is no
// index with positions. Index order is decode order, so B-frame files may count a frame or two
// beyond the last one shown; the sampler's nearest-frame matching absorbs that.
double indexed_data_end(const MediaFile& file, int64_t origin) {
  AVFormatContext* fmt = file.format();
  AVStream* st = file.stream();
  if (!fmt->pb || seeks_by_position(fmt)) return -1;
  const int64_t file_size = avio_size(fmt->pb);
  const int entries = avformat_index_get_entries_count(st);
  if (file_size <= 0 || entries <= 0) return -1;
  const int64_t start = origin;
  for (int i = 0; i < entries; ++i) {
    const AVIndexEntry* e = avformat_index_get_entry(st, i);
    if (!e || e->pos < 0 || e->size <= 0 || e->timestamp == AV_NOPTS_VALUE) continue;
    if (e->pos + e->size > file_size) {
      return std::max(0.0, static_cast<double>(e->timestamp - start) * av_q2d(st->time_base));
    }
  }
  return -1;
}

// Where the last frame of an MPEG-TS/PS video stream ends, from the packets in the file's last
// bytes (seconds from the file's start; -1 when unknown). FFmpeg estimates these durations from
// the last PES timestamp it finds there (AVFMT_DURATION_FROM_PTS), and pictures that share
// that PES packet or follow it without one of their own (low-rate MPEG-1/2) are left out: a
// 1-second MPEG-1 stream at 96x64 probes as 0.64 s. This reads the tail the same way but counts
// every picture: its decode time plus its duration, and an I/P picture of an MPEG-1/2 stream
// with B-frames as shown when the next I/P picture is decoded (scan_packets()'s rule). Packets
// before the first one with a PES timestamp of its own are not counted: after a byte seek
// their times are guesses. The window grows (1, 8, 64 MiB) until it holds such a packet.
// Leaves the file at its start.
double tail_end(MediaFile& file, const StreamFacts& facts) {
  constexpr int64_t kMaxTailWindow = int64_t{64} << 20;
  AVFormatContext* fmt = file.format();
  if (!fmt->pb) return -1;
  const int64_t size = avio_size(fmt->pb);
  if (size <= 0) return -1;
  ScopedLogTarget route(&file.sink());
  const AVCodecID codec = facts.codecpar->codec_id;
  const bool anchor_rule =
      facts.reorders && (codec == AV_CODEC_ID_MPEG1VIDEO || codec == AV_CODEC_ID_MPEG2VIDEO);
  const int64_t nominal =
      std::max<int64_t>(1, std::llround(facts.frame_duration / av_q2d(facts.time_base)));
  PacketPtr packet = make_packet();
  file.moved();
  int64_t end = AV_NOPTS_VALUE;
  for (int64_t window = int64_t{1} << 20;; window *= 8) {
    const int64_t from = std::max<int64_t>(0, size - window);
    if (av_seek_frame(fmt, file.stream_index(), from, AVSEEK_FLAG_BYTE) < 0) break;
    bool synced = from == 0;
    int64_t last_dts = AV_NOPTS_VALUE;
    bool anchor_waiting = false;
    while (av_read_frame(fmt, packet.get()) >= 0) {
      if (packet->stream_index == file.stream_index()) {
        if (!synced) synced = packet->pos >= 0 && packet->pts != AV_NOPTS_VALUE;
        if (synced) {
          const int64_t any = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
          if (any != AV_NOPTS_VALUE) {
            const int64_t stop = any + (packet->duration > 0 ? packet->duration : nominal);
            end = end == AV_NOPTS_VALUE ? stop : std::max(end, stop);
          }
          if (packet->dts != AV_NOPTS_VALUE) last_dts = packet->dts;
          const bool anchor = anchor_rule && packet->dts != AV_NOPTS_VALUE &&
                              (packet->pts == AV_NOPTS_VALUE || packet->pts != packet->dts);
          if (anchor) anchor_waiting = packet->pts == AV_NOPTS_VALUE;
        }
      }
      av_packet_unref(packet.get());
    }
    // The last I/P picture waiting for a next one is shown after the last decoded picture.
    if (anchor_waiting && last_dts != AV_NOPTS_VALUE) {
      end = std::max(end, last_dts + 2 * nominal);
    }
    // 64 MiB hold many PES timestamps at any rate; a stream with none is not worth more.
    if (synced || from == 0 || window >= kMaxTailWindow) break;
  }
  av_seek_frame(fmt, file.stream_index(), 0, AVSEEK_FLAG_BYTE);
  return end == AV_NOPTS_VALUE ? -1 : to_seconds(end, facts);
}

}  // namespace

PacketScan scan_packets(MediaFile& file, const StreamFacts& facts, const CancelToken& cancel,
                        const ProgressCallback& progress) {
  ScopedLogTarget route(&file.sink());
  AVFormatContext* fmt = file.format();
  PacketPtr packet = make_packet();
  PacketScan scan;
  const auto rewind = [&] {
    if (facts.seek_by_position) {
      av_seek_frame(fmt, file.stream_index(), 0, AVSEEK_FLAG_BYTE);
    } else {
      av_seek_frame(fmt, file.stream_index(), INT64_MIN, AVSEEK_FLAG_BACKWARD);
    }
  };
  if (!file.at_start()) rewind();
  file.moved();
  const int64_t size = fmt->pb ? avio_size(fmt->pb) : -1;
  const int64_t nominal =
      std::max<int64_t>(1, std::llround(facts.frame_duration / av_q2d(facts.time_base)));
  int64_t count = 0;
  int64_t end = AV_NOPTS_VALUE;
  // MPEG-PS packs several small frames into one PES packet: only the first gets its byte
  // position and pts. A keyframe without a position is reached from the last position seen
  // before it. One without a pts: in MPEG-1/2 video with B-frames, an I or P picture is shown
  // when the next I or P picture is decoded, so its pts is that picture's dts (FFmpeg gives
  // every B-picture pts = dts, and leaves an I/P picture's pts unset or above its dts). The
  // last such picture is shown after the last decoded one. Other codecs: as long after its
  // decode time as the last keyframe that had both.
  const AVCodecID codec = facts.codecpar->codec_id;
  const bool anchor_rule =
      facts.reorders && (codec == AV_CODEC_ID_MPEG1VIDEO || codec == AV_CODEC_ID_MPEG2VIDEO);
  int64_t last_pos = -1;
  int64_t key_delay = 0;
  int64_t last_dts = AV_NOPTS_VALUE;
  bool anchor_waiting = false;  // an I/P picture without pts waits for the next one's dts
  long waiting_time = -1;       // its entries in scan.keyframe_times / scan.keyframes, if a key
  long waiting_position = -1;
  const auto resolve = [&](int64_t pts) {
    end = end == AV_NOPTS_VALUE ? pts + nominal : std::max(end, pts + nominal);
    if (waiting_time >= 0) scan.keyframe_times[waiting_time] = to_seconds(pts, facts);
    if (waiting_position >= 0) {
      scan.keyframes[waiting_position].time = to_seconds(pts, facts);
      scan.keyframes[waiting_position].pts = pts;
    }
    anchor_waiting = false;
    waiting_time = waiting_position = -1;
  };
  while (av_read_frame(fmt, packet.get()) >= 0) {
    const bool ours = packet->stream_index == file.stream_index();
    const bool anchor = ours && anchor_rule && packet->dts != AV_NOPTS_VALUE &&
                        (packet->pts == AV_NOPTS_VALUE || packet->pts != packet->dts);
    if (anchor && anchor_waiting) resolve(packet->dts);
    if (ours && packet->dts != AV_NOPTS_VALUE) last_dts = packet->dts;
    if (ours) {
      const int64_t any = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
      if (any != AV_NOPTS_VALUE) {
        const int64_t stop = any + (packet->duration > 0 ? packet->duration : nominal);
        end = end == AV_NOPTS_VALUE ? stop : std::max(end, stop);
      }
    }
    if (ours && (packet->flags & AV_PKT_FLAG_KEY)) {
      if (packet->pts != AV_NOPTS_VALUE && packet->dts != AV_NOPTS_VALUE) {
        key_delay = std::max<int64_t>(0, packet->pts - packet->dts);
      }
      const int64_t ts = packet->pts != AV_NOPTS_VALUE   ? packet->pts
                         : packet->dts != AV_NOPTS_VALUE ? packet->dts + key_delay
                                                         : AV_NOPTS_VALUE;
      if (ts != AV_NOPTS_VALUE) {
        scan.keyframe_times.push_back(to_seconds(ts, facts));
        const int64_t pos = packet->pos >= 0 ? packet->pos : last_pos;
        if (pos >= 0) {
          const int32_t skip = !scan.keyframes.empty() && scan.keyframes.back().pos == pos
                                   ? scan.keyframes.back().skip + 1
                                   : 0;
          scan.keyframes.push_back({scan.keyframe_times.back(), pos, ts, packet->dts, skip});
        }
        if (anchor && packet->pts == AV_NOPTS_VALUE) {
          waiting_time = static_cast<long>(scan.keyframe_times.size()) - 1;
          waiting_position = pos >= 0 ? static_cast<long>(scan.keyframes.size()) - 1 : -1;
        }
      }
    }
    if (anchor && packet->pts == AV_NOPTS_VALUE) anchor_waiting = true;
    if (ours && packet->pos >= 0) last_pos = packet->pos;
    av_packet_unref(packet.get());
    if (++count % 512 == 0) {
      cancel.throw_if_cancelled();
      if (progress && size > 0) progress({"keyframes", avio_tell(fmt->pb), size, file.name()});
    }
  }
  if (anchor_waiting && last_dts != AV_NOPTS_VALUE) resolve(last_dts + nominal);
  rewind();
  scan.end = end == AV_NOPTS_VALUE ? 0.0 : std::max(0.0, to_seconds(end, facts));
  std::vector<double>& times = scan.keyframe_times;
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  std::vector<KeyframePosition>& found = scan.keyframes;
  std::stable_sort(
      found.begin(), found.end(),
      [](const KeyframePosition& a, const KeyframePosition& b) { return a.time < b.time; });
  found.erase(std::unique(found.begin(), found.end(),
                          [](const KeyframePosition& a, const KeyframePosition& b) {
                            return a.time == b.time;
                          }),
              found.end());
  return scan;
}

VideoInfo describe(MediaFile& file, FileScan& scan) {
  const AVFormatContext* fmt = file.format();
  const AVStream* st = file.stream();
  const AVCodecParameters* par = st->codecpar;
  const StreamFacts facts = file.facts();
  VideoInfo info;
  info.path = file.path();
  info.format_name = fmt->iformat && fmt->iformat->name ? fmt->iformat->name : "";
  info.container = short_container_name(info.format_name, file.path());

  // Times count from the file's start (facts.origin_pts); the video may start later.
  info.start_time = std::max(0.0, to_seconds(facts.start_pts, facts));
  const double origin_s = static_cast<double>(facts.origin_pts) * av_q2d(st->time_base);
  double end = 0.0;
  // Raw elementary streams (.m1v, .m2v, .h264) have no timestamps to measure; FFmpeg then
  // guesses a duration from the bit rate, often wildly off (a 1 s MPEG-1 stream: 1 ms). Such a
  // guess is not used: the file is read to its end instead.
  const bool guessed = fmt->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE;
  if (guessed) {
    end = 0.0;
  } else if (st->duration != AV_NOPTS_VALUE && st->duration > 0) {
    end = info.start_time + static_cast<double>(st->duration) * av_q2d(st->time_base);
  } else if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
    // A Matroska segment's duration runs from timestamp 0 (a file whose first frame is at
    // 100 s and lasts 4 s says 104 s); FFmpeg's other durations run from the file's start.
    const double container = static_cast<double>(fmt->duration) / AV_TIME_BASE;
    const bool from_zero = info.format_name == "matroska,webm";
    const double start = fmt->start_time != AV_NOPTS_VALUE && !from_zero
                             ? static_cast<double>(fmt->start_time) / AV_TIME_BASE
                             : 0.0;
    end = start + container - origin_s;
  }
  if (!(end > info.start_time)) {
    end = scan.get().end;
  } else if (fmt->duration_estimation_method == AVFMT_DURATION_FROM_PTS && seeks_by_position(fmt)) {
    end = std::max(end, tail_end(file, facts));
  }
  info.duration = end;
  if (const double data_end = indexed_data_end(file, facts.origin_pts);
      data_end >= 0 && data_end < info.duration) {
    info.header_duration = info.duration;
    info.duration = data_end;
  }

  info.codec = avcodec_get_name(par->codec_id);
  if (const AVCodecDescriptor* desc = avcodec_descriptor_get(par->codec_id)) {
    info.codec_long_name = desc->long_name ? desc->long_name : "";
  }
  if (const char* profile = avcodec_profile_name(par->codec_id, par->profile)) {
    info.profile = profile;
  }
  if (const char* pix = av_get_pix_fmt_name(static_cast<AVPixelFormat>(par->format))) {
    info.pixel_format = pix;
  }
  info.width = par->width;
  info.height = par->height;
  info.rotation = display_rotation(st);

  AVRational sar = av_guess_sample_aspect_ratio(const_cast<AVFormatContext*>(fmt),
                                                const_cast<AVStream*>(st), nullptr);
  if (sar.num > 0 && sar.den > 0) {
    av_reduce(&sar.num, &sar.den, sar.num, sar.den, 1 << 20);
    info.sample_aspect_ratio = {sar.num, sar.den};
  }
  int dw = info.width;
  int dh = info.height;
  const double s = info.sample_aspect_ratio.value();
  if (s > 1.0) dw = std::max(1, static_cast<int>(std::lround(dw * s)));
  if (s > 0.0 && s < 1.0) dh = std::max(1, static_cast<int>(std::lround(dh / s)));
  if (info.rotation == 90 || info.rotation == 270) std::swap(dw, dh);
  info.display_width = dw;
  info.display_height = dh;

  AVRational rate = st->avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) rate = st->r_frame_rate;
  if (rate.num > 0 && rate.den > 0) info.avg_frame_rate = {rate.num, rate.den};

  if (st->nb_frames > 0) {
    info.frame_count = st->nb_frames;
    info.frame_count_exact = true;
  } else if (info.duration > info.start_time && info.frame_rate() > 0) {
    info.frame_count = std::llround((info.duration - info.start_time) * info.frame_rate());
    info.frame_count_exact = false;
  }
  info.bit_rate = fmt->bit_rate > 0 ? fmt->bit_rate : 0;
  info.video_bit_rate = par->bit_rate > 0 ? par->bit_rate : 0;
  info.has_b_frames = par->video_delay > 0;
  switch (par->field_order) {
    case AV_FIELD_PROGRESSIVE:
      info.field_order = "progressive";
      break;
    case AV_FIELD_TT:
      info.field_order = "tt";
      break;
    case AV_FIELD_BB:
      info.field_order = "bb";
      break;
    case AV_FIELD_TB:
      info.field_order = "tb";
      break;
    case AV_FIELD_BT:
      info.field_order = "bt";
      break;
    default:
      break;  // not stated
  }
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVCodecParameters* p = fmt->streams[i]->codecpar;
    if (p->codec_type == AVMEDIA_TYPE_AUDIO) {
      info.has_audio = true;
      info.audio_codec = avcodec_get_name(p->codec_id);
      break;
    }
  }
  return info;
}

std::vector<double> read_keyframe_times(MediaFile& file, const StreamFacts& facts, bool need_all,
                                        FileScan& scan, const CancelToken& cancel,
                                        std::vector<KeyframePosition>* positions) {
  ScopedLogTarget route(&file.sink());
  AVFormatContext* fmt = file.format();
  AVStream* st = file.stream();
  std::vector<double> times;
  PacketPtr packet = make_packet();
  if (positions) positions->clear();

  int entries = facts.seek_by_position ? 0 : avformat_index_get_entries_count(st);
  if (!facts.seek_by_position) file.moved();  // the index path below seeks or reads
  if (entries == 0 && !facts.seek_by_position) {
    // Matroska reads its cues on the first seek only.
    av_seek_frame(fmt, file.stream_index(), facts.start_pts, AVSEEK_FLAG_BACKWARD);
    entries = avformat_index_get_entries_count(st);
  }
  if (entries > 0) {
    // mp4/mov index decode times; a keyframe is shown (pts − dts) later. That offset is the
    // same for every keyframe of the usual encoders; take it from the first packet.
    int64_t delay = 0;
    const std::string format_name = fmt->iformat->name;
    if (format_name.rfind("mov", 0) == 0) {
      while (av_read_frame(fmt, packet.get()) >= 0) {
        const bool ours = packet->stream_index == file.stream_index();
        if (ours && packet->pts != AV_NOPTS_VALUE && packet->dts != AV_NOPTS_VALUE) {
          delay = std::max<int64_t>(0, packet->pts - packet->dts);
        }
        av_packet_unref(packet.get());
        if (ours) break;
      }
    }
    std::vector<int64_t> decode_times;
    for (int i = 0; i < entries; ++i) {
      const AVIndexEntry* e = avformat_index_get_entry(st, i);
      if (!e || !(e->flags & AVINDEX_KEYFRAME) || e->timestamp == AV_NOPTS_VALUE) continue;
      decode_times.push_back(e->timestamp);
      times.push_back(to_seconds(e->timestamp + delay, facts));
    }
    // With reordering, a keyframe's own pts − dts can differ from the first one (open GOPs):
    // when every keyframe must be exact, read each keyframe's packet for its pts. FFmpeg's mov
    // seek is by pts: aiming just before the next keyframe's decode time lands on this one.
    if (need_all && delay > 0 && facts.reorders) {
      const int64_t far = static_cast<int64_t>(1e6 / av_q2d(facts.time_base));
      for (size_t i = 0; i < decode_times.size(); ++i) {
        if (i % 64 == 0) cancel.throw_if_cancelled();
        const int64_t aim =
            i + 1 < decode_times.size() ? decode_times[i + 1] - 1 : decode_times[i] + far;
        if (av_seek_frame(fmt, file.stream_index(), aim, AVSEEK_FLAG_BACKWARD) < 0) continue;
        while (av_read_frame(fmt, packet.get()) >= 0) {
          const bool ours = packet->stream_index == file.stream_index();
          if (ours && packet->dts == decode_times[i] && packet->pts != AV_NOPTS_VALUE) {
            times[i] = to_seconds(packet->pts, facts);
          }
          av_packet_unref(packet.get());
          if (ours) break;
        }
      }
    }
    // An index with an entry per frame flags every keyframe; a sparser one may skip some.
    double frames = static_cast<double>(st->nb_frames);
    if (frames <= 0) {
      const double duration =
          fmt->duration > 0 ? static_cast<double>(fmt->duration) / AV_TIME_BASE : 0.0;
      frames = duration / facts.frame_duration;
    }
    const bool per_frame = frames > 0 && entries >= 0.9 * frames;
    if (need_all && !per_frame) times.clear();
  }
  if (times.empty()) {
    // No index (or not one to trust): every packet, read once per file (FileScan).
    const PacketScan& all = scan.get();
    times = all.keyframe_times;
    if (positions) *positions = all.keyframes;
    return times;
  }
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  return times;
}

}  // namespace clipmind::decode::internal
