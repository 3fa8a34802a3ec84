// FileScan: scan_packets() of one opened file, done at most once, and through a
// MediaIndexCache (decode/media_index.h) when one is given: then a file that an earlier probe or
// sampler read is not read again. Private to decode/.
#pragma once

#include <memory>

#include "clipmind/progress.h"
#include "decode/internal/media_file.h"
#include "decode/media_index.h"

namespace clipmind::decode::internal {

class FileScan {
 public:
  // `file` and `facts` must outlive this; `cache` may be null (no sharing).
  FileScan(MediaFile& file, const StreamFacts& facts, MediaIndexCache* cache,
           CancelToken cancel = {}, ProgressCallback progress = {});

  // The scan, read now on first use (or taken from the cache).
  const PacketScan& get();

 private:
  MediaFile& file_;
  const StreamFacts& facts_;
  MediaIndexCache* cache_;
  CancelToken cancel_;
  ProgressCallback progress_;
  std::shared_ptr<const PacketScan> scan_;
};

}  // namespace clipmind::decode::internal
