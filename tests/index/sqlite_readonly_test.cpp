// Read-only SQLite opens (OpenOptions::read_only): searching an index that belongs to someone
// else or sits in a read-only folder. Checked on real files: the folder listing before and
// after (no -wal/-shm/ANN files appear), results against an independent brute force, a writer
// that commits while a reader is open, and an unprivileged reader (a child process that drops
// to uid/gid 65534 when the test runs as root; chmod 0555 otherwise).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "index_test_util.h"
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
constexpr int kSegments = 6;

// name -> (size, mtime ns) of the plain files directly in `dir`.
std::map<std::string, std::pair<int64_t, int64_t>> listing(const fs::path& dir) {
  std::map<std::string, std::pair<int64_t, int64_t>> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    struct stat st {};
    if (::stat(e.path().c_str(), &st) != 0) continue;
    out[e.path().filename().string()] = {
        st.st_size, int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  }
  return out;
}

std::set<std::string> names(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& [name, stamp] : listing(dir))
    out.insert(name);
  return out;
}

// Every file under `dir`, recursively, relative.
std::set<std::string> tree(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) out.insert(fs::relative(it->path(), dir).string());
  }
  return out;
}

void add_video(Store& store, int video) {
  store.commit_video(video_path(video), stamp_for(video), "m",
                     make_segments(video, kSegments, kDim, true, true));
}

// A finished index (its writer closed: no -wal/-shm), with the ANN file beside it.
void build_index(const fs::path& db, int videos) {
  auto store = open_store(db.string());
  for (int v = 0; v < videos; ++v)
    add_video(*store, v);
  store->sync_ann();
}

// "video@t_begin" of each hit: identifies a segment without the store's ids.
using Key = std::pair<std::string, double>;
std::vector<Key> keys(const std::vector<SearchHit>& hits) {
  std::vector<Key> out;
  for (const auto& h : hits)
    out.emplace_back(h.video_path, h.t_begin);
  return out;
}

// Brute force over the vectors make_segments() generated, computed here.
std::vector<Key> expected(const std::vector<int>& videos, const std::vector<float>& query,
                          size_t k) {
  std::vector<std::pair<int64_t, std::vector<float>>> items;
  for (int v : videos)
    for (int j = 0; j < kSegments; ++j)
      items.emplace_back(int64_t(v) * 1000 + j, random_vector(uint64_t(v) * 1000 + j, kDim));
  std::vector<Key> out;
  for (const auto& h : test::brute_force(items, query, k))
    out.emplace_back(video_path(int(h.key / 1000)), 2.0 * double(h.key % 1000));
  return out;
}

SearchQuery vector_query(uint64_t seed, SearchMode mode, size_t k = 5) {
  SearchQuery q;
  q.embedding = random_vector(seed, kDim);
  q.k = k;
  q.mode = mode;
  return q;
}

OpenOptions read_only(const fs::path& cache) {
  OpenOptions o;
  o.read_only = true;
  o.ann_cache_dir = cache;
  return o;
}

TEST(SqliteReadOnly, SearchCreatesNothingBesideTheDatabase) {
  const fs::path dir = test::fresh_dir("ro-nothing");
  const fs::path db_dir = dir / "db", cache = dir / "cache";
  fs::create_directories(db_dir);
  const fs::path db = db_dir / "clips.db";
  build_index(db, 4);
  const auto before = listing(db_dir);
  ASSERT_EQ(before.count("clips.db-wal"), 0u);
  ASSERT_EQ(before.size(), 3u) << "the db, its ANN file and the manifest";

  {
    auto store = open_store(db.string(), read_only(cache));
    const StoreInfo info = store->info();
    EXPECT_EQ(info.open_mode, "immutable");
    EXPECT_EQ(info.segment_count, 4 * kSegments);
    // The owner's ANN file beside the database is current: loaded, not rebuilt.
    store->search(vector_query(10, SearchMode::kAnn));
    EXPECT_EQ(store->info().ann_sync, "file");
    EXPECT_EQ(store->info().ann_file.parent_path(), db_dir);
    for (uint64_t seed : {11u, 12u, 13u}) {
      EXPECT_EQ(keys(store->search(vector_query(seed, SearchMode::kExact))),
                expected({0, 1, 2, 3}, random_vector(seed, kDim), 5));
      EXPECT_EQ(keys(store->search(vector_query(seed, SearchMode::kAnn))),
                expected({0, 1, 2, 3}, random_vector(seed, kDim), 5));
    }
    EXPECT_EQ(store->info().ann_vectors_streamed, 0u);
    SearchQuery text;
    text.text = "video 2 segment 3";
    const auto hits = store->search(text);
    ASSERT_FALSE(hits.empty());
    EXPECT_EQ(hits[0].video_path, video_path(2));
    EXPECT_DOUBLE_EQ(hits[0].t_begin, 6.0);
    const auto seg = store->segment_at(video_path(1), 4.5);
    ASSERT_TRUE(seg);
    EXPECT_DOUBLE_EQ(seg->t_begin, 4.0);
    EXPECT_EQ(store->thumbnail(seg->id).size(), 64u + 2u);  // make_segments: 64 + j bytes
    EXPECT_EQ(store->list_videos().size(), 4u);
    EXPECT_EQ(store->segments_of(video_path(3)).size(), size_t(kSegments));
    EXPECT_EQ(store->freshness(video_path(0), 1, 2, [] { return std::string("x"); }),
              Freshness::kChanged);
    // sync_ann writes our own copy, in the cache folder only.
    store->sync_ann();
    EXPECT_TRUE(store->info().ann_save_error.empty()) << store->info().ann_save_error;

    // Writing is refused before it reaches SQLite.
    const auto segs = make_segments(9, 2, kDim);
    try {
      store->commit_video(video_path(9), stamp_for(9), "m", segs);
      ADD_FAILURE() << "commit_video on a read-only store";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("read-only"), std::string::npos) << e.what();
    }
    EXPECT_THROW(store->begin_video(video_path(9), stamp_for(9), "m"), Error);
    const std::vector<std::string> gone = {video_path(0)};
    EXPECT_THROW(store->remove_videos(gone), Error);
    EXPECT_EQ(listing(db_dir), before);
  }
  EXPECT_EQ(listing(db_dir), before) << "closing must not leave files either";
  // Our copy: <cache>/sqlite-<identity>/segments.ann-<uuid>-<gen>.hnsw and its manifest.
  const auto cached = tree(cache);
  ASSERT_EQ(cached.size(), 2u);
  EXPECT_TRUE(cached.begin()->starts_with("sqlite-")) << *cached.begin();
  EXPECT_TRUE(cached.begin()->ends_with(".hnsw")) << *cached.begin();

  // The owner's next run writes as usual.
  {
    auto store = open_store(db.string());
    add_video(*store, 4);
    store->sync_ann();
  }
  // A second reader loads our cached copy or the owner's newer file; either way it is right.
  auto store = open_store(db.string(), read_only(cache));
  EXPECT_EQ(keys(store->search(vector_query(21, SearchMode::kAnn))),
            expected({0, 1, 2, 3, 4}, random_vector(21, kDim), 5));
}

TEST(SqliteReadOnly, AWriterThatCommitsLaterIsSeenByAnOpenReader) {
  const fs::path dir = test::fresh_dir("ro-later");
  const fs::path db = dir / "clips.db";
  build_index(db, 3);
  auto reader = open_store(db.string(), read_only(dir / "cache"));
  EXPECT_EQ(reader->info().open_mode, "immutable");
  EXPECT_EQ(keys(reader->search(vector_query(5, SearchMode::kExact, 30))),
            expected({0, 1, 2}, random_vector(5, kDim), 30));

  // A writer commits and closes (a checkpoint rewrites the file, the -wal goes away).
  {
    auto writer = open_store(db.string());
    add_video(*writer, 3);
    const std::vector<std::string> gone = {video_path(0)};
    writer->remove_videos(gone);
  }
  for (SearchMode mode : {SearchMode::kExact, SearchMode::kAnn}) {
    EXPECT_EQ(keys(reader->search(vector_query(5, mode, 30))),
              expected({1, 2, 3}, random_vector(5, kDim), 30));
  }
  EXPECT_EQ(reader->info().segment_count, 3 * kSegments);

  // A writer that stays open: its commits sit in the -wal; the reader shares it.
  auto writer = open_store(db.string());
  add_video(*writer, 4);
  ASSERT_TRUE(fs::exists(dir / "clips.db-wal"));
  EXPECT_EQ(keys(reader->search(vector_query(6, SearchMode::kExact, 100))),
            expected({1, 2, 3, 4}, random_vector(6, kDim), 100));
  EXPECT_EQ(reader->info().open_mode, "read-only");
  add_video(*writer, 5);
  EXPECT_EQ(keys(reader->search(vector_query(6, SearchMode::kAnn, 100))),
            expected({1, 2, 3, 4, 5}, random_vector(6, kDim), 100));
}

// A writer that keeps opening, committing and closing (each close checkpoints into the file
// and removes the -wal, so the reader keeps landing on the immutable path) while a reader
// searches: every answer is exactly the brute force of some committed prefix of the videos,
// never a mix, and the reader ends up seeing the last one.
TEST(SqliteReadOnly, SearchesDuringRepeatedCommitsSeeWholeCommits) {
  const fs::path dir = test::fresh_dir("ro-race");
  const fs::path db = dir / "clips.db";
  build_index(db, 1);
  constexpr int kVideos = 12;
  std::vector<std::vector<Key>> prefixes;  // prefixes[m]: brute force over videos 0..m
  std::vector<int> videos;
  for (int v = 0; v < kVideos; ++v) {
    videos.push_back(v);
    prefixes.push_back(expected(videos, random_vector(77, kDim), 1000));
  }
  auto reader = open_store(db.string(), read_only(dir / "cache"));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int v = 1; v < kVideos; ++v) {
      auto w = open_store(db.string());
      add_video(*w, v);
    }
    done = true;
  });
  int searches = 0, last = -1;
  std::vector<std::string> bad;
  while (true) {
    const bool finished = done.load();
    for (SearchMode mode : {SearchMode::kExact, SearchMode::kAnn}) {
      const auto got = keys(reader->search(vector_query(77, mode, 1000)));
      const auto it = std::find(prefixes.begin(), prefixes.end(), got);
      if (it == prefixes.end()) {
        bad.push_back(std::to_string(got.size()) + " hits");
      } else {
        last = int(it - prefixes.begin());
      }
      ++searches;
    }
    if (finished) break;
  }
  writer.join();
  EXPECT_TRUE(bad.empty()) << bad.size() << " of " << searches << " answers mixed: " << bad[0];
  EXPECT_EQ(last, kVideos - 1);
}

TEST(SqliteReadOnly, ALiveWritersWalIsSharedAndNothingIsAdded) {
  const fs::path top = test::fresh_dir("ro-live");
  const fs::path dir = top / "db";
  fs::create_directories(dir);
  const fs::path db = dir / "clips.db";
  auto writer = open_store(db.string());
  for (int v = 0; v < 3; ++v)
    add_video(*writer, v);
  ASSERT_TRUE(fs::exists(dir / "clips.db-wal"));
  ASSERT_TRUE(fs::exists(dir / "clips.db-shm"));
  const auto before = names(dir);
  {
    auto reader = open_store(db.string(), read_only(top / "cache"));
    EXPECT_EQ(reader->info().open_mode, "read-only");
    EXPECT_EQ(keys(reader->search(vector_query(7, SearchMode::kExact, 18))),
              expected({0, 1, 2}, random_vector(7, kDim), 18));
    reader->sync_ann();
    EXPECT_EQ(names(dir), before);
    add_video(*writer, 3);  // the owner goes on writing, then closes while we read
    writer.reset();
    EXPECT_EQ(keys(reader->search(vector_query(8, SearchMode::kExact, 24))),
              expected({0, 1, 2, 3}, random_vector(8, kDim), 24));
  }
  for (const auto& name : names(dir))  // at most the owner's files: nothing of ours
    EXPECT_TRUE(before.count(name)) << name;
  writer = open_store(db.string());
  add_video(*writer, 4);
  EXPECT_EQ(writer->info().segment_count, 5 * kSegments);
}

TEST(SqliteReadOnly, ACacheThatCannotBeWrittenNeverFailsASearch) {
  const fs::path dir = test::fresh_dir("ro-nocache");
  const fs::path db_dir = dir / "db";
  fs::create_directories(db_dir);
  const fs::path db = db_dir / "clips.db";
  {
    auto store = open_store(db.string());
    for (int v = 0; v < 3; ++v)
      add_video(*store, v);
  }  // no sync_ann: no ANN file beside it, the reader has to build one
  std::ofstream(dir / "plain-file") << "x";
  const auto before = listing(db_dir);
  // A folder below a plain file cannot be created, by root either (ENOTDIR).
  auto store = open_store(db.string(), read_only(dir / "plain-file" / "cache"));
  EXPECT_EQ(keys(store->search(vector_query(4, SearchMode::kAnn, 10))),
            expected({0, 1, 2}, random_vector(4, kDim), 10));
  const std::string why = store->info().ann_save_error;
  EXPECT_NE(why.find("plain-file"), std::string::npos) << why;
  EXPECT_NO_THROW(store->sync_ann());
  EXPECT_EQ(keys(store->search(vector_query(5, SearchMode::kExact, 10))),
            expected({0, 1, 2}, random_vector(5, kDim), 10));
  EXPECT_EQ(listing(db_dir), before);
}

TEST(SqliteReadOnly, NamesThatNeedEscapingInAUri) {
  const fs::path dir = test::fresh_dir("ro-names");
  const fs::path db = dir / "my clips?v=1&x%41#2.db";
  build_index(db, 2);
  const auto before = listing(dir);
  auto store = open_store(db.string(), read_only(dir / "cache"));
  EXPECT_EQ(store->info().video_count, 2);
  EXPECT_EQ(keys(store->search(vector_query(3, SearchMode::kExact, 12))),
            expected({0, 1}, random_vector(3, kDim), 12));
  EXPECT_EQ(listing(dir), before);  // the owner's ANN file was current: nothing written
}

TEST(SqliteReadOnly, AWalWithoutItsShmIsRefusedWithoutCreatingIt) {
  const fs::path dir = test::fresh_dir("ro-noshm");
  const fs::path db = dir / "clips.db";
  auto writer = open_store(db.string());
  add_video(*writer, 0);
  // A copy of the live files without the -shm: what a writer that died between creating the
  // two (or a careless backup) leaves.
  const fs::path copy_dir = dir / "copy";
  fs::create_directories(copy_dir);
  fs::copy_file(db, copy_dir / "clips.db");
  fs::copy_file(dir / "clips.db-wal", copy_dir / "clips.db-wal");
  ASSERT_GT(fs::file_size(copy_dir / "clips.db-wal"), 0u);
  const auto before = listing(copy_dir);
  try {
    open_store((copy_dir / "clips.db").string(), read_only(dir / "cache"));
    ADD_FAILURE() << "opened a -wal without its -shm read-only";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("clips.db-shm"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("clips.db"), std::string::npos) << e.what();
  }
  EXPECT_EQ(listing(copy_dir), before);
  // A writable open recovers it.
  auto recovered = open_store((copy_dir / "clips.db").string());
  EXPECT_EQ(recovered->info().segment_count, kSegments);
}

// Runs `body` as an unprivileged user: in a child that drops to uid/gid 65534 when we are
// root (root ignores permission bits), else in this process. Returns body's exit code.
int as_unprivileged(const std::function<int()>& body) {
  if (::geteuid() != 0) return body();
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 90;
    if (::setgroups(0, nullptr) == 0 && ::setgid(65534) == 0 && ::setuid(65534) == 0) {
      try {
        code = body();
      } catch (...) {
        code = 91;
      }
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 92;
}

// Problem 2: an index in a folder we may not write; problem 1: a folder we may write, a
// database we may not: both searched, identical results, nothing created beside it.
TEST(SqliteReadOnly, AnUnprivilegedReaderSearchesAndLeavesNothing) {
  const fs::path dir = test::fresh_dir("ro-unpriv");
  const fs::path db_dir = dir / "db", cache = dir / "cache", out = dir / "out";
  fs::create_directories(db_dir);
  fs::create_directories(cache);
  fs::create_directories(out);
  const fs::path db = db_dir / "clips.db";
  build_index(db, 4);
  // Without the owner's ANN file the reader builds one and must put it in its own cache.
  for (const auto& e : fs::directory_iterator(db_dir))
    if (e.path().filename() != "clips.db") fs::remove(e.path());
  const std::vector<Key> want = expected({0, 1, 2, 3}, random_vector(31, kDim), 8);
  {
    auto owner = open_store(db.string(), read_only(cache));
    ASSERT_EQ(keys(owner->search(vector_query(31, SearchMode::kAnn, 8))), want);
  }
  fs::remove_all(cache);
  fs::create_directories(cache);
  if (::geteuid() == 0) {
    // The unprivileged child must reach the files; the cache and out folders are its own.
    for (const fs::path& p : {cache, out})
      ASSERT_EQ(::chown(p.c_str(), 65534, 65534), 0);
  }
  fs::permissions(db, fs::perms(0444));
  const fs::path result = out / "keys.txt";

  const auto search = [&] {
    std::ifstream probe(db);
    if (!probe) return 77;  // cannot reach the test folder at all
    auto store = open_store(db.string(), read_only(cache));
    const auto hits = store->search(vector_query(31, SearchMode::kAnn, 8));
    std::ofstream f(result);
    for (const auto& [video, t] : keys(hits))
      f << video << ' ' << t << '\n';
    return f ? 0 : 93;
  };
  const auto read_result = [&] {
    std::vector<Key> got;
    std::ifstream f(result);
    std::string video;
    double t = 0;
    while (f >> video >> t)
      got.emplace_back(video, t);
    return got;
  };

  for (const auto mode : {fs::perms(0555), fs::perms(0777)}) {
    SCOPED_TRACE(mode == fs::perms(0555) ? "folder not writable" : "folder writable");
    fs::permissions(db_dir, mode);
    const auto before = listing(db_dir);
    fs::remove(result);
    const int code = as_unprivileged(search);
    fs::permissions(db_dir, fs::perms(0755));
    if (code == 77) GTEST_SKIP() << "uid 65534 cannot reach " << dir;
    ASSERT_EQ(code, 0);
    EXPECT_EQ(read_result(), want);
    EXPECT_EQ(listing(db_dir), before);
    EXPECT_FALSE(tree(cache).empty()) << "the reader's ANN copy goes to its own cache";
  }
  // The owner's next run works.
  fs::permissions(db, fs::perms(0644));
  auto owner = open_store(db.string());
  add_video(*owner, 4);
  EXPECT_EQ(owner->info().segment_count, 5 * kSegments);
}

}  // namespace
}  // namespace clipmind::index
