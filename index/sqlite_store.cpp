#include "index/sqlite_store.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipmind/error.h"
#include "index/ann_cache.h"
#include "index/ranking.h"
#include "index/store_common.h"

namespace clipmind::index {

namespace fs = std::filesystem;

namespace {

// Each entry moves the schema from version i to i + 1 (entry 0 creates version 1).
// Never edit a released entry: add a new one.
constexpr const char* kMigrations[] = {
    // 1: videos, segments with embeddings, thumbnails, tombstones for ANN catch-up.
    R"sql(
CREATE TABLE clipmind_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE videos(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  path TEXT NOT NULL UNIQUE,
  content_hash TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('in_progress', 'indexed', 'failed')),
  error TEXT NOT NULL DEFAULT '',
  model_id TEXT NOT NULL DEFAULT '',
  updated_at INTEGER NOT NULL);
CREATE TABLE segments(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  t_begin REAL NOT NULL,
  t_end REAL NOT NULL,
  embedding BLOB NOT NULL,
  caption TEXT NOT NULL DEFAULT '',
  gen INTEGER NOT NULL);
CREATE INDEX segments_video ON segments(video_id, t_begin);
CREATE INDEX segments_gen ON segments(gen);
CREATE TABLE thumbnails(
  segment_id INTEGER PRIMARY KEY REFERENCES segments(id) ON DELETE CASCADE,
  jpeg BLOB NOT NULL);
CREATE TABLE tombstones(segment_id INTEGER PRIMARY KEY, gen INTEGER NOT NULL);
CREATE INDEX tombstones_gen ON tombstones(gen);
INSERT INTO clipmind_meta(key, value) VALUES
  ('schema_version', '1'), ('db_uuid', ''), ('generation', '0'), ('tombstones_after', '0'),
  ('dim', '0'), ('model_id', '');
)sql",
    // 2: full-text index over captions (FTS5, external content = segments).
    R"sql(
CREATE VIRTUAL TABLE captions_fts USING fts5(
  caption, content='segments', content_rowid='id', tokenize='porter unicode61');
CREATE TRIGGER segments_fts_insert AFTER INSERT ON segments BEGIN
  INSERT INTO captions_fts(rowid, caption) VALUES (new.id, new.caption);
END;
CREATE TRIGGER segments_fts_delete AFTER DELETE ON segments BEGIN
  INSERT INTO captions_fts(captions_fts, rowid, caption) VALUES ('delete', old.id, old.caption);
END;
CREATE TRIGGER segments_fts_update AFTER UPDATE OF caption ON segments BEGIN
  INSERT INTO captions_fts(captions_fts, rowid, caption) VALUES ('delete', old.id, old.caption);
  INSERT INTO captions_fts(rowid, caption) VALUES (new.id, new.caption);
END;
INSERT INTO captions_fts(captions_fts) VALUES ('rebuild');
)sql",
    // 3: the convention of each video's segment times (index::kSegmentsVersion); rows written
    // before it existed follow version 1.
    R"sql(
ALTER TABLE videos ADD COLUMN segments_version INTEGER NOT NULL DEFAULT 1;
)sql",
};
static_assert(std::size(kMigrations) == kSqliteSchemaVersion);

class Db;

// A prepared statement; reset and cleared on every bind_all/step cycle.
class Stmt {
 public:
  Stmt(Db& db, std::string_view sql);
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, int64_t v) {
    check(sqlite3_bind_int64(stmt_, i, v));
    return *this;
  }
  Stmt& bind(int i, double v) {
    check(sqlite3_bind_double(stmt_, i, v));
    return *this;
  }
  Stmt& bind(int i, std::string_view v) {
    check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bind_blob(int i, const void* data, size_t size) {
    check(sqlite3_bind_blob64(stmt_, i, size ? data : "", size, SQLITE_TRANSIENT));
    return *this;
  }
  // Returns true while a row is available.
  bool step();
  void run() {
    while (step()) {
    }
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  double f64(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::span<const uint8_t> blob(int col) const {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
    return {p, p ? static_cast<size_t>(sqlite3_column_bytes(stmt_, col)) : 0};
  }

 private:
  void check(int rc);
  Db& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// The connection; every error becomes a clipmind::Error naming the file. open() may be called
// again (read-only stores reopen when the file changed under an immutable snapshot).
class Db {
 public:
  explicit Db(const fs::path& file) : file_(file) {}

  // `name`: the file path, or a `file:` URI (with SQLITE_OPEN_URI in `flags`).
  void open(const std::string& name, int flags, int busy_timeout_ms, bool missing_is_not_found) {
    close();
    const int rc = sqlite3_open_v2(name.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      if ((rc & 0xff) == SQLITE_CANTOPEN) msg += why_not_openable(flags);
      close();
      throw Error(
          rc == SQLITE_CANTOPEN && missing_is_not_found ? ErrorKind::kNotFound : ErrorKind::kIo,
          file_.string() + ": cannot open index database: " + msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, busy_timeout_ms);
  }
  void close() {
    sqlite3_close(db_);
    db_ = nullptr;
  }
  ~Db() { close(); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* get() { return db_; }
  const fs::path& file() const { return file_; }

  // SQLite says "unable to open database file" whatever the cause (and its last system errno
  // is that of a later fallback attempt): " (<reason>)" for what a person can act on, a folder
  // that does not exist or that we may not write, a file we may not read or write; "" when
  // none of these explains it.
  std::string why_not_openable(int flags) const {
    std::error_code ec;
    const bool exists = fs::exists(file_, ec);
    const bool write = (flags & SQLITE_OPEN_READWRITE) != 0;
    if (exists) {
      if (::access(file_.c_str(), write ? R_OK | W_OK : R_OK) != 0) {
        return std::string(" (") + std::strerror(errno) + ")";
      }
      return {};
    }
    const fs::path folder = file_.has_parent_path() ? file_.parent_path() : fs::path(".");
    if (!fs::is_directory(folder, ec)) {
      return " (the folder " + folder.string() + " does not exist)";
    }
    if ((flags & SQLITE_OPEN_CREATE) && ::access(folder.c_str(), W_OK | X_OK) != 0) {
      return std::string(" (cannot create it in ") + folder.string() + ": " + std::strerror(errno) +
             ")";
    }
    return {};
  }

  [[noreturn]] void fail(int rc, std::string_view context) {
    const int primary = rc & 0xff;
    std::string detail = sqlite3_errmsg(db_);
    if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) {
      // Whichever statement met the damage, the file is the problem: its SQL would only
      // confuse ("cannot prepare 'SELECT count(*), sum(name = …").
      throw Error(ErrorKind::kInvalidInput, file_.string() + ": " + detail +
                                                " (the file is damaged or not a clipmind index)");
    }
    if (primary == SQLITE_FULL) {
      detail += " (no space left on its disk)";
    } else if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
      detail += " (another process holds the database)";
    }
    throw Error(ErrorKind::kIo, file_.string() + ": " + std::string(context) + ": " + detail);
  }

  void exec(std::string_view sql) {
    char* err = nullptr;
    const std::string s(sql);
    const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
    sqlite3_free(err);
    if (rc != SQLITE_OK) fail(rc, "cannot run '" + s.substr(0, 40) + "'");
  }

  int64_t scalar(std::string_view sql) {
    Stmt st(*this, sql);
    return st.step() ? st.i64(0) : 0;
  }

 private:
  fs::path file_;
  sqlite3* db_ = nullptr;
};

Stmt::Stmt(Db& db, std::string_view sql) : db_(db) {
  const int rc =
      sqlite3_prepare_v2(db.get(), sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
  if (rc != SQLITE_OK) db.fail(rc, "cannot prepare '" + std::string(sql.substr(0, 40)) + "'");
}

void Stmt::check(int rc) {
  if (rc != SQLITE_OK) db_.fail(rc, "cannot bind a parameter");
}

bool Stmt::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) {
    sqlite3_reset(stmt_);
    return false;
  }
  sqlite3_reset(stmt_);
  db_.fail(rc, "query failed");
}

// BEGIN ... COMMIT; rolls back when destroyed uncommitted (exceptions).
class Transaction {
 public:
  Transaction(Db& db, bool write) : db_(db) { db_.exec(write ? "BEGIN IMMEDIATE" : "BEGIN"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    db_.exec("COMMIT");
    done_ = true;
  }

 private:
  Db& db_;
  bool done_ = false;
};

std::string random_uuid() {
  std::random_device rd;
  std::mt19937_64 gen(
      (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(gen()),
                static_cast<unsigned long long>(gen()));
  return buf;
}

// What tells us that a file changed: identity, size and both times (nanoseconds).
struct FileStampId {
  bool exists = false;
  uint64_t dev = 0, ino = 0;
  int64_t size = 0, mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileStampId&) const = default;
};

FileStampId stat_id(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return {};
  return {true,
          static_cast<uint64_t>(st.st_dev),
          static_cast<uint64_t>(st.st_ino),
          static_cast<int64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec};
}

fs::path with_suffix(const fs::path& file, const char* suffix) {
  fs::path p = file;
  p += suffix;
  return p;
}

// `file:` URI of a path (RFC 3986: everything but unreserved characters and '/' escaped, so
// '?', '#' and '%' in names survive) with the given query.
std::string sqlite_uri(const fs::path& file, const std::string& query) {
  std::error_code ec;
  fs::path abs = fs::absolute(file, ec);
  if (ec) abs = file;
  std::string out = "file:";
  const std::string raw = abs.lexically_normal().string();
  // "file://x" would name a host; a path that starts with "//" keeps one slash.
  for (size_t i = raw.starts_with("//") ? 1 : 0; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out + "?" + query;
}

// 64-bit FNV-1a, hex: tells apart copies of one database (same db_uuid) at different paths.
std::string path_key(const fs::path& file) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(file, ec), ec);
  if (p.empty()) p = file;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char c : p.string()) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

VideoStatus parse_status(const std::string& s) {
  if (s == "indexed") return VideoStatus::kIndexed;
  if (s == "failed") return VideoStatus::kFailed;
  return VideoStatus::kInProgress;
}

class SqliteStore final : public Store {
 public:
  SqliteStore(const fs::path& file, const OpenOptions& options)
      : options_(options), db_(file), ann_(file, options.ann) {
    if (options.read_only) {
      open_read_only();
      read([&] {
        check_database();
        const int version = current_version();
        if (version < kSqliteReadableFrom || version > kSqliteSchemaVersion)
          migrate();  // explains why it cannot
        has_segments_version_ = version >= 3;
        return 0;
      });
      setup_read_only_ann();
      return;
    }
    db_.open(file.string(), SQLITE_OPEN_READWRITE | (options.create ? SQLITE_OPEN_CREATE : 0),
             options.busy_timeout_ms, !options.create);
    check_database();
    const std::string mode = [&] {
      Stmt st(db_, "PRAGMA journal_mode=WAL");
      return st.step() ? st.text(0) : std::string();
    }();
    if (mode != "wal") {
      throw Error(ErrorKind::kIo,
                  file.string() + ": cannot switch the index to WAL mode (got '" + mode + "')");
    }
    // FULL: a committed video survives power loss too; one fsync per video is cheap next to
    // the model time that produced it.
    db_.exec("PRAGMA synchronous=FULL");
    db_.exec("PRAGMA foreign_keys=ON");
    migrate();
    has_segments_version_ = true;
  }

  StoreInfo info() override {
    std::lock_guard lock(mutex_);
    return read([&] {
      Transaction tx(db_, false);
      StoreInfo out;
      out.backend = "sqlite";
      out.location = db_.file().string();
      out.schema_version = static_cast<int>(std::stoll(meta("schema_version")));
      out.dim = static_cast<int>(std::stoll(meta("dim")));
      out.model_id = meta("model_id");
      out.model_name = optional_meta("model_name");
      out.generation = std::stoull(meta("generation"));
      out.segment_count = db_.scalar("SELECT count(*) FROM segments");
      out.video_count = db_.scalar("SELECT count(*) FROM videos");
      ann_.describe(out);
      out.ann_save_error = ann_save_error_;
      out.open_mode = mode_ == Mode::kReadWrite ? "read-write"
                      : mode_ == Mode::kShared  ? "read-only"
                                                : "immutable";
      tx.commit();
      return out;
    });
  }

  std::optional<VideoRecord> find_video(const std::string& path) override {
    std::lock_guard lock(mutex_);
    auto videos = read([&] { return query_videos("WHERE v.path = ?1", path); });
    if (videos.empty()) return std::nullopt;
    return videos.front();
  }

  std::vector<VideoRecord> list_videos() override {
    std::lock_guard lock(mutex_);
    return read([&] { return query_videos("", {}); });
  }

  Freshness freshness(const std::string& path, int64_t size_bytes, int64_t mtime_ns,
                      const std::function<std::string()>& hash) override {
    const auto video = find_video(path);
    const auto decision = decide_freshness(video, size_bytes, mtime_ns, hash);
    if (decision.record_mtime && !options_.read_only) {
      std::lock_guard lock(mutex_);
      Stmt st(db_, "UPDATE videos SET mtime_ns = ?1 WHERE path = ?2 AND content_hash = ?3");
      st.bind(1, mtime_ns).bind(2, path).bind(3, video->stamp.content_hash).run();
    }
    return decision.freshness;
  }

  void begin_video(const std::string& path, const FileStamp& stamp,
                   const std::string& model_id) override {
    require_writable("begin_video");
    std::lock_guard lock(mutex_);
    Transaction tx(db_, true);
    upsert_video(path, stamp, "in_progress", "", model_id);
    tx.commit();
  }

  void commit_video(const std::string& path, const FileStamp& stamp, const std::string& model_id,
                    std::span<const Segment> segments) override {
    require_writable("commit_video");
    const auto prepared = prepare_segments(segments, db_.file().string(), path);
    std::lock_guard lock(mutex_);
    Transaction tx(db_, true);
    check_model_and_dim(model_id, prepared.dim, path);
    const int64_t gen = bump_generation();
    const int64_t video_id = upsert_video(path, stamp, "indexed", "", model_id);
    drop_segments(video_id, gen);
    Stmt ins(db_,
             "INSERT INTO segments(video_id, t_begin, t_end, embedding, caption, gen) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    Stmt thumb(db_, "INSERT INTO thumbnails(segment_id, jpeg) VALUES (?1, ?2)");
    for (size_t i = 0; i < segments.size(); ++i) {
      const auto& s = segments[i];
      const auto& e = prepared.embeddings[i];
      ins.bind(1, video_id).bind(2, s.t_begin).bind(3, s.t_end);
      ins.bind_blob(4, e.data(), e.size() * sizeof(float)).bind(5, s.caption).bind(6, gen);
      ins.run();
      if (!s.thumbnail_jpeg.empty()) {
        thumb.bind(1, static_cast<int64_t>(sqlite3_last_insert_rowid(db_.get())));
        thumb.bind_blob(2, s.thumbnail_jpeg.data(), s.thumbnail_jpeg.size()).run();
      }
    }
    tx.commit();
  }

  void fail_video(const std::string& path, const FileStamp& stamp, const std::string& model_id,
                  const std::string& error) override {
    require_writable("fail_video");
    std::lock_guard lock(mutex_);
    Transaction tx(db_, true);
    const int64_t video_id = upsert_video(path, stamp, "failed", error, model_id);
    if (db_.scalar("SELECT EXISTS(SELECT 1 FROM segments WHERE video_id = " +
                   std::to_string(video_id) + ")")) {
      drop_segments(video_id, bump_generation());
    }
    tx.commit();
  }

  bool adopt_model(const std::string& model_id, std::span<const std::string> aliases,
                   const std::string& name) override {
    require_writable("adopt_model");
    std::lock_guard lock(mutex_);
    Transaction tx(db_, true);
    const std::string stored = meta("model_id");
    const bool alias = std::find(aliases.begin(), aliases.end(), stored) != aliases.end();
    if (stored.empty() || (stored != model_id && !alias)) return false;
    if (alias) {
      set_meta("model_id", model_id);
      Stmt st(db_, "UPDATE videos SET model_id = ?1 WHERE model_id = ?2");
      for (const std::string& a : aliases) {
        if (a.empty() || a == model_id) continue;
        st.bind(1, model_id).bind(2, a).run();
      }
    }
    if (!name.empty() && (alias || optional_meta("model_name").empty())) {
      // Indexes made before the name existed lack its row.
      Stmt st(db_,
              "INSERT INTO clipmind_meta(key, value) VALUES ('model_name', ?1) "
              "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
      st.bind(1, name).run();
    }
    tx.commit();
    return true;
  }

  void mark_segments_current(const std::string& path) override {
    require_writable("mark_segments_current");
    std::lock_guard lock(mutex_);
    Stmt st(db_, "UPDATE videos SET segments_version = ?1 WHERE path = ?2 AND status = 'indexed'");
    st.bind(1, static_cast<int64_t>(kSegmentsVersion)).bind(2, path).run();
  }

  size_t remove_videos(std::span<const std::string> paths) override {
    require_writable("remove_videos");
    std::lock_guard lock(mutex_);
    Transaction tx(db_, true);
    const int64_t gen = bump_generation();
    size_t removed = 0;
    Stmt find(db_, "SELECT id FROM videos WHERE path = ?1");
    Stmt del(db_, "DELETE FROM videos WHERE id = ?1");
    for (const auto& path : paths) {
      find.bind(1, path);
      if (!find.step()) continue;
      const int64_t id = find.i64(0);
      find.reset();
      drop_segments(id, gen);
      del.bind(1, id).run();
      ++removed;
    }
    tx.commit();
    return removed;
  }

  std::vector<SearchHit> search(const SearchQuery& query) override {
    std::lock_guard lock(mutex_);
    std::vector<SearchHit> hits = read([&] {
      std::vector<SearchHit> found;
      Transaction tx(db_, false);
      AnnIndex* ann = sync_locked();
      const VectorSource source = ann ? ann_source(*ann) : VectorSource{};
      auto ranked = rank_segments(query, ann ? &source : nullptr, options_.exact_search_below,
                                  [&](const std::vector<std::string>& words, size_t limit) {
                                    return text_search(words, limit);
                                  });
      Stmt st(db_,
              "SELECT v.path, s.t_begin, s.t_end, s.caption, "
              "EXISTS(SELECT 1 FROM thumbnails t WHERE t.segment_id = s.id) "
              "FROM segments s JOIN videos v ON v.id = s.video_id WHERE s.id = ?1");
      for (const auto& r : ranked) {
        st.bind(1, r.id);
        if (!st.step()) continue;
        found.push_back(SearchHit{r.id, st.text(0), st.f64(1), st.f64(2), r.score, r.similarity,
                                  r.vector_rank, r.text_rank, st.text(3), st.i64(4) != 0});
        st.reset();
      }
      tx.commit();
      return found;
    });
    persist_quietly(false);
    return hits;
  }

  std::optional<SegmentRecord> segment_at(const std::string& path, double seconds) override {
    std::lock_guard lock(mutex_);
    auto rows = read([&] {
      return query_segments(
          "WHERE v.path = ?1 ORDER BY CASE WHEN ?2 >= s.t_begin AND ?2 < s.t_end THEN 0 ELSE 1 "
          "END, min(abs(?2 - s.t_begin), abs(?2 - s.t_end)), s.t_begin LIMIT 1",
          path, seconds);
    });
    if (rows.empty()) return std::nullopt;
    return rows.front();
  }

  std::vector<SegmentRecord> segments_of(const std::string& path) override {
    std::lock_guard lock(mutex_);
    return read(
        [&] { return query_segments("WHERE v.path = ?1 ORDER BY s.t_begin, s.id", path, 0.0); });
  }

  std::vector<uint8_t> thumbnail(int64_t segment_id) override {
    std::lock_guard lock(mutex_);
    return read([&] {
      Stmt st(db_, "SELECT jpeg FROM thumbnails WHERE segment_id = ?1");
      st.bind(1, segment_id);
      if (!st.step()) return std::vector<uint8_t>{};
      const auto b = st.blob(0);
      std::vector<uint8_t> out(b.begin(), b.end());
      st.reset();
      return out;
    });
  }

  void sync_ann() override {
    std::lock_guard lock(mutex_);
    read([&] {
      Transaction tx(db_, false);
      sync_locked();
      tx.commit();
      return 0;
    });
    if (options_.read_only) {  // our own copy only; the database stays untouched
      persist_quietly(true);
      return;
    }
    // The file beside the database is a copy of what the database holds: a full disk costs
    // the next search a rebuild, never the index run (ann_save_error says why).
    const uint64_t on_disk = persist_quietly(true);
    if (on_disk == 0 || !ann_.index()) return;
    // Tombstones up to the file's generation are no longer needed by anyone who starts from
    // that file; older files are gone (persist removed them).
    Transaction tx(db_, true);
    Stmt del(db_, "DELETE FROM tombstones WHERE gen <= ?1");
    del.bind(1, static_cast<int64_t>(on_disk)).run();
    Stmt up(db_,
            "UPDATE clipmind_meta SET value = CAST(max(CAST(value AS INTEGER), ?1) AS TEXT) "
            "WHERE key = 'tombstones_after'");
    up.bind(1, static_cast<int64_t>(on_disk)).run();
    tx.commit();
  }

 private:
  void check_database() {
    // Reading the schema is the first access to the file: a damaged file fails here.
    Stmt st(db_,
            "SELECT count(*), sum(name = 'clipmind_meta') FROM sqlite_master WHERE type = 'table'");
    st.step();
    const int64_t tables = st.i64(0), ours = st.i64(1);
    st.reset();
    if (tables > 0 && ours == 0) {
      throw Error(ErrorKind::kInvalidInput,
                  db_.file().string() +
                      ": is a SQLite database but not a clipmind index (no clipmind_meta table)");
    }
  }

  int current_version() {
    if (db_.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'clipmind_meta'") == 0)
      return 0;
    Stmt st(db_, "SELECT value FROM clipmind_meta WHERE key = 'schema_version'");
    if (!st.step()) {
      throw Error(ErrorKind::kInvalidInput,
                  db_.file().string() + ": clipmind index without a schema version");
    }
    const std::string v = st.text(0);
    st.reset();
    try {
      return std::stoi(v);
    } catch (const std::exception&) {
      throw Error(ErrorKind::kInvalidInput,
                  db_.file().string() + ": bad schema version '" + v + "'");
    }
  }

  void migrate() {
    int version = current_version();
    if (version > kSqliteSchemaVersion) {
      throw Error(ErrorKind::kUnsupported,
                  db_.file().string() + ": index schema version " + std::to_string(version) +
                      " was written by a newer clipmind (this build reads up to " +
                      std::to_string(kSqliteSchemaVersion) + ")");
    }
    if (version == kSqliteSchemaVersion) return;
    if (!options_.create || options_.read_only) {
      throw Error(ErrorKind::kInvalidInput,
                  db_.file().string() + ": index schema version " + std::to_string(version) +
                      " needs an upgrade to " + std::to_string(kSqliteSchemaVersion) +
                      ", which a read-only open cannot do: run clipmind index on it once with "
                      "write access");
    }
    Transaction tx(db_, true);
    version = current_version();  // another process may have migrated meanwhile
    for (; version < kSqliteSchemaVersion; ++version) {
      db_.exec(kMigrations[version]);
      if (version == 0) {
        Stmt st(db_, "UPDATE clipmind_meta SET value = ?1 WHERE key = 'db_uuid'");
        st.bind(1, random_uuid()).run();
      }
      Stmt st(db_, "UPDATE clipmind_meta SET value = ?1 WHERE key = 'schema_version'");
      st.bind(1, std::to_string(version + 1)).run();
    }
    db_.exec("PRAGMA user_version = " + std::to_string(kSqliteSchemaVersion));
    tx.commit();
  }

  std::string meta(std::string_view key) {
    Stmt st(db_, "SELECT value FROM clipmind_meta WHERE key = ?1");
    st.bind(1, key);
    if (!st.step()) {
      throw Error(ErrorKind::kInvalidInput,
                  db_.file().string() + ": index metadata lacks '" + std::string(key) + "'");
    }
    std::string v = st.text(0);
    st.reset();
    return v;
  }

  // "" when the key is absent (keys added after schema 1 without a migration).
  std::string optional_meta(std::string_view key) {
    Stmt st(db_, "SELECT value FROM clipmind_meta WHERE key = ?1");
    st.bind(1, key);
    if (!st.step()) return {};
    std::string v = st.text(0);
    st.reset();
    return v;
  }

  void set_meta(std::string_view key, std::string_view value) {
    Stmt st(db_, "UPDATE clipmind_meta SET value = ?2 WHERE key = ?1");
    st.bind(1, key).bind(2, value).run();
  }

  int64_t bump_generation() {
    const int64_t gen = std::stoll(meta("generation")) + 1;
    set_meta("generation", std::to_string(gen));
    return gen;
  }

  void check_model_and_dim(const std::string& model_id, int dim, const std::string& path) {
    const std::string stored_model = meta("model_id");
    if (!stored_model.empty() && stored_model != model_id) {
      throw Error(ErrorKind::kInvalidArgument,
                  db_.file().string() + ": " + path + " was embedded with model '" + model_id +
                      "' but this index holds embeddings of model '" + stored_model +
                      "'; use another database for another model");
    }
    if (stored_model.empty() && !model_id.empty()) set_meta("model_id", model_id);
    if (dim == 0) return;
    const int stored_dim = std::stoi(meta("dim"));
    if (stored_dim != 0 && stored_dim != dim) {
      throw Error(ErrorKind::kInvalidArgument, db_.file().string() + ": " + path + " has " +
                                                   std::to_string(dim) +
                                                   "-dim embeddings but this index holds " +
                                                   std::to_string(stored_dim) + "-dim embeddings");
    }
    if (stored_dim == 0) set_meta("dim", std::to_string(dim));
  }

  int64_t upsert_video(const std::string& path, const FileStamp& stamp, std::string_view status,
                       std::string_view error, std::string_view model_id) {
    Stmt st(db_,
            "INSERT INTO videos(path, content_hash, size_bytes, mtime_ns, status, error, model_id, "
            "updated_at, segments_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
            "ON CONFLICT(path) DO UPDATE SET content_hash = excluded.content_hash, "
            "size_bytes = excluded.size_bytes, mtime_ns = excluded.mtime_ns, "
            "status = excluded.status, error = excluded.error, model_id = excluded.model_id, "
            "updated_at = excluded.updated_at, segments_version = excluded.segments_version "
            "RETURNING id");
    st.bind(1, path).bind(2, stamp.content_hash).bind(3, stamp.size_bytes).bind(4, stamp.mtime_ns);
    st.bind(5, status).bind(6, error).bind(7, model_id).bind(8, unix_now());
    st.bind(9, static_cast<int64_t>(kSegmentsVersion));
    if (!st.step()) db_.fail(SQLITE_ERROR, "cannot record video " + path);
    const int64_t id = st.i64(0);
    st.run();
    return id;
  }

  void drop_segments(int64_t video_id, int64_t gen) {
    Stmt tomb(db_,
              "INSERT OR REPLACE INTO tombstones(segment_id, gen) "
              "SELECT id, ?2 FROM segments WHERE video_id = ?1");
    tomb.bind(1, video_id).bind(2, gen).run();
    Stmt del(db_, "DELETE FROM segments WHERE video_id = ?1");
    del.bind(1, video_id).run();
  }

  std::vector<VideoRecord> query_videos(const std::string& where, const std::string& arg) {
    Stmt st(
        db_,
        "SELECT v.id, v.path, v.content_hash, v.size_bytes, v.mtime_ns, v.status, v.error, "
        "v.model_id, v.updated_at, (SELECT count(*) FROM segments s WHERE s.video_id = v.id), " +
            std::string(has_segments_version_ ? "v.segments_version" : "1") + " FROM videos v " +
            where + " ORDER BY v.path");
    if (!where.empty()) st.bind(1, arg);
    std::vector<VideoRecord> out;
    while (st.step()) {
      VideoRecord r;
      r.id = st.i64(0);
      r.path = st.text(1);
      r.stamp = {st.text(2), st.i64(3), st.i64(4)};
      r.status = parse_status(st.text(5));
      r.error = st.text(6);
      r.model_id = st.text(7);
      r.updated_at = st.i64(8);
      r.segment_count = st.i64(9);
      r.segments_version = static_cast<int>(st.i64(10));
      out.push_back(std::move(r));
    }
    return out;
  }

  std::vector<float> decode_embedding(std::span<const uint8_t> blob, int64_t id) {
    if (blob.size() % sizeof(float) != 0 || blob.empty()) {
      throw Error(ErrorKind::kInvalidInput, db_.file().string() + ": segment " +
                                                std::to_string(id) + " has a damaged embedding");
    }
    std::vector<float> v(blob.size() / sizeof(float));
    std::memcpy(v.data(), blob.data(), blob.size());
    return v;
  }

  std::vector<SegmentRecord> query_segments(const std::string& tail, const std::string& path,
                                            double seconds) {
    Stmt st(db_,
            "SELECT s.id, v.path, s.t_begin, s.t_end, s.caption, s.embedding, "
            "EXISTS(SELECT 1 FROM thumbnails t WHERE t.segment_id = s.id) "
            "FROM segments s JOIN videos v ON v.id = s.video_id " +
                tail);
    st.bind(1, path);
    if (tail.find("?2") != std::string::npos) st.bind(2, seconds);
    std::vector<SegmentRecord> out;
    while (st.step()) {
      SegmentRecord r;
      r.id = st.i64(0);
      r.video_path = st.text(1);
      r.t_begin = st.f64(2);
      r.t_end = st.f64(3);
      r.caption = st.text(4);
      r.embedding = decode_embedding(st.blob(5), r.id);
      r.has_thumbnail = st.i64(6) != 0;
      out.push_back(std::move(r));
    }
    return out;
  }

  std::vector<int64_t> text_search(const std::vector<std::string>& words, size_t limit) {
    std::string match;
    for (const auto& w : words) {
      if (!match.empty()) match += " OR ";
      match += '"' + w + '"';  // words hold no quotes (query_words keeps letters and digits)
    }
    Stmt st(
        db_,
        "SELECT rowid FROM captions_fts WHERE captions_fts MATCH ?1 ORDER BY rank, rowid LIMIT ?2");
    st.bind(1, match).bind(2, static_cast<int64_t>(limit));
    std::vector<int64_t> ids;
    while (st.step())
      ids.push_back(st.i64(0));
    return ids;
  }

  // Inside a read transaction: the ANN index at exactly this snapshot's generation.
  AnnIndex* sync_locked() {
    AnnSourceState state;
    state.db_uuid = meta("db_uuid");
    state.generation = std::stoull(meta("generation"));
    state.tombstones_after = std::stoull(meta("tombstones_after"));
    state.dim = std::stoi(meta("dim"));
    state.model_id = meta("model_id");
    state.live_segments = db_.scalar("SELECT count(*) FROM segments");
    return ann_.sync(state, [&](uint64_t since, bool full, AnnDelta& delta) {
      Stmt st(db_, full ? "SELECT id, embedding FROM segments"
                        : "SELECT id, embedding FROM segments WHERE gen > ?1");
      if (!full) st.bind(1, static_cast<int64_t>(since));
      delta.added_ids.reserve(full ? static_cast<size_t>(state.live_segments) : 0);
      while (st.step()) {
        const auto blob = st.blob(1);
        if (blob.size() != static_cast<size_t>(state.dim) * sizeof(float)) {
          throw Error(ErrorKind::kInvalidInput, db_.file().string() + ": segment " +
                                                    std::to_string(st.i64(0)) +
                                                    " has an embedding of the wrong size");
        }
        delta.added_ids.push_back(st.i64(0));
        const size_t at = delta.added_vectors.size();
        delta.added_vectors.resize(at + state.dim);
        std::memcpy(delta.added_vectors.data() + at, blob.data(), blob.size());
      }
      if (!full) {
        Stmt tomb(db_, "SELECT segment_id FROM tombstones WHERE gen > ?1");
        tomb.bind(1, static_cast<int64_t>(since));
        while (tomb.step())
          delta.removed_ids.push_back(tomb.i64(0));
      }
    });
  }

  // A read-only directory or a full disk must not stop searches or an index run: the ANN file
  // is only a copy. The reason is kept for StoreInfo::ann_save_error (front ends warn once).
  // Returns the generation on disk (0: none, or not saved).
  uint64_t persist_quietly(bool force) {
    try {
      const uint64_t on_disk = ann_.persist(force);
      ann_save_error_.clear();
      return on_disk;
    } catch (const std::exception& e) {
      ann_save_error_ = e.what();
      return 0;
    }
  }

  void require_writable(const char* what) const {
    if (!options_.read_only) return;
    throw Error(ErrorKind::kInvalidArgument,
                db_.file().string() + ": opened read-only; " + what + " needs a writable open");
  }

  // Read-only opens (docs/index.md "Read-only opens"). Never creates a file beside the
  // database:
  //  - a -wal with frames and its -shm exist (a writer is open, or stopped without closing):
  //    `mode=ro`, sharing them under SQLite's usual WAL locks (a -shm we may not write is read
  //    as such, SQLite >= 3.22), so we see every committed transaction;
  //  - no -wal, or an empty one (no writer has committed since the last full checkpoint: the
  //    file alone holds everything): `immutable=1`, which needs no -shm and takes no locks.
  //    SQLite then assumes the file cannot change, so read() checks the file's stamp before
  //    and after every read and reopens (and redoes the read) when a writer came along;
  //  - frames in a -wal but no -shm: a writer is between creating the two (retry for a second)
  //    or stopped there; reading would need the -shm created: refused with an explanation.
  void open_read_only() {
    const fs::path& file = db_.file();
    const fs::path wal = with_suffix(file, "-wal"), shm = with_suffix(file, "-shm");
    for (int attempt = 0; attempt < 40; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(25));
      const FileStampId wal_before = stat_id(wal), shm_before = stat_id(shm);
      if (!wal_before.exists || wal_before.size == 0) {
        db_stamp_ = stat_id(file);
        db_.open(sqlite_uri(file, "mode=ro&immutable=1"), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
                 options_.busy_timeout_ms, true);
        mode_ = Mode::kImmutable;
        if (immutable_valid()) return;
        continue;  // a writer committed meanwhile: look again
      }
      if (!shm_before.exists) continue;
      try {
        db_.open(sqlite_uri(file, "mode=ro"), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
                 options_.busy_timeout_ms, true);
        mode_ = Mode::kShared;
        db_.scalar("SELECT count(*) FROM sqlite_master");  // maps the -shm, reads the -wal
        return;
      } catch (const Error&) {
        // The last writer may have closed (and removed both files) in between: look again.
        if (stat_id(wal) == wal_before && stat_id(shm) == shm_before) throw;
      }
    }
    db_.close();
    throw Error(ErrorKind::kIo,
                file.string() + ": its write-ahead log " + wal.filename().string() +
                    " holds changes but there is no " + shm.filename().string() +
                    " (a writer stopped before finishing); a read-only search would have to "
                    "create it: run clipmind index on it once with write access, or search a copy");
  }

  bool immutable_valid() const {
    if (stat_id(db_.file()) != db_stamp_) return false;
    const FileStampId wal = stat_id(with_suffix(db_.file(), "-wal"));
    return !wal.exists || wal.size == 0;
  }

  // Runs one read (a read transaction or a statement) on a read-only store: in immutable mode
  // it must see the file unchanged before and after, else it reopens and reads again (an
  // immutable connection takes no locks: a checkpoint by the owner during the read could
  // show a mix of two states, so the ANN built from it is dropped too).
  template <class F>
  auto read(F&& f) -> decltype(f()) {
    for (int attempt = 0; mode_ == Mode::kImmutable; ++attempt) {
      if (!immutable_valid()) {
        open_read_only();
        if (mode_ != Mode::kImmutable) break;
      }
      std::optional<decltype(f())> result;
      try {
        result.emplace(f());
      } catch (const Error&) {
        // A torn read may also look like a damaged file: only an unchanged file's error counts.
        if (immutable_valid()) throw;
      }
      if (result && immutable_valid()) return std::move(*result);
      ann_.reset();
      if (attempt == 5) {
        throw Error(ErrorKind::kIo, db_.file().string() +
                                        ": kept changing while being read (its owner is "
                                        "writing to it); try again");
      }
    }
    return f();
  }

  void setup_read_only_ann() {
    const std::string uuid = read([&] { return meta("db_uuid"); });
    fs::path prefix;
    // Without a cache folder (or an id) the copy stays in memory; the owner's file beside the
    // database is still loaded when it is current.
    if (!options_.ann_cache_dir.empty() && !uuid.empty()) {
      const fs::path folder =
          options_.ann_cache_dir / ("sqlite-" + uuid + "-" + path_key(db_.file()));
      prefix = folder / "segments";
      std::error_code ec;  // opening counts as a use for trim_ann_cache_dir's LRU order
      if (fs::is_directory(folder, ec))
        fs::last_write_time(folder, fs::file_time_type::clock::now(), ec);
      trim_ann_cache_dir(options_.ann_cache_dir, options_.ann_cache_max_bytes, folder);
    }
    ann_ = AnnCache(prefix, options_.ann, {db_.file()});
  }

  enum class Mode { kReadWrite, kShared, kImmutable };

  OpenOptions options_;
  std::mutex mutex_;
  Db db_;
  AnnCache ann_;
  Mode mode_ = Mode::kReadWrite;
  FileStampId db_stamp_;  // immutable mode: the file as opened
  std::string ann_save_error_;
  bool has_segments_version_ = false;  // schema 3+ (a read-only open may read version 2)
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const fs::path& file, const OpenOptions& options) {
  if ((!options.create || options.read_only) && !fs::exists(file)) {
    throw Error(ErrorKind::kNotFound, file.string() + ": no such index database");
  }
  if (fs::is_directory(file)) {
    throw Error(ErrorKind::kInvalidArgument,
                file.string() + ": is a directory; give the index database file");
  }
  return std::make_unique<SqliteStore>(file, options);
}

}  // namespace clipmind::index
