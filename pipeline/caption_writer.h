// Caption files: SubRip (.srt), WebVTT (.vtt) and JSON Lines (.jsonl), written atomically.
//
// SRT:   "1\n00:00:00,000 --> 00:00:04,500\nA man walks in.\n\n" per cue (times HH:MM:SS,mmm).
// WebVTT: "WEBVTT\n\n" then "00:00:00.000 --> 00:00:04.500\nA man walks in.\n\n" per cue.
// JSONL: one object per line: {"index":1,"start":0.0,"end":4.5,"text":"A man walks in."}.
// Text is cleaned so a cue can never break the format: CR removed, blank lines collapsed, "-->"
// replaced by "->", surrounding space trimmed, an empty caption becomes "...". Times are clamped
// to >= 0 and an end that is not after its start becomes start + 1 ms. Hours grow past 99 as
// needed.
//
// write_captions() writes "<path>.part-*" and renames it into place (clipmind::AtomicFile), so
// an existing output is always complete; caption_output_complete() is how a batch decides to
// skip a file: the output exists, parses as its format, and was made from the video as it is
// now (its source record, see record_caption_source, names the video's current content hash;
// an output without a record counts when it is newer than the video).
// Throws clipmind::Error(kIo) naming the file when writing fails.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace clipmind::pipeline {

enum class CaptionFormat { kSrt, kVtt, kJsonl };

CaptionFormat parse_caption_format(std::string_view text);  // "srt" | "vtt" | "jsonl"
const char* to_string(CaptionFormat format);
const char* caption_extension(CaptionFormat format);  // ".srt", ".vtt", ".jsonl"

struct Caption {
  double start_s = 0.0;
  double end_s = 0.0;
  std::string text;
};

// "01:02:03,456" (SRT, comma) or "01:02:03.456" (WebVTT, dot); milliseconds rounded to nearest.
std::string format_caption_time(double seconds, CaptionFormat format);
std::string clean_caption_text(std::string_view text);

std::string format_captions(const std::vector<Caption>& captions, CaptionFormat format);

void write_captions(const std::filesystem::path& path, const std::vector<Caption>& captions,
                    CaptionFormat format);

// True when `output` exists, parses as `format` and was made from `video` as it is now: by the
// source record when there is one (content hash, so a video replaced by another file with an
// older date, as `cp -p` or `rsync -a` leave it, is redone, and a video merely touched is not);
// without a record, when the output is at least as new as the video.
bool caption_output_complete(const std::filesystem::path& output,
                             const std::filesystem::path& video, CaptionFormat format);

// The source record of an output: <output folder>/.clipmind/<output file name>.source, one
// JSON object {"video": absolute path, "hash": content hash (content_hash.h, sampled)}.
std::filesystem::path caption_source_record_path(const std::filesystem::path& output);
// Writes it atomically for `video` whose content hash (content_hash.h, either mode: the
// check rehashes in the recorded one) the job already has, after write_captions. Throws
// clipmind::Error(kIo) naming the file.
void record_caption_source(const std::filesystem::path& output, const std::filesystem::path& video,
                           const std::string& content_hash);

// The output path for a video on its own: <out_dir>/<video stem><extension>.
std::filesystem::path caption_output_path(const std::filesystem::path& out_dir,
                                          const std::filesystem::path& video, CaptionFormat format);

// Output paths for a batch, one per video and all different, so no video's captions overwrite
// or "complete" another's: <stem>; where stems clash, <parent folder>_<stem>; where that still
// clashes (a.mp4 and a.mkv in one folder), <parent>_<file name with its extension>; as a last
// resort (same folder name and file name in two trees) that plus 8 hex digits of a hash of the
// video's absolute path. A name depends only on which videos of the batch share it, so the same
// batch run again finds its outputs.
std::vector<std::filesystem::path> caption_output_paths(
    const std::filesystem::path& out_dir, const std::vector<std::filesystem::path>& videos,
    CaptionFormat format);

}  // namespace clipmind::pipeline
