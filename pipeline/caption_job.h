// Batch captioning: dense, timestamped captions for many videos, one subtitle file each.
//
// For every video (folders are searched recursively for video files, in name order):
//   1. the output <out>/<stem>.<srt|vtt|jsonl> (made unique within the batch:
//      caption_output_paths) is skipped when it is already complete (caption_writer.h: exists,
//      newer than the video, parses) unless `overwrite`;
//   2. caption spans: fixed windows (`segment` = seconds) or "auto": frames sampled over the
//      whole video (caption.sample_fps, at most caption.max_frames) are encoded and segmented
//      with HoliTom's temporal segmentation (caption_spans.h);
//   3. per span: up to caption.frames_per_segment frames, merged with the configured method,
//      separators, the caption prompt, greedy generation of caption.max_new_tokens;
//   4. the captions are written atomically (temp file + rename) when the video is done.
// A video that fails (damaged, unreadable) is recorded with its error and the batch goes on;
// cancellation stops at once, leaves no partial output, and marks the report cancelled. The
// encoded frames go through the token cache, so a re-run after a crash or a cancel re-encodes
// nothing it already did. Progress: stage "caption" over files, plus the per-video stages.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "clipmind/error.h"
#include "pipeline/caption_writer.h"
#include "pipeline/job_types.h"
#include "pipeline/session.h"

namespace clipmind::pipeline {

struct CaptionRequest {
  std::vector<std::filesystem::path> inputs;  // files and folders
  std::filesystem::path out_dir;
  // Empty: take format / segment / overwrite from the session's config (caption.*).
  std::string format;
  std::string segment;
  std::optional<bool> overwrite;
};

// kPartial: the video file is cut short (decode::VideoInfo::header_duration); its output holds
// captions for the part that is there, and the run's exit code says the input was damaged.
enum class CaptionStatus { kDone, kPartial, kSkipped, kFailed, kCancelled };
const char* to_string(CaptionStatus status);

struct CaptionFileResult {
  std::filesystem::path video;
  std::filesystem::path output;
  CaptionStatus status = CaptionStatus::kDone;
  int64_t captions = 0;
  double seconds = 0.0;
  ErrorKind error_kind = ErrorKind::kInternal;
  std::string error;  // user-facing message when failed
  std::string note;   // why a kPartial output is partial
  std::vector<Caption> items;
};

struct CaptionReport {
  std::vector<CaptionFileResult> files;
  int64_t done = 0;
  int64_t partial = 0;
  int64_t skipped = 0;
  int64_t failed = 0;
  bool cancelled = false;
  // 0 when nothing failed; 130 when cancelled; else the exit code of the first failure's kind;
  // else 3 (invalid input) when a video was cut short.
  int exit_code() const;
};

// The video files named by `inputs` (folders searched recursively for the extensions of
// decode/video_files.h, sorted; files as given, whatever their name).
// A path that does not exist is returned as is (the batch records it as failed). The same file
// named twice (`v.mp4 ./v.mp4 /abs/v.mp4`, a folder and a file inside it, a symlink or hard
// link to it) is returned once, under the first name given.
std::vector<std::filesystem::path> collect_videos(const std::vector<std::filesystem::path>& inputs);
// decode::has_video_extension().
bool is_video_file(const std::filesystem::path& path);

CaptionReport run_captions(Session& session, const CaptionRequest& request,
                           const JobCallbacks& callbacks = {}, const CancelToken& cancel = {});

// "status  captions  seconds  file" table with a totals line, for the CLI.
std::string format_caption_summary(const CaptionReport& report);

}  // namespace clipmind::pipeline
