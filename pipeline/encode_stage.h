// The decode -> encode stages: planned frames in, encoded frames out, with the token cache in
// front and decoding overlapping encoding.
//
//   1. Every planned (time, grid) is looked up in the token cache (token_cache.h); hits are not
//      decoded again. The key is (video content hash, model id, requested time in ms, grid,
//      decode mode, input size, dtype, format version): everything that changes the tokens.
//   2. The misses are decoded by decode::FrameSampler at the model's input size (so frames are
//      small before they are queued) on a producer thread, into a BoundedQueue of
//      decode.queue_frames frames; the calling thread takes micro-batches of encode.batch_frames
//      and runs the vision tower on them while the next frames decode. Memory: the queue, one
//      micro-batch, and the encoded tokens of the planned frames (bounded by the plan, not by
//      the video's length).
//   3. Each encoded frame is stored in the cache as soon as it is made, so a cancelled job
//      keeps what it finished.
//   4. Reuse (docs/pipeline.md "Frame reuse"): a decoded frame whose tower input (the RGB
//      picture at the tower's input size, which the encoder only rescales and normalises) is
//      the same picture as the previous decoded frame's source -- the frame that last went
//      through the tower -- at request.reuse_psnr_db or more, with the same grid, is not
//      encoded; it gets a copy of the source's tokens and attention. Reused frames do not take
//      a place in a micro-batch, so batches stay full. Exact equality always matches;
//      reuse_psnr_db <= 0 turns reuse off. The comparison is always against the source (not a
//      chain of reused frames), so a slow fade cannot drift away from the tokens it reuses.
// Requests no frame could be decoded for (damaged stretches) are dropped with a warning; if
// nothing could be decoded the stage throws kInvalidInput naming the file.
// Failures are StageErrors (errors.h) naming the part that failed, so the person reading them
// gets the right hint: "decode" for FFmpeg and sampling (and nothing decodable), "encode" for
// the vision tower (out of memory included, with the encode memory hint) and frame reuse,
// "cache" for cache keys and entries (a damaged or odd entry is a miss with a warning, never
// a failure). Callers need no in_stage() around this call. Progress: stages
// "decode" and "encode" (frames). Cancellation: between frames, between micro-batches and
// between the vision tower's layers inside a micro-batch (models/vision checks the token per
// layer), so a cancel lands within about one tower layer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "clipmind/progress.h"
#include "decode/media_index.h"
#include "pipeline/frame_selection.h"
#include "pipeline/log.h"
#include "pipeline/merge_stage.h"
#include "pipeline/progress_tracker.h"
#include "pipeline/token_cache.h"

namespace clipmind::models {
class LlavaVisionEncoder;
}

namespace clipmind::pipeline {

struct EncodeRequest {
  std::filesystem::path video;
  std::string content_hash;  // content_hash(video).hex
  std::string model_id;      // identifies the weights (see VlmRuntime::model_id())
  std::vector<PlannedFrame> frames;
  std::string decode_mode = "accurate";
  int64_t queue_frames = 8;
  int64_t batch_frames = 4;
  int64_t input_size = 0;  // vision input side in pixels; 0 = the processor's
  int decode_threads = 0;
  // Reuse the previous source frame's tokens when this frame's tower input is within this
  // PSNR (dB, peak 255); identical pictures always match; <= 0 disables reuse.
  double reuse_psnr_db = 50.0;
  // Shared with the job's other probes and samplers (decode/media_index.h); may be null.
  std::shared_ptr<decode::MediaIndexCache> index_cache;
  // Say (info) how many frames came from the token cache. Off for a caller that encodes one
  // video window after window and reports the sum once (caption_spans).
  bool report_cache_hits = true;
};

struct EncodeStats {
  int64_t planned = 0;
  int64_t from_cache = 0;
  int64_t encoded = 0;        // frames that went through the vision tower
  int64_t reused = 0;         // frames that got a copy of an earlier frame's tokens (see 4. above)
  int64_t dropped = 0;        // requests no frame could be decoded for
  double decode_seconds = 0;  // producer thread busy time
  double encode_seconds = 0;  // vision tower time
  double wall_seconds = 0;
  int64_t peak_queue = 0;
  std::vector<std::string> warnings;
};

// "N of M frames came from the token cache": what encode_frames() says (info) when it found
// any, and what a caller that encodes one video in parts says once for their sums.
std::string token_cache_hits_text(int64_t from_cache, int64_t planned);

// The cache key of one frame (exposed for tests).
std::string frame_cache_key(const EncodeRequest& request, const PlannedFrame& frame,
                            int64_t input_size, const std::string& dtype);

// PSNR in dB (peak 255) between two equally sized byte pictures; +infinity when they are equal.
// Throws kInvalidArgument when the sizes differ or are 0.
double picture_psnr_db(std::span<const uint8_t> a, std::span<const uint8_t> b);
// picture_psnr_db(a, b) >= threshold_db (or a == b), computed with an early exit; false when
// threshold_db <= 0 (reuse off) or the sizes differ.
bool same_picture(std::span<const uint8_t> a, std::span<const uint8_t> b, double threshold_db);

std::vector<EncodedFrame> encode_frames(const EncodeRequest& request,
                                        const models::LlavaVisionEncoder& encoder,
                                        TokenCache* cache, ProgressTracker& progress,
                                        const CancelToken& cancel, const Logger& log,
                                        EncodeStats* stats = nullptr);

}  // namespace clipmind::pipeline
