#include "decode/internal/video_decoder.h"

extern "C" {
#include <libavutil/hwcontext.h>
#include <libavutil/pixdesc.h>
}

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "clipmind/error.h"

namespace clipmind::decode::internal {
namespace {

// Packets read ahead of the decoder: more than any codec's reordering depth (H.264/HEVC
// allow 16), so that a frame shown later than a packet is usually among them.
constexpr size_t kLookahead = 20;
// After a seek, packets before the first keyframe cannot be decoded; give up looking for one
// after this many and decode what is there (streams without keyframe flags).
constexpr int kMaxPacketsBeforeKeyframe = 1200;
constexpr int kSeekAttempts = 8;

// Decoders known to honour AVDISCARD_NONREF per packet by dropping exactly the pictures no
// other picture references (FFmpeg's own decoders; not wrappers with internal queues).
bool supports_nonref_skip(const AVCodec* codec) {
  if (codec->wrapper_name) return false;
  switch (codec->id) {
    case AV_CODEC_ID_H264:
    case AV_CODEC_ID_HEVC:
    case AV_CODEC_ID_MPEG4:
    case AV_CODEC_ID_MPEG1VIDEO:
    case AV_CODEC_ID_MPEG2VIDEO:
    case AV_CODEC_ID_H263:
      return true;
    default:
      return false;
  }
}

AVPixelFormat pick_hw_format(AVCodecContext* ctx, const AVPixelFormat* formats) {
  auto* target = static_cast<LogTarget*>(ctx->opaque);
  for (const AVPixelFormat* p = formats; *p != AV_PIX_FMT_NONE; ++p) {
    if (target && static_cast<int>(*p) == target->hw_pixel_format) return *p;
  }
  if (target && target->sink) {
    target->sink->warn_once("hw-format",
                            "hardware decoding cannot decode this stream; decoding in software");
  }
  for (const AVPixelFormat* p = formats; *p != AV_PIX_FMT_NONE; ++p) {
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(*p);
    if (desc && !(desc->flags & AV_PIX_FMT_FLAG_HWACCEL)) return *p;
  }
  return AV_PIX_FMT_NONE;
}

// Replaces a frame decoded into GPU memory by its copy in system memory (properties kept).
// Returns 0 when done or when the frame was in system memory already, else FFmpeg's error code
// (the frame is left as it was).
int download_hw_frame(AVFrame* frame) {
  if (!frame->hw_frames_ctx) return 0;
  FramePtr software = make_frame();
  const int ret = av_hwframe_transfer_data(software.get(), frame, 0);
  if (ret < 0) return ret;
  av_frame_copy_props(software.get(), frame);
  av_frame_unref(frame);
  av_frame_move_ref(frame, software.get());
  return 0;
}

}  // namespace

VideoDecoder::VideoDecoder(const std::filesystem::path& path, const StreamFacts& facts,
                           WarningSink& sink, int threads, AVBufferRef* hw_device,
                           AVHWDeviceType hw_type, bool skip_unneeded)
    : path_(path), facts_(facts), sink_(sink), log_target_(std::make_unique<LogTarget>(&sink)) {
  ScopedLogTarget route(&sink_);
  packet_ = make_packet();
  open_file();

  const AVCodec* codec = avcodec_find_decoder(facts_.codecpar->codec_id);
  if (!codec) {
    throw Error(ErrorKind::kUnsupported, path_.string() + ": no decoder for video codec '" +
                                             avcodec_get_name(facts_.codecpar->codec_id) + "'");
  }
  codec_.reset(avcodec_alloc_context3(codec));
  if (!codec_) throw std::bad_alloc();
  int ret = avcodec_parameters_to_context(codec_.get(), facts_.codecpar.get());
  if (ret < 0) {
    throw Error(ErrorKind::kInvalidInput,
                path_.string() + ": bad codec parameters: " + av_error_text(ret));
  }
  codec_->opaque = log_target_.get();
  codec_->pkt_timebase = facts_.time_base;
  codec_->thread_count = std::max(1, threads);
  codec_->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;

  if (hw_device) {
    for (int i = 0;; ++i) {
      const AVCodecHWConfig* config = avcodec_get_hw_config(codec, i);
      if (!config) break;
      if ((config->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX) &&
          config->device_type == hw_type) {
        log_target_->hw_pixel_format = config->pix_fmt;
        break;
      }
    }
    if (log_target_->hw_pixel_format >= 0) {
      hw_device_.reset(av_buffer_ref(hw_device));
      codec_->hw_device_ctx = av_buffer_ref(hw_device);
      codec_->get_format = pick_hw_format;
    } else {
      sink_.warn_once("hw-codec", std::string("hardware decoding (") +
                                      av_hwdevice_get_type_name(hw_type) + ") has no " +
                                      codec->name + " decoder; decoding in software");
    }
  }

  ret = avcodec_open2(codec_.get(), codec, nullptr);
  if (ret < 0) {
    std::string detail = sink_.last_ffmpeg_error();
    throw Error(ErrorKind::kUnsupported, path_.string() + ": cannot open the " + codec->name +
                                             " decoder: " + av_error_text(ret) +
                                             (detail.empty() ? "" : " (" + detail + ")"));
  }
  nonref_skipping_ = skip_unneeded && supports_nonref_skip(codec);
}

VideoDecoder::~VideoDecoder() {
  ScopedLogTarget route(&sink_);
  lookahead_.clear();
  codec_.reset();
  file_.reset();
}

void VideoDecoder::open_file() {
  file_.reset();
  file_ = std::make_unique<MediaFile>(path_, sink_, false, &facts_);
}

void VideoDecoder::reset_reading() {
  if (codec_) avcodec_flush_buffers(codec_.get());
  lookahead_.clear();
  seen_times_.clear();
  retiming_ = false;
  lead_in_ = false;
  demux_done_ = false;
  draining_ = false;
  drained_ = false;
  eof_ = false;
  position_ = -std::numeric_limits<double>::infinity();
}

void VideoDecoder::restart() {
  ScopedLogTarget route(&sink_);
  ++counters_.seeks;
  open_file();
  reset_reading();
  lead_in_ = keyframes_flagged_;
  lead_in_dropped_ = 0;
  fresh_ = true;
}

void VideoDecoder::set_keyframes_only(bool on) {
  keyframes_only_ = on;
}

int64_t VideoDecoder::packet_time(const AVPacket* packet) const {
  if (packet->pts != AV_NOPTS_VALUE) return packet->pts;
  if (!facts_.reorders) return packet->dts;
  return AV_NOPTS_VALUE;
}

bool VideoDecoder::read_packet() {
  if (demux_done_) return false;
  AVFormatContext* fmt = file_->format();
  while (true) {
    const int ret = av_read_frame(fmt, packet_.get());
    if (ret == AVERROR_EOF) {
      demux_done_ = true;
      return false;
    }
    if (ret < 0) {
      sink_.warn_once("read-error", "read error after " + std::to_string(position_) +
                                        " s: " + av_error_text(ret) +
                                        "; the rest of the file cannot be read");
      demux_done_ = true;
      return false;
    }
    if (packet_->stream_index != file_->stream_index()) {
      av_packet_unref(packet_.get());
      continue;
    }
    ++counters_.packets_read;
    if (retiming_) retime(packet_.get());
    const int64_t t = packet_time(packet_.get());
    if (t != AV_NOPTS_VALUE) seen_times_.insert(t);
    PacketPtr queued = make_packet();
    av_packet_move_ref(queued.get(), packet_.get());
    lookahead_.push_back(std::move(queued));
    return true;
  }
}

void VideoDecoder::retime(AVPacket* packet) {
  if (packet->pos >= 0 && packet->pts != AV_NOPTS_VALUE) {
    retiming_ = false;  // a PES packet starts with this picture: its timestamp is its own
    return;
  }
  // Shift both times alike, so a picture shown later than it is decoded stays so.
  const int64_t shift = packet->dts != AV_NOPTS_VALUE ? retime_dts_ - packet->dts : 0;
  packet->dts = retime_dts_;
  if (packet->pts != AV_NOPTS_VALUE) packet->pts += shift;
  retime_dts_ += packet->duration > 0 ? packet->duration : nominal_ticks();
}

int64_t VideoDecoder::nominal_ticks() const {
  return std::max<int64_t>(1, std::llround(facts_.frame_duration / av_q2d(facts_.time_base)));
}

bool VideoDecoder::fill_lookahead(size_t count) {
  while (lookahead_.size() < count) {
    if (!read_packet()) break;
  }
  return !lookahead_.empty();
}

void VideoDecoder::discard_front() {
  const int64_t t = packet_time(lookahead_.front().get());
  if (t != AV_NOPTS_VALUE) {
    auto it = seen_times_.find(t);
    if (it != seen_times_.end()) seen_times_.erase(it);
  }
  lookahead_.pop_front();
}

bool VideoDecoder::skippable(const AVPacket* packet, double skip_limit) const {
  if (!nonref_skipping_ || (packet->flags & AV_PKT_FLAG_KEY) || std::isinf(skip_limit)) {
    return false;
  }
  if (skip_limit < -1e9) return false;
  const int64_t t = packet_time(packet);
  if (t == AV_NOPTS_VALUE) return false;
  const int64_t limit = to_pts(skip_limit, facts_);
  auto it = seen_times_.upper_bound(limit);
  if (it == seen_times_.begin()) return false;
  --it;
  return *it > t;  // a later frame at or before the limit exists: this one answers nothing
}

bool VideoDecoder::seek_to_position(double t) {
  const std::vector<KeyframePosition>& keys = facts_.keyframe_positions;
  auto after = std::upper_bound(keys.begin(), keys.end(), t,
                                [](double v, const KeyframePosition& k) { return v < k.time; });
  if (after == keys.begin()) return false;
  const KeyframePosition& key = *std::prev(after);
  if (av_seek_frame(file_->format(), file_->stream_index(), key.pos, AVSEEK_FLAG_BYTE) < 0) {
    return false;
  }
  reset_reading();
  // The keyframe's packet comes first, or after a few frames packed with it (MPEG-PS), or
  // after `key.skip` earlier keyframes packed in the same PES packet. Its timestamps after a
  // seek into a shared PES packet are guesses (the packet's PTS belongs to the first picture
  // that starts in it, which the parser lost): the scan, which read the file in order, knows
  // the keyframe's real ones. Keyframes are counted, not compared by these guessed times.
  int32_t keys_seen = 0;
  for (int read = 0; read < 64 && read_packet(); ++read) {
    AVPacket* p = lookahead_.back().get();
    if (!(p->flags & AV_PKT_FLAG_KEY)) continue;
    if (keys_seen++ < key.skip) continue;
    while (lookahead_.size() > 1)
      discard_front();
    if (const auto it = seen_times_.find(packet_time(p)); it != seen_times_.end()) {
      seen_times_.erase(it);
    }
    const bool guessed = p->pts != key.pts || (key.dts != AV_NOPTS_VALUE && p->dts != key.dts);
    p->pts = key.pts;
    if (key.dts != AV_NOPTS_VALUE) p->dts = key.dts;
    seen_times_.insert(packet_time(p));
    if (guessed && key.dts != AV_NOPTS_VALUE) {
      retiming_ = true;
      retime_dts_ = key.dts + (p->duration > 0 ? p->duration : nominal_ticks());
    }
    return p->pts <= to_pts(t, facts_);
  }
  return false;
}

void VideoDecoder::seek_before(double t) {
  ScopedLogTarget route(&sink_);
  ++counters_.seeks;
  fresh_ = false;
  const int64_t target = to_pts(t, facts_);
  if (facts_.seek_by_position && !facts_.keyframe_positions.empty()) {
    if (seek_to_position(t)) return;
    // Before the first keyframe, or the position did not lead to it: from the start.
    --counters_.seeks;
    restart();
    fresh_ = false;
    return;
  }
  int64_t seek_ts = target;
  for (int attempt = 0; attempt < kSeekAttempts; ++attempt) {
    if (av_seek_frame(file_->format(), file_->stream_index(), seek_ts, AVSEEK_FLAG_BACKWARD) < 0) {
      break;  // nothing at or before: start of the file
    }
    reset_reading();
    // Packets before the first keyframe cannot be decoded: drop them.
    int dropped = 0;
    bool found = false;
    while (read_packet()) {
      if (lookahead_.back()->flags & AV_PKT_FLAG_KEY) {
        while (lookahead_.size() > 1)
          discard_front();
        found = true;
        break;
      }
      if (++dropped > kMaxPacketsBeforeKeyframe) break;
      discard_front();
    }
    if (!found) {
      if (lookahead_.empty()) break;  // nothing after the seek point: start over
      return;                         // no keyframe flags: decode what is there
    }
    const AVPacket* key = lookahead_.front().get();
    const int64_t key_time = key->pts != AV_NOPTS_VALUE ? key->pts : key->dts;
    if (key_time == AV_NOPTS_VALUE || key_time <= target) return;
    // The demuxer's index (decode times) put us on a keyframe shown after t: one earlier.
    const int64_t key_dts = key->dts != AV_NOPTS_VALUE ? std::min(key->dts, key_time) : key_time;
    if (key_dts <= facts_.start_pts) return;  // the first keyframe: nothing earlier exists
    seek_ts = key_dts - 1;
  }
  --counters_.seeks;  // restart() counts itself
  restart();
  fresh_ = false;
}

bool VideoDecoder::next_frame(AVFrame* frame, double skip_limit) {
  ScopedLogTarget route(&sink_);
  if (eof_) return false;
  int errors_in_a_row = 0;
  while (true) {
    int ret = avcodec_receive_frame(codec_.get(), frame);
    if (ret == 0) {
      ret = download_hw_frame(frame);
      if (ret < 0) {
        sink_.warn_once("hw-transfer", "cannot copy a frame from the GPU: " + av_error_text(ret));
        av_frame_unref(frame);
        continue;
      }
      ++counters_.frames_decoded;
      fresh_ = false;
      position_ = time_of(frame);
      return true;
    }
    if (ret == AVERROR_EOF) {
      eof_ = true;
      drained_ = true;
      return false;
    }
    if (ret != AVERROR(EAGAIN)) {
      // A damaged picture: FFmpeg logged why (it reaches the warnings); go on with the next.
      if (++errors_in_a_row > 10000) {
        eof_ = true;
        return false;
      }
      if (draining_) continue;
    }
    if (draining_) {  // EAGAIN while draining cannot happen; end the stream rather than spin
      eof_ = true;
      drained_ = true;
      return false;
    }
    if (!fill_lookahead(kLookahead)) {
      if (lead_in_ && lead_in_dropped_ > 0) {
        // The whole stream went by without a keyframe flag: read it again, sending everything.
        keyframes_flagged_ = false;
        --counters_.seeks;
        restart();
        continue;
      }
      avcodec_send_packet(codec_.get(), nullptr);
      draining_ = true;
      continue;
    }
    AVPacket* packet = lookahead_.front().get();
    if (lead_in_ && !(packet->flags & AV_PKT_FLAG_KEY)) {
      if (++lead_in_dropped_ > kMaxPacketsBeforeKeyframe) {
        keyframes_flagged_ = false;
        --counters_.seeks;  // not a seek: the same read again, this time sending everything
        restart();
        continue;
      }
      discard_front();
      continue;
    }
    lead_in_ = false;
    if (keyframes_only_ && !(packet->flags & AV_PKT_FLAG_KEY)) {
      discard_front();
      continue;
    }
    codec_->skip_frame = keyframes_only_                 ? AVDISCARD_NONKEY
                         : skippable(packet, skip_limit) ? AVDISCARD_NONREF
                                                         : AVDISCARD_DEFAULT;
    ret = avcodec_send_packet(codec_.get(), packet);
    if (ret == AVERROR(EAGAIN)) continue;
    lookahead_.pop_front();
    if (ret < 0 && ret != AVERROR_EOF) ++errors_in_a_row;
  }
}

bool VideoDecoder::decode_one_keyframe(AVFrame* frame) {
  ScopedLogTarget route(&sink_);
  while (true) {
    if (!fill_lookahead(1)) return false;
    if (lookahead_.front()->flags & AV_PKT_FLAG_KEY) break;
    discard_front();
  }
  codec_->skip_frame = AVDISCARD_DEFAULT;
  PacketPtr key = std::move(lookahead_.front());
  lookahead_.pop_front();
  avcodec_send_packet(codec_.get(), key.get());
  avcodec_send_packet(codec_.get(), nullptr);
  draining_ = true;
  drained_ = true;
  bool got = false;
  FramePtr extra = make_frame();
  while (true) {
    AVFrame* into = got ? extra.get() : frame;
    const int ret = avcodec_receive_frame(codec_.get(), into);
    if (ret == AVERROR_EOF) break;
    if (ret < 0) {
      if (ret == AVERROR(EAGAIN)) break;
      continue;
    }
    if (!got) {
      got = true;
    } else {
      av_frame_unref(extra.get());
    }
  }
  if (!got) return false;
  if (download_hw_frame(frame) < 0) return false;
  ++counters_.frames_decoded;
  fresh_ = false;
  position_ = time_of(frame);
  return true;
}

double VideoDecoder::time_of(const AVFrame* frame) const {
  int64_t ts = frame->best_effort_timestamp;
  if (ts == AV_NOPTS_VALUE) ts = frame->pts;
  if (ts == AV_NOPTS_VALUE) ts = frame->pkt_dts;
  if (ts == AV_NOPTS_VALUE) {
    // No timestamp at all: one nominal frame after the previous frame.
    return std::isfinite(position_) ? position_ + facts_.frame_duration : 0.0;
  }
  return to_seconds(ts, facts_);
}

}  // namespace clipmind::decode::internal
