// The archive index job (`clipmind index`) and index search (`clipmind search`, the GUI's
// Search tab), built on segment analysis (segment_analysis.h) and the store (index/store.h).
//
// run_index(): walks files and folders (video extensions, recursively, sorted), optionally
// keeps one shard (`--shard i/n`), and for every video:
//   1. freshness against the store (size + mtime; the content hash only when they disagree):
//      unchanged → skipped, failed before on the same content → skipped (unless retry_failed),
//      new / changed / incomplete (an earlier run was killed) → indexed; `force` re-indexes all;
//   2. begin_video (in-progress), analyze_segments (scenes, SigLIP embeddings, thumbnails,
//      optional captions), commit_video: one transaction per video, so a crash or kill -9
//      loses nothing committed and the next run resumes with what is left;
//   3. any failure of that video (damaged, unreadable) is recorded with fail_video and its
//      error, and the batch goes on.
// `jobs` workers run in parallel, each with its own Session (models loaded once per worker;
// compute threads split between them). With a postgresql:// store the workers claim videos
// from the database's job queue (index/job_queue.h: SKIP LOCKED, heartbeats, stale claims
// reclaimed), so many processes on many machines index one archive exactly once; with SQLite
// the workers share an in-process list. After the batch: `prune` removes stored videos under
// the given folders that no longer exist; the ANN index is synced and saved.
// Cancellation (CancelToken) stops within one SigLIP layer; the video in progress stays
// in-progress in the store and is redone by the next run. Progress: stage "index" (files) plus
// each video's analysis stages. Throws only for job-level problems (no relevance model, the
// store cannot be opened, bad shard); per-video errors go into the report.
//
// search_index(): a text query is embedded with the SigLIP text tower and fused with caption
// full-text matches (reciprocal rank fusion in the store); a "like" query takes the stored
// segment of VIDEO at SECONDS (or, for a video that is not indexed, embeds frames around that
// time) and returns its nearest neighbours, the source segment excluded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "clipmind/error.h"
#include "index/shard.h"
#include "index/store.h"
#include "pipeline/job_types.h"
#include "pipeline/session.h"

namespace clipmind::pipeline {

struct IndexRequest {
  std::vector<std::filesystem::path> inputs;  // files and folders
  std::string db;                             // SQLite path, sqlite:PATH or postgresql://...
  bool captions = false;                      // also caption every segment with the VLM
  int jobs = 1;                               // parallel workers in this process
  bool prune = false;                         // remove stored videos deleted from the inputs
  std::optional<index::Shard> shard;          // keep only this shard of the file list
  bool retry_failed = false;                  // re-try videos that failed on the same content
  bool force = false;                         // re-index everything
  int64_t frames_per_segment = 4;             // frames averaged into a segment's embedding
  // ann_cache_dir empty: run_index sets it from the session's config (index_open_options).
  index::OpenOptions store_options;
  // PostgreSQL queue: seconds without a heartbeat before a claim counts as abandoned.
  double stale_after_s = 300.0;
};

enum class IndexStatus { kIndexed, kSkipped, kFailed, kCancelled };
const char* to_string(IndexStatus status);

struct IndexFileResult {
  std::string path;  // absolute, as stored
  IndexStatus status = IndexStatus::kIndexed;
  std::string reason;  // freshness: "new", "changed", "incomplete", "unchanged", "failed before",
                       // "outdated times" (index::Freshness::kOutdated)
  int64_t segments = 0;
  double seconds = 0.0;
  ErrorKind error_kind = ErrorKind::kInternal;
  std::string error;  // user-facing message when failed
  std::string worker;
};

struct IndexReport {
  std::string db;  // location, password hidden
  std::vector<IndexFileResult> files;
  int64_t indexed = 0;
  int64_t skipped = 0;
  int64_t failed = 0;
  int64_t segments = 0;  // segments written by this run
  std::vector<std::string> pruned;
  bool cancelled = false;
  double seconds = 0.0;
  // Why the ANN file (a copy of the database's vectors, for fast searches) could not be saved
  // after the batch, e.g. a full disk; empty: saved. Not a failure: the next search rebuilds it.
  std::string ann_save_error;
  // 0 when nothing failed; 130 when cancelled; else the exit code of the first failure's kind.
  int exit_code() const;
};

// The videos named by `inputs` as the index stores them: absolute, normalised, in order, each
// file once (collect_videos).
std::vector<std::string> index_paths(const std::vector<std::filesystem::path>& inputs);

IndexReport run_index(Session& session, const IndexRequest& request,
                      const JobCallbacks& callbacks = {}, const CancelToken& cancel = {});

// "status  segments  seconds  file" table with a totals line, for the CLI.
std::string format_index_summary(const IndexReport& report);

// --- search ---------------------------------------------------------------------------------

struct SearchRequest {
  std::string text;                       // text query (SigLIP text tower + caption match)
  std::optional<std::string> like_video;  // or: moments like this video ...
  double like_seconds = 0.0;              // ... at this time
  size_t k = 10;
  bool thumbnails = false;  // fill SearchResult::thumbnail_jpeg
  index::SearchMode mode = index::SearchMode::kAuto;
};

struct SearchResult {
  int64_t segment_id = 0;
  std::string video_path;
  double t_begin = 0.0;
  double t_end = 0.0;
  double score = 0.0;                // fused score, higher is better
  std::optional<double> similarity;  // cosine similarity to the query embedding
  std::string caption;
  std::vector<uint8_t> thumbnail_jpeg;  // when requested and stored
};

struct SearchOutcome {
  std::vector<SearchResult> results;
  std::optional<index::SegmentRecord> source;  // the "like" segment, when it was stored
  std::vector<std::string> notes;              // e.g. "captions only: no relevance model"
  // Pictures were not compared (no relevance model could be used): front ends add how to
  // choose one, in their own words (--relevance-model, Settings).
  bool captions_only = false;
};

// Parses "VIDEO@SECONDS" (seconds, m:ss or h:mm:ss; the last '@' splits). Throws
// Error(kInvalidArgument).
std::pair<std::string, double> parse_like(const std::string& text);

// check_question() for a search text ("search: the query is empty", ...; kInvalidArgument).
// search_index() calls it; front ends call it before opening the index or loading a model.
void check_search_query(const std::string& text);

// How front ends open an index: a PostgreSQL store keeps its local ANN copy (when it searches
// without pgvector) under `<cache.dir>/index-ann/` while the cache is enabled, in memory only
// with cache.enabled = false (--no-cache), capped at cache.ann_max_gb (other databases' copies
// are evicted). SQLite keeps its file beside the database when writing (`create`); create =
// false opens read-only (OpenOptions::read_only: nothing is written beside the database, the
// SQLite ANN copy goes to `<cache.dir>/index-ann/sqlite-<identity>/`).
index::OpenOptions index_open_options(const PipelineConfig& config, bool create);

// Searches an open store. The session supplies the SigLIP dual encoder (relevance_model).
SearchOutcome search_index(Session& session, index::Store& store, const SearchRequest& request,
                           const CancelToken& cancel = {});

// Convenience for front ends: opens `db`, searches `query` (text), closes.
std::vector<SearchResult> search_index(const PipelineConfig& config, const std::string& db,
                                       const std::string& query, size_t k = 10,
                                       bool thumbnails = true);

}  // namespace clipmind::pipeline
