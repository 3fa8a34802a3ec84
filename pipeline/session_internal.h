// Internals shared by session.cpp and caption_job.cpp (not part of the public API).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "compress/merge/merged_segment.h"
#include "decode/media_index.h"
#include "pipeline/caption_spans.h"
#include "pipeline/caption_writer.h"
#include "pipeline/config.h"
#include "pipeline/encode_stage.h"
#include "pipeline/frame_selection.h"
#include "pipeline/job_types.h"
#include "pipeline/log.h"
#include "pipeline/model_set.h"
#include "pipeline/session.h"
#include "pipeline/token_cache.h"
#include "pipeline/video_prep.h"

namespace clipmind::pipeline {

struct SessionState {
  SessionState(PipelineConfig config, Logger log);
  void set_threads();

  PipelineConfig config;
  Logger log;
  std::unique_ptr<TokenCache> cache;
  // Every probe and sampler of the session shares it: a TS/PS file, or one that states no
  // duration, is read in full once per session instead of once per sampler.
  std::shared_ptr<decode::MediaIndexCache> media_index;
  ModelSet models;
  bool threads_set = false;
};

struct Session::Impl {
  std::unique_ptr<SessionState> state;
};

// A video ready for questions: probed, frames selected and encoded, segments merged, prompt
// parts built.
struct Prepared {
  ProbedVideo probed;
  FramePlan plan;
  std::vector<EncodedFrame> frames;
  compress::MergeResult merged;
  VideoParts parts;
  PreparedSummary summary;
  EncodeStats encode_stats;
  int64_t full_tokens = 196;
};

// The pooled grid side of a frame at the configured vision input size (encode.input_size, or the
// model's own). Throws kInvalidArgument naming encode.input_size when the size is outside
// [2 patches, 2 x the tower's own size].
int64_t full_pooled_grid(const PipelineConfig& config, const models::LlavaOnevision& vlm);

// query_free: selection must not depend on the question (a chat before its first question).
Prepared prepare_video(SessionState& session, const std::filesystem::path& path,
                       const std::string& question, bool query_free, ProgressTracker& progress,
                       const CancelToken& cancel, StageClock& clock);

// One caption per span (caption_job.cpp). span_frames[i] may hold frames already encoded for
// span i; spans without frames get caption.frames_per_segment frames decoded and encoded.
std::vector<Caption> caption_spans(SessionState& session, const ProbedVideo& probed,
                                   const std::vector<CaptionSpan>& spans,
                                   std::vector<std::vector<EncodedFrame>> span_frames,
                                   ProgressTracker& progress, const CancelToken& cancel);

}  // namespace clipmind::pipeline
