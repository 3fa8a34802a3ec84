// The SQLite store on real database files: round trips, incremental decisions, failures,
// full-text and fused search, ANN staleness, schema migrations and bad files.
#include "index/sqlite_store.h"

#include <fstream>
#include <set>

#include "index_test_util.h"
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "clipmind/error.h"
#include "index/store.h"

namespace clipmind::index {
namespace {

namespace fs = std::filesystem;
using test::make_segments;
using test::random_vector;
using test::stamp_for;
using test::video_path;

constexpr int kDim = 16;
const std::string kModel = "google/siglip-test";

// Raw SQL access to check what the store wrote, independently of its own readers.
struct RawDb {
  explicit RawDb(const fs::path& file) {
    if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) throw std::runtime_error("open");
  }
  ~RawDb() { sqlite3_close(db); }
  std::string text(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sqlite3_errmsg(db));
    }
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
  }
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error(m);
    }
  }
  sqlite3* db = nullptr;
};

OpenOptions no_create() {
  OpenOptions o;
  o.create = false;
  return o;
}

std::vector<fs::path> ann_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".hnsw") out.push_back(e.path());
  }
  return out;
}

TEST(SqliteStore, RoundTripWalAndThumbnails) {
  const auto dir = test::fresh_dir("sqlite");
  const auto db = dir / "index.db";
  {
    auto store = open_store(db.string());
    auto segs = make_segments(1, 3, kDim, true, true);
    store->begin_video(video_path(1), stamp_for(1), kModel);
    EXPECT_EQ(store->find_video(video_path(1))->status, VideoStatus::kInProgress);
    store->commit_video(video_path(1), stamp_for(1), kModel, segs);

    const auto v = store->find_video(video_path(1));
    ASSERT_TRUE(v);
    EXPECT_EQ(v->status, VideoStatus::kIndexed);
    EXPECT_EQ(v->stamp.content_hash, stamp_for(1).content_hash);
    EXPECT_EQ(v->stamp.size_bytes, stamp_for(1).size_bytes);
    EXPECT_EQ(v->stamp.mtime_ns, stamp_for(1).mtime_ns);
    EXPECT_EQ(v->model_id, kModel);
    EXPECT_EQ(v->segment_count, 3);
    EXPECT_GT(v->updated_at, 1'600'000'000);

    const auto stored = store->segments_of(video_path(1));
    ASSERT_EQ(stored.size(), 3u);
    for (size_t j = 0; j < 3; ++j) {
      EXPECT_DOUBLE_EQ(stored[j].t_begin, segs[j].t_begin);
      EXPECT_DOUBLE_EQ(stored[j].t_end, segs[j].t_end);
      EXPECT_EQ(stored[j].caption, segs[j].caption);
      const auto want = test::unit(segs[j].embedding);
      ASSERT_EQ(stored[j].embedding.size(), want.size());
      for (int d = 0; d < kDim; ++d)
        EXPECT_NEAR(stored[j].embedding[d], want[d], 1e-6);
      EXPECT_TRUE(stored[j].has_thumbnail);
      EXPECT_EQ(store->thumbnail(stored[j].id), segs[j].thumbnail_jpeg);
    }
    EXPECT_TRUE(store->thumbnail(999999).empty());
    const auto info = store->info();
    EXPECT_EQ(info.backend, "sqlite");
    EXPECT_EQ(info.dim, kDim);
    EXPECT_EQ(info.model_id, kModel);
    EXPECT_EQ(info.schema_version, kSqliteSchemaVersion);
    EXPECT_EQ(info.segment_count, 3);
  }
  RawDb raw(db);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.text("SELECT value FROM clipmind_meta WHERE key='schema_version'"),
            std::to_string(kSqliteSchemaVersion));
  EXPECT_EQ(raw.text("SELECT count(*) FROM segments"), "3");
  EXPECT_EQ(raw.text("SELECT length(embedding) FROM segments LIMIT 1"), std::to_string(kDim * 4));
  // Reopening sees the same data.
  auto again = open_store(db.string(), no_create());
  EXPECT_EQ(again->segments_of(video_path(1)).size(), 3u);
}

TEST(SqliteStore, IncrementalDecisions) {
  const auto dir = test::fresh_dir("sqlite");
  auto store = open_store((dir / "index.db").string());
  const auto p = video_path(2);
  int hashes = 0;
  auto hash_as = [&](std::string h) {
    return [&hashes, h] {
      ++hashes;
      return h;
    };
  };
  auto st = stamp_for(2);
  EXPECT_EQ(store->freshness(p, st.size_bytes, st.mtime_ns, hash_as(st.content_hash)),
            Freshness::kNew);
  store->commit_video(p, st, kModel, make_segments(2, 4, kDim));
  EXPECT_EQ(store->freshness(p, st.size_bytes, st.mtime_ns, hash_as(st.content_hash)),
            Freshness::kUnchanged);
  EXPECT_EQ(hashes, 0) << "unchanged size and mtime must not hash";
  // Touched: same size, new mtime, same hash -> unchanged, and the new mtime is recorded.
  EXPECT_EQ(store->freshness(p, st.size_bytes, st.mtime_ns + 7, hash_as(st.content_hash)),
            Freshness::kUnchanged);
  EXPECT_EQ(hashes, 1);
  EXPECT_EQ(store->find_video(p)->stamp.mtime_ns, st.mtime_ns + 7);
  EXPECT_EQ(store->freshness(p, st.size_bytes, st.mtime_ns + 7, hash_as("x")),
            Freshness::kUnchanged);
  EXPECT_EQ(hashes, 1);
  // Same size, new mtime, new content.
  EXPECT_EQ(store->freshness(p, st.size_bytes, st.mtime_ns + 9, hash_as("other")),
            Freshness::kChanged);
  // A different size is a change without hashing.
  EXPECT_EQ(store->freshness(p, st.size_bytes + 1, st.mtime_ns, hash_as("y")), Freshness::kChanged);
  EXPECT_EQ(hashes, 2);

  // Re-index replaces every segment.
  const auto old_ids = store->segments_of(p);
  const auto st2 = stamp_for(2, 1);
  store->commit_video(p, st2, kModel, make_segments(200, 2, kDim));
  const auto now = store->segments_of(p);
  ASSERT_EQ(now.size(), 2u);
  for (const auto& o : old_ids) {
    for (const auto& n : now)
      EXPECT_NE(o.id, n.id);
  }
  EXPECT_EQ(store->info().segment_count, 2);
  EXPECT_EQ(store->freshness(p, st2.size_bytes, st2.mtime_ns, nullptr), Freshness::kUnchanged);

  // A started but unfinished video is incomplete.
  store->begin_video(video_path(3), stamp_for(3), kModel);
  const auto s3 = stamp_for(3);
  EXPECT_EQ(store->freshness(video_path(3), s3.size_bytes, s3.mtime_ns, nullptr),
            Freshness::kIncomplete);
  EXPECT_TRUE(needs_indexing(Freshness::kIncomplete));
}

TEST(SqliteStore, FailedVideosAreRecordedAndTheBatchGoesOn) {
  const auto dir = test::fresh_dir("sqlite");
  auto store = open_store((dir / "index.db").string());
  store->commit_video(video_path(1), stamp_for(1), kModel, make_segments(1, 3, kDim));
  // Video 1 changes and its new version is damaged: old segments go, the error stays.
  store->begin_video(video_path(1), stamp_for(1, 1), kModel);
  store->fail_video(video_path(1), stamp_for(1, 1), kModel, "moov atom not found");
  store->commit_video(video_path(2), stamp_for(2), kModel, make_segments(2, 2, kDim));
  const auto v1 = store->find_video(video_path(1));
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->status, VideoStatus::kFailed);
  EXPECT_EQ(v1->error, "moov atom not found");
  EXPECT_EQ(v1->segment_count, 0);
  const auto s = stamp_for(1, 1);
  const auto f = store->freshness(video_path(1), s.size_bytes, s.mtime_ns, nullptr);
  EXPECT_EQ(f, Freshness::kFailedBefore);
  EXPECT_FALSE(needs_indexing(f));
  EXPECT_TRUE(needs_indexing(f, /*retry_failed=*/true));
  // Searches only see video 2.
  SearchQuery q;
  q.embedding = random_vector(1000 + 0, kDim);  // video 1 segment 0's embedding
  q.k = 10;
  for (const auto& hit : store->search(q))
    EXPECT_EQ(hit.video_path, video_path(2));
  EXPECT_EQ(store->list_videos().size(), 2u);
}

TEST(SqliteStore, ExactAndAnnSearchAgreeWithBruteForce) {
  const auto dir = test::fresh_dir("sqlite");
  auto store = open_store((dir / "index.db").string());
  std::vector<std::pair<int64_t, std::vector<float>>> items;
  std::map<std::pair<std::string, double>, int64_t> key_of;
  for (int v = 0; v < 40; ++v) {
    auto segs = make_segments(v, 10, kDim, false);
    store->commit_video(video_path(v), stamp_for(v), kModel, segs);
    for (const auto& s : segs) {
      const int64_t key = v * 100 + static_cast<int64_t>(s.t_begin);
      items.emplace_back(key, s.embedding);
      key_of[{video_path(v), s.t_begin}] = key;
    }
  }
  for (auto mode : {SearchMode::kExact, SearchMode::kAnn}) {
    for (int i = 0; i < 10; ++i) {
      SearchQuery q;
      q.embedding = random_vector(777 + i, kDim);
      q.k = 10;
      q.mode = mode;
      const auto hits = store->search(q);
      const auto want = test::brute_force(items, q.embedding, 10);
      ASSERT_EQ(hits.size(), 10u);
      for (size_t r = 0; r < 10; ++r) {
        EXPECT_EQ((key_of[{hits[r].video_path, hits[r].t_begin}]), want[r].key)
            << "mode " << int(mode) << " query " << i << " rank " << r;
        ASSERT_TRUE(hits[r].similarity);
        EXPECT_NEAR(*hits[r].similarity, want[r].similarity, 1e-5);
        EXPECT_EQ(hits[r].vector_rank, r + 1);
      }
    }
  }
}

TEST(SqliteStore, CaptionFullTextAndFusion) {
  const auto dir = test::fresh_dir("sqlite");
  auto store = open_store((dir / "index.db").string());
  auto seg = [](double t, std::vector<float> e, std::string caption) {
    Segment s;
    s.t_begin = t;
    s.t_end = t + 1;
    s.embedding = std::move(e);
    s.caption = std::move(caption);
    return s;
  };
  // Query embedding is e0; similarities: A 1.0, B 0.8, C 0.6, D 0.0.
  std::vector<Segment> segs{
      seg(0, {1, 0, 0, 0}, "a dog on a beach"),
      seg(1, {0.8f, 0.6f, 0, 0}, "people walking in a park"),
      seg(2, {0.6f, 0, 0.8f, 0}, "a kitchen table"),
      seg(3, {0, 0, 0, 1}, "red cars racing at night in the rain"),
  };
  store->commit_video("/a.mp4", stamp_for(1), kModel, segs);

  SearchQuery text_only;
  text_only.text = "car";  // porter stemming: "cars" matches "car"
  auto hits = store->search(text_only);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_DOUBLE_EQ(hits[0].t_begin, 3.0);
  EXPECT_EQ(hits[0].text_rank, 1u);
  EXPECT_FALSE(hits[0].similarity);
  EXPECT_EQ(hits[0].caption, "red cars racing at night in the rain");
  // Operators and quotes are plain words, not syntax errors.
  text_only.text = "\"dog\" AND (NOT beach) OR NEAR*";
  EXPECT_FALSE(store->search(text_only).empty());
  text_only.text = "submarine";
  EXPECT_TRUE(store->search(text_only).empty());

  SearchQuery q;
  q.embedding = {1, 0, 0, 0};
  q.text = "red car";
  hits = store->search(q);
  ASSERT_EQ(hits.size(), 4u);
  // RRF (k=60): D = 1/64 + 1/61, A = 1/61, B = 1/62, C = 1/63.
  EXPECT_DOUBLE_EQ(hits[0].t_begin, 3.0);
  EXPECT_NEAR(hits[0].score, 1.0 / 64 + 1.0 / 61, 1e-12);
  EXPECT_DOUBLE_EQ(hits[1].t_begin, 0.0);
  EXPECT_NEAR(hits[1].score, 1.0 / 61, 1e-12);
  EXPECT_DOUBLE_EQ(hits[2].t_begin, 1.0);
  EXPECT_DOUBLE_EQ(hits[3].t_begin, 2.0);
  EXPECT_NEAR(*hits[2].similarity, 0.8, 1e-6);

  // Text weight 0: pure vector order.
  q.fusion.text_weight = 0;
  hits = store->search(q);
  ASSERT_EQ(hits.size(), 4u);
  EXPECT_DOUBLE_EQ(hits[0].t_begin, 0.0);
  EXPECT_DOUBLE_EQ(hits[3].t_begin, 3.0);

  // "like" search from a moment: segment at 1.5 s is B; excluding it, A is most similar.
  const auto at = store->segment_at("/a.mp4", 1.5);
  ASSERT_TRUE(at);
  EXPECT_DOUBLE_EQ(at->t_begin, 1.0);
  EXPECT_DOUBLE_EQ(store->segment_at("/a.mp4", 99.0)->t_begin, 3.0);  // nearest
  EXPECT_FALSE(store->segment_at("/missing.mp4", 1.0));
  SearchQuery like;
  like.embedding = at->embedding;
  like.exclude_segments = {at->id};
  like.k = 2;
  hits = store->search(like);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_DOUBLE_EQ(hits[0].t_begin, 0.0);  // 0.8 vs C's 0.48
  EXPECT_NEAR(*hits[0].similarity, 0.8, 1e-6);
}

TEST(SqliteStore, DimensionAndModelMismatchWriteNothing) {
  const auto dir = test::fresh_dir("sqlite");
  const auto db = dir / "index.db";
  auto store = open_store(db.string());
  store->commit_video(video_path(1), stamp_for(1), kModel, make_segments(1, 2, kDim));
  try {
    store->commit_video(video_path(2), stamp_for(2), kModel, make_segments(2, 2, kDim * 2));
    FAIL() << "accepted a 32-dim embedding in a 16-dim index";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    const std::string m = e.what();
    EXPECT_NE(m.find("32"), std::string::npos) << m;
    EXPECT_NE(m.find("16"), std::string::npos) << m;
    EXPECT_NE(m.find(db.string()), std::string::npos) << m;
  }
  EXPECT_FALSE(store->find_video(video_path(2)));
  EXPECT_THROW(
      store->commit_video(video_path(3), stamp_for(3), "other/model", make_segments(3, 2, kDim)),
      Error);
  EXPECT_FALSE(store->find_video(video_path(3)));
  auto mixed = make_segments(4, 2, kDim);
  mixed[1].embedding.pop_back();
  EXPECT_THROW(store->commit_video(video_path(4), stamp_for(4), kModel, mixed), Error);
  auto bad_span = make_segments(4, 1, kDim);
  bad_span[0].t_end = -1;
  EXPECT_THROW(store->commit_video(video_path(4), stamp_for(4), kModel, bad_span), Error);
  SearchQuery q;
  q.embedding = random_vector(1, kDim + 1);
  EXPECT_THROW(store->search(q), Error);
  EXPECT_EQ(store->info().segment_count, 2);
}

// Searches the store in ANN mode and compares with brute force over `items`.
void expect_ann_matches(Store& store,
                        const std::vector<std::pair<int64_t, std::vector<float>>>& items,
                        const std::map<std::pair<std::string, double>, int64_t>& key_of) {
  for (int i = 0; i < 5; ++i) {
    SearchQuery q;
    q.embedding = random_vector(4242 + i, kDim);
    q.k = 8;
    q.mode = SearchMode::kAnn;
    const auto hits = store.search(q);
    const auto want = test::brute_force(items, q.embedding, 8);
    ASSERT_EQ(hits.size(), want.size());
    for (size_t r = 0; r < hits.size(); ++r) {
      const auto it = key_of.find({hits[r].video_path, hits[r].t_begin});
      ASSERT_NE(it, key_of.end()) << hits[r].video_path << " should not be in the index";
      EXPECT_EQ(it->second, want[r].key) << "query " << i << " rank " << r;
    }
  }
}

TEST(SqliteStore, AnnFileIsRebuiltOrCaughtUpWhenStaleMissingOrDamaged) {
  const auto dir = test::fresh_dir("sqlite");
  const auto db = dir / "index.db";
  std::vector<std::pair<int64_t, std::vector<float>>> items;
  std::map<std::pair<std::string, double>, int64_t> key_of;
  auto add = [&](Store& s, int v, int version = 0) {
    auto segs = make_segments(v * 10 + version, 6, kDim, false);
    s.commit_video(video_path(v), stamp_for(v, version), kModel, segs);
    std::erase_if(items, [&](const auto& it) { return it.first / 1000 == v; });
    std::erase_if(key_of, [&](const auto& it) { return it.first.first == video_path(v); });
    for (const auto& seg : segs) {
      const int64_t key = v * 1000 + static_cast<int64_t>(seg.t_begin);
      items.emplace_back(key, seg.embedding);
      key_of[{video_path(v), seg.t_begin}] = key;
    }
  };
  auto remove = [&](Store& s, int v) {
    const std::vector<std::string> paths{video_path(v)};
    EXPECT_EQ(s.remove_videos(paths), 1u);
    std::erase_if(items, [&](const auto& it) { return it.first / 1000 == v; });
    std::erase_if(key_of, [&](const auto& it) { return it.first.first == video_path(v); });
  };
  fs::path first_file;
  {
    auto store = open_store(db.string());
    for (int v = 1; v <= 5; ++v)
      add(*store, v);
    store->sync_ann();
    auto files = ann_files(dir);
    ASSERT_EQ(files.size(), 1u);
    first_file = files[0];
    EXPECT_NE(first_file.filename().string().find("-5.hnsw"), std::string::npos) << first_file;
    expect_ann_matches(*store, items, key_of);
    fs::copy_file(first_file, dir / "saved-gen5.bin");
  }
  {
    // Changes while the file lags: a new video, a re-indexed one, a removed one.
    auto store = open_store(db.string());
    add(*store, 6);
    add(*store, 2, 1);
    remove(*store, 3);
  }
  {
    // Stale file (generation 5, database at 8): caught up from segments/tombstones.
    auto store = open_store(db.string());
    expect_ann_matches(*store, items, key_of);
    store->sync_ann();
    const auto files = ann_files(dir);
    ASSERT_EQ(files.size(), 1u) << "old generations are removed";
    EXPECT_NE(files[0].filename().string().find("-8.hnsw"), std::string::npos) << files[0];
    RawDb raw(db);
    EXPECT_EQ(raw.text("SELECT value FROM clipmind_meta WHERE key='tombstones_after'"), "8");
    EXPECT_EQ(raw.text("SELECT count(*) FROM tombstones"), "0");
  }
  {
    // An old file from before the pruned tombstones must not be used: it still holds video 3.
    for (const auto& f : ann_files(dir))
      fs::remove(f);
    fs::copy_file(dir / "saved-gen5.bin", first_file);
    auto store = open_store(db.string());
    expect_ann_matches(*store, items, key_of);
  }
  {
    // Missing file: rebuilt.
    for (const auto& f : ann_files(dir))
      fs::remove(f);
    auto store = open_store(db.string());
    expect_ann_matches(*store, items, key_of);
    store->sync_ann();
    ASSERT_EQ(ann_files(dir).size(), 1u);
  }
  {
    // Damaged file under the right name: rebuilt.
    const auto f = ann_files(dir).at(0);
    std::ofstream(f, std::ios::binary | std::ios::trunc) << std::string(3000, 'x');
    auto store = open_store(db.string());
    expect_ann_matches(*store, items, key_of);
  }
  {
    // Another database at the same path (new uuid): the old files are ignored and replaced.
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().filename().string().starts_with("index.db")) fs::remove(e.path());
    }
    fs::copy_file(dir / "saved-gen5.bin", first_file);
    items.clear();
    key_of.clear();
    auto store = open_store(db.string());
    for (int v = 20; v < 25; ++v)
      add(*store, v);  // generation 5 again, other content
    expect_ann_matches(*store, items, key_of);
    store->sync_ann();
    const auto files = ann_files(dir);
    ASSERT_EQ(files.size(), 1u);
    EXPECT_NE(files[0], first_file);
  }
}

TEST(SqliteStore, PruneRemovesVanishedFilesUnderRoots) {
  const auto dir = test::fresh_dir("sqlite");
  auto store = open_store((dir / "index.db").string());
  fs::create_directories(dir / "clips");
  const std::vector<fs::path> files{dir / "clips/a.mp4", dir / "clips/b.mp4", dir / "clips/c.mp4"};
  for (const auto& f : files)
    std::ofstream(f) << "x";
  for (size_t i = 0; i < files.size(); ++i) {
    store->commit_video(files[i].string(), stamp_for(int(i)), kModel,
                        make_segments(int(i), 2, kDim));
  }
  store->commit_video("/elsewhere/gone.mp4", stamp_for(9), kModel, make_segments(9, 2, kDim));
  fs::remove(files[1]);
  const std::vector<fs::path> roots{dir / "clips"};
  const auto removed = prune_missing(*store, roots);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0], files[1].string());
  EXPECT_FALSE(store->find_video(files[1].string()));
  EXPECT_TRUE(store->find_video("/elsewhere/gone.mp4")) << "outside the roots: kept";
  EXPECT_EQ(store->info().segment_count, 6);
  EXPECT_EQ(prune_missing(*store).size(), 1u);  // no roots: everywhere
  EXPECT_EQ(store->list_videos().size(), 2u);
}

// Version 1 of the schema, copied here as the independent reference of what old files hold.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE clipmind_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE videos(id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL UNIQUE,
  content_hash TEXT NOT NULL, size_bytes INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('in_progress', 'indexed', 'failed')),
  error TEXT NOT NULL DEFAULT '', model_id TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL);
CREATE TABLE segments(id INTEGER PRIMARY KEY AUTOINCREMENT,
  video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE, t_begin REAL NOT NULL,
  t_end REAL NOT NULL, embedding BLOB NOT NULL, caption TEXT NOT NULL DEFAULT '',
  gen INTEGER NOT NULL);
CREATE INDEX segments_video ON segments(video_id, t_begin);
CREATE INDEX segments_gen ON segments(gen);
CREATE TABLE thumbnails(segment_id INTEGER PRIMARY KEY REFERENCES segments(id) ON DELETE CASCADE,
  jpeg BLOB NOT NULL);
CREATE TABLE tombstones(segment_id INTEGER PRIMARY KEY, gen INTEGER NOT NULL);
CREATE INDEX tombstones_gen ON tombstones(gen);
INSERT INTO clipmind_meta(key, value) VALUES ('schema_version', '1'), ('db_uuid', 'feedface'),
  ('generation', '1'), ('tombstones_after', '0'), ('dim', '2'), ('model_id', 'm');
INSERT INTO videos VALUES (1, '/old.mp4', 'h', 10, 20, 'indexed', '', 'm', 0);
INSERT INTO segments VALUES (1, 1, 0.0, 4.0, x'0000803f00000000', 'a dog chasing a ball', 1);
)sql";

TEST(SqliteStore, MigratesVersionOneFiles) {
  const auto dir = test::fresh_dir("sqlite");
  const auto db = dir / "old.db";
  {
    RawDb raw(db);
    raw.exec(kSchemaV1);
  }
  auto store = open_store(db.string());
  EXPECT_EQ(store->info().schema_version, kSqliteSchemaVersion);
  SearchQuery q;
  q.text = "dogs";  // captions written before FTS existed are indexed by the migration
  auto hits = store->search(q);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].video_path, "/old.mp4");
  q.text.clear();
  q.embedding = {1.0f, 0.0f};
  hits = store->search(q);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NEAR(*hits[0].similarity, 1.0, 1e-6);
}

TEST(SqliteStore, BadFilesAndLocationsGiveClearErrors) {
  const auto dir = test::fresh_dir("sqlite");
  auto expect_error = [](const std::string& location, ErrorKind kind, const std::string& needle) {
    try {
      open_store(location);
      ADD_FAILURE() << "opened " << location;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  {
    std::ofstream out(dir / "corrupt.db", std::ios::binary);
    for (int i = 0; i < 8192; ++i)
      out.put(static_cast<char>(i * 131 + 7));
  }
  expect_error((dir / "corrupt.db").string(), ErrorKind::kInvalidInput, "corrupt.db");
  {
    RawDb raw(dir / "foreign.db");
    raw.exec("CREATE TABLE invoices(id INTEGER)");
  }
  expect_error((dir / "foreign.db").string(), ErrorKind::kInvalidInput, "not a clipmind index");
  {
    RawDb raw(dir / "newer.db");
    raw.exec(kSchemaV1);
    raw.exec("UPDATE clipmind_meta SET value = '99' WHERE key = 'schema_version'");
  }
  expect_error((dir / "newer.db").string(), ErrorKind::kUnsupported, "newer clipmind");
  expect_error(dir.string(), ErrorKind::kInvalidArgument, "is a directory");
  expect_error("mysql://host/db", ErrorKind::kInvalidArgument, "mysql://host/db");
  expect_error((dir / "no/such/folder/x.db").string(), ErrorKind::kIo, "x.db");
  try {
    open_store((dir / "absent.db").string(), no_create());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  }
  // An empty file is a new, empty database.
  std::ofstream(dir / "empty.db").close();
  EXPECT_EQ(open_store((dir / "empty.db").string())->info().segment_count, 0);
  EXPECT_EQ(redact_uri("postgresql://bob:s3cret@db.example:5432/idx"),
            "postgresql://bob:***@db.example:5432/idx");
  EXPECT_EQ(redact_uri("postgresql://db/idx?user=a&password=zz&sslmode=require"),
            "postgresql://db/idx?user=a&password=***&sslmode=require");
}

// adopt_model: an alias (an older id of the same model) is rewritten to the new id in the meta
// row and every video row, and the name recorded; another model changes nothing.
TEST(SqliteStore, AdoptModelRewritesAnAliasAndRecordsTheName) {
  const auto dir = test::fresh_dir("sqlite-adopt");
  const auto db = dir / "index.db";
  const std::string old_id = "0123456789abcdef0123456789abcdef";
  const std::string new_id = "m2-fedcba9876543210fedcba9876543210";
  const std::vector<std::string> aliases = {old_id};
  {
    auto store = open_store(db.string());
    // An empty index has no model to adopt.
    EXPECT_FALSE(store->adopt_model(new_id, aliases, "siglip"));
    store->commit_video(video_path(1), stamp_for(1), old_id, make_segments(1, 2, kDim));
    store->fail_video(video_path(2), stamp_for(2), old_id, "bad");
    EXPECT_EQ(store->info().model_name, "");
    // Another model: refused, nothing written.
    EXPECT_FALSE(store->adopt_model("m2-other", {}, "other"));
    EXPECT_FALSE(store->adopt_model("m2-other", std::vector<std::string>{"m2-x"}, "other"));
  }
  {
    RawDb raw(db);
    EXPECT_EQ(raw.text("SELECT value FROM clipmind_meta WHERE key = 'model_id'"), old_id);
    EXPECT_EQ(raw.text("SELECT count(*) FROM clipmind_meta WHERE key = 'model_name'"), "0");
  }
  {
    auto store = open_store(db.string());
    EXPECT_TRUE(store->adopt_model(new_id, aliases, "/models/siglip"));
    EXPECT_EQ(store->info().model_id, new_id);
    EXPECT_EQ(store->info().model_name, "/models/siglip");
    // Now the new id is the index's: commits with it pass, with the old one they fail.
    store->commit_video(video_path(3), stamp_for(3), new_id, make_segments(3, 2, kDim));
    EXPECT_THROW(
        store->commit_video(video_path(4), stamp_for(4), old_id, make_segments(4, 2, kDim)), Error);
    // Same id again: the first recorded name stays.
    EXPECT_TRUE(store->adopt_model(new_id, aliases, "/elsewhere/siglip"));
    EXPECT_EQ(store->info().model_name, "/models/siglip");
  }
  RawDb raw(db);
  EXPECT_EQ(raw.text("SELECT value FROM clipmind_meta WHERE key = 'model_id'"), new_id);
  EXPECT_EQ(raw.text("SELECT count(*) FROM videos WHERE model_id = '" + new_id + "'"), "3");
  EXPECT_EQ(raw.text("SELECT count(*) FROM videos WHERE model_id <> '" + new_id + "'"), "0");
}

}  // namespace
}  // namespace clipmind::index
