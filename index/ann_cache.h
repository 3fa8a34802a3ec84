// Keeps an AnnIndex in step with a database, and persists it as a file beside the database.
//
// Staleness rule (docs/index.md): every transaction that adds or removes segments bumps the
// database's `generation` and stamps the rows it adds (segments.gen) and removes (tombstones.gen)
// with it. An ANN file is named `<prefix>.ann-<db uuid>-<generation>.hnsw`: it holds exactly the
// live segments of that generation of that database. To reach generation G from a file or memory
// at generation F <= G, apply segments with gen > F and tombstones with gen > F; that is possible
// only while the database still keeps tombstones after F (tombstones_after <= F). Otherwise, or
// when the file is missing, unreadable, of another dimension or another database: rebuild
// from every live segment.
//
// Every file has a manifest beside it (`<file>.meta`: identity, generation, dimension, model,
// size and a 64-bit checksum of the bytes), written after the file. A file is used only when
// its manifest matches the database and the bytes: a foreign, damaged, truncated or
// half-written file is skipped (with a note, see note()) and never searched.
//
// Not thread-safe; the owning store serialises calls.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "index/ann_index.h"

namespace clipmind::index {

// The database's side of the rule above, read inside one read transaction.
struct AnnSourceState {
  std::string db_uuid;
  uint64_t generation = 0;
  uint64_t tombstones_after = 0;  // tombstones with gen > this are all kept
  int dim = 0;
  std::string model_id;  // the embedding model of the database's segments
  int64_t live_segments = 0;
};

struct AnnDelta {
  std::vector<int64_t> added_ids;
  std::vector<float> added_vectors;  // added_ids.size() x dim, normalised
  std::vector<int64_t> removed_ids;
};

class AnnCache {
 public:
  // `prefix` empty: never persisted (memory only). `read_prefixes`: other places whose files
  // may be loaded (checked by their manifests like our own) but are never written or removed,
  // e.g. the owner's file beside a database opened read-only.
  AnnCache(std::filesystem::path prefix, AnnParams params,
           std::vector<std::filesystem::path> read_prefixes = {});

  // Fills a delta with segments added after `since` (every live one when since == 0 and
  // `full` is set) and tombstones after `since`.
  using FetchFn = std::function<void(uint64_t since, bool full, AnnDelta& delta)>;

  // Brings the index to `state` and returns it (nullptr when the database has no segments
  // yet). Sets `changed` when anything had to be applied.
  AnnIndex* sync(const AnnSourceState& state, const FetchFn& fetch);

  // Writes the current index to its file when it differs from the file by many changes (or
  // always with `force`); removes the files of older generations and of other databases at
  // this path. Returns the generation now on disk (0 when nothing is).
  uint64_t persist(bool force);
  AnnIndex* index() { return index_.get(); }
  // Forgets the in-memory index (the next sync loads a file or rebuilds): for when the
  // database may have been read while it changed underneath.
  void reset();

  uint64_t generation() const { return generation_; }
  // How the last sync got there: "current", "memory+delta", "file", "file+delta", "rebuild".
  const std::string& last_path() const { return last_path_; }
  std::filesystem::path file_for(const std::string& uuid, uint64_t generation) const;
  static std::filesystem::path manifest_for(const std::filesystem::path& file);

  // The file last loaded or written (empty: none), and counters over this cache's life:
  // vectors read from files and vectors streamed from the database.
  const std::filesystem::path& last_file() const { return last_file_; }
  uint64_t vectors_from_file() const { return vectors_from_file_; }
  uint64_t vectors_streamed() const { return vectors_streamed_; }
  // Why the last rejected file was not used (empty: none was rejected).
  const std::string& note() const { return note_; }

  // ANN files beside `prefix` (and the read prefixes) for `uuid`, newest generation first.
  std::vector<std::pair<uint64_t, std::filesystem::path>> files(const std::string& uuid) const;

  // Copies the ANN fields of StoreInfo (ann_sync, ann_file, counters, note).
  void describe(StoreInfo& info) const;

 private:
  void apply(const AnnDelta& delta, int dim);
  // Empty when `file`'s manifest matches `state` and the bytes; otherwise why not.
  std::string check_manifest(const std::filesystem::path& file, uint64_t generation,
                             const AnnSourceState& state) const;
  void write_manifest(const std::filesystem::path& file) const;

  std::filesystem::path prefix_;
  std::vector<std::filesystem::path> read_prefixes_;
  AnnParams params_;
  std::unique_ptr<AnnIndex> index_;
  std::string uuid_;
  std::string model_id_;
  uint64_t generation_ = 0;
  uint64_t persisted_generation_ = 0;
  size_t pending_ = 0;  // changes applied since the file on disk
  std::string last_path_;
  std::filesystem::path last_file_;
  uint64_t vectors_from_file_ = 0;
  uint64_t vectors_streamed_ = 0;
  std::string note_;
};

// Keeps a folder of per-database ANN copies (`<root>/pg-<identity>/`, `<root>/sqlite-<identity>/`
// for read-only SQLite opens, see OpenOptions) at most
// `max_bytes` in all by removing whole folders of other databases, least recently used first
// (by folder modification time: a store touches its own folder when it opens it, and writing a
// file touches it too). `keep` is never removed, even when it alone is over the cap: the open
// database's copy is what makes its searches fast. max_bytes 0 = no cap. Errors are skipped (a
// folder that cannot be read or removed stays); a cache must never fail a search. Returns the
// bytes removed.
uint64_t trim_ann_cache_dir(const std::filesystem::path& root, uint64_t max_bytes,
                            const std::filesystem::path& keep);

}  // namespace clipmind::index
