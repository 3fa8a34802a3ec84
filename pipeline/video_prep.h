// Building blocks the jobs share (ask, chat, caption, and the index job): probing and hashing
// a video, low-resolution probe frames for scene cuts, question relevance from the SigLIP dual
// encoder, the prompt parts of a merged video (header, separators, visual blocks), prompt
// splitting for KV-cache reuse, and a stage stopwatch. Used from the job's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "compress/merge/merged_segment.h"
#include "decode/frame_sampler.h"
#include "decode/media_index.h"
#include "decode/video_info.h"
#include "models/vlm/prompt.h"
#include "pipeline/config.h"
#include "pipeline/frame_selection.h"
#include "pipeline/job_types.h"
#include "pipeline/log.h"
#include "pipeline/progress_tracker.h"
#include "pipeline/token_cache.h"

namespace clipmind::models {
class LlavaOnevision;
class PromptInput;
class SiglipDualEncoder;
class Tokenizer;
}  // namespace clipmind::models

namespace clipmind::pipeline {

// Wall seconds from `start` to now (steady clock).
double seconds_since(std::chrono::steady_clock::time_point start);

// Per-stage wall times of one call, in the order stages ran ("total" added by finish()).
class StageClock {
 public:
  StageClock() : start_(std::chrono::steady_clock::now()) {}
  void add(const std::string& stage, double seconds);
  // Adds the time since `since` under `stage`.
  void add_since(const std::string& stage, std::chrono::steady_clock::time_point since);
  double elapsed() const;
  std::vector<StageTiming> finish() const;
  const std::vector<StageTiming>& stages() const { return stages_; }
  std::chrono::steady_clock::time_point start() const { return start_; }

 private:
  std::chrono::steady_clock::time_point start_;
  std::vector<StageTiming> stages_;
};

// Refuses a video argument that is a URL or a folder before any work, with a hint saying what
// to do instead (StageError, stage "probe"); other problems show when the file is opened.
void check_video_path(const std::filesystem::path& path);

struct ProbedVideo {
  decode::VideoInfo info;
  VideoSummary summary;
};

// Probe (stage "probe") and, with `hash`, content hash (stage "hash"). Throws StageError. A file
// cut short (decode::VideoInfo::header_duration) is used up to where its data ends, with a
// warning on `log`.
ProbedVideo probe_video(const std::filesystem::path& path, const PipelineConfig& config, bool hash,
                        ProgressTracker& progress, const CancelToken& cancel, StageClock& clock,
                        const Logger& log, decode::MediaIndexCache* index_cache);

// Logs at debug level (--verbose) what a MediaIndexCache did: a file read in full, or a read
// reused.
void log_index_notice(const Logger& log, const decode::IndexNotice& notice);

// [T, H, W, 3] uint8 frames of `size` x `size`*9/16 at `times` (one per time: a time no frame
// could be decoded for repeats its neighbour). Failures are StageErrors of stage "decode"
// (kInvalidInput when nothing decodes).
at::Tensor low_res_frames(const std::filesystem::path& path, const std::vector<double>& times,
                          const CancelToken& cancel, const Logger& log,
                          const std::shared_ptr<decode::MediaIndexCache>& index_cache,
                          int width = 64, int height = 36);

// [N, D] float CPU image embeddings of decoded RGB frames (one batch through the encoder).
at::Tensor embed_frames(const models::SiglipDualEncoder& encoder,
                        std::span<const decode::Frame> frames, const CancelToken& cancel);

// Receives one micro-batch of embed_sampled_frames: [n, D] float CPU embeddings and, per row,
// the index into the sampled times its frame was decoded for.
using EmbeddedBatch =
    std::function<void(const at::Tensor& embeddings, std::span<const size_t> requests)>;

// Hands every frame sampled from `path` at `times` to `take`, in the sampler's order. Opening the
// file and reading frames fail as StageErrors of stage "decode"; what `take` throws passes
// through with its own stage.
void for_each_sample(const std::filesystem::path& path, const std::vector<double>& times,
                     const decode::SamplerOptions& options,
                     const std::function<void(decode::Sample&&)>& take);

// Samples `times` from `path` with `options` (sized for the encoder; its cancel token also stops
// the encoder) and embeds the frames in micro-batches of 8, handing each to `take`. A time no
// frame could be decoded for is never handed on. The sampler's failures are StageErrors of stage
// "decode", the encoder's of `embed_stage`; what `take` throws passes through.
void embed_sampled_frames(const models::SiglipDualEncoder& encoder,
                          const std::filesystem::path& path, const std::vector<double>& times,
                          const decode::SamplerOptions& options, const std::string& embed_stage,
                          const EmbeddedBatch& take);

// Relevance of candidate frames to `question` with the dual encoder: image embeddings (cached
// per video, relevance model and candidate times) and the cosine with the question.
RelevanceScores question_relevance(const models::SiglipDualEncoder& encoder,
                                   const std::string& relevance_id,
                                   const std::filesystem::path& path,
                                   const std::string& content_hash, const std::string& question,
                                   const std::vector<double>& times, TokenCache* cache,
                                   ProgressTracker& progress, const CancelToken& cancel,
                                   const Logger& log,
                                   const std::shared_ptr<decode::MediaIndexCache>& index_cache);

// The video's prompt parts: with separators, a header (raw text and "\n") and one separator
// before each segment's visual block; segments without tokens are left out.
struct VideoParts {
  std::vector<models::PromptPart> parts;
  std::vector<SegmentSpan> segments;
  int64_t header_tokens = 0;
  int64_t separator_tokens = 0;
};
VideoParts video_parts(const compress::MergeResult& merged, double duration_s, bool separators,
                       const models::Tokenizer& tokenizer, int64_t video = 0);

// Tokens of the longest separator a video of this length can get ("[D-D]"), as c_sep.
int64_t separator_cost(double duration_s, const models::Tokenizer& tokenizer);

// Splits a prompt at position `at`: rows [0, at) and [at, end).
std::pair<models::PromptInput, models::PromptInput> split_prompt(const models::PromptInput& input,
                                                                 int64_t at);

// Paper-compatible prefill FLOPs of `tokens` for the VLM's decoder.
compress::LlmDims llm_dims(const models::LlavaOnevision& vlm);

}  // namespace clipmind::pipeline
