#include "decode/internal/ffmpeg_log.h"
#include "decode/internal/file_scan.h"
#include "decode/internal/media_file.h"
#include "decode/video_info.h"

namespace clipmind::decode {

bool looks_like_url(std::string_view path) {
  // RFC 3986 scheme: a letter, then letters, digits, '+', '-', '.'; then "://".
  const size_t colon = path.find("://");
  if (colon == std::string_view::npos || colon == 0) return false;
  const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!letter(path[0])) return false;
  for (size_t i = 1; i < colon; ++i) {
    const char c = path[i];
    if (!letter(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

const char* describe_field_order(const std::string& f) {
  if (f == "tt") return "top field first";
  if (f == "bb") return "bottom field first";
  if (f == "tb") return "top field coded first, bottom field shown first";
  if (f == "bt") return "bottom field coded first, top field shown first";
  if (f == "progressive") return "progressive";
  return "unknown";
}

VideoInfo probe(const std::filesystem::path& path, MediaIndexCache* index_cache) {
  internal::WarningSink sink(path.string());
  internal::MediaFile file(path, sink, true);
  const internal::StreamFacts facts = file.facts();
  internal::FileScan scan(file, facts, index_cache);
  return internal::describe(file, scan);
}

std::vector<double> keyframe_times(const std::filesystem::path& path, const CancelToken& cancel,
                                   const ProgressCallback& progress, MediaIndexCache* index_cache) {
  internal::WarningSink sink(path.string());
  internal::MediaFile file(path, sink, true);
  const internal::StreamFacts facts = file.facts();
  internal::FileScan scan(file, facts, index_cache, cancel, progress);
  return internal::read_keyframe_times(file, facts, true, scan, cancel);
}

}  // namespace clipmind::decode
