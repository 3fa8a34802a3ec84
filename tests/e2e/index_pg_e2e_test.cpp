// `clipmind index --db postgresql://...` end to end against a real PostgreSQL server (CTest
// fixture `index_pg`, or one this process starts when run by hand): two `clipmind index`
// processes with two workers each, started together on one folder, index every video exactly
// once through the job queue, and the result equals a single-process SQLite run; search works
// on the PostgreSQL index. Checked with plain SQL through libpq.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "tests/e2e/index_e2e_util.h"
#include "tests/index/pg_test_server.h"
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include "models/hub/hf_cache.h"
#include "models/tiny/tiny_model.h"

namespace clipmind::e2e {
namespace {

using nlohmann::json;

index::test::PgTestServer* g_server = nullptr;

class PgEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* state = std::getenv("CLIPMIND_TEST_PG_STATE");
    if (state && fs::exists(fs::path(state) / "server")) {
      server_ = index::test::PgTestServer::load_state(state);
    } else {
      server_ = index::test::PgTestServer::start();
      owned_ = true;
    }
    g_server = &server_;
  }
  void TearDown() override {
    if (owned_) server_.stop();
  }

 private:
  index::test::PgTestServer server_;
  bool owned_ = false;
};

const auto* const g_env = ::testing::AddGlobalTestEnvironment(new PgEnvironment);

std::vector<std::vector<std::string>> pg_rows(const std::string& uri, const std::string& sql) {
  PGconn* c = PQconnectdb(uri.c_str());
  std::vector<std::vector<std::string>> out;
  if (PQstatus(c) != CONNECTION_OK) {
    ADD_FAILURE() << PQerrorMessage(c);
    PQfinish(c);
    return out;
  }
  PGresult* r = PQexec(c, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    ADD_FAILURE() << PQresultErrorMessage(r);
  } else {
    for (int i = 0; i < PQntuples(r); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < PQnfields(r); ++j)
        row.emplace_back(PQgetvalue(r, i, j));
      out.push_back(std::move(row));
    }
  }
  PQclear(r);
  PQfinish(c);
  return out;
}

TEST(IndexPg, TwoProcessesIndexEveryVideoExactlyOnce) {
  ::setenv("XDG_CONFIG_HOME", (work_dir() / "no-user-config").c_str(), 1);
  const std::string uri = g_server->create_database("cm_e2e_index_" + std::to_string(::getpid()));
  const fs::path dir = fresh_dir("index-pg");
  constexpr int kVideos = 8;
  for (int i = 0; i < kVideos; ++i) {
    fs::copy_file(index_video("idx-p" + std::to_string(i), 40 + 10 * i),
                  dir / (std::string("p") + std::to_string(i) + ".mp4"));
  }
  const std::string reference_db = (dir.parent_path() / "index-pg-ref.db").string();
  fs::remove(reference_db);
  const RunResult reference = run_cli(index_args({dir.string()}, reference_db));
  ASSERT_EQ(reference.exit_code, 0) << reference.err;

  const fs::path out = dir.parent_path();
  {
    CliProcess a(index_args({dir.string()}, uri, {"--jobs", "2"}), out / "pg-a.out",
                 out / "pg-a.err");
    CliProcess b(index_args({dir.string()}, uri, {"--jobs", "2"}), out / "pg-b.out",
                 out / "pg-b.err");
    const int sa = a.wait(), sb = b.wait();
    ASSERT_TRUE(WIFEXITED(sa) && WEXITSTATUS(sa) == 0) << read_file(out / "pg-a.err");
    ASSERT_TRUE(WIFEXITED(sb) && WEXITSTATUS(sb) == 0) << read_file(out / "pg-b.err");
  }
  std::map<std::string, int> indexed_by;
  int64_t indexed_total = 0;
  for (const char* name : {"pg-a.out", "pg-b.out"}) {
    const json report = json::parse(read_file(out / name));
    indexed_total += report.at("indexed").get<int64_t>();
    for (const json& f : report.at("files")) {
      if (f.at("status") == "indexed") ++indexed_by[f.at("path").get<std::string>()];
    }
  }
  EXPECT_EQ(indexed_total, kVideos);
  EXPECT_EQ(indexed_by.size(), static_cast<size_t>(kVideos));
  for (const auto& [path, n] : indexed_by)
    EXPECT_EQ(n, 1) << path << " indexed by both processes";

  // The database holds each video once with the same segments as the SQLite run.
  const auto videos = pg_rows(uri, "SELECT path, status FROM clipmind_videos ORDER BY path");
  ASSERT_EQ(videos.size(), static_cast<size_t>(kVideos));
  for (const auto& v : videos)
    EXPECT_EQ(v[1], "indexed") << v[0];
  std::map<std::string, std::vector<std::pair<double, double>>> spans;
  for (const auto& r : pg_rows(uri,
                               "SELECT v.path, s.t_begin, s.t_end FROM clipmind_segments s "
                               "JOIN clipmind_videos v ON v.id = s.video_id "
                               "ORDER BY v.path, s.t_begin"))
    spans[r[0]].push_back({std::stod(r[1]), std::stod(r[2])});
  IndexDb want(reference_db);
  const auto want_spans = want.spans();
  ASSERT_EQ(spans.size(), want_spans.size());
  for (const auto& [path, s] : want_spans) {
    ASSERT_EQ(spans[path].size(), s.size()) << path;
    for (size_t i = 0; i < s.size(); ++i) {
      EXPECT_NEAR(spans[path][i].first, s[i].first, 1e-9);
      EXPECT_NEAR(spans[path][i].second, s[i].second, 1e-9);
    }
  }
  const auto jobs = pg_rows(uri, "SELECT state, count(*) FROM clipmind_jobs GROUP BY state");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0][0], "done");
  EXPECT_EQ(jobs[0][1], std::to_string(kVideos));

  // A third run skips everything; search works on the PostgreSQL index.
  const RunResult again = run_cli(index_args({dir.string()}, uri));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out).at("skipped"), kVideos);
  std::vector<std::string> args = {
      "search", "--db", uri, "--like", (dir / "p3.mp4").string() + "@1.0", "-k", "3", "--json"};
  for (const std::string& m : model_args())
    args.push_back(m);
  const RunResult r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).at("results").size(), 3u);
}

// huggingface_hub's layout of `source` as repo org/tiny-siglip at one commit under `cache`
// (snapshots/<commit>/<file> -> ../../blobs/<etag>), blobs dated `age` ago.
void hf_cache_copy(const fs::path& cache, const fs::path& source, std::chrono::hours age) {
  const models::hub::HfCache hf(cache);
  const std::string repo = "org/tiny-siglip", commit(40, 'c');
  int n = 0;
  for (const auto& e : fs::directory_iterator(source)) {
    const std::string etag = "blob" + std::to_string(n++);
    const fs::path blob = hf.blob_path(repo, etag);
    fs::create_directories(blob.parent_path());
    fs::copy_file(e.path(), blob);
    fs::last_write_time(blob, fs::file_time_type::clock::now() - age);
    hf.link_snapshot_file(repo, commit, e.path().filename().string(), etag);
  }
  hf.write_ref(repo, "main", commit);
}

// Two machines share one PostgreSQL index, each with the relevance model in a Hugging Face
// cache of its own (another root, other file times): the second one indexes and searches the
// index the first one built; another model is refused, naming the index's model.
TEST(IndexPg, MachinesWithTheirOwnModelCachesShareOneIndex) {
  const std::string uri = g_server->create_database("cm_e2e_model_" + std::to_string(::getpid()));
  const fs::path dir = fresh_dir("index-pg-model");
  fs::create_directories(dir / "videos");
  fs::copy_file(index_video("idx-pm1", 40), dir / "videos" / "m1.mp4");
  hf_cache_copy(dir / "machine1" / "hub", tiny_siglip(), std::chrono::hours(0));
  hf_cache_copy(dir / "machine2" / "cache" / "hub", tiny_siglip(), std::chrono::hours(30));
  auto run = [&](std::vector<std::string> args, const std::string& machine,
                 const std::string& model = "org/tiny-siglip") {
    args.insert(args.end(), {"--relevance-model", model, "--set", "caption.max_segment_s=3",
                             "--set", "caption.min_segment_s=1", "--no-cache", "-q"});
    RunOptions options;
    options.env = {{"HF_HUB_CACHE", (dir / machine).string()}, {"HF_HUB_OFFLINE", "1"}};
    return run_cli(args, options);
  };
  const std::vector<std::string> index = {"index", (dir / "videos").string(), "--db", uri,
                                          "--json"};
  const RunResult first = run(index, "machine1/hub");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string id =
      pg_rows(uri, "SELECT value FROM clipmind_meta WHERE key = 'model_id'").at(0).at(0);
  EXPECT_EQ(id.substr(0, 3), "m2-");
  EXPECT_EQ(pg_rows(uri, "SELECT value FROM clipmind_meta WHERE key = 'model_name'").at(0).at(0),
            "org/tiny-siglip");

  fs::copy_file(index_video("idx-pm2", 30, 128), dir / "videos" / "m2.mp4");
  const RunResult second = run(index, "machine2/cache/hub");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const json report = json::parse(second.out);
  EXPECT_EQ(report.value("indexed", -1), 1) << second.out;
  EXPECT_EQ(report.value("skipped", -1), 1) << second.out;
  const auto ids = pg_rows(uri, "SELECT DISTINCT model_id FROM clipmind_videos");
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0][0], id);
  const RunResult search =
      run({"search", "--db", uri, "a test pattern", "-k", "2", "--json"}, "machine2/cache/hub");
  ASSERT_EQ(search.exit_code, 0) << search.err;
  EXPECT_EQ(json::parse(search.out).at("results").size(), 2u);

  const fs::path other = dir / "other-model";
  models::TinyModelOptions options;
  options.seed = 77;
  models::write_tiny_model("siglip-dual", other, options);
  const RunResult refused =
      run({"search", "--db", uri, "a test pattern"}, "machine2/cache/hub", other.string());
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("another embedding model, org/tiny-siglip (id"), std::string::npos)
      << refused.err;
}

// Without pgvector, `clipmind search` keeps the index's local ANN copy in the user cache
// (cache.dir/index-ann): the first search writes it, the second loads it and answers the same.
TEST(IndexPg, SearchPersistsTheAnnCopyInTheCacheDir) {
  ::setenv("XDG_CONFIG_HOME", (work_dir() / "no-user-config").c_str(), 1);
  const std::string db = "cm_e2e_ann_" + std::to_string(::getpid());
  const std::string uri = g_server->create_database(db);
  const fs::path dir = fresh_dir("index-pg-ann");
  for (int i = 0; i < 3; ++i) {
    fs::copy_file(index_video(std::string("idx-ann") + std::to_string(i), 40 + 10 * i),
                  dir / (std::string("a") + std::to_string(i) + ".mp4"));
  }
  const RunResult indexed = run_cli(index_args({dir.string()}, uri));
  ASSERT_EQ(indexed.exit_code, 0) << indexed.err;
  // The server keeps offering pgvector; without the extension in this database the store
  // searches with its own copy.
  clipmind::index::test::exec_sql(uri, "DROP EXTENSION IF EXISTS vector CASCADE");
  const fs::path cache = dir / "cache";
  std::vector<std::string> args = {"search", "--db", uri, "a moving square", "-k", "4", "--json"};
  for (const std::string& m : model_args())
    if (m != "--no-cache") args.push_back(m);
  args.insert(args.end(), {"--set", "cache.dir=" + cache.string()});
  const auto hnsw_files = [&] {
    std::vector<fs::path> out;
    if (!fs::exists(cache)) return out;
    for (const auto& e : fs::recursive_directory_iterator(cache))
      if (e.path().extension() == ".hnsw") out.push_back(e.path());
    return out;
  };
  const RunResult first = run_cli(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const auto files = hnsw_files();
  ASSERT_EQ(files.size(), 1u) << "no ANN file under " << cache;
  EXPECT_EQ(files[0].parent_path().parent_path(), cache / "index-ann");
  EXPECT_TRUE(files[0].parent_path().filename().string().starts_with("pg-")) << files[0];
  const auto written = fs::last_write_time(files[0]);

  const RunResult second = run_cli(args);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(hnsw_files(), files);
  EXPECT_EQ(fs::last_write_time(files[0]), written) << "the second search rebuilt the file";
  const json a = json::parse(first.out).at("results");
  const json b = json::parse(second.out).at("results");
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].at("segment_id"), b[i].at("segment_id")) << "rank " << i;
    EXPECT_EQ(a[i].at("video"), b[i].at("video"));
    EXPECT_NEAR(a[i].at("similarity").get<double>(), b[i].at("similarity").get<double>(), 1e-6);
  }
  // cache.ann_max_gb: a stale copy of a database that no longer exists goes when another
  // database opens above the cap; the open database's copy stays and is used.
  const fs::path stale = cache / "index-ann" / "pg-dropped";
  fs::create_directories(stale);
  std::ofstream(stale / "segments.ann-dropped-3.hnsw", std::ios::binary)
      << std::string(2 << 20, 'x');
  fs::last_write_time(stale, fs::last_write_time(files[0].parent_path()) - std::chrono::hours(1));
  std::vector<std::string> capped = args;
  capped.insert(capped.end(), {"--set", "cache.ann_max_gb=0.001"});  // about 1 MB
  const RunResult fourth = run_cli(capped);
  ASSERT_EQ(fourth.exit_code, 0) << fourth.err;
  EXPECT_FALSE(fs::exists(stale)) << "the stale copy stayed above the cap";
  EXPECT_EQ(hnsw_files(), files);
  EXPECT_EQ(fs::last_write_time(files[0]), written) << "the capped search rebuilt the file";
  const json d = json::parse(fourth.out).at("results");
  ASSERT_EQ(d.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].at("segment_id"), d[i].at("segment_id")) << "rank " << i;

  // --no-cache keeps the copy in memory only and still answers the same.
  std::vector<std::string> no_cache = args;
  no_cache.push_back("--no-cache");
  const RunResult third = run_cli(no_cache);
  ASSERT_EQ(third.exit_code, 0) << third.err;
  const json c = json::parse(third.out).at("results");
  ASSERT_EQ(c.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].at("segment_id"), c[i].at("segment_id")) << "rank " << i;
  g_server->drop_database(db);
}

// The ANN copy of a PostgreSQL index (kept under cache.dir when the database has no pgvector)
// does not fit its disk (a real small tmpfs, tests/support/small_disk.h): like the SQLite store,
// `index` commits every video, exits 0, warns once and reports `ann_save_error` naming the copy
// and "no space"; no file is left in the cache folder; with space back the copy is saved.
TEST(IndexPg, AnAnnCopyThatDoesNotFitIsAWarningAndAnnSaveError) {
  std::string why;
  const auto disk = small_disk("index-pg-ann-full", 1 << 20, why);
  if (!disk) GTEST_SKIP() << "no small tmpfs in a user namespace here: " << why;
  ::setenv("XDG_CONFIG_HOME", (work_dir() / "no-user-config").c_str(), 1);
  const std::string db = "cm_e2e_ann_full_" + std::to_string(::getpid());
  const std::string uri = g_server->create_database(db);
  const fs::path dir = fresh_dir("index-pg-ann-full-videos");
  fs::copy_file(index_video("idx-ann0", 40), dir / "a.mp4");
  ASSERT_EQ(run_cli(index_args({dir.string()}, uri)).exit_code, 0);
  // Without pgvector in this database the store searches with its own ANN copy.
  clipmind::index::test::exec_sql(uri, "DROP EXTENSION IF EXISTS vector CASCADE");
  fs::copy_file(index_video("idx-ann1", 50), dir / "b.mp4");

  const fs::path cache = disk->dir() / "cache";
  // Not -q (the warning is what a person sees), not --no-cache (the copy goes to cache.dir).
  std::vector<std::string> args = {"index", dir.string(), "--db", uri, "--json"};
  for (const std::string& m : model_args())
    if (m != "--no-cache" && m != "-q") args.push_back(m);
  args.insert(args.end(), {"--set", "cache.dir=" + cache.string()});
  RunOptions options;
  options.disk = disk.get();
  const auto lower = [](std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
  };

  disk->fill(0);
  const RunResult full = run_cli(args, options);
  EXPECT_EQ(full.exit_code, 0) << full.err;  // b is committed: the copy is only a cache
  const json report = json::parse(full.out);
  EXPECT_EQ(report.value("indexed", -1), 1) << full.out;
  EXPECT_EQ(report.value("skipped", -1), 1) << full.out;
  const std::string error = report.value("ann_save_error", "");
  EXPECT_NE(error.find((cache / "index-ann" / "pg-").string()), std::string::npos) << full.out;
  EXPECT_NE(lower(error).find("no space left"), std::string::npos) << error;
  EXPECT_NE(full.err.find("the search index copy was not saved"), std::string::npos) << full.err;
  EXPECT_EQ(files_under(disk->outside(cache)), std::vector<std::string>{});
  EXPECT_EQ(pg_rows(uri, "SELECT count(*) FROM clipmind_videos"),
            (std::vector<std::vector<std::string>>{{"2"}}));

  // Space back: the next run saves the copy and reports no error.
  disk->unfill();
  const RunResult after = run_cli(args, options);
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_FALSE(json::parse(after.out).contains("ann_save_error")) << after.out;
  bool saved = false;
  for (const std::string& f : files_under(disk->outside(cache)))
    saved = saved || f.ends_with(".hnsw");
  EXPECT_TRUE(saved) << "no ANN copy under " << cache;
  g_server->drop_database(db);
}

}  // namespace
}  // namespace clipmind::e2e
