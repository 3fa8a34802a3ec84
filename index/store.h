// The archive index: videos, their segments (time span, embedding, caption, thumbnail) and
// search over them. Two implementations behind one interface: SQLite (one file, the default)
// and PostgreSQL (`postgresql://...`, many workers on many machines).
//
// Ownership: open_store() returns a Store that owns its connection and its in-memory ANN
// index; destroying it closes both. One Store may be called from several threads (calls are
// serialised inside); parallel writers on many machines each open their own Store.
//
// Consistency: everything about one video is written in one transaction (commit_video), so a
// crash, kill -9 or a failed write leaves either the previous version of that video or the new
// one, never a mix. Embeddings are L2-normalised on the way in, so similarity is cosine.
// Errors: clipmind::Error naming the database file or URI (password hidden) and the problem:
// kInvalidInput for a corrupt or foreign database, kUnsupported for a newer schema,
// kInvalidArgument for a wrong embedding dimension or model, kNetwork for connections.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace clipmind::index {

// What identifies a file's content: the store compares these to decide what to re-index.
struct FileStamp {
  std::string content_hash;  // opaque to the store; sha256_file() (file_hash.h) gives one
  int64_t size_bytes = 0;
  int64_t mtime_ns = 0;  // nanoseconds since the Unix epoch
};

// The convention of the segment times a store holds. Version 1 (clipmind before the decode
// change of docs/decode.md "Time") counted from the video stream's own start instead of the
// file's start as players show it: times were off by the video's start time (7-23 ms in
// Matroska/WebM with Opus or AAC, seconds when the picture starts after its sound), and a
// Matroska segment starting late stretched the duration. Every write of a video records the
// current version; freshness() reports kOutdated for an indexed video written under an older one.
// Bump it when a change moves the times of stored segments.
inline constexpr int kSegmentsVersion = 2;

enum class VideoStatus { kInProgress, kIndexed, kFailed };

const char* to_string(VideoStatus status);

struct VideoRecord {
  int64_t id = 0;
  std::string path;
  FileStamp stamp;
  VideoStatus status = VideoStatus::kInProgress;
  std::string error;       // why indexing failed; empty otherwise
  std::string model_id;    // the embedding model that produced its segments
  int64_t updated_at = 0;  // Unix seconds of the last status change (time indexed)
  int64_t segment_count = 0;
  int segments_version = kSegmentsVersion;  // the convention its segments' times follow
};

// One segment as the pipeline hands it over.
struct Segment {
  double t_begin = 0.0;  // seconds from the stream's start
  double t_end = 0.0;
  std::vector<float> embedding;         // any scale; stored normalised
  std::string caption;                  // empty: no caption
  std::vector<uint8_t> thumbnail_jpeg;  // empty: no thumbnail
};

// A segment as stored.
struct SegmentRecord {
  int64_t id = 0;
  std::string video_path;
  double t_begin = 0.0;
  double t_end = 0.0;
  std::string caption;
  std::vector<float> embedding;  // normalised
  bool has_thumbnail = false;
};

// What a store should do with a file it is asked about.
enum class Freshness {
  kNew,           // never seen: index it
  kUnchanged,     // indexed, same content: skip
  kChanged,       // indexed, content differs: re-index
  kIncomplete,    // an earlier run started it and never finished (crash, kill): index it
  kFailedBefore,  // an earlier run failed on this very content: skip unless retrying failures
  // Indexed, same content, but its segments were written under an older kSegmentsVersion:
  // their times may be off. The caller checks the file (index them again, or
  // mark_segments_current when its times would not move).
  kOutdated,
};

const char* to_string(Freshness freshness);

// Whether a file in this state needs (re)indexing.
inline bool needs_indexing(Freshness f, bool retry_failed = false) {
  return f == Freshness::kNew || f == Freshness::kChanged || f == Freshness::kIncomplete ||
         f == Freshness::kOutdated || (retry_failed && f == Freshness::kFailedBefore);
}

enum class SearchMode {
  kAuto,   // exact below OpenOptions::exact_search_below live segments, ANN above
  kExact,  // brute force over every stored embedding
  kAnn,    // HNSW (hnswlib) approximate search
};

// Reciprocal rank fusion: score = w_vec / (k + rank_vec) + w_text / (k + rank_text), ranks
// from 1, a list the segment is absent from contributes 0. See docs/index.md.
struct FusionParams {
  double rrf_k = 60.0;
  double vector_weight = 1.0;
  double text_weight = 1.0;
};

struct SearchQuery {
  std::vector<float> embedding;  // SigLIP text-tower embedding of the query, or a segment's
                                 // embedding for "like" search; empty: full-text only
  std::string text;              // matched against captions (any word); empty: vectors only
  size_t k = 10;
  SearchMode mode = SearchMode::kAuto;
  size_t candidates = 0;  // depth of each ranked list before fusion; 0: max(5k, 50)
  size_t ef_search = 0;   // HNSW ef; 0: max(2 * candidates, 64)
  FusionParams fusion;
  std::vector<int64_t> exclude_segments;  // e.g. the source segment of a "like" search
};

struct SearchHit {
  int64_t segment_id = 0;
  std::string video_path;
  double t_begin = 0.0;
  double t_end = 0.0;
  double score = 0.0;                 // fused score (higher is better)
  std::optional<double> similarity;   // cosine similarity to the query embedding
  std::optional<size_t> vector_rank;  // 1-based rank in the vector list
  std::optional<size_t> text_rank;    // 1-based rank in the caption full-text list
  std::string caption;
  bool has_thumbnail = false;  // fetch the bytes with Store::thumbnail(segment_id)
};

// HNSW parameters (hnswlib). Defaults suit up to a few million segments.
struct AnnParams {
  size_t m = 16;
  size_t ef_construction = 200;
  unsigned threads = 1;  // threads used to add vectors when (re)building
};

struct OpenOptions {
  bool create = true;  // create the database or its tables when missing
  // Only read (search, list): never write the database and, for SQLite, never create a file
  // in its folder (no -wal/-shm, no ANN copy), so that searching someone else's index, or one
  // in a read-only folder, works and leaves nothing the owner's next `index` trips over. The
  // SQLite file is opened `mode=ro`, sharing its writers' -wal/-shm when they exist, else
  // `immutable=1` guarded by the file's stamp (docs/index.md "Read-only opens"). The ANN copy
  // is then read from beside the database but written only under ann_cache_dir
  // (`sqlite-<identity>/`). Writing calls throw kInvalidArgument. Implies create = false.
  bool read_only = false;
  AnnParams ann;
  size_t exact_search_below = 20000;  // SearchMode::kAuto uses exact search below this size
  // Where a PostgreSQL store may persist its local ANN copy; empty: in memory only. Each
  // database gets its own folder `<ann_cache_dir>/pg-<identity>` (docs/index.md); front ends
  // pass the user cache (pipeline::index_open_options). SQLite uses it only for read_only
  // opens (a writable store keeps its file beside the db, where every reader finds it).
  std::filesystem::path ann_cache_dir;
  // Cap on everything under ann_cache_dir: opening a PostgreSQL store removes other databases'
  // folders there, least recently used first, above it (trim_ann_cache_dir); 0 = no cap.
  uint64_t ann_cache_max_bytes = 0;
  int busy_timeout_ms = 30000;  // SQLite: how long to wait for another writer
  // PostgreSQL: search vectors on the server with pgvector when the database has it.
  bool use_pgvector = true;
};

struct StoreInfo {
  std::string backend;   // "sqlite" or "postgresql"
  std::string location;  // file path, or URI with the password hidden
  int schema_version = 0;
  int dim = 0;              // 0 until the first segment fixes it
  std::string model_id;     // empty until the first indexed video fixes it
  std::string model_name;   // the model for people (adopt_model); empty: not recorded
  uint64_t generation = 0;  // bumped by every change to the set of segments
  int64_t segment_count = 0;
  int64_t video_count = 0;
  bool pgvector = false;  // PostgreSQL only: searches run on the server through pgvector
  // The store's local ANN copy (when searches do not use pgvector), over this Store's life.
  std::string ann_sync;  // how the last sync got there: "" (none yet), "current", "memory+delta",
                         // "file", "file+delta" (a persisted file, caught up), "rebuild"
  std::filesystem::path ann_file;      // persisted file last loaded or written; empty: none
  uint64_t ann_vectors_from_file = 0;  // vectors loaded from persisted files
  uint64_t ann_vectors_streamed = 0;   // vectors read from the database (rebuilds, catch-up)
  std::string ann_note;                // why a persisted file was rejected; empty: none was
  std::string ann_save_error;  // why the ANN copy could not be saved (searches go on); empty: ok
  // SQLite: "read-write"; read_only opens: "read-only" (the writers' -wal/-shm are shared) or
  // "immutable" (no -wal: the file alone, its stamp checked around every read).
  std::string open_mode;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual StoreInfo info() = 0;

  virtual std::optional<VideoRecord> find_video(const std::string& path) = 0;
  virtual std::vector<VideoRecord> list_videos() = 0;

  // Compares a file with what is stored. `hash` is called only when size or mtime differ
  // from the stored ones (hashing a long video is the slow part); when the hash still matches,
  // the new size/mtime are recorded and the answer is kUnchanged.
  virtual Freshness freshness(const std::string& path, int64_t size_bytes, int64_t mtime_ns,
                              const std::function<std::string()>& hash) = 0;

  // Records that indexing of `path` started (status in-progress). Segments of an earlier
  // version stay searchable until commit_video or fail_video replaces them.
  virtual void begin_video(const std::string& path, const FileStamp& stamp,
                           const std::string& model_id) = 0;

  // In one transaction: replaces every segment of `path` by `segments` and marks the video
  // indexed. The first commit fixes the index's dimension and model; later ones must match
  // (kInvalidArgument otherwise, and nothing is written).
  virtual void commit_video(const std::string& path, const FileStamp& stamp,
                            const std::string& model_id, std::span<const Segment> segments) = 0;

  // In one transaction: removes the segments of `path` and marks it failed with `error`.
  virtual void fail_video(const std::string& path, const FileStamp& stamp,
                          const std::string& model_id, const std::string& error) = 0;

  // The index's embedding model for a client that knows it under `model_id` and, perhaps, under
  // older ids (`aliases`, e.g. what an older clipmind computed for the same model). In one
  // transaction, when the stored model id is `model_id` or an alias: rewrites an alias to
  // `model_id` in the metadata and in every video row, and records `name` (StoreInfo::model_name,
  // for messages) when none is recorded or an alias was rewritten. Returns true then; changes
  // nothing and returns false when the stored id is empty or another one.
  virtual bool adopt_model(const std::string& model_id, std::span<const std::string> aliases,
                           const std::string& name) = 0;

  // Records that the indexed video `path`'s stored segments follow kSegmentsVersion, without
  // rewriting them: for a kOutdated video whose times the older convention did not move.
  virtual void mark_segments_current(const std::string& path) = 0;

  // Removes videos (and their segments); returns how many existed.
  virtual size_t remove_videos(std::span<const std::string> paths) = 0;

  virtual std::vector<SearchHit> search(const SearchQuery& query) = 0;

  // The segment of `path` whose span contains `seconds` (or, when none does, the nearest
  // one); nullopt when the video has no segments. For "like VIDEO@SECONDS" searches.
  virtual std::optional<SegmentRecord> segment_at(const std::string& path, double seconds) = 0;
  virtual std::vector<SegmentRecord> segments_of(const std::string& path) = 0;

  // JPEG bytes of a segment's thumbnail; empty when it has none or does not exist.
  virtual std::vector<uint8_t> thumbnail(int64_t segment_id) = 0;

  // Brings the ANN index up to date with the database and persists it (SQLite: beside the
  // file; PostgreSQL: in ann_cache_dir when set). search() does this on its own; an indexing
  // job calls it once at the end so the next search starts fast.
  virtual void sync_ann() = 0;
};

// Opens `location`: a `postgresql://` or `postgres://` URI, or a SQLite file path (optionally
// prefixed `sqlite:`). Throws clipmind::Error naming the location.
std::unique_ptr<Store> open_store(const std::string& location, const OpenOptions& options = {});

// `uri` with any password replaced by "***", for messages.
std::string redact_uri(const std::string& uri);

bool is_postgres_uri(const std::string& location);

// Removes every stored video that lies under one of `roots` (or anywhere when `roots` is
// empty) and no longer exists on disk. Returns the removed paths.
std::vector<std::string> prune_missing(Store& store,
                                       std::span<const std::filesystem::path> roots = {});

}  // namespace clipmind::index
