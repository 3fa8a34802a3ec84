// One demuxer + one decoder over one file: seeking to the keyframe before a time, and decoded
// frames in presentation order. Private to decode/; each FrameSampler worker owns one.
//
// Reading keeps a short look-ahead of packets so that it can prove a frame is not needed: a
// frame no later frame can be nearer to any pending request may be discarded by the decoder
// when nothing references it (AVDISCARD_NONREF) - decoding gets cheaper, the result stays
// exact. Decoding errors are warnings, never exceptions; a read error ends the stream.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <set>

#include "decode/internal/ffmpeg_log.h"
#include "decode/internal/ffmpeg_ptr.h"
#include "decode/internal/media_file.h"

namespace clipmind::decode::internal {

struct DecoderCounters {
  int64_t packets_read = 0;
  int64_t frames_decoded = 0;
  int64_t seeks = 0;
};

class VideoDecoder {
 public:
  // hw_device: an FFmpeg hardware device (may be null: software decoding). skip_unneeded:
  // allow AVDISCARD_NONREF for frames next_frame() proves useless (codecs known to honour it).
  VideoDecoder(const std::filesystem::path& path, const StreamFacts& facts, WarningSink& sink,
               int threads, AVBufferRef* hw_device, AVHWDeviceType hw_type,
               bool skip_unneeded = true);
  ~VideoDecoder();
  VideoDecoder(const VideoDecoder&) = delete;
  VideoDecoder& operator=(const VideoDecoder&) = delete;

  // Positions the decoder at the last keyframe whose presentation time is at or before `t`
  // (the start of the file if there is none), so the next frames include every frame from
  // there on.
  void seek_before(double t);
  // Back to the very start of the file (reopens it).
  void restart();

  // Only keyframe packets are decoded until the next seek (keyframe previews).
  void set_keyframes_only(bool on);

  // The next frame in presentation order, or false at the end of the stream. Frames whose time
  // is before the last known frame time at or before `skip_limit` may be skipped.
  bool next_frame(AVFrame* frame, double skip_limit);
  // Decodes the first keyframe at the current position alone (drains the decoder, so the next
  // use must seek). False if none could be decoded.
  bool decode_one_keyframe(AVFrame* frame);

  double time_of(const AVFrame* frame) const;  // seconds from the file's start
  // Time of the last frame returned since the last seek, or -infinity.
  double position() const { return position_; }
  bool fresh() const { return fresh_; }  // opened or restarted, nothing read yet
  bool at_end() const { return eof_; }   // the stream is exhausted (or unreadable further)
  bool needs_seek() const { return drained_; }
  const DecoderCounters& counters() const { return counters_; }

 private:
  void open_file();
  bool read_packet();  // appends one packet of our stream to the look-ahead; false at the end
  bool fill_lookahead(size_t count);
  void retime(AVPacket* packet);  // see retiming_
  int64_t nominal_ticks() const;  // one nominal frame in the stream's time base
  int64_t packet_time(const AVPacket* packet) const;
  // Drops the front look-ahead packet unsent; its time no longer proves other frames useless.
  void discard_front();
  bool skippable(const AVPacket* packet, double skip_limit) const;
  void reset_reading();
  // seek_before() by the byte position of the last keyframe at or before `t`
  // (StreamFacts::seek_by_position); false when there is none or it was not found there.
  bool seek_to_position(double t);

  std::filesystem::path path_;
  const StreamFacts& facts_;
  WarningSink& sink_;
  std::unique_ptr<LogTarget> log_target_;  // outlives the contexts below
  std::unique_ptr<MediaFile> file_;
  CodecContextPtr codec_;
  BufferRefPtr hw_device_;
  bool nonref_skipping_ = false;
  bool keyframes_only_ = false;

  // After a byte seek into MPEG-PS that lands inside a PES packet, the demuxer's timestamps of
  // the keyframe and the pictures after it are guesses from a timestamp that belongs to an
  // earlier picture. The keyframe gets its times from the scan; the pictures after it, up to
  // the next one that carries its own PES timestamp, are re-timed from there by their
  // durations (`retime_dts_` is the decode time the next packet should have).
  bool retiming_ = false;
  int64_t retime_dts_ = 0;
  // From the start of the file, packets before the first keyframe (a recording that starts
  // inside a GOP) cannot be decoded: they are dropped unsent, as after a seek. A stream that
  // flags no keyframe within kMaxPacketsBeforeKeyframe packets is read again from its start
  // with every packet sent (`keyframes_flagged_` false).
  bool lead_in_ = true;
  bool keyframes_flagged_ = true;
  int lead_in_dropped_ = 0;

  std::deque<PacketPtr> lookahead_;
  // Times (stream time base) of the packets read since the last seek that were or will be sent
  // to the decoder: a frame with a later one at or before the pending request is useless.
  std::multiset<int64_t> seen_times_;
  PacketPtr packet_;
  bool demux_done_ = false;
  bool draining_ = false;
  bool drained_ = false;
  bool eof_ = false;
  bool fresh_ = true;
  double position_ = 0;
  DecoderCounters counters_;
};

}  // namespace clipmind::decode::internal
