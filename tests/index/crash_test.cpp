// kill -9 of a process that is writing the index, then resume: nothing committed is lost,
// nothing is duplicated, no half-written video is visible or marked indexed.
#include <cstdio>
#include <random>
#include <set>
#include <thread>

#include "crash_workload.h"
#include "index_test_util.h"
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "index/store.h"

namespace clipmind::index {
namespace {

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;
};

Child spawn_driver(const std::string& db) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe");
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(CLIPMIND_CRASH_DRIVER, CLIPMIND_CRASH_DRIVER, db.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  return Child{pid, fdopen(fds[0], "r")};
}

int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// Checks the database with raw SQL and the store API; returns the indexed video numbers.
std::set<int> check_consistent(const std::string& db) {
  {
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(raw, "PRAGMA integrity_check", -1, &st, nullptr);
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "ok");
    sqlite3_finalize(st);
    // No segment belongs to a video that is not indexed (all videos here are new).
    sqlite3_prepare_v2(raw,
                       "SELECT count(*) FROM segments s JOIN videos v ON v.id = s.video_id "
                       "WHERE v.status != 'indexed'",
                       -1, &st, nullptr);
    sqlite3_step(st);
    EXPECT_EQ(sqlite3_column_int64(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(raw);
  }
  auto store = open_store(db);
  std::set<int> indexed;
  int64_t expected_segments = 0;
  for (const auto& v : store->list_videos()) {
    const int i = std::stoi(v.path.substr(std::string("/crash/video").size()));
    if (v.status != VideoStatus::kIndexed) {
      EXPECT_EQ(v.status, VideoStatus::kInProgress) << v.path;
      EXPECT_EQ(v.segment_count, 0) << v.path << " is in progress but has visible segments";
      continue;
    }
    indexed.insert(i);
    const auto segs = store->segments_of(v.path);
    const auto want = crash::segments(i);
    EXPECT_EQ(segs.size(), want.size()) << v.path;
    for (size_t j = 0; j < std::min(segs.size(), want.size()); ++j) {
      EXPECT_DOUBLE_EQ(segs[j].t_begin, want[j].t_begin);
      EXPECT_EQ(segs[j].caption, want[j].caption);
      const auto u = test::unit(want[j].embedding);
      EXPECT_NEAR(segs[j].embedding[5], u[5], 1e-6);
    }
    expected_segments += crash::segment_count(i);
  }
  EXPECT_EQ(store->info().segment_count, expected_segments);
  return indexed;
}

TEST(CrashSafety, KillNineMidRunThenResume) {
  const auto dir = test::fresh_dir("crash");
  const std::string db = (dir / "crash.db").string();
  std::mt19937 rng(12345);
  std::set<int> committed_seen;  // videos the driver reported committed before dying
  for (int round = 0; round < 4; ++round) {
    Child child = spawn_driver(db);
    // Let it commit a few videos, then kill it at a random moment of the next ones.
    const int wait_lines = 2 + round;
    char line[128];
    int lines = 0;
    while (lines < wait_lines && fgets(line, sizeof line, child.out)) {
      int n = -1;
      if (std::sscanf(line, "committed %d", &n) == 1) committed_seen.insert(n);
      ++lines;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 40000));
    kill(child.pid, SIGKILL);
    const int status = wait_for(child.pid);
    while (fgets(line, sizeof line, child.out)) {
      int n = -1;
      if (std::sscanf(line, "committed %d", &n) == 1) committed_seen.insert(n);
    }
    fclose(child.out);
    if (WIFEXITED(status)) break;  // finished before the kill (very fast machine)
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    const auto indexed = check_consistent(db);
    for (int n : committed_seen)
      EXPECT_TRUE(indexed.contains(n)) << "lost committed video " << n;
  }
  // Resume to the end.
  Child child = spawn_driver(db);
  char line[128];
  bool done = false;
  while (fgets(line, sizeof line, child.out))
    done |= std::string(line) == "done\n";
  fclose(child.out);
  const int status = wait_for(child.pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(done);
  const auto indexed = check_consistent(db);
  EXPECT_EQ(indexed.size(), size_t(crash::kVideos));
  // No duplicates: every (video, t_begin) once, and search finds each video's own segment.
  auto store = open_store(db);
  for (int i = 0; i < crash::kVideos; i += 7) {
    SearchQuery q;
    q.embedding = crash::segments(i)[3].embedding;
    q.k = 2;
    const auto hits = store->search(q);
    ASSERT_FALSE(hits.empty());
    EXPECT_EQ(hits[0].video_path, crash::path(i));
    EXPECT_DOUBLE_EQ(hits[0].t_begin, 9.0);
  }
}

}  // namespace
}  // namespace clipmind::index
