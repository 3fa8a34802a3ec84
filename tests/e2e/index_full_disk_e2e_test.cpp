// `clipmind index` and `clipmind search` on a disk that fills up (docs/index.md "Full disk"),
// a real small tmpfs in a user namespace (tests/support/small_disk.h): the SQLite database's
// disk filling in the middle of a batch, the ANN file beside it not fitting, and a search whose
// cache folder is full. The database is checked with plain SQL (in a child inside the disk's
// namespaces), not through index/.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "tests/e2e/index_e2e_util.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace clipmind::e2e {
namespace {

using nlohmann::json;

// One compute thread: the tiny models' work is smaller than waking threads on a loaded machine.
const std::vector<std::string> kOneThread = {"--threads", "1"};

bool says_no_space(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text.find("no space left") != std::string::npos;
}

std::string abs_path(const fs::path& p) {
  return fs::absolute(p).lexically_normal().string();
}

// The ANN files (and their manifests and temporary files) beside `db`.
std::vector<std::string> ann_files(const fs::path& folder, const std::string& db_name) {
  std::vector<std::string> out;
  for (const std::string& f : files_under(folder)) {
    if (f.starts_with(db_name + ".ann-")) out.push_back(f);
  }
  return out;
}

// Rows of `query` on the database `db`, a path on `disk`, read with plain SQL by a child inside
// the disk's namespaces (SQLite resolves the /proc/<pid>/root link of SmallDisk::outside()).
// Opened immutable, which needs no -shm (none can be made on a full disk): only valid while no
// -wal holds changes, which is checked.
std::vector<std::vector<std::string>> rows_on(const test::SmallDisk& disk, const fs::path& db,
                                              const std::string& query) {
  std::error_code ec;
  if (fs::file_size(disk.outside(db.string() + "-wal"), ec) > 0 && !ec) {
    throw std::runtime_error(db.string() + "-wal holds changes: cannot read it immutable");
  }
  const std::string rows = disk.run_inside([&] {
    sqlite3* connection = nullptr;
    const std::string uri = "file:" + db.string() + "?immutable=1";
    if (sqlite3_open_v2(uri.c_str(), &connection, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
                        nullptr) != SQLITE_OK) {
      sqlite3_close(connection);
      throw std::runtime_error("cannot open " + uri);
    }
    json out = json::array();
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(connection, query.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      const std::string why = sqlite3_errmsg(connection);
      sqlite3_close(connection);
      throw std::runtime_error("sql: " + why);
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
      json row = json::array();
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        const unsigned char* text = sqlite3_column_text(st, c);
        row.push_back(text ? reinterpret_cast<const char*>(text) : "");
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(st);
    sqlite3_close(connection);
    return out.dump();
  });
  return json::parse(rows).get<std::vector<std::vector<std::string>>>();
}

std::map<std::string, std::string> statuses_on(const test::SmallDisk& disk, const fs::path& db) {
  std::map<std::string, std::string> out;
  for (const auto& row : rows_on(disk, db, "SELECT path, status FROM videos"))
    out[row.at(0)] = row.at(1);
  return out;
}

// A read-write connection kept open by a child inside the disk's namespaces: while it lives,
// the database's -wal and -shm stay (SQLite removes them with the last connection), so a
// program can open the database on a disk with no free block left.
class HeldConnection {
 public:
  HeldConnection(const test::SmallDisk& disk, const fs::path& db) {
    int ready[2], hold[2];
    if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(hold, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe failed");
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(hold[1]);
      sqlite3* connection = nullptr;
      const bool ok =
          disk.enter() &&
          sqlite3_open_v2(db.c_str(), &connection, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK &&
          sqlite3_exec(connection, "SELECT count(*) FROM segments", nullptr, nullptr, nullptr) ==
              SQLITE_OK;
      [[maybe_unused]] ssize_t n = ::write(ready[1], ok ? "1" : "0", 1);
      char byte = 0;
      n = ::read(hold[0], &byte, 1);  // until the test closes its end
      sqlite3_close(connection);
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(hold[0]);
    hold_ = hold[1];
    char byte = 0;
    const ssize_t n = ::read(ready[0], &byte, 1);
    ::close(ready[0]);
    if (n != 1 || byte != '1') throw std::runtime_error("cannot open " + db.string());
  }
  ~HeldConnection() {
    ::close(hold_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  HeldConnection(const HeldConnection&) = delete;
  HeldConnection& operator=(const HeldConnection&) = delete;

 private:
  pid_t pid_ = -1;
  int hold_ = -1;
};

TEST(IndexFullDisk, MidBatchTheDatabaseKeepsWhatWasCommittedAndTheNextRunResumes) {
  std::string why;
  const auto disk = small_disk("full-index", 8 << 20, why);
  if (!disk) GTEST_SKIP() << "no small tmpfs in a user namespace here: " << why;
  const fs::path dir = fresh_dir("full-index-videos");
  fs::copy_file(index_video("full-idx-a", 40), dir / "a.mp4");          // 4 s: two segments
  fs::copy_file(index_video("full-idx-b", 600, 96, 2), dir / "b.mp4");  // 300 s: a hundred
  fs::copy_file(index_video("full-idx-c", 40, 128), dir / "c.mp4");
  const fs::path db = disk->dir() / "index.db";
  RunOptions options;
  options.disk = disk.get();

  // 1. The database with its tables, nothing indexed yet.
  const RunResult created = run_cli(
      index_args({fresh_dir("full-index-empty").string()}, db.string(), kOneThread), options);
  ASSERT_EQ(created.exit_code, 0) << created.err;

  // 2. Room for a's rows, not for b's: measured, a's transaction (with SQLite's 32 KiB -shm
  //    and the -wal) fits in 96 KiB but not 64, b's hundred segments do not fit in 192 KiB.
  constexpr uint64_t kRoom = 128 << 10;
  ASSERT_EQ(disk->fill(kRoom), kRoom);
  const RunResult full = run_cli(index_args({dir.string()}, db.string(), kOneThread), options);
  EXPECT_EQ(full.exit_code, 5) << full.err;  // kIo
  EXPECT_NE(full.err.find(db.string() + ": "), std::string::npos) << full.err;
  EXPECT_TRUE(says_no_space(full.err)) << full.err;
  EXPECT_NE(full.err.find("while storing " + abs_path(dir / "b.mp4")), std::string::npos)
      << full.err;
  EXPECT_NE(full.err.find("hint: Check free disk space"), std::string::npos) << full.err;

  // 3. With no block left: the database reads, whole; a is in it, b was never committed.
  disk->fill(0);
  EXPECT_EQ(rows_on(*disk, db, "PRAGMA integrity_check"),
            (std::vector<std::vector<std::string>>{{"ok"}}));
  auto statuses = statuses_on(*disk, db);
  EXPECT_EQ(statuses[abs_path(dir / "a.mp4")], "indexed");
  EXPECT_NE(statuses[abs_path(dir / "b.mp4")], "indexed");
  EXPECT_EQ(statuses.count(abs_path(dir / "c.mp4")), 0u);
  const auto spans = rows_on(*disk, db,
                             "SELECT v.path, max(s.t_end) FROM segments s JOIN videos v ON "
                             "v.id = s.video_id GROUP BY v.path");
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0][0], abs_path(dir / "a.mp4"));
  EXPECT_NEAR(std::stod(spans[0][1]), 4.0, 0.15);
  // And `clipmind search` answers from it (read-only: it writes nothing on the full disk).
  std::vector<std::string> search = {"search", "--db", db.string(), "a test pattern", "--json"};
  for (const std::string& m : model_args())
    search.push_back(m);
  const RunResult found = run_cli(search, options);
  ASSERT_EQ(found.exit_code, 0) << found.err;
  const json results = parse_or_fail(found.out).at("results");
  ASSERT_FALSE(results.empty()) << found.out;
  for (const json& r : results)
    EXPECT_EQ(r.at("video"), abs_path(dir / "a.mp4"));

  // 4. Space back: the same command indexes b (left in progress) and c; a stays.
  disk->unfill();
  const RunResult resumed = run_cli(index_args({dir.string()}, db.string(), kOneThread), options);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const json report = parse_or_fail(resumed.out);
  EXPECT_EQ(report.value("indexed", -1), 2);
  EXPECT_EQ(report.value("skipped", -1), 1);
  statuses = statuses_on(*disk, db);
  for (const std::string name : {"a", "b", "c"})
    EXPECT_EQ(statuses[abs_path(dir / (name + ".mp4"))], "indexed") << name;
  const auto b_end = rows_on(*disk, db,
                             "SELECT max(s.t_end) FROM segments s JOIN videos v ON v.id = "
                             "s.video_id WHERE v.path = '" +
                                 abs_path(dir / "b.mp4") + "'");
  EXPECT_NEAR(std::stod(b_end.at(0).at(0)), 300.0, 0.6);
}

TEST(IndexFullDisk, AnAnnFileThatDoesNotFitIsAWarningAndLeavesNoFileBehind) {
  std::string why;
  const auto disk = small_disk("full-index-ann", 8 << 20, why);
  if (!disk) GTEST_SKIP() << "no small tmpfs in a user namespace here: " << why;
  const fs::path dir = fresh_dir("full-index-ann-videos");
  fs::copy_file(index_video("full-ann-a", 300), dir / "a.mp4");
  fs::copy_file(index_video("full-ann-b", 300, 128), dir / "b.mp4");
  const fs::path db = disk->dir() / "index.db";
  RunOptions options;
  options.disk = disk.get();
  // Without -q: the warning is what a person sees.
  std::vector<std::string> args = index_args({dir.string()}, db.string(), kOneThread);
  args.erase(std::find(args.begin(), args.end(), "-q"));

  // 1. With room: the index and its ANN file (+ manifest) beside it.
  const RunResult roomy = run_cli(args, options);
  ASSERT_EQ(roomy.exit_code, 0) << roomy.err;
  std::vector<std::string> ann = ann_files(disk->outside(), "index.db");
  ASSERT_EQ(ann.size(), 2u) << roomy.err;
  const uint64_t ann_bytes = fs::file_size(disk->outside(ann[0]));  // .hnsw sorts first
  for (const std::string& f : ann)
    fs::remove(disk->outside(f));

  const auto expect_warning = [&](const RunResult& r, const char* step) {
    SCOPED_TRACE(step);
    EXPECT_EQ(r.exit_code, 0) << r.err;  // every video is committed: the copy is only a cache
    const json report = parse_or_fail(r.out);
    EXPECT_EQ(report.value("skipped", -1), 2);
    const std::string error = report.value("ann_save_error", "");
    EXPECT_NE(error.find((disk->dir() / "index.db.ann-").string()), std::string::npos) << r.out;
    EXPECT_TRUE(says_no_space(error)) << error;
    EXPECT_NE(r.err.find("the search index copy was not saved"), std::string::npos) << r.err;
    EXPECT_EQ(ann_files(disk->outside(), "index.db"), std::vector<std::string>{});
  };
  {
    // 2. No block free (the -wal and -shm kept by a connection of ours): the file fails.
    HeldConnection held(*disk, db);
    disk->fill(0);
    expect_warning(run_cli(args, options), "no room at all");
    // 3. Room for the ANN file but not its manifest: the file goes too (never used without).
    disk->unfill();
    const uint64_t block = disk->block_size();
    disk->fill((ann_bytes + block - 1) / block * block);
    expect_warning(run_cli(args, options), "room for the file, not its manifest");
  }

  // 4. Space back: the next run writes both, and the database was never touched.
  disk->unfill();
  const RunResult after = run_cli(args, options);
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_FALSE(parse_or_fail(after.out).contains("ann_save_error")) << after.out;
  EXPECT_EQ(ann_files(disk->outside(), "index.db").size(), 2u);
  EXPECT_EQ(rows_on(*disk, db, "PRAGMA integrity_check"),
            (std::vector<std::vector<std::string>>{{"ok"}}));
  EXPECT_EQ(statuses_on(*disk, db).size(), 2u);
}

TEST(IndexFullDisk, SearchAnswersWhenItsCacheCopyCannotBeSaved) {
  std::string why;
  const auto disk = small_disk("full-search-cache", 1 << 20, why);
  if (!disk) GTEST_SKIP() << "no small tmpfs in a user namespace here: " << why;
  const fs::path dir = fresh_dir("full-search-videos");
  fs::copy_file(index_video("full-ann-a", 300), dir / "a.mp4");
  const fs::path db = dir.parent_path() / "full-search.db";
  fs::remove(db);
  ASSERT_EQ(run_cli(index_args({dir.string()}, db.string(), kOneThread)).exit_code, 0);
  // No ANN file beside the database: the search builds a copy, to be kept in its cache folder.
  for (const std::string& f : ann_files(dir.parent_path(), db.filename().string()))
    fs::remove(dir.parent_path() / f);

  disk->fill(0);
  RunOptions options;
  options.disk = disk.get();
  const fs::path cache = disk->dir() / "cache";
  options.env = {{"XDG_CACHE_HOME", cache.string()}};
  const RunResult r = run_cli({"search", "--db", db.string(), "a test pattern", "--json",
                               "--relevance-model", tiny_siglip().string()},
                              options);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(parse_or_fail(r.out).at("results").empty()) << r.out;
  EXPECT_NE(r.err.find("the search index copy was not saved"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find((cache / "clipmind" / "index-ann").string()), std::string::npos) << r.err;
  EXPECT_TRUE(says_no_space(r.err)) << r.err;
  EXPECT_EQ(files_under(disk->outside(cache)), std::vector<std::string>{});
}

}  // namespace
}  // namespace clipmind::e2e
