// The PostgreSQL store and job queue against a real server started for the tests (CTest
// fixture `index_pg`, or this process when run by hand): round trips, incremental decisions,
// full-text and fused search, catch-up of the local ANN copy, concurrent workers claiming
// every video exactly once, stale claims, shards, and clear errors.
#include "index/pg_store.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "index_test_util.h"
#include "pg_test_server.h"
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include "clipmind/error.h"
#include "index/job_queue.h"
#include "index/pg_schema.h"
#include "index/shard.h"
#include "index/store.h"

namespace clipmind::index {
namespace {

namespace fs = std::filesystem;

using test::make_segments;
using test::random_vector;
using test::stamp_for;
using test::video_path;

constexpr int kDim = 12;
const std::string kModel = "siglip-tiny";

test::PgTestServer* g_server = nullptr;

class PgEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* state = std::getenv("CLIPMIND_TEST_PG_STATE");
    if (state && std::filesystem::exists(std::filesystem::path(state) / "server")) {
      server_ = test::PgTestServer::load_state(state);
    } else {
      server_ = test::PgTestServer::start();
      owned_ = true;
    }
    g_server = &server_;
  }
  void TearDown() override {
    if (owned_) server_.stop();
  }

 private:
  test::PgTestServer server_;
  bool owned_ = false;
};

// Rows of a query, as text (NULL as ""), run on a connection of its own.
std::vector<std::vector<std::string>> raw_query(const std::string& uri, const std::string& sql,
                                                const std::vector<std::string>& params = {}) {
  PGconn* c = PQconnectdb(uri.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    ADD_FAILURE() << PQerrorMessage(c);
    PQfinish(c);
    return {};
  }
  std::vector<const char*> values;
  for (const auto& p : params)
    values.push_back(p.c_str());
  PGresult* r = PQexecParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0);
  std::vector<std::vector<std::string>> rows;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
  } else {
    for (int i = 0; i < PQntuples(r); ++i) {
      rows.emplace_back();
      for (int j = 0; j < PQnfields(r); ++j)
        rows.back().push_back(PQgetvalue(r, i, j));
    }
  }
  PQclear(r);
  PQfinish(c);
  return rows;
}

const auto* const g_env = ::testing::AddGlobalTestEnvironment(new PgEnvironment);

// A fresh database per test, so tests can run in parallel against one server.
class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    db_ = "cm_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    uri_ = g_server->create_database(db_);
  }
  void TearDown() override {
    try {
      g_server->drop_database(db_);
    } catch (...) {
    }
  }
  std::string db_, uri_;
};

// Tests that search run on both vector paths: pgvector on the server (the extension is
// installed by scripts/install-pgvector.sh, PgVectorTest checks it) and the store's own
// in-memory index over real[] columns (OpenOptions::use_pgvector = false).
class PgSearchTest : public PgTest, public ::testing::WithParamInterface<bool> {
 protected:
  std::unique_ptr<Store> open_search_store() {
    OpenOptions options;
    options.use_pgvector = GetParam();
    auto store = open_store(uri_, options);
    if (store->info().pgvector != GetParam()) {
      ADD_FAILURE() << "store opened with use_pgvector = " << GetParam()
                    << " reports pgvector = " << store->info().pgvector
                    << (GetParam() ? " (is pgvector installed? run scripts/install-pgvector.sh)"
                                   : "");
    }
    return store;
  }
};

std::string path_name(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "pgvector" : "plain";
}

// An index written before segments_version (schema 1): a search opens it as it is, with every
// video at segments version 1; `index` (create) upgrades it, reports those videos kOutdated,
// and mark_segments_current or a new commit makes them current.
TEST_F(PgTest, AnIndexFromBeforeSegmentsVersionIsSearchableThenUpgradedAndOutdated) {
  const auto st = stamp_for(1);
  {
    auto store = open_store(uri_);
    store->commit_video(video_path(1), st, kModel, make_segments(1, 3, kDim));
    store->commit_video(video_path(2), stamp_for(2), kModel, make_segments(2, 3, kDim));
  }
  test::exec_sql(uri_,
                 "ALTER TABLE clipmind_videos DROP COLUMN segments_version; "
                 "UPDATE clipmind_meta SET value = '1' WHERE key = 'schema_version'");
  {
    OpenOptions search;
    search.create = false;
    auto store = open_store(uri_, search);
    EXPECT_EQ(store->info().schema_version, 1);
    const auto v = store->find_video(video_path(1));
    ASSERT_TRUE(v);
    EXPECT_EQ(v->segments_version, 1);
    EXPECT_EQ(store->segments_of(video_path(1)).size(), 3u);
  }
  auto store = open_store(uri_);
  EXPECT_EQ(store->info().schema_version, kPgSchemaVersion);
  EXPECT_EQ(store->freshness(video_path(1), st.size_bytes, st.mtime_ns, nullptr),
            Freshness::kOutdated);
  EXPECT_TRUE(needs_indexing(Freshness::kOutdated));
  store->mark_segments_current(video_path(1));
  EXPECT_EQ(store->find_video(video_path(1))->segments_version, kSegmentsVersion);
  EXPECT_EQ(store->freshness(video_path(1), st.size_bytes, st.mtime_ns, nullptr),
            Freshness::kUnchanged);
  store->commit_video(video_path(2), stamp_for(2), kModel, make_segments(2, 2, kDim));
  EXPECT_EQ(
      store->freshness(video_path(2), stamp_for(2).size_bytes, stamp_for(2).mtime_ns, nullptr),
      Freshness::kUnchanged);
}

TEST_F(PgTest, RoundTripAndIncremental) {
  auto store = open_store(uri_);
  EXPECT_EQ(store->info().backend, "postgresql");
  EXPECT_EQ(store->info().schema_version, kPgSchemaVersion);
  const auto segs = make_segments(1, 4, kDim, true, true);
  const auto st = stamp_for(1);
  EXPECT_EQ(store->freshness(video_path(1), st.size_bytes, st.mtime_ns, nullptr), Freshness::kNew);
  store->begin_video(video_path(1), st, kModel);
  EXPECT_EQ(store->freshness(video_path(1), st.size_bytes, st.mtime_ns, nullptr),
            Freshness::kIncomplete);
  store->commit_video(video_path(1), st, kModel, segs);
  const auto v = store->find_video(video_path(1));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->status, VideoStatus::kIndexed);
  EXPECT_EQ(v->segment_count, 4);
  EXPECT_EQ(v->stamp.content_hash, st.content_hash);
  const auto stored = store->segments_of(video_path(1));
  ASSERT_EQ(stored.size(), 4u);
  for (size_t j = 0; j < 4; ++j) {
    EXPECT_DOUBLE_EQ(stored[j].t_begin, segs[j].t_begin);
    EXPECT_EQ(stored[j].caption, segs[j].caption);
    const auto u = test::unit(segs[j].embedding);
    for (int d = 0; d < kDim; ++d)
      EXPECT_FLOAT_EQ(stored[j].embedding[d], u[d]);
    EXPECT_EQ(store->thumbnail(stored[j].id), segs[j].thumbnail_jpeg);
  }
  int hashes = 0;
  EXPECT_EQ(store->freshness(video_path(1), st.size_bytes, st.mtime_ns + 1,
                             [&] {
                               ++hashes;
                               return st.content_hash;
                             }),
            Freshness::kUnchanged);
  EXPECT_EQ(hashes, 1);
  EXPECT_EQ(store->find_video(video_path(1))->stamp.mtime_ns, st.mtime_ns + 1);
  EXPECT_EQ(store->freshness(video_path(1), st.size_bytes + 5, st.mtime_ns, nullptr),
            Freshness::kChanged);
  // Re-index replaces; failure removes and records.
  store->commit_video(video_path(1), stamp_for(1, 1), kModel, make_segments(50, 2, kDim));
  EXPECT_EQ(store->segments_of(video_path(1)).size(), 2u);
  store->fail_video(video_path(1), stamp_for(1, 2), kModel, "decoder error: bad NAL");
  EXPECT_EQ(store->find_video(video_path(1))->error, "decoder error: bad NAL");
  EXPECT_EQ(store->info().segment_count, 0);
  const auto s2 = stamp_for(1, 2);
  EXPECT_EQ(store->freshness(video_path(1), s2.size_bytes, s2.mtime_ns, nullptr),
            Freshness::kFailedBefore);
  const std::vector<std::string> gone{video_path(1)};
  EXPECT_EQ(store->remove_videos(gone), 1u);
  EXPECT_TRUE(store->list_videos().empty());
}

TEST_P(PgSearchTest, SearchMatchesBruteForceAndCatchesUp) {
  auto writer = open_search_store();
  auto reader = open_search_store();
  std::vector<std::pair<int64_t, std::vector<float>>> items;
  std::map<std::pair<std::string, double>, int64_t> key_of;
  auto add = [&](int v, int version) {
    auto segs = make_segments(v * 10 + version, 8, kDim, false);
    writer->commit_video(video_path(v), stamp_for(v, version), kModel, segs);
    std::erase_if(items, [&](const auto& it) { return it.first / 1000 == v; });
    for (const auto& s : segs) {
      const int64_t key = v * 1000 + int64_t(s.t_begin);
      items.emplace_back(key, s.embedding);
      key_of[{video_path(v), s.t_begin}] = key;
    }
  };
  auto check = [&](SearchMode mode) {
    for (int i = 0; i < 4; ++i) {
      SearchQuery q;
      q.embedding = random_vector(300 + i, kDim);
      q.k = 6;
      q.mode = mode;
      const auto hits = reader->search(q);
      const auto want = test::brute_force(items, q.embedding, 6);
      ASSERT_EQ(hits.size(), want.size());
      for (size_t r = 0; r < hits.size(); ++r) {
        const auto it = key_of.find({hits[r].video_path, hits[r].t_begin});
        ASSERT_NE(it, key_of.end());
        EXPECT_EQ(it->second, want[r].key) << "rank " << r;
        EXPECT_NEAR(*hits[r].similarity, want[r].similarity, 1e-5);
      }
    }
  };
  for (int v = 0; v < 10; ++v)
    add(v, 0);
  check(SearchMode::kExact);
  check(SearchMode::kAnn);
  // The reader's in-memory index catches up with another connection's changes.
  add(3, 1);
  add(11, 0);
  std::erase_if(key_of, [&](const auto& it) { return it.first.first == video_path(4); });
  std::erase_if(items, [&](const auto& it) { return it.first / 1000 == 4; });
  const std::vector<std::string> gone{video_path(4)};
  writer->remove_videos(gone);
  std::erase_if(key_of, [&](const auto& it) {
    return it.first.first == video_path(3) && it.second != 3000 + int64_t(it.first.second);
  });
  check(SearchMode::kAnn);
  check(SearchMode::kExact);
  EXPECT_GE(reader->info().generation, 13u);
}

TEST_P(PgSearchTest, CaptionFullTextAndFusion) {
  auto store = open_search_store();
  auto seg = [](double t, std::vector<float> e, std::string caption) {
    Segment s;
    s.t_begin = t;
    s.t_end = t + 1;
    s.embedding = std::move(e);
    s.caption = std::move(caption);
    return s;
  };
  std::vector<Segment> segs{
      seg(0, {1, 0, 0, 0}, "a dog on a beach"),
      seg(1, {0.8f, 0.6f, 0, 0}, "people walking in a park"),
      seg(2, {0.6f, 0, 0.8f, 0}, "a kitchen table"),
      seg(3, {0, 0, 0, 1}, "red cars racing at night in the rain"),
  };
  store->commit_video("/a.mp4", stamp_for(1), kModel, segs);
  SearchQuery text_only;
  text_only.text = "car";
  auto hits = store->search(text_only);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_DOUBLE_EQ(hits[0].t_begin, 3.0);
  text_only.text = "the";  // only a stop word: no match, no error, nothing printed
  EXPECT_TRUE(store->search(text_only).empty());
  text_only.text = "it's a \"dog\" & (cat) | !bird:*";
  hits = store->search(text_only);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_DOUBLE_EQ(hits[0].t_begin, 0.0);

  SearchQuery q;
  q.embedding = {1, 0, 0, 0};
  q.text = "red car";
  hits = store->search(q);
  ASSERT_EQ(hits.size(), 4u);
  EXPECT_DOUBLE_EQ(hits[0].t_begin, 3.0);
  EXPECT_NEAR(hits[0].score, 1.0 / 64 + 1.0 / 61, 1e-12);
  EXPECT_DOUBLE_EQ(hits[1].t_begin, 0.0);
  EXPECT_DOUBLE_EQ(hits[2].t_begin, 1.0);
  EXPECT_DOUBLE_EQ(hits[3].t_begin, 2.0);

  const auto at = store->segment_at("/a.mp4", 1.2);
  ASSERT_TRUE(at);
  EXPECT_DOUBLE_EQ(at->t_begin, 1.0);
  SearchQuery like;
  like.embedding = at->embedding;
  like.exclude_segments = {at->id};
  like.k = 1;
  hits = store->search(like);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_DOUBLE_EQ(hits[0].t_begin, 0.0);
}

INSTANTIATE_TEST_SUITE_P(VectorPaths, PgSearchTest, ::testing::Bool(), path_name);

TEST_F(PgTest, DimensionMismatchAndSchemaErrors) {
  auto store = open_store(uri_);
  store->commit_video(video_path(1), stamp_for(1), kModel, make_segments(1, 2, kDim));
  try {
    store->commit_video(video_path(2), stamp_for(2), kModel, make_segments(2, 2, kDim + 1));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(std::to_string(kDim)), std::string::npos) << e.what();
  }
  EXPECT_FALSE(store->find_video(video_path(2)));
  EXPECT_THROW(
      store->commit_video(video_path(2), stamp_for(2), "another-model", make_segments(2, 2, kDim)),
      Error);
  EXPECT_FALSE(store->find_video(video_path(2)));

  // A newer schema is refused, naming the database.
  test::exec_sql(uri_, "UPDATE clipmind_meta SET value = '42' WHERE key = 'schema_version'");
  try {
    open_store(uri_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find(db_), std::string::npos) << e.what();
  }
  // Tables of something else under our names are not taken for an index.
  const auto other = g_server->create_database(db_ + "_x");
  test::exec_sql(other, "CREATE TABLE clipmind_meta(key text, value text)");
  try {
    open_store(other);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << e.what();
  }
  g_server->drop_database(db_ + "_x");
}

TEST_F(PgTest, AdoptModelRewritesAnAliasAndRecordsTheName) {
  const std::string old_id = "0123456789abcdef0123456789abcdef";
  const std::string new_id = "m2-fedcba9876543210fedcba9876543210";
  const std::vector<std::string> aliases = {old_id};
  auto store = open_store(uri_);
  EXPECT_FALSE(store->adopt_model(new_id, aliases, "siglip"));
  store->commit_video(video_path(1), stamp_for(1), old_id, make_segments(1, 2, kDim));
  store->fail_video(video_path(2), stamp_for(2), old_id, "bad");
  EXPECT_FALSE(store->adopt_model("m2-other", {}, "other"));
  EXPECT_EQ(raw_query(uri_, "SELECT value FROM clipmind_meta WHERE key = 'model_id'")[0][0],
            old_id);
  EXPECT_TRUE(raw_query(uri_, "SELECT value FROM clipmind_meta WHERE key = 'model_name'").empty());

  EXPECT_TRUE(store->adopt_model(new_id, aliases, "org/siglip"));
  EXPECT_EQ(store->info().model_id, new_id);
  EXPECT_EQ(store->info().model_name, "org/siglip");
  store->commit_video(video_path(3), stamp_for(3), new_id, make_segments(3, 2, kDim));
  EXPECT_THROW(store->commit_video(video_path(4), stamp_for(4), old_id, make_segments(4, 2, kDim)),
               Error);
  EXPECT_TRUE(store->adopt_model(new_id, aliases, "/elsewhere"));
  EXPECT_EQ(store->info().model_name, "org/siglip");
  EXPECT_EQ(
      raw_query(uri_, "SELECT count(*) FROM clipmind_videos WHERE model_id = $1", {new_id})[0][0],
      "3");
  EXPECT_EQ(
      raw_query(uri_, "SELECT count(*) FROM clipmind_videos WHERE model_id <> $1", {new_id})[0][0],
      "0");
}

TEST_F(PgTest, BadUrisGiveClearErrors) {
  const std::string secret_uri =
      "postgresql://clipmind:hunter2@127.0.0.1:" + std::to_string(g_server->port()) +
      "/no_such_database_here?connect_timeout=5";
  try {
    open_store(secret_uri);
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kNetwork);
    EXPECT_NE(m.find("no_such_database_here"), std::string::npos) << m;
    EXPECT_EQ(m.find("hunter2"), std::string::npos) << "password leaked: " << m;
  }
  try {
    open_store("postgresql://127.0.0.1:1/x?connect_timeout=2");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNetwork);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(open_store("postgresql://[bad"), Error);
}

// Several worker threads, each with its own queue and store connection, index a set of videos
// from the queue: every video is claimed exactly once and indexed exactly once.
TEST_F(PgTest, ConcurrentWorkersClaimEachVideoExactlyOnce) {
  constexpr int kVideos = 40, kWorkers = 5;
  std::vector<std::string> paths;
  for (int i = 0; i < kVideos; ++i)
    paths.push_back(video_path(i));
  {
    JobQueue queue(uri_, "enqueuer");
    EXPECT_EQ(queue.enqueue(paths), size_t(kVideos));
    EXPECT_EQ(queue.enqueue(paths), 0u) << "queued paths are not queued twice";
    EXPECT_EQ(queue.counts().queued, kVideos);
  }
  std::mutex mutex;
  std::map<std::string, int> claims;
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      try {
        JobQueue queue(uri_, "worker-" + std::to_string(w));
        auto store = open_store(uri_);
        while (auto job = queue.claim()) {
          {
            std::lock_guard lock(mutex);
            ++claims[job->path];
          }
          const int i = std::stoi(job->path.substr(std::string("/archive/video").size()));
          const auto st = stamp_for(i);
          if (needs_indexing(store->freshness(job->path, st.size_bytes, st.mtime_ns, nullptr))) {
            store->begin_video(job->path, st, kModel);
            EXPECT_TRUE(queue.heartbeat(job->path));
            store->commit_video(job->path, st, kModel, make_segments(i, 3 + i % 4, kDim));
          }
          EXPECT_TRUE(queue.finish(job->path, true));
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  }
  for (auto& t : workers)
    t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(claims.size(), size_t(kVideos));
  for (const auto& [path, n] : claims)
    EXPECT_EQ(n, 1) << path;
  auto store = open_store(uri_);
  int64_t expected_segments = 0;
  for (int i = 0; i < kVideos; ++i) {
    const auto v = store->find_video(video_path(i));
    ASSERT_TRUE(v);
    EXPECT_EQ(v->status, VideoStatus::kIndexed);
    EXPECT_EQ(v->segment_count, 3 + i % 4);
    expected_segments += 3 + i % 4;
  }
  EXPECT_EQ(store->info().segment_count, expected_segments);
  JobQueue queue(uri_, "checker");
  const auto counts = queue.counts();
  EXPECT_EQ(counts.done, kVideos);
  EXPECT_EQ(counts.queued + counts.claimed + counts.failed, 0);
  // A new run re-queues finished paths; unchanged videos are then skipped by the store.
  EXPECT_EQ(queue.enqueue(paths), size_t(kVideos));
}

TEST_F(PgTest, StaleClaimsAreReclaimedAndGiveUpAfterMaxAttempts) {
  JobQueueOptions opts;
  opts.stale_after = std::chrono::milliseconds(300);
  opts.max_attempts = 2;
  JobQueue a(uri_, "worker-a", opts);
  JobQueue b(uri_, "worker-b", opts);
  JobQueue c(uri_, "worker-c", opts);
  const std::vector<std::string> paths{"/v/one.mp4"};
  a.enqueue(paths);
  const auto first = a.claim();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->attempt, 1);
  EXPECT_FALSE(b.claim()) << "a fresh claim is not stale";
  // Worker a stops heartbeating (dies); after the timeout b takes over.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const auto second = b.claim();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->path, "/v/one.mp4");
  EXPECT_EQ(second->attempt, 2);
  EXPECT_FALSE(a.heartbeat("/v/one.mp4")) << "a lost its claim";
  EXPECT_FALSE(a.finish("/v/one.mp4", true));
  EXPECT_TRUE(b.heartbeat("/v/one.mp4"));
  // b dies too: with max_attempts = 2 the path is given up, not claimed a third time.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_FALSE(c.claim());
  const auto counts = c.counts();
  EXPECT_EQ(counts.failed, 1);
  EXPECT_EQ(counts.claimed, 0);
}

TEST_F(PgTest, HeartbeatsKeepAClaim) {
  JobQueueOptions opts;
  opts.stale_after = std::chrono::milliseconds(1500);
  JobQueue a(uri_, "worker-a", opts);
  JobQueue b(uri_, "worker-b", opts);
  const std::vector<std::string> paths{"/v/long.mp4"};
  a.enqueue(paths);
  ASSERT_TRUE(a.claim());
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_TRUE(a.heartbeat("/v/long.mp4"));
    EXPECT_FALSE(b.claim());
  }
  EXPECT_TRUE(a.finish("/v/long.mp4", false, "decode failed"));
  EXPECT_EQ(b.counts().failed, 1);
}

TEST_F(PgTest, ShardsSplitAFileListForArrayJobs) {
  // Four array-job workers, no queue: each indexes its shard into the same database.
  std::vector<std::string> paths;
  for (int i = 0; i < 30; ++i)
    paths.push_back(video_path(i));
  std::vector<std::thread> workers;
  for (uint32_t s = 0; s < 4; ++s) {
    workers.emplace_back([&, s] {
      auto store = open_store(uri_);
      for (const auto& p : select_shard(paths, Shard{s, 4})) {
        const int i = std::stoi(p.substr(std::string("/archive/video").size()));
        store->commit_video(p, stamp_for(i), kModel, make_segments(i, 2, kDim));
      }
    });
  }
  for (auto& t : workers)
    t.join();
  auto store = open_store(uri_);
  EXPECT_EQ(store->list_videos().size(), paths.size());
  EXPECT_EQ(store->info().segment_count, 60);
}

// The local ANN copy persisted in OpenOptions::ann_cache_dir (searches without pgvector).
class PgAnnCacheTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    cache_ = test::fresh_dir("pg-ann-cache");
  }
  OpenOptions options(bool persist = true) const {
    OpenOptions o;
    o.use_pgvector = false;
    if (persist) o.ann_cache_dir = cache_;
    return o;
  }
  // `videos` videos of 8 segments; `seed` makes two databases' contents differ.
  static void fill(Store& store, int first, int videos, int seed = 0) {
    for (int v = first; v < first + videos; ++v)
      store.commit_video(video_path(v), stamp_for(v), kModel,
                         make_segments(seed + v, 8, kDim, false));
  }
  // (segment id, embedding) of every stored segment, read back through SQL rows.
  static std::vector<std::pair<int64_t, std::vector<float>>> items_of(Store& store) {
    std::vector<std::pair<int64_t, std::vector<float>>> items;
    for (const auto& v : store.list_videos())
      for (const auto& s : store.segments_of(v.path))
        items.emplace_back(s.id, s.embedding);
    return items;
  }
  // Every ANN and exact search answers the brute-force top k over `items`.
  static void expect_searches_right(
      Store& store, const std::vector<std::pair<int64_t, std::vector<float>>>& items,
      const std::string& what) {
    for (int i = 0; i < 6; ++i) {
      SearchQuery q;
      q.embedding = random_vector(900 + i, kDim);
      q.k = 5;
      q.mode = i % 2 ? SearchMode::kExact : SearchMode::kAnn;
      const auto hits = store.search(q);
      const auto want = test::brute_force(items, q.embedding, q.k);
      ASSERT_EQ(hits.size(), want.size()) << what;
      for (size_t r = 0; r < hits.size(); ++r) {
        EXPECT_EQ(hits[r].segment_id, want[r].key) << what << ", query " << i << " rank " << r;
        ASSERT_TRUE(hits[r].similarity);
        EXPECT_NEAR(*hits[r].similarity, want[r].similarity, 1e-5) << what;
      }
    }
  }
  std::vector<fs::path> ann_files() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::recursive_directory_iterator(cache_))
      if (e.path().extension() == ".hnsw") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path cache_;
};

TEST_F(PgAnnCacheTest, SecondOpenLoadsThePersistedCopyAndCatchesUp) {
  {
    auto store = open_store(uri_, options());
    fill(*store, 0, 10);
    expect_searches_right(*store, items_of(*store), "first open");
    const auto info = store->info();
    EXPECT_FALSE(info.pgvector);
    EXPECT_EQ(info.ann_sync, "current");  // the first search rebuilt, the others reused it
    EXPECT_EQ(info.ann_vectors_streamed, 80u);
    EXPECT_EQ(info.ann_vectors_from_file, 0u);
    store->sync_ann();
  }
  auto files = ann_files();
  ASSERT_EQ(files.size(), 1u);
  // <cache>/pg-<identity>/segments.ann-<identity>-<generation>.hnsw, manifest beside it.
  const std::string folder = files[0].parent_path().filename().string();
  EXPECT_TRUE(folder.starts_with("pg-")) << files[0];
  EXPECT_EQ(files[0].parent_path().parent_path(), cache_);
  EXPECT_TRUE(files[0].filename().string().ends_with("-10.hnsw")) << files[0];
  EXPECT_TRUE(fs::exists(fs::path(files[0].string() + ".meta")));
  {
    // Nothing changed: loaded from the file, nothing streamed.
    auto store = open_store(uri_, options());
    expect_searches_right(*store, items_of(*store), "second open");
    const auto info = store->info();
    EXPECT_EQ(info.ann_sync, "current");  // the first search loaded the file, later ones reuse
    EXPECT_EQ(info.ann_vectors_from_file, 80u);
    EXPECT_EQ(info.ann_vectors_streamed, 0u);
    EXPECT_EQ(info.ann_file, files[0]);
    EXPECT_TRUE(info.ann_note.empty()) << info.ann_note;
  }
  {
    // Changes through another connection while no cached store was open: a new video, a
    // re-indexed one, a removed one.
    auto writer = open_store(uri_, options(false));
    fill(*writer, 10, 1);
    writer->commit_video(video_path(2), stamp_for(2, 1), kModel, make_segments(77, 8, kDim, false));
    const std::vector<std::string> gone{video_path(5)};
    EXPECT_EQ(writer->remove_videos(gone), 1u);
  }
  auto store = open_store(uri_, options());
  SearchQuery first;
  first.embedding = random_vector(1, kDim);
  first.mode = SearchMode::kAnn;
  store->search(first);
  const auto info = store->info();
  EXPECT_EQ(info.ann_sync, "file+delta");
  EXPECT_EQ(info.ann_vectors_from_file, 80u);
  EXPECT_EQ(info.ann_vectors_streamed, 16u);  // the new and the re-indexed video only
  const auto items = items_of(*store);
  ASSERT_EQ(items.size(), 80u);
  expect_searches_right(*store, items, "caught up from the file");
}

TEST_F(PgAnnCacheTest, DatabasesWithEqualGenerationsNeverShareVectors) {
  const std::string db_b = db_ + "_b";
  const std::string uri_b = g_server->create_database(db_b);
  {
    auto a = open_store(uri_, options());
    auto b = open_store(uri_b, options());
    fill(*a, 0, 6, 0);
    fill(*b, 0, 6, 500);  // same paths, same number of writes, other vectors
    ASSERT_EQ(a->info().generation, b->info().generation);
    a->sync_ann();
    b->sync_ann();
  }
  auto files = ann_files();
  ASSERT_EQ(files.size(), 2u) << "each database keeps its own file";
  EXPECT_NE(files[0].parent_path(), files[1].parent_path());
  {
    auto a = open_store(uri_, options());
    auto b = open_store(uri_b, options());
    expect_searches_right(*a, items_of(*a), "database a");
    expect_searches_right(*b, items_of(*b), "database b");
    EXPECT_EQ(a->info().ann_vectors_from_file, 48u);
    EXPECT_EQ(b->info().ann_vectors_from_file, 48u);
    EXPECT_NE(a->info().ann_file, b->info().ann_file);
  }
  // Even a file (and its manifest) copied under the other database's name is refused.
  fs::copy_file(files[0], files[1], fs::copy_options::overwrite_existing);
  fs::copy_file(files[0].string() + ".meta", files[1].string() + ".meta",
                fs::copy_options::overwrite_existing);
  {
    auto a = open_store(uri_, options());
    auto b = open_store(uri_b, options());
    expect_searches_right(*a, items_of(*a), "database a after the copy");
    expect_searches_right(*b, items_of(*b), "database b after the copy");
    // Whichever database owns files[1] rebuilt; the other loaded its own file.
    const auto ia = a->info(), ib = b->info();
    const bool a_lost = ia.ann_vectors_from_file == 0;
    const auto& lost = a_lost ? ia : ib;
    const auto& kept = a_lost ? ib : ia;
    EXPECT_EQ(lost.ann_vectors_from_file, 0u);
    EXPECT_EQ(lost.ann_vectors_streamed, 48u);
    EXPECT_NE(lost.ann_note.find("another database"), std::string::npos) << lost.ann_note;
    EXPECT_EQ(kept.ann_vectors_from_file, 48u);
    EXPECT_EQ(kept.ann_vectors_streamed, 0u);
    EXPECT_TRUE(kept.ann_note.empty()) << kept.ann_note;
  }
  // A copy made with CREATE DATABASE ... TEMPLATE carries the same random id in its rows;
  // its identity differs all the same, so it starts its own file.
  const std::string db_c = db_ + "_c";
  test::exec_sql(g_server->uri("postgres"), "CREATE DATABASE " + db_c + " TEMPLATE " + db_b);
  const std::string uri_c = g_server->uri(db_c);
  EXPECT_EQ(raw_query(uri_b, "SELECT value FROM clipmind_meta WHERE key = 'db_uuid'"),
            raw_query(uri_c, "SELECT value FROM clipmind_meta WHERE key = 'db_uuid'"));
  {
    auto c = open_store(uri_c, options());
    auto writer = open_store(uri_c, options(false));
    fill(*writer, 0, 6, 900);  // re-index everything: generation 13 in c only
    fill(*writer, 6, 1, 900);
    expect_searches_right(*c, items_of(*c), "template copy");
    EXPECT_EQ(c->info().ann_vectors_streamed, 56u);  // rebuilt: b's file is not its own
    EXPECT_EQ(c->info().ann_vectors_from_file, 0u);
    c->sync_ann();
  }
  EXPECT_EQ(ann_files().size(), 3u);
  g_server->drop_database(db_c);
  g_server->drop_database(db_b);
}

// OpenOptions::ann_cache_max_bytes: opening a database evicts the least recently opened other
// databases' copies above the cap, never its own, and a database whose copy went just rebuilds.
TEST_F(PgAnnCacheTest, OpeningEvictsOtherDatabasesCopiesAboveTheCap) {
  const std::string db_b = db_ + "_b";
  const std::string uri_b = g_server->create_database(db_b);
  {
    auto a = open_store(uri_, options());
    fill(*a, 0, 6);
    a->sync_ann();
  }
  // b is opened later than a, so a is the least recently used folder.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  {
    auto b = open_store(uri_b, options());
    fill(*b, 0, 6, 500);
    b->sync_ann();
  }
  auto files = ann_files();
  ASSERT_EQ(files.size(), 2u);
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(cache_))
    if (e.is_regular_file()) total += e.file_size();

  // Reopening b under a cap of the current total minus one byte must remove a's folder.
  OpenOptions capped = options();
  capped.ann_cache_max_bytes = total - 1;
  fs::path b_file;
  {
    auto b = open_store(uri_b, capped);
    expect_searches_right(*b, items_of(*b), "b after the trim");
    EXPECT_EQ(b->info().ann_vectors_from_file, 48u);  // its own copy stayed
    b_file = b->info().ann_file;
  }
  files = ann_files();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0], b_file);

  // A cap of one byte, opening a (whose copy is gone): b's folder is another database's now
  // and goes at once; a rebuilds from the table and writes its own.
  capped.ann_cache_max_bytes = 1;
  {
    auto a = open_store(uri_, capped);
    expect_searches_right(*a, items_of(*a), "a after its copy was evicted");
    EXPECT_EQ(a->info().ann_vectors_from_file, 0u);
    EXPECT_EQ(a->info().ann_vectors_streamed, 48u);
    a->sync_ann();
  }
  files = ann_files();
  ASSERT_EQ(files.size(), 1u) << "opening a removed b's folder; a wrote its own";
  EXPECT_NE(files[0], b_file);
  g_server->drop_database(db_b);
}

TEST_F(PgAnnCacheTest, DamagedFilesAreRebuiltWithANote) {
  {
    auto store = open_store(uri_, options());
    fill(*store, 0, 8);
    store->sync_ann();
  }
  const auto items = [&] {
    auto s = open_store(uri_, options(false));
    return items_of(*s);
  }();
  const auto reopen_and_check = [&](const std::string& what, const std::string& note_part) {
    auto store = open_store(uri_, options());
    expect_searches_right(*store, items, what);
    const auto info = store->info();
    EXPECT_EQ(info.ann_sync, "current") << what;  // rebuilt by the first search
    EXPECT_EQ(info.ann_vectors_from_file, 0u) << what;
    EXPECT_EQ(info.ann_vectors_streamed, 64u) << what;
    EXPECT_NE(info.ann_note.find(note_part), std::string::npos) << what << ": " << info.ann_note;
    store->sync_ann();  // writes a good file again
  };
  const auto file = [&] {
    const auto f = ann_files();
    return f.size() == 1 ? f[0] : fs::path();
  };
  // Truncated to half.
  ASSERT_FALSE(file().empty());
  fs::resize_file(file(), fs::file_size(file()) / 2);
  reopen_and_check("truncated", "truncated");
  // One flipped byte in the middle (same size): the checksum catches it.
  ASSERT_FALSE(file().empty());
  {
    const auto middle = static_cast<std::streamoff>(fs::file_size(file()) / 2);
    std::fstream f(file(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(middle);
    const int byte = f.get();
    ASSERT_NE(byte, EOF);
    f.seekp(middle);
    f.put(static_cast<char>(byte ^ 0xff));
  }
  reopen_and_check("flipped byte", "checksum");
  // Garbage, with a manifest written for other bytes; then a file without any manifest.
  ASSERT_FALSE(file().empty());
  std::ofstream(file(), std::ios::binary | std::ios::trunc) << std::string(5000, 'x');
  reopen_and_check("garbage", "not used");
  ASSERT_FALSE(file().empty());
  fs::remove(file().string() + ".meta");
  reopen_and_check("no manifest", "no manifest");
  // Good again: the rebuilt file loads.
  auto store = open_store(uri_, options());
  expect_searches_right(*store, items, "rewritten");
  EXPECT_EQ(store->info().ann_vectors_from_file, 64u);
}

// pgvector on the server. Installed by scripts/install-pgvector.sh (from scripts/setup.sh):
// without it these tests fail rather than skip, so the server-side path cannot silently go
// untested again.
class PgVectorTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    const auto available = raw_query(
        uri_, "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'");
    ASSERT_EQ(available.size(), 1u)
        << "the PostgreSQL server offers no pgvector extension (`vector`; "
           "/usr/share/postgresql/<major>/extension/vector.control is missing): run "
           "scripts/install-pgvector.sh (scripts/setup.sh runs it)";
    extension_version_ = available[0][0];
  }

  // Segments of `videos` videos, `per_video` each, committed by `store`; the reference keys
  // are the segment ids read back.
  void fill(Store& store, int first_video, int videos, int per_video, int version = 0) {
    for (int v = first_video; v < first_video + videos; ++v) {
      store.commit_video(video_path(v), stamp_for(v, version), kModel,
                         make_segments(v * 10 + version, per_video, kDim, false));
    }
  }
  static std::vector<std::pair<int64_t, std::vector<float>>> reference_items(Store& store) {
    std::vector<std::pair<int64_t, std::vector<float>>> items;
    for (const auto& v : store.list_videos()) {
      for (const auto& seg : store.segments_of(v.path))
        items.emplace_back(seg.id, seg.embedding);
    }
    return items;
  }
  // The store's hits for `query` are the brute-force top k: same ids, same order.
  static void expect_exact_top_k(Store& store,
                                 const std::vector<std::pair<int64_t, std::vector<float>>>& items,
                                 SearchQuery query, const std::string& what) {
    const auto hits = store.search(query);
    const auto want = test::brute_force(items, query.embedding, query.k);
    ASSERT_EQ(hits.size(), want.size()) << what;
    for (size_t r = 0; r < hits.size(); ++r) {
      EXPECT_EQ(hits[r].segment_id, want[r].key) << what << ", rank " << r;
      ASSERT_TRUE(hits[r].similarity) << what;
      EXPECT_NEAR(*hits[r].similarity, want[r].similarity, 1e-5) << what << ", rank " << r;
    }
  }
  int64_t index_scans(const std::string& index) {
    const auto rows = raw_query(
        uri_, "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = $1", {index});
    return rows.empty() ? -1 : std::stoll(rows[0][0]);
  }

  std::string extension_version_;
};

TEST_F(PgVectorTest, StoreInstallsTheExtensionAndSearchesThroughHnsw) {
  auto store = open_store(uri_);
  EXPECT_TRUE(store->info().pgvector);
  const auto installed =
      raw_query(uri_, "SELECT extversion FROM pg_extension WHERE extname = 'vector'");
  ASSERT_EQ(installed.size(), 1u) << "opening a new index did not CREATE EXTENSION vector";
  EXPECT_EQ(installed[0][0], extension_version_);

  // 2,000 segments: enough for the planner to prefer the HNSW index to a sequential scan.
  fill(*store, 0, 20, 100);
  // Embeddings stay real[] (readable without the extension); the HNSW index is on the cast.
  const auto column = raw_query(uri_,
                                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                                "WHERE attrelid = 'clipmind_segments'::regclass AND "
                                "attname = 'embedding'");
  ASSERT_EQ(column.size(), 1u);
  EXPECT_EQ(column[0][0], "real[]");
  const auto index =
      raw_query(uri_, "SELECT indexdef FROM pg_indexes WHERE indexname = 'clipmind_segments_vec'");
  ASSERT_EQ(index.size(), 1u) << "no HNSW index was created when the dimension was fixed";
  const std::string def = index[0][0];
  EXPECT_NE(def.find("USING hnsw"), std::string::npos) << def;
  EXPECT_NE(def.find("vector(" + std::to_string(kDim) + ")"), std::string::npos) << def;
  EXPECT_NE(def.find("vector_ip_ops"), std::string::npos) << def;
  test::exec_sql(uri_, "ANALYZE clipmind_segments");

  // The plans of the store's two queries: ANN through the index, exact by a full scan.
  std::ostringstream q;
  q << '[';
  for (int d = 0; d < kDim; ++d)
    q << (d ? "," : "") << test::unit(random_vector(77, kDim))[d];
  q << ']';
  const auto plan = [&](bool exact) {
    std::string text;
    for (const auto& row :
         raw_query(uri_, "EXPLAIN " + pgvector_search_sql(kDim, exact), {q.str(), "5"}))
      text += row[0] + "\n";
    return text;
  };
  EXPECT_NE(plan(false).find("Index Scan using clipmind_segments_vec"), std::string::npos)
      << plan(false);
  EXPECT_EQ(plan(true).find("clipmind_segments_vec"), std::string::npos) << plan(true);

  // ANN and exact searches of the store agree with brute force over what it stored.
  const auto items = reference_items(*store);
  ASSERT_EQ(items.size(), 2000u);
  ASSERT_EQ(index_scans("clipmind_segments_vec"), 0);
  {
    auto reader = open_store(uri_);
    for (int i = 0; i < 6; ++i) {
      SearchQuery query;
      query.embedding = random_vector(500 + i, kDim);
      query.k = 5;
      query.candidates = 5;
      query.mode = i % 2 ? SearchMode::kExact : SearchMode::kAnn;
      expect_exact_top_k(*reader, items, query, "query " + std::to_string(i));
    }
  }
  // The reader's connection is closed: its statistics reach the server as the backend exits.
  int64_t scans = 0;
  for (int attempt = 0; attempt < 100 && scans <= 0; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    scans = index_scans("clipmind_segments_vec");
  }
  EXPECT_GE(scans, 1) << "the store's ANN searches never used the HNSW index";
}

TEST_F(PgVectorTest, AgreesWithThePlainPathThroughInsertsReindexAndRemovals) {
  OpenOptions plain_options;
  plain_options.use_pgvector = false;
  auto server = open_store(uri_);
  auto plain = open_store(uri_, plain_options);
  ASSERT_TRUE(server->info().pgvector);
  ASSERT_FALSE(plain->info().pgvector);
  const auto check = [&](const std::string& stage) {
    const auto items = reference_items(*server);
    for (int i = 0; i < 6; ++i) {
      SearchQuery query;
      query.embedding = random_vector(900 + i, kDim);
      query.k = 8;
      query.mode = i % 2 ? SearchMode::kExact : SearchMode::kAnn;
      const std::string what = stage + ", query " + std::to_string(i);
      expect_exact_top_k(*server, items, query, "pgvector, " + what);
      expect_exact_top_k(*plain, items, query, "plain, " + what);
      const auto a = server->search(query);
      const auto b = plain->search(query);
      ASSERT_EQ(a.size(), b.size()) << what;
      for (size_t r = 0; r < a.size(); ++r)
        EXPECT_EQ(a[r].segment_id, b[r].segment_id) << what << ", rank " << r;
    }
  };
  fill(*server, 0, 12, 25);
  check("first insert");
  fill(*plain, 12, 4, 25);     // written by the other store: both read the same rows
  fill(*server, 2, 3, 10, 1);  // re-indexed videos: their segments replaced
  const std::vector<std::string> gone{video_path(7)};
  server->remove_videos(gone);
  check("after re-index and removal");
  test::exec_sql(uri_, "REINDEX INDEX clipmind_segments_vec");
  check("after REINDEX");
  fill(*server, 20, 2, 25);
  check("insert after REINDEX");
  EXPECT_EQ(server->info().segment_count, (12 + 4 - 3 - 1 + 2) * 25 + 3 * 10);
}

// A role that may not CREATE EXTENSION (pgvector is not a trusted extension) gets a database
// without it even though the server offers it: the store falls back to real[] and its own
// index, and search still works.
TEST_F(PgVectorTest, DatabaseWithoutTheExtensionUsesThePlainPath) {
  const std::string role = db_ + "_user";
  const std::string admin = g_server->uri("postgres");
  test::exec_sql(admin, "DROP ROLE IF EXISTS " + role);
  test::exec_sql(admin, "CREATE ROLE " + role + " LOGIN NOSUPERUSER");
  test::exec_sql(admin, "ALTER DATABASE " + db_ + " OWNER TO " + role);
  const std::string role_uri = "postgresql://" + role +
                               "@127.0.0.1:" + std::to_string(g_server->port()) + "/" + db_ +
                               "?connect_timeout=10";
  {
    auto store = open_store(role_uri);
    EXPECT_FALSE(store->info().pgvector);
    EXPECT_TRUE(raw_query(uri_, "SELECT 1 FROM pg_extension WHERE extname = 'vector'").empty());
    EXPECT_TRUE(
        raw_query(uri_, "SELECT 1 FROM pg_indexes WHERE indexname = 'clipmind_segments_vec'")
            .empty());
    fill(*store, 0, 10, 8);
    const auto items = reference_items(*store);
    for (int i = 0; i < 4; ++i) {
      SearchQuery query;
      query.embedding = random_vector(700 + i, kDim);
      query.k = 6;
      query.mode = i % 2 ? SearchMode::kExact : SearchMode::kAnn;
      expect_exact_top_k(*store, items, query, "query " + std::to_string(i));
    }
  }
  g_server->drop_database(db_);
  test::exec_sql(admin, "DROP ROLE IF EXISTS " + role);
}

}  // namespace
}  // namespace clipmind::index
