// The SQLite store: one database file in WAL mode, schema versioned by migrations
// (schema in docs/index.md), an hnswlib ANN file beside it (see ann_cache.h).
#pragma once

#include <filesystem>
#include <memory>

#include "index/store.h"

namespace clipmind::index {

// The newest schema version this build writes.
inline constexpr int kSqliteSchemaVersion = 3;
// The oldest schema a read-only open (search) reads as it is: version 3 only added what
// writers use (videos.segments_version), so an older index stays searchable where it cannot
// be upgraded (someone else's file, a read-only folder).
inline constexpr int kSqliteReadableFrom = 2;

std::unique_ptr<Store> open_sqlite_store(const std::filesystem::path& file,
                                         const OpenOptions& options);

}  // namespace clipmind::index
