// The PostgreSQL store (`postgresql://...`): the same records as the SQLite store in tables
// prefixed `clipmind_`, embeddings as real[] (searchable without extensions: the store keeps
// an in-memory ANN/exact index caught up through the generation rule of ann_cache.h),
// captions full-text indexed with a tsvector column. When the database has the pgvector
// extension, vector lists come from the server instead (see docs/index.md).
#pragma once

#include <memory>
#include <string>

#include "index/store.h"

namespace clipmind::index {

inline constexpr int kPgSchemaVersion = 2;
// The oldest schema a search (create = false) reads as it is: version 2 only added what
// writers use (clipmind_videos.segments_version).
inline constexpr int kPgReadableFrom = 1;

std::unique_ptr<Store> open_pg_store(const std::string& uri, const OpenOptions& options);

}  // namespace clipmind::index
