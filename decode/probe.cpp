#include "decode/internal/ffmpeg_log.h"
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

VideoInfo probe(const std::filesystem::path& path) {
  internal::WarningSink sink(path.string());
  internal::MediaFile file(path, sink, true);
  return internal::describe(file);
}

std::vector<double> keyframe_times(const std::filesystem::path& path, const CancelToken& cancel,
                                   const ProgressCallback& progress) {
  internal::WarningSink sink(path.string());
  internal::MediaFile file(path, sink, true);
  const internal::StreamFacts facts = file.facts();
  return internal::read_keyframe_times(file, facts, true, cancel, progress);
}

}  // namespace clipmind::decode
