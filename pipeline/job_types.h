// What jobs report: the prepared video (selected frames and clips, merged segments), token
// counts per stage, per-stage timings, the answer with its moments, and the callbacks a front
// end gives a job (progress, streamed text, moments, the prepared video for a timeline).
// Plain data, no tensors; result_json.h turns it into the `--json` documents.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/frame_selection.h"
#include "pipeline/moments.h"
#include "pipeline/progress_tracker.h"

namespace clipmind::pipeline {

struct VideoSummary {
  std::filesystem::path path;
  double duration_s = 0.0;
  // What the header promised when the file is cut short (then duration_s is where its data
  // ends, and only that part is used); 0 for a whole file.
  double header_duration_s = 0.0;
  int width = 0;  // display size
  int height = 0;
  double fps = 0.0;
  int64_t frame_count = 0;
  std::string codec;
  std::string content_hash;  // "" when the cache is off
};

struct SelectedFrame {
  double requested_time = 0.0;
  double time = 0.0;  // the decoded frame's own time
  int64_t grid = 0;
  bool from_cache = false;
  bool reused = false;  // tokens copied from the frame before it (same picture)
};

// A merged segment as the prompt shows it: one separator, then its tokens.
struct SegmentSpan {
  double t_begin = 0.0;
  double t_end = 0.0;
  int64_t frames = 0;
  int64_t tokens = 0;
  std::string separator;  // "[12.5s-20.0s]", "" when separators are off
};

struct TokenCounts {
  int64_t frames_planned = 0;
  int64_t frames = 0;  // frames that reached the model (planned minus undecodable)
  int64_t frames_from_cache = 0;
  int64_t frames_encoded = 0;  // frames that went through the vision tower in this call
  int64_t frames_reused = 0;   // frames that reused an earlier frame's tokens (same picture)
  int64_t visual_before_merge = 0;
  int64_t visual_after_merge = 0;
  int64_t separator_tokens = 0;
  int64_t header_tokens = 0;
  int64_t prompt_tokens = 0;   // everything prefilled for this answer (incl. a chat's prefix)
  int64_t prefill_tokens = 0;  // prefilled by this call (a chat follow-up: only the new turn)
  int64_t generated_tokens = 0;
  // The inner-LLM reduction of a one-shot question: layers from inner_layer on see
  // tokens_after_inner rows (= prompt_tokens when inner_method is "none").
  std::string inner_method = "none";
  int64_t inner_layer = 0;
  int64_t tokens_after_inner = 0;
  int64_t baseline_prompt_tokens = 0;  // the same frames unmerged, without separators/header
  double prefill_flops = 0.0;          // paper-compatible count (compress/budget/prefill_flops.h)
  double baseline_prefill_flops = 0.0;
};

struct StageTiming {
  std::string stage;
  double seconds = 0.0;
};

// The video side of a job, ready for questions (what a GUI timeline shows).
struct PreparedSummary {
  VideoSummary video;
  std::string selection;  // the method that ran
  std::string merge_method;
  std::vector<SelectedFrame> frames;
  std::vector<SelectedClip> clips;
  std::vector<SegmentSpan> segments;
  std::vector<std::string> notes;
  TokenCounts tokens;
  std::vector<StageTiming> timings;
};

struct AskResult {
  std::string question;
  std::string answer;
  std::vector<Moment> moments;
  std::string stop_reason;
  PreparedSummary prepared;
  TokenCounts tokens;
  std::vector<StageTiming> timings;  // this call's stages, in order, "total" last
  double first_token_s = 0.0;        // from the call's start to the first generated token
  std::string model;                 // model id
};

struct JobCallbacks {
  JobProgressCallback on_progress;
  // Streamed answer text, in order, on the job's thread.
  std::function<void(std::string_view text)> on_text;
  // A time in the answer, as soon as it is final (MomentStream).
  std::function<void(const Moment& moment)> on_moment;
  // The video is prepared (frames selected and encoded, segments merged): before generation.
  std::function<void(const PreparedSummary& prepared)> on_prepared;
};

}  // namespace clipmind::pipeline
