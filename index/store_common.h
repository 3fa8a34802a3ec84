// Rules shared by the SQLite and PostgreSQL stores: the freshness decision and validation of
// segments before they are written. Internal to index/.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "index/store.h"

namespace clipmind::index {

struct FreshnessDecision {
  Freshness freshness = Freshness::kNew;
  bool record_mtime = false;  // same content under a new mtime: store the new mtime
};

// See Store::freshness. A different size means different content without hashing; the hash is
// computed only when the size matches and the mtime does not.
FreshnessDecision decide_freshness(const std::optional<VideoRecord>& stored, int64_t size_bytes,
                                   int64_t mtime_ns, const std::function<std::string()>& hash);

struct PreparedSegments {
  int dim = 0;                                 // 0 when there are no segments
  std::vector<std::vector<float>> embeddings;  // normalised copies
};

// Checks spans (finite, t_begin <= t_end) and that every embedding has the same non-zero size;
// throws kInvalidArgument naming `where` (the database) and the video.
PreparedSegments prepare_segments(std::span<const Segment> segments, const std::string& where,
                                  const std::string& video);

int64_t unix_now();

}  // namespace clipmind::index
