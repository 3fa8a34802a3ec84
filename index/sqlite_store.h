// The SQLite store: one database file in WAL mode, schema versioned by migrations
// (schema in docs/index.md), an hnswlib ANN file beside it (see ann_cache.h).
#pragma once

#include <filesystem>
#include <memory>

#include "index/store.h"

namespace clipmind::index {

// The newest schema version this build writes.
inline constexpr int kSqliteSchemaVersion = 2;

std::unique_ptr<Store> open_sqlite_store(const std::filesystem::path& file,
                                         const OpenOptions& options);

}  // namespace clipmind::index
