#include "decode/internal/ffmpeg_log.h"
#include "decode/internal/media_file.h"
#include "decode/video_info.h"

namespace clipmind::decode {

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
