// MediaIndexCache: what one read of all of a file's packets finds, kept so that the probes and
// samplers of one job (or one GUI) read a file once.
//
// MPEG-TS/PS files have no index: every FrameSampler reads all their packets (demuxing only)
// to find the keyframes and their byte positions; a file that states no duration (a WebM
// recorded live, a single PNG) is read to its end by every probe() and sampler as well. `ask`
// opens several samplers of one file (selection probes, relevance frames, the encode pass), so
// without sharing, a multi-gigabyte recording is demuxed several times over.
//
// Give one cache to every probe() and FrameSampler (SamplerOptions::index_cache) that should
// share: a file is then read once, and later users take the stored result. Entries are keyed
// by the file's absolute path, size and modification time (and the video stream), so a file
// that changes is read again. Memory is bounded: an entry takes kBytesPerKeyframe per keyframe
// plus its path; when the total would pass `max_bytes` the least recently used entries go.
// Thread-safe: probes and samplers on several threads may share one cache; two that need the
// same file at once read it once (the second waits for the first). A read that fails or is
// cancelled stores nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>

namespace clipmind::decode {

namespace internal {
class FileScan;
}

// What a cache did for one file: `read` true when it read all the packets now (false when it
// reused an earlier read), the keyframes found and the seconds the read took (0 on reuse).
struct IndexNotice {
  std::filesystem::path file;
  bool read = false;
  size_t keyframes = 0;
  double seconds = 0.0;
};

class MediaIndexCache {
 public:
  // Keyframe time (8 bytes) plus its time, byte position, pts, dts and rank at that position
  // (40 bytes with padding).
  static constexpr size_t kBytesPerKeyframe = 48;
  static constexpr size_t kDefaultMaxBytes = size_t{64} << 20;

  // `on_notice` runs on the thread of the probe or sampler that used the cache (for logs).
  explicit MediaIndexCache(size_t max_bytes = kDefaultMaxBytes,
                           std::function<void(const IndexNotice&)> on_notice = {});
  ~MediaIndexCache();
  MediaIndexCache(const MediaIndexCache&) = delete;
  MediaIndexCache& operator=(const MediaIndexCache&) = delete;

  int64_t reads() const;   // files read in full through this cache
  int64_t reuses() const;  // times a stored read was used instead of reading again
  size_t bytes() const;    // memory the stored entries take (as counted above)
  size_t files() const;    // entries stored

 private:
  friend class internal::FileScan;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipmind::decode
