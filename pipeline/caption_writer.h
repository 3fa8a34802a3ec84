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
// skip a file: the output exists, is newer than the video, and parses as its format.
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

// True when `output` exists, is at least as new as `video`, and parses as `format`.
bool caption_output_complete(const std::filesystem::path& output,
                             const std::filesystem::path& video, CaptionFormat format);

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
