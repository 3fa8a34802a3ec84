#include "index/pg_store.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <sstream>

#include "clipmind/error.h"
#include "index/ann_cache.h"
#include "index/pg_connection.h"
#include "index/pg_schema.h"
#include "index/ranking.h"
#include "index/store_common.h"

namespace clipmind::index {

namespace {

// Each entry moves the schema from version i to i + 1. Never edit a released entry.
constexpr const char* kPgMigrations[] = {
    R"sql(
CREATE TABLE clipmind_meta(key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE clipmind_videos(
  id bigserial PRIMARY KEY,
  path text NOT NULL UNIQUE,
  content_hash text NOT NULL,
  size_bytes bigint NOT NULL,
  mtime_ns bigint NOT NULL,
  status text NOT NULL CHECK (status IN ('in_progress', 'indexed', 'failed')),
  error text NOT NULL DEFAULT '',
  model_id text NOT NULL DEFAULT '',
  updated_at bigint NOT NULL);
CREATE TABLE clipmind_segments(
  id bigserial PRIMARY KEY,
  video_id bigint NOT NULL REFERENCES clipmind_videos(id) ON DELETE CASCADE,
  t_begin double precision NOT NULL,
  t_end double precision NOT NULL,
  embedding real[] NOT NULL,
  caption text NOT NULL DEFAULT '',
  caption_tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', caption)) STORED,
  thumbnail bytea,
  gen bigint NOT NULL);
CREATE INDEX clipmind_segments_video ON clipmind_segments(video_id, t_begin);
CREATE INDEX clipmind_segments_gen ON clipmind_segments(gen);
CREATE INDEX clipmind_segments_tsv ON clipmind_segments USING gin(caption_tsv);
CREATE TABLE clipmind_tombstones(segment_id bigint PRIMARY KEY, gen bigint NOT NULL);
CREATE INDEX clipmind_tombstones_gen ON clipmind_tombstones(gen);
CREATE TABLE clipmind_jobs(
  path text PRIMARY KEY,
  state text NOT NULL CHECK (state IN ('queued', 'claimed', 'done', 'failed')),
  worker text NOT NULL DEFAULT '',
  attempts integer NOT NULL DEFAULT 0,
  error text NOT NULL DEFAULT '',
  seq bigserial,
  claimed_at timestamptz,
  heartbeat_at timestamptz);
CREATE INDEX clipmind_jobs_state ON clipmind_jobs(state, seq);
INSERT INTO clipmind_meta(key, value) VALUES
  ('schema_version', '0'), ('db_uuid', md5(random()::text || clock_timestamp()::text)),
  ('generation', '0'), ('tombstones_after', '0'), ('dim', '0'), ('model_id', '');
)sql",
    // 2: the convention of each video's segment times (index::kSegmentsVersion); rows written
    // before it existed follow version 1.
    R"sql(
ALTER TABLE clipmind_videos ADD COLUMN segments_version integer NOT NULL DEFAULT 1;
)sql",
};
static_assert(std::size(kPgMigrations) == kPgSchemaVersion);

// Any fixed number: serialises schema creation between workers that start together.
constexpr int64_t kSchemaLockKey = 0x636c69706d696e64;  // "clipmind"

VideoStatus parse_status(const std::string& s) {
  if (s == "indexed") return VideoStatus::kIndexed;
  if (s == "failed") return VideoStatus::kFailed;
  return VideoStatus::kInProgress;
}

std::string vector_literal(std::span<const float> v) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out.precision(9);
  out << '[';
  for (size_t i = 0; i < v.size(); ++i)
    out << (i ? "," : "") << v[i];
  out << ']';
  return out.str();
}

}  // namespace

std::string pgvector_search_sql(int dim, bool exact) {
  const std::string type = "vector(" + std::to_string(dim) + ")";
  const std::string distance = "(embedding::" + type + ") <#> $1::" + type;
  if (exact) {
    return "SELECT id, -(" + distance + ") FROM clipmind_segments ORDER BY " + distance +
           ", id LIMIT $2";
  }
  // An index scan delivers rows ordered by the distance alone: a second sort key (the id, for
  // equal distances) in the same ORDER BY makes the planner sort a sequential scan instead, so
  // HNSW would never be used. The ids break ties in an outer sort over the LIMITed rows.
  return "SELECT id, similarity FROM (SELECT id, -(" + distance +
         ") AS similarity FROM clipmind_segments ORDER BY " + distance +
         " LIMIT $2) AS nearest ORDER BY similarity DESC, id";
}

namespace {

class PgStore final : public Store {
 public:
  PgStore(const std::string& uri, const OpenOptions& options)
      : options_(options), conn_(uri), ann_({}, options.ann) {
    has_segments_version_ = ensure_pg_schema(conn_, options.create) >= 2;
    if (options.use_pgvector) {
      auto r = conn_.exec("SELECT count(*) FROM pg_extension WHERE extname = 'vector'");
      pgvector_ = r.i64(0, 0) > 0;
    }
    identity_ = pg_store_identity(conn_);
    // Without an identity (a read-only role on a database that lacks its id) the copy stays
    // in memory: a file that cannot be told apart from another database's must not exist.
    if (!options.ann_cache_dir.empty() && !identity_.empty()) {
      namespace fs = std::filesystem;
      const fs::path folder = options.ann_cache_dir / ("pg-" + identity_);
      ann_ = AnnCache(folder / "segments", options.ann);
      // Opening counts as a use: the cap below evicts the folders of databases not opened
      // for the longest time, never this one.
      std::error_code ec;
      if (fs::is_directory(folder, ec))
        fs::last_write_time(folder, fs::file_time_type::clock::now(), ec);
      trim_ann_cache_dir(options.ann_cache_dir, options.ann_cache_max_bytes, folder);
    }
  }

  StoreInfo info() override {
    std::lock_guard lock(mutex_);
    PgTransaction tx(conn_, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    StoreInfo out;
    out.backend = "postgresql";
    out.location = conn_.where();
    out.schema_version = static_cast<int>(std::stoll(meta("schema_version")));
    out.dim = static_cast<int>(std::stoll(meta("dim")));
    out.model_id = meta("model_id");
    out.model_name = optional_meta("model_name");
    out.generation = std::stoull(meta("generation"));
    out.segment_count = conn_.exec("SELECT count(*) FROM clipmind_segments").i64(0, 0);
    out.video_count = conn_.exec("SELECT count(*) FROM clipmind_videos").i64(0, 0);
    out.pgvector = pgvector_;
    ann_.describe(out);
    out.ann_save_error = ann_save_error_;
    tx.commit();
    return out;
  }

  std::optional<VideoRecord> find_video(const std::string& path) override {
    std::lock_guard lock(mutex_);
    auto v = query_videos("WHERE v.path = $1", {path});
    if (v.empty()) return std::nullopt;
    return v.front();
  }

  std::vector<VideoRecord> list_videos() override {
    std::lock_guard lock(mutex_);
    return query_videos("", {});
  }

  Freshness freshness(const std::string& path, int64_t size_bytes, int64_t mtime_ns,
                      const std::function<std::string()>& hash) override {
    const auto video = find_video(path);
    const auto decision = decide_freshness(video, size_bytes, mtime_ns, hash);
    if (decision.record_mtime) {
      std::lock_guard lock(mutex_);
      conn_.exec("UPDATE clipmind_videos SET mtime_ns = $1 WHERE path = $2 AND content_hash = $3",
                 {mtime_ns, path, video->stamp.content_hash});
    }
    return decision.freshness;
  }

  void begin_video(const std::string& path, const FileStamp& stamp,
                   const std::string& model_id) override {
    std::lock_guard lock(mutex_);
    upsert_video(path, stamp, "in_progress", "", model_id);
  }

  void mark_segments_current(const std::string& path) override {
    std::lock_guard lock(mutex_);
    conn_.exec(
        "UPDATE clipmind_videos SET segments_version = $1 WHERE path = $2 AND status = 'indexed'",
        {static_cast<int64_t>(kSegmentsVersion), path});
  }

  void commit_video(const std::string& path, const FileStamp& stamp, const std::string& model_id,
                    std::span<const Segment> segments) override {
    const auto prepared = prepare_segments(segments, conn_.where(), path);
    std::lock_guard lock(mutex_);
    PgTransaction tx(conn_);
    // The generation row lock orders committing transactions: generation order = commit order,
    // which the ANN catch-up relies on.
    const int64_t gen = bump_generation();
    check_model_and_dim(model_id, prepared.dim, path);
    const int64_t video_id = upsert_video(path, stamp, "indexed", "", model_id);
    drop_segments(video_id, gen);
    // Many rows per statement: one round trip per 64 segments instead of one per segment.
    constexpr size_t kRowsPerInsert = 64;
    for (size_t first = 0; first < segments.size(); first += kRowsPerInsert) {
      const size_t last = std::min(segments.size(), first + kRowsPerInsert);
      std::string sql =
          "INSERT INTO clipmind_segments(video_id, t_begin, t_end, embedding, caption, thumbnail, "
          "gen) VALUES ";
      std::vector<PgParam> params{video_id, gen};
      for (size_t i = first; i < last; ++i) {
        const auto& s = segments[i];
        const size_t p = params.size() + 1;
        sql += (i > first ? ", ($1, $" : "($1, $") + std::to_string(p) + ", $" +
               std::to_string(p + 1) + ", $" + std::to_string(p + 2) + ", $" +
               std::to_string(p + 3) + ", $" + std::to_string(p + 4) + ", $2)";
        PgParam embedding;
        embedding.value = encode_float4_array(prepared.embeddings[i]);
        embedding.binary = true;
        PgParam thumb;
        if (!s.thumbnail_jpeg.empty()) thumb = PgParam::bytes(s.thumbnail_jpeg);
        params.insert(params.end(),
                      {s.t_begin, s.t_end, std::move(embedding), s.caption, std::move(thumb)});
      }
      conn_.exec(sql, params);
    }
    tx.commit();
  }

  bool adopt_model(const std::string& model_id, std::span<const std::string> aliases,
                   const std::string& name) override {
    std::lock_guard lock(mutex_);
    PgTransaction tx(conn_);
    // FOR UPDATE: a worker committing its first video (check_model_and_dim) waits for us.
    auto r = conn_.exec("SELECT value FROM clipmind_meta WHERE key = 'model_id' FOR UPDATE");
    if (r.rows() == 0) {
      throw Error(ErrorKind::kInvalidInput, conn_.where() + ": index metadata lacks 'model_id'");
    }
    const std::string stored = r.text(0, 0);
    const bool alias = std::find(aliases.begin(), aliases.end(), stored) != aliases.end();
    if (stored.empty() || (stored != model_id && !alias)) return false;
    if (alias) {
      set_meta("model_id", model_id);
      for (const std::string& a : aliases) {
        if (a.empty() || a == model_id) continue;
        conn_.exec("UPDATE clipmind_videos SET model_id = $1 WHERE model_id = $2", {model_id, a});
      }
    }
    if (!name.empty() && (alias || optional_meta("model_name").empty())) {
      // Indexes made before the name existed lack its row.
      conn_.exec(
          "INSERT INTO clipmind_meta(key, value) VALUES ('model_name', $1) "
          "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          {name});
    }
    tx.commit();
    return true;
  }

  void fail_video(const std::string& path, const FileStamp& stamp, const std::string& model_id,
                  const std::string& error) override {
    std::lock_guard lock(mutex_);
    PgTransaction tx(conn_);
    const int64_t gen = bump_generation();
    const int64_t video_id = upsert_video(path, stamp, "failed", error, model_id);
    drop_segments(video_id, gen);
    tx.commit();
  }

  size_t remove_videos(std::span<const std::string> paths) override {
    std::lock_guard lock(mutex_);
    PgTransaction tx(conn_);
    const int64_t gen = bump_generation();
    size_t removed = 0;
    for (const auto& path : paths) {
      auto r = conn_.exec("SELECT id FROM clipmind_videos WHERE path = $1", {path});
      if (r.rows() == 0) continue;
      const int64_t id = r.i64(0, 0);
      drop_segments(id, gen);
      conn_.exec("DELETE FROM clipmind_videos WHERE id = $1", {id});
      ++removed;
    }
    tx.commit();
    return removed;
  }

  std::vector<SearchHit> search(const SearchQuery& query) override {
    std::lock_guard lock(mutex_);
    std::vector<SearchHit> hits;
    {
      PgTransaction tx(conn_, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      VectorSource source;
      bool have_vectors = false;
      if (pgvector_) {
        source = pgvector_source();
        have_vectors = source.dim > 0;
      } else if (AnnIndex* ann = sync_locked()) {
        source = ann_source(*ann);
        have_vectors = true;
      }
      auto ranked =
          rank_segments(query, have_vectors ? &source : nullptr, options_.exact_search_below,
                        [&](const std::vector<std::string>& words, size_t limit) {
                          return text_search(words, limit);
                        });
      for (const auto& r : ranked) {
        auto row = conn_.exec(
            "SELECT v.path, s.t_begin, s.t_end, s.caption, (s.thumbnail IS NOT NULL)::int "
            "FROM clipmind_segments s JOIN clipmind_videos v ON v.id = s.video_id "
            "WHERE s.id = $1",
            {r.id});
        if (row.rows() == 0) continue;
        hits.push_back(SearchHit{r.id, row.text(0, 0), row.f64(0, 1), row.f64(0, 2), r.score,
                                 r.similarity, r.vector_rank, r.text_rank, row.text(0, 3),
                                 row.i64(0, 4) != 0});
      }
      tx.commit();
    }
    persist_quietly(false);
    return hits;
  }

  std::optional<SegmentRecord> segment_at(const std::string& path, double seconds) override {
    std::lock_guard lock(mutex_);
    auto rows = query_segments(
        "WHERE v.path = $1 ORDER BY CASE WHEN $2 >= s.t_begin AND $2 < s.t_end THEN 0 ELSE 1 "
        "END, least(abs($2 - s.t_begin), abs($2 - s.t_end)), s.t_begin LIMIT 1",
        {path, seconds});
    if (rows.empty()) return std::nullopt;
    return rows.front();
  }

  std::vector<SegmentRecord> segments_of(const std::string& path) override {
    std::lock_guard lock(mutex_);
    return query_segments("WHERE v.path = $1 ORDER BY s.t_begin, s.id", {path});
  }

  std::vector<uint8_t> thumbnail(int64_t segment_id) override {
    std::lock_guard lock(mutex_);
    auto r = conn_.exec(
        "SELECT thumbnail FROM clipmind_segments WHERE id = $1 AND thumbnail IS NOT NULL",
        {segment_id}, true);
    if (r.rows() == 0) return {};
    const auto b = r.bytes(0, 0);
    return {b.begin(), b.end()};
  }

  void sync_ann() override {
    std::lock_guard lock(mutex_);
    if (pgvector_) return;
    {
      PgTransaction tx(conn_, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      sync_locked();
      tx.commit();
    }
    // Tombstones stay: other machines' ANN copies catch up from them.
    persist_quietly(true);
  }

 private:
  // The local ANN copy is only a cache: an unwritable or full cache folder must not stop a
  // search or an index run. The reason is kept for StoreInfo::ann_save_error, as the SQLite
  // store does, so front ends warn once and `index --json` reports it.
  void persist_quietly(bool force) {
    try {
      ann_.persist(force);
      ann_save_error_.clear();
    } catch (const std::exception& e) {
      ann_save_error_ = e.what();
    }
  }

  std::string meta(const std::string& key) {
    auto r = conn_.exec("SELECT value FROM clipmind_meta WHERE key = $1", {key});
    if (r.rows() == 0) {
      throw Error(ErrorKind::kInvalidInput, conn_.where() + ": index metadata lacks '" + key + "'");
    }
    return r.text(0, 0);
  }

  // "" when the key is absent (keys added without a schema migration).
  std::string optional_meta(const std::string& key) {
    auto r = conn_.exec("SELECT value FROM clipmind_meta WHERE key = $1", {key});
    return r.rows() == 0 ? std::string() : r.text(0, 0);
  }

  void set_meta(const std::string& key, const std::string& value) {
    conn_.exec("UPDATE clipmind_meta SET value = $2 WHERE key = $1", {key, value});
  }

  int64_t bump_generation() {
    auto r = conn_.exec(
        "UPDATE clipmind_meta SET value = (value::bigint + 1)::text WHERE key = 'generation' "
        "RETURNING value");
    return r.i64(0, 0);
  }

  void check_model_and_dim(const std::string& model_id, int dim, const std::string& path) {
    const std::string stored_model = meta("model_id");
    if (!stored_model.empty() && stored_model != model_id) {
      throw Error(ErrorKind::kInvalidArgument,
                  conn_.where() + ": " + path + " was embedded with model '" + model_id +
                      "' but this index holds embeddings of model '" + stored_model +
                      "'; use another database for another model");
    }
    if (stored_model.empty() && !model_id.empty()) set_meta("model_id", model_id);
    if (dim == 0) return;
    const int stored_dim = std::stoi(meta("dim"));
    if (stored_dim != 0 && stored_dim != dim) {
      throw Error(ErrorKind::kInvalidArgument, conn_.where() + ": " + path + " has " +
                                                   std::to_string(dim) +
                                                   "-dim embeddings but this index holds " +
                                                   std::to_string(stored_dim) + "-dim embeddings");
    }
    if (stored_dim == 0) {
      set_meta("dim", std::to_string(dim));
      if (pgvector_) create_pgvector_index(dim);
    }
  }

  // pgvector >= 0.5 builds HNSW indexes; older versions or missing rights just leave the
  // server to scan exactly.
  void create_pgvector_index(int dim) {
    conn_.exec("SAVEPOINT clipmind_vec");
    try {
      conn_.exec(
          "CREATE INDEX IF NOT EXISTS clipmind_segments_vec ON clipmind_segments "
          "USING hnsw ((embedding::vector(" +
          std::to_string(dim) + ")) vector_ip_ops)");
      conn_.exec("RELEASE SAVEPOINT clipmind_vec");
    } catch (const Error&) {
      conn_.exec("ROLLBACK TO SAVEPOINT clipmind_vec");
    }
  }

  int64_t upsert_video(const std::string& path, const FileStamp& stamp, const std::string& status,
                       const std::string& error, const std::string& model_id) {
    auto r = conn_.exec(
        "INSERT INTO clipmind_videos(path, content_hash, size_bytes, mtime_ns, status, error, "
        "model_id, updated_at, segments_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "ON CONFLICT (path) DO UPDATE SET content_hash = excluded.content_hash, "
        "size_bytes = excluded.size_bytes, mtime_ns = excluded.mtime_ns, status = excluded.status, "
        "error = excluded.error, model_id = excluded.model_id, updated_at = excluded.updated_at, "
        "segments_version = excluded.segments_version RETURNING id",
        {path, stamp.content_hash, stamp.size_bytes, stamp.mtime_ns, status, error, model_id,
         unix_now(), static_cast<int64_t>(kSegmentsVersion)});
    return r.i64(0, 0);
  }

  void drop_segments(int64_t video_id, int64_t gen) {
    conn_.exec(
        "INSERT INTO clipmind_tombstones(segment_id, gen) SELECT id, $2 FROM clipmind_segments "
        "WHERE video_id = $1 ON CONFLICT (segment_id) DO UPDATE SET gen = excluded.gen",
        {video_id, gen});
    conn_.exec("DELETE FROM clipmind_segments WHERE video_id = $1", {video_id});
  }

  std::vector<VideoRecord> query_videos(const std::string& where,
                                        const std::vector<PgParam>& args) {
    auto r = conn_.exec(
        "SELECT v.id, v.path, v.content_hash, v.size_bytes, v.mtime_ns, v.status, v.error, "
        "v.model_id, v.updated_at, "
        "(SELECT count(*) FROM clipmind_segments s WHERE s.video_id = v.id), " +
            std::string(has_segments_version_ ? "v.segments_version" : "1") +
            " FROM clipmind_videos v " + where + " ORDER BY v.path",
        args);
    std::vector<VideoRecord> out;
    for (int i = 0; i < r.rows(); ++i) {
      VideoRecord v;
      v.id = r.i64(i, 0);
      v.path = r.text(i, 1);
      v.stamp = {r.text(i, 2), r.i64(i, 3), r.i64(i, 4)};
      v.status = parse_status(r.text(i, 5));
      v.error = r.text(i, 6);
      v.model_id = r.text(i, 7);
      v.updated_at = r.i64(i, 8);
      v.segment_count = r.i64(i, 9);
      v.segments_version = static_cast<int>(r.i64(i, 10));
      out.push_back(std::move(v));
    }
    return out;
  }

  std::vector<SegmentRecord> query_segments(const std::string& tail,
                                            const std::vector<PgParam>& args) {
    // Binary results: the embedding arrives as real[] bytes, the rest decoded below.
    auto r = conn_.exec(
        "SELECT s.id, v.path, s.t_begin::text, s.t_end::text, s.caption, s.embedding, "
        "(s.thumbnail IS NOT NULL)::text FROM clipmind_segments s "
        "JOIN clipmind_videos v ON v.id = s.video_id " +
            tail,
        args, true);
    std::vector<SegmentRecord> out;
    for (int i = 0; i < r.rows(); ++i) {
      SegmentRecord s;
      s.id = decode_int8(r.bytes(i, 0));
      s.video_path = r.text(i, 1);
      s.t_begin = r.f64(i, 2);
      s.t_end = r.f64(i, 3);
      s.caption = r.text(i, 4);
      s.embedding = decode_float4_array(r.bytes(i, 5), conn_.where());
      s.has_thumbnail = r.text(i, 6) == "true";
      out.push_back(std::move(s));
    }
    return out;
  }

  std::vector<int64_t> text_search(const std::vector<std::string>& words, size_t limit) {
    std::string q;
    for (const auto& w : words) {
      if (!q.empty()) q += " | ";
      q += "'" + w + "'";  // words hold letters and digits only (query_words)
    }
    auto r = conn_.exec(
        "SELECT id FROM clipmind_segments, to_tsquery('english', $1) AS q "
        "WHERE caption_tsv @@ q ORDER BY ts_rank(caption_tsv, q) DESC, id LIMIT $2",
        {q, static_cast<int64_t>(limit)});
    std::vector<int64_t> ids;
    for (int i = 0; i < r.rows(); ++i)
      ids.push_back(r.i64(i, 0));
    return ids;
  }

  // Vector lists computed by pgvector on the server (negative inner product `<#>`).
  VectorSource pgvector_source() {
    VectorSource s;
    s.dim = std::stoi(meta("dim"));
    s.live = static_cast<size_t>(conn_.exec("SELECT count(*) FROM clipmind_segments").i64(0, 0));
    s.search = [this, dim = s.dim](std::span<const float> q, size_t depth, bool exact, size_t ef) {
      conn_.exec(exact ? "SET LOCAL enable_indexscan = off" : "SET LOCAL enable_indexscan = on");
      if (!exact)
        conn_.exec("SET LOCAL hnsw.ef_search = " + std::to_string(std::min<size_t>(ef, 1000)));
      auto r = conn_.exec(pgvector_search_sql(dim, exact),
                          {vector_literal(q), static_cast<int64_t>(depth)});
      std::vector<Neighbor> out;
      for (int i = 0; i < r.rows(); ++i) {
        out.push_back({r.i64(i, 0), static_cast<float>(r.f64(i, 1))});
      }
      return out;
    };
    return s;
  }

  // Inside a REPEATABLE READ transaction: the in-memory index at this snapshot's generation.
  AnnIndex* sync_locked() {
    AnnSourceState state;
    state.db_uuid = identity_;
    state.generation = std::stoull(meta("generation"));
    state.tombstones_after = std::stoull(meta("tombstones_after"));
    state.dim = std::stoi(meta("dim"));
    state.model_id = meta("model_id");
    state.live_segments = conn_.exec("SELECT count(*) FROM clipmind_segments").i64(0, 0);
    return ann_.sync(state, [&](uint64_t since, bool full, AnnDelta& delta) {
      // A cursor keeps client memory bounded while a million embeddings stream in.
      conn_.exec(std::string("DECLARE clipmind_ann NO SCROLL CURSOR FOR SELECT id, embedding FROM "
                             "clipmind_segments") +
                 (full ? std::string() : " WHERE gen > " + std::to_string(since)));
      for (;;) {
        auto r = conn_.exec("FETCH 5000 FROM clipmind_ann", {}, true);
        if (r.rows() == 0) break;
        for (int i = 0; i < r.rows(); ++i) {
          auto v = decode_float4_array(r.bytes(i, 1), conn_.where());
          if (v.size() != static_cast<size_t>(state.dim)) {
            throw Error(ErrorKind::kInvalidInput,
                        conn_.where() + ": a segment has an embedding of the wrong size");
          }
          delta.added_ids.push_back(decode_int8(r.bytes(i, 0)));
          delta.added_vectors.insert(delta.added_vectors.end(), v.begin(), v.end());
        }
      }
      conn_.exec("CLOSE clipmind_ann");
      if (!full) {
        auto r = conn_.exec("SELECT segment_id FROM clipmind_tombstones WHERE gen > $1",
                            {static_cast<int64_t>(since)});
        for (int i = 0; i < r.rows(); ++i)
          delta.removed_ids.push_back(r.i64(i, 0));
      }
    });
  }

  OpenOptions options_;
  std::mutex mutex_;
  PgConnection conn_;
  AnnCache ann_;
  std::string ann_save_error_;  // why the last save of the ANN copy failed; empty: saved
  std::string identity_;        // pg_store_identity(), fixed at open
  bool pgvector_ = false;
  bool has_segments_version_ = true;  // schema 2+ (a search may read version 1)
};

}  // namespace

int ensure_pg_schema(PgConnection& conn, bool create) {
  const auto version_now = [&]() -> int {
    auto r = conn.exec("SELECT to_regclass('clipmind_meta') IS NOT NULL");
    if (r.text(0, 0) != "t") return 0;
    auto v = conn.exec("SELECT value FROM clipmind_meta WHERE key = 'schema_version'");
    if (v.rows() == 0) {
      throw Error(ErrorKind::kInvalidInput,
                  conn.where() + ": clipmind_meta exists but holds no schema version");
    }
    try {
      return std::stoi(v.text(0, 0));
    } catch (const std::exception&) {
      throw Error(ErrorKind::kInvalidInput, conn.where() + ": bad schema version");
    }
  };
  int version = version_now();
  if (version > kPgSchemaVersion) {
    throw Error(ErrorKind::kUnsupported,
                conn.where() + ": index schema version " + std::to_string(version) +
                    " was written by a newer clipmind (this build reads up to " +
                    std::to_string(kPgSchemaVersion) + ")");
  }
  if (version == kPgSchemaVersion) return version;
  if (!create && version >= kPgReadableFrom) return version;
  if (!create) {
    throw Error(ErrorKind::kNotFound, conn.where() + ": database holds no clipmind index");
  }
  // A session lock taken before the transaction: the transaction then starts after any other
  // worker's migration committed, so its catalog lookups see those tables.
  conn.exec("SELECT pg_advisory_lock($1)", {kSchemaLockKey});
  try {
    PgTransaction tx(conn);
    version = version_now();  // another worker may have created it meanwhile
    for (; version < kPgSchemaVersion; ++version) {
      conn.exec_script(kPgMigrations[version]);
      conn.exec("UPDATE clipmind_meta SET value = $1 WHERE key = 'schema_version'",
                {std::to_string(version + 1)});
    }
    tx.commit();
  } catch (...) {
    conn.exec("SELECT pg_advisory_unlock($1)", {kSchemaLockKey});
    throw;
  }
  conn.exec("SELECT pg_advisory_unlock($1)", {kSchemaLockKey});
  // pgvector is optional: install it when the server offers it and we may.
  auto available = conn.exec("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'");
  if (available.i64(0, 0) > 0) {
    try {
      conn.exec("CREATE EXTENSION IF NOT EXISTS vector");
    } catch (const Error&) {
    }
  }
  return kPgSchemaVersion;
}

std::string pg_store_identity(PgConnection& conn) {
  const auto read_uuid = [&]() -> std::string {
    auto r = conn.exec("SELECT value FROM clipmind_meta WHERE key = 'db_uuid'");
    return r.rows() > 0 ? r.text(0, 0) : std::string();
  };
  std::string uuid = read_uuid();
  if (uuid.empty()) {
    // Every schema-1 database got its id with its tables; one edited by hand may lack it.
    // Generated on the server, once, under the schema lock so workers opening together agree.
    try {
      conn.exec("SELECT pg_advisory_lock($1)", {kSchemaLockKey});
      try {
        conn.exec(
            "INSERT INTO clipmind_meta(key, value) "
            "VALUES ('db_uuid', md5(random()::text || clock_timestamp()::text)) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE clipmind_meta.value = "
            "''");
      } catch (...) {
        conn.exec("SELECT pg_advisory_unlock($1)", {kSchemaLockKey});
        throw;
      }
      conn.exec("SELECT pg_advisory_unlock($1)", {kSchemaLockKey});
    } catch (const Error&) {
      return {};  // no right to write: no persisted copy
    }
    uuid = read_uuid();
    if (uuid.empty()) return {};
  }
  // The id is copied with the data (pg_dump, CREATE DATABASE ... TEMPLATE): the server's
  // system identifier (new for every initdb) and the database's oid tell such copies apart.
  std::string system_id = "0";
  try {  // at open, outside any transaction: a refused query leaves nothing to roll back
    auto r = conn.exec("SELECT system_identifier::text FROM pg_control_system()");
    if (r.rows() > 0) system_id = r.text(0, 0);
  } catch (const Error&) {
    // A server that hides it: the random id and the oid still separate databases.
  }
  auto oid = conn.exec("SELECT oid::text FROM pg_database WHERE datname = current_database()");
  const std::string db_oid = oid.rows() > 0 ? oid.text(0, 0) : "0";
  std::string id;
  for (char c : uuid + "-" + system_id + "-" + db_oid) {
    // It names a folder: keep it to characters every file system takes.
    id += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
  }
  return id;
}

std::unique_ptr<Store> open_pg_store(const std::string& uri, const OpenOptions& options) {
  return std::make_unique<PgStore>(uri, options);
}

}  // namespace clipmind::index
