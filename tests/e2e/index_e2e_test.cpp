// `clipmind index` and `clipmind search` end to end on SQLite, with the real binary, a tiny
// random SigLIP dual encoder (and tiny LLaVA-OneVision for captions) and generated videos:
// a damaged video is recorded as failed while the rest are indexed; reruns skip unchanged
// files, re-index changed ones and prune deleted ones; kill -9 mid-run then a rerun gives
// exactly what an uninterrupted run gives; --like finds an identical moment first; --json
// parses. The index is checked with plain SQL, not through index/.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "tests/decode/test_videos.h"
#include "tests/e2e/index_e2e_util.h"
#include <grp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

namespace clipmind::e2e {
namespace {

using nlohmann::json;

std::string abs_path(const fs::path& p) {
  return fs::absolute(p).lexically_normal().string();
}

std::map<std::string, json> by_path(const json& report) {
  std::map<std::string, json> out;
  for (const json& f : report.at("files"))
    out[f.at("path").get<std::string>()] = f;
  return out;
}

TEST(IndexCli, DamagedRecordedRestIndexedThenIncrementalAndPrune) {
  const fs::path dir = fresh_dir("index-incremental");
  fs::copy_file(index_video("idx-a", 100), dir / "a.mp4");
  fs::copy_file(index_video("idx-b", 80), dir / "b.mp4");
  write_truncated(index_video("idx-c", 60), dir / "c-damaged.mp4");
  std::ofstream(dir / "notes.txt") << "not a video";
  const std::string db = (dir.parent_path() / "index-incremental.db").string();
  fs::remove(db);
  const std::string a = abs_path(dir / "a.mp4"), b = abs_path(dir / "b.mp4"),
                    c = abs_path(dir / "c-damaged.mp4");

  // 1. First run: two indexed, the damaged one failed with its error; exit code 3.
  const RunResult first = run_cli(index_args({dir.string()}, db));
  EXPECT_EQ(first.exit_code, 3) << first.err;
  json report = parse_or_fail(first.out);
  EXPECT_EQ(report.value("indexed", -1), 2);
  EXPECT_EQ(report.value("failed", -1), 1);
  auto files = by_path(report);
  ASSERT_EQ(files.size(), 3u) << first.out;  // notes.txt is not a video
  EXPECT_EQ(files[c].at("status"), "failed");
  EXPECT_NE(files[c].value("error", "").find("c-damaged.mp4"), std::string::npos);
  {
    IndexDb sql(db);
    auto st = sql.statuses();
    EXPECT_EQ(st[a], "indexed");
    EXPECT_EQ(st[b], "indexed");
    EXPECT_EQ(st[c], "failed");
    const auto err = sql.rows("SELECT error FROM videos WHERE path = '" + c + "'");
    ASSERT_EQ(err.size(), 1u);
    EXPECT_NE(err[0][0].find("c-damaged.mp4"), std::string::npos) << err[0][0];
    auto spans = sql.spans();
    // 10 s and 8 s videos cut into spans of at most 3 s that tile each video.
    ASSERT_GE(spans[a].size(), 4u);
    EXPECT_NEAR(spans[a].front().first, 0.0, 1e-6);
    EXPECT_NEAR(spans[a].back().second, 10.0, 0.15);
    for (size_t i = 0; i < spans[a].size(); ++i) {
      EXPECT_LE(spans[a][i].second - spans[a][i].first, 3.0 + 1e-6);
      if (i > 0) {
        EXPECT_NEAR(spans[a][i].first, spans[a][i - 1].second, 1e-6);
      }
    }
    EXPECT_NEAR(spans[b].back().second, 8.0, 0.15);
    EXPECT_EQ(spans.count(c), 0u);
    // Every segment has a JPEG thumbnail (FF D8 magic) and a 1-norm embedding blob.
    const auto thumbs = sql.rows(
        "SELECT count(*), sum(hex(substr(t.jpeg, 1, 2)) = 'FFD8') FROM segments s JOIN "
        "thumbnails t ON t.segment_id = s.id");
    const auto segs = sql.rows("SELECT count(*) FROM segments");
    EXPECT_EQ(thumbs[0][0], segs[0][0]);
    EXPECT_EQ(thumbs[0][1], segs[0][0]);
  }

  // 2. Rerun: nothing to do (the damaged file failed before on the same content).
  const RunResult second = run_cli(index_args({dir.string()}, db));
  EXPECT_EQ(second.exit_code, 0) << second.err;
  report = parse_or_fail(second.out);
  EXPECT_EQ(report.value("indexed", -1), 0);
  EXPECT_EQ(report.value("skipped", -1), 3);

  // 3. b replaced by another video, a only touched: b re-indexed, a skipped.
  fs::remove(dir / "b.mp4");
  fs::copy_file(index_video("idx-b2", 50, 128), dir / "b.mp4");
  fs::last_write_time(dir / "a.mp4", fs::file_time_type::clock::now());
  const RunResult third = run_cli(index_args({dir.string()}, db));
  EXPECT_EQ(third.exit_code, 0) << third.err;
  files = by_path(parse_or_fail(third.out));
  EXPECT_EQ(files[b].at("status"), "indexed");
  EXPECT_EQ(files[b].at("reason"), "changed");
  EXPECT_EQ(files[a].at("status"), "skipped");
  {
    IndexDb sql(db);
    EXPECT_NEAR(sql.spans()[b].back().second, 5.0, 0.15);  // the new 5 s video
  }

  // 4. a deleted: --prune removes it, nothing else changes.
  fs::remove(dir / "a.mp4");
  const RunResult fourth = run_cli(index_args({dir.string()}, db, {"--prune"}));
  EXPECT_EQ(fourth.exit_code, 0) << fourth.err;
  report = parse_or_fail(fourth.out);
  EXPECT_EQ(report.at("pruned"), json::array({a}));
  IndexDb sql(db);
  auto st = sql.statuses();
  EXPECT_EQ(st.count(a), 0u);
  EXPECT_EQ(st[b], "indexed");
  EXPECT_EQ(sql.spans().count(a), 0u);
}

// The text summary and the failure message say "1 segment" and "2 videos": counts agree with
// their nouns (they said "(1 segments)" and "video(s)").
TEST(IndexCli, TextSummaryCountsAgreeWithTheirNouns) {
  const fs::path dir = fresh_dir("index-plural");
  fs::copy_file(index_video("idx-short", 20), dir / "short.mp4");  // 2 s: one segment
  write_truncated(index_video("idx-c", 60), dir / "damaged.mp4");
  const std::string db = (dir.parent_path() / "index-plural.db").string();
  fs::remove(db);
  std::vector<std::string> args = {"index", dir.string(), "--db", db};
  for (const std::string& m : model_args())
    args.push_back(m);
  const RunResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.out.find("1 indexed (1 segment), 0 skipped, 1 failed"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("1 of 2 videos could not be indexed"), std::string::npos) << r.err;

  fs::copy_file(index_video("idx-a", 100), dir / "long.mp4");  // 10 s: several segments
  const RunResult again = run_cli(args);
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("1 indexed ("), std::string::npos) << again.out;
  EXPECT_NE(again.out.find(" segments), 2 skipped"), std::string::npos) << again.out;
}

// Runs `sql` on the index file with write access (what an older clipmind left, made by hand).
void exec_sql(const std::string& db, const std::string& sql) {
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(handle, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(handle);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

// The index as clipmind before segments_version wrote it (schema 2): `mkv`'s segments counted
// from the video stream's own start, so each is `shift` seconds early.
void make_it_an_old_index(const std::string& db, const std::string& mkv, double shift) {
  exec_sql(db,
           "ALTER TABLE videos DROP COLUMN segments_version; "
           "UPDATE clipmind_meta SET value = '2' WHERE key = 'schema_version'; "
           "PRAGMA user_version = 2; "
           "UPDATE segments SET t_begin = max(0, t_begin - " +
               std::to_string(shift) + "), t_end = t_end - " + std::to_string(shift) +
               " WHERE video_id = (SELECT id FROM videos WHERE path = '" + mkv + "');");
}

// Indexes written by an older clipmind keep the times it stored, 7-23 ms early for Matroska and
// WebM with Opus or AAC (their picture starts after their sound). `index` on such an index
// upgrades it, re-indexes the videos whose times moved (reason "outdated times", said in the
// table too) and only marks the others current: no model time for a file whose times are right.
// A search of the old index, before any upgrade, still works and changes nothing.
TEST(IndexCli, VideosWhoseTimesAnOlderClipmindStoredOffAreIndexedAgain) {
  const fs::path dir = fresh_dir("index-old-times");
  test::VideoSpec spec;
  spec.name = "idx-opus-mkv";
  spec.container = "mkv";
  spec.audio = true;  // Opus: its pre-skip starts the sound 6.5 ms before the picture
  spec.width = 96;
  spec.height = 72;
  spec.frames = 40;
  spec.fps = 10;
  spec.gop = 10;
  fs::copy_file(test::make_video(spec), dir / "opus.mkv");
  fs::copy_file(index_video("idx-plain", 40), dir / "plain.mp4");
  const std::string mkv = abs_path(dir / "opus.mkv"), mp4 = abs_path(dir / "plain.mp4");
  const RunResult probe = run_cli({"probe", mkv, "--json"});
  ASSERT_EQ(probe.exit_code, 0) << probe.err;
  const double start = json::parse(probe.out).at("start_time").get<double>();
  ASSERT_GT(start, 0.001) << "the picture must start after the sound: " << probe.out;

  const std::string db = (dir.parent_path() / "index-old-times.db").string();
  fs::remove(db);
  ASSERT_EQ(run_cli(index_args({dir.string()}, db)).exit_code, 0);
  const auto fresh_spans = IndexDb(db).spans();
  ASSERT_FALSE(fresh_spans.at(mkv).empty());

  make_it_an_old_index(db, mkv, start);
  {
    IndexDb sql(db);
    ASSERT_NE(sql.spans().at(mkv), fresh_spans.at(mkv));
  }
  std::vector<std::string> search = {"search", "--db", db, "a test pattern", "--json"};
  for (const std::string& m : model_args())
    search.push_back(m);
  const RunResult found = run_cli(search);
  EXPECT_EQ(found.exit_code, 0) << found.err;
  EXPECT_FALSE(parse_or_fail(found.out).at("results").empty()) << found.out;
  EXPECT_EQ(IndexDb(db).rows("SELECT value FROM clipmind_meta WHERE key = 'schema_version'")[0][0],
            "2");

  const RunResult again = run_cli(index_args({dir.string()}, db));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto files = by_path(parse_or_fail(again.out));
  EXPECT_EQ(files[mkv].at("status"), "indexed");
  EXPECT_EQ(files[mkv].at("reason"), "outdated times");
  EXPECT_EQ(files[mp4].at("status"), "skipped");
  EXPECT_EQ(files[mp4].at("reason"), "unchanged");
  {
    IndexDb sql(db);
    const auto spans = sql.spans();
    ASSERT_EQ(spans.at(mkv).size(), fresh_spans.at(mkv).size());
    for (size_t i = 0; i < spans.at(mkv).size(); ++i) {
      EXPECT_NEAR(spans.at(mkv)[i].first, fresh_spans.at(mkv)[i].first, 1e-6) << i;
      EXPECT_NEAR(spans.at(mkv)[i].second, fresh_spans.at(mkv)[i].second, 1e-6) << i;
    }
    EXPECT_EQ(sql.rows("SELECT value FROM clipmind_meta WHERE key = 'schema_version'")[0][0], "3");
    EXPECT_EQ(sql.rows("SELECT count(*) FROM videos WHERE segments_version = 2")[0][0], "2");
  }
  const RunResult third = run_cli(index_args({dir.string()}, db));
  ASSERT_EQ(third.exit_code, 0) << third.err;
  EXPECT_EQ(parse_or_fail(third.out).value("skipped", -1), 2) << third.out;

  // The text table says why a video was indexed again.
  make_it_an_old_index(db, mkv, start);
  std::vector<std::string> text = {"index", dir.string(), "--db", db};
  for (const std::string& m : model_args())
    text.push_back(m);
  const RunResult table = run_cli(text);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  const size_t row = table.out.find(mkv);
  ASSERT_NE(row, std::string::npos) << table.out;
  EXPECT_EQ(table.out.compare(table.out.rfind('\n', row) + 1, 7, "indexed"), 0) << table.out;
  EXPECT_NE(table.out.find(mkv + " (again: an older clipmind stored its times off)"),
            std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find(mp4 + " (unchanged)"), std::string::npos) << table.out;
}

// A database that is no database, and one that cannot be created: the message names the file
// and the reason a person can act on, never the SQL statement that met the problem ("cannot
// prepare 'SELECT count(*), sum(name = …") nor SQLite's bare "unable to open database file".
TEST(IndexCli, DatabaseProblemsNameTheFileAndTheReasonNotTheSql) {
  const fs::path dir = fresh_dir("index-db-errors");
  fs::create_directories(dir / "videos");
  fs::copy_file(index_video("idx-short", 20), dir / "videos" / "a.mp4");
  const fs::path notes = dir / "notes.db";
  std::ofstream(notes) << "these are my notes, not an index\n";
  const std::string want =
      notes.string() + ": file is not a database (the file is damaged or not a clipmind index)";
  std::vector<std::string> search = {"search", "--db", notes.string(), "a test pattern"};
  for (const std::string& m : model_args())
    search.push_back(m);
  for (const RunResult& r :
       {run_cli(search), run_cli(index_args({(dir / "videos").string()}, notes.string()))}) {
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("SELECT"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("prepare"), std::string::npos) << r.err;
  }
  EXPECT_EQ(read_file(notes), "these are my notes, not an index\n");

  const fs::path locked = dir / "locked";
  fs::create_directories(locked);
  fs::permissions(locked, fs::perms(0555));
  RunOptions as_nobody;
  as_nobody.unprivileged = true;
  const RunResult r =
      run_cli(index_args({(dir / "videos").string()}, (locked / "clips.db").string()), as_nobody);
  fs::permissions(locked, fs::perms(0755));
  if (r.exit_code == 77) GTEST_SKIP() << "uid 65534 cannot run " << CLIPMIND_CLI;
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find((locked / "clips.db").string() +
                       ": cannot open index database: unable to open database file (cannot "
                       "create it in " +
                       locked.string() + ": Permission denied)"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(fs::is_empty(locked));
}

TEST(IndexCli, KillNineMidRunThenResumeEqualsAnUninterruptedRun) {
  ::setenv("XDG_CONFIG_HOME", (work_dir() / "no-user-config").c_str(), 1);
  const fs::path dir = fresh_dir("index-kill");
  constexpr int kVideos = 8;
  for (int i = 0; i < kVideos; ++i) {
    fs::copy_file(index_video("idx-k" + std::to_string(i), 150 + 10 * i),
                  dir / (std::string("v") + std::to_string(i) + ".mp4"));
  }
  const std::string reference_db = (dir.parent_path() / "index-kill-ref.db").string();
  const std::string db = (dir.parent_path() / "index-kill.db").string();
  for (const std::string& f : {reference_db, db}) {
    fs::remove(f);
    fs::remove(f + "-wal");
    fs::remove(f + "-shm");
  }
  const RunResult reference = run_cli(index_args({dir.string()}, reference_db));
  ASSERT_EQ(reference.exit_code, 0) << reference.err;

  // Kill -9 once at least two videos are committed and before all are.
  int committed_at_kill = -1;
  {
    CliProcess p(index_args({dir.string()}, db), dir.parent_path() / "kill.out",
                 dir.parent_path() / "kill.err");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
    while (std::chrono::steady_clock::now() < deadline && !p.exited()) {
      if (fs::exists(db)) {
        try {
          IndexDb sql(db);
          const auto n = sql.rows("SELECT count(*) FROM videos WHERE status = 'indexed'");
          if (!n.empty() && std::stoi(n[0][0]) >= 2) {
            p.kill9();
            const int status = p.wait();
            ASSERT_TRUE(WIFSIGNALED(status)) << "finished before the kill";
            committed_at_kill =
                std::stoi(sql.rows("SELECT count(*) FROM videos WHERE status = 'indexed'")[0][0]);
            break;
          }
        } catch (const std::runtime_error&) {
          // schema not created yet
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ASSERT_GE(committed_at_kill, 2);
  ASSERT_LT(committed_at_kill, kVideos) << "the run finished before it could be killed";

  const RunResult resumed = run_cli(index_args({dir.string()}, db));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const json report = parse_or_fail(resumed.out);
  EXPECT_EQ(report.value("skipped", -1), committed_at_kill);
  EXPECT_EQ(report.value("indexed", -1), kVideos - committed_at_kill);

  IndexDb got(db), want(reference_db);
  EXPECT_EQ(got.spans(), want.spans());  // same segments, none twice, none lost
  const auto st = got.statuses();
  EXPECT_EQ(st.size(), static_cast<size_t>(kVideos));
  for (const auto& [path, status] : st)
    EXPECT_EQ(status, "indexed") << path;
  EXPECT_EQ(got.rows("SELECT count(*) FROM segments")[0][0],
            want.rows("SELECT count(*) FROM segments")[0][0]);
}

TEST(IndexCli, CtrlCStopsWithExit130AndTheNextRunFinishes) {
  const fs::path dir = fresh_dir("index-cancel");
  constexpr int kVideos = 6;
  for (int i = 0; i < kVideos; ++i) {
    fs::copy_file(index_video("idx-k" + std::to_string(i), 150 + 10 * i),
                  dir / (std::string("v") + std::to_string(i) + ".mp4"));
  }
  const std::string db = (dir.parent_path() / "index-cancel.db").string();
  fs::remove(db);
  RunOptions options;
  options.interrupt_when = [&](const std::string&) {
    if (!fs::exists(db)) return false;
    try {
      IndexDb sql(db);
      const auto n = sql.rows("SELECT count(*) FROM videos WHERE status = 'indexed'");
      return !n.empty() && std::stoi(n[0][0]) >= 1;
    } catch (const std::runtime_error&) {
      return false;
    }
  };
  const RunResult cancelled = run_cli(index_args({dir.string()}, db), options);
  ASSERT_TRUE(cancelled.interrupted);
  if (cancelled.exit_code == 0) GTEST_SKIP() << "finished before the interrupt landed";
  EXPECT_EQ(cancelled.exit_code, 130) << cancelled.err;
  EXPECT_LT(cancelled.interrupt_to_exit_s, 10.0);
  const RunResult resumed = run_cli(index_args({dir.string()}, db));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const json report = parse_or_fail(resumed.out);
  EXPECT_GE(report.value("skipped", -1), 1);
  EXPECT_EQ(report.value("skipped", 0) + report.value("indexed", 0), kVideos);
  IndexDb sql(db);
  for (const auto& [path, status] : sql.statuses())
    EXPECT_EQ(status, "indexed") << path;
}

TEST(SearchCli, LikeAMomentFindsTheSameMomentOfACopyFirst) {
  const fs::path dir = fresh_dir("search-like");
  fs::copy_file(index_video("idx-s1", 100), dir / "x.mp4");
  fs::copy_file(index_video("idx-s1", 100), dir / "x-copy.mp4");
  fs::copy_file(index_video("idx-s2", 100, 160), dir / "other.mp4");
  const std::string db = (dir.parent_path() / "search-like.db").string();
  fs::remove(db);
  const RunResult indexed = run_cli(index_args({dir.string()}, db));
  ASSERT_EQ(indexed.exit_code, 0) << indexed.err;

  std::vector<std::string> args = {
      "search", "--db", db, "--like", (dir / "x.mp4").string() + "@5.5", "-k", "5", "--json"};
  for (const std::string& m : model_args())
    args.push_back(m);
  const RunResult r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json doc = parse_or_fail(r.out);
  const json& results = doc.at("results");
  ASSERT_EQ(results.size(), 5u) << r.out;
  const json& source = doc.at("like").at("segment");
  EXPECT_LE(source.at("start").get<double>(), 5.5);
  EXPECT_GE(source.at("end").get<double>(), 5.5);
  // The copy's segment at the same time: identical frames, similarity 1.
  EXPECT_EQ(results[0].at("video"), abs_path(dir / "x-copy.mp4"));
  EXPECT_NEAR(results[0].at("start").get<double>(), source.at("start").get<double>(), 1e-6);
  EXPECT_NEAR(results[0].at("similarity").get<double>(), 1.0, 1e-4);
  for (const json& h : results)  // the source itself is excluded
    EXPECT_NE(h.at("segment_id"), source.at("segment_id"));
  for (size_t i = 1; i < results.size(); ++i)
    EXPECT_LE(results[i].at("score").get<double>(), results[i - 1].at("score").get<double>());

  // A text query: ranked results with every field, at most k.
  args = {"search", "--db", db, "a bright test pattern", "-k", "3", "--json"};
  for (const std::string& m : model_args())
    args.push_back(m);
  const RunResult text = run_cli(args);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  const json t = parse_or_fail(text.out);
  EXPECT_EQ(t.at("query"), "a bright test pattern");
  ASSERT_EQ(t.at("results").size(), 3u);
  for (const json& h : t.at("results")) {
    EXPECT_TRUE(fs::exists(h.at("video").get<std::string>()));
    EXPECT_LT(h.at("start").get<double>(), h.at("end").get<double>());
    EXPECT_TRUE(h.at("similarity").is_number());
  }

  // The plain-text table: one line per result.
  args.erase(std::find(args.begin(), args.end(), "--json"));
  const RunResult table = run_cli(args);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(std::count(table.out.begin(), table.out.end(), '\n'), 3) << table.out;
  EXPECT_NE(table.out.find("x"), std::string::npos);

  // Bad input: a missing index, a malformed --like.
  args = {"search", "--db", (dir / "nope.db").string(), "query"};
  EXPECT_EQ(run_cli(args).exit_code, 4);
  args = {"search", "--db", db, "--like", "x.mp4@soon"};
  for (const std::string& m : model_args())
    args.push_back(m);
  EXPECT_EQ(run_cli(args).exit_code, 2);
  // Times that do not exist: a minute of 99 seconds, past the end of the indexed video, past
  // the end of a video that is not indexed.
  const fs::path outside = dir.parent_path() / "search-like-outside.mp4";
  fs::copy_file(index_video("idx-outside", 20), outside, fs::copy_options::overwrite_existing);
  for (const std::string& like : {(dir / "x.mp4").string() + "@0:99",
                                  (dir / "x.mp4").string() + "@1:40", outside.string() + "@100"}) {
    args = {"search", "--db", db, "--like", like};
    for (const std::string& m : model_args())
      args.push_back(m);
    const RunResult bad = run_cli(args);
    EXPECT_EQ(bad.exit_code, 2) << like << ": " << bad.err;
    EXPECT_NE(bad.err.find("--like"), std::string::npos) << bad.err;
    EXPECT_TRUE(bad.out.empty()) << like;
  }
}

TEST(SearchCli, CaptionsAreStoredAndMatchedByWords) {
  const fs::path dir = fresh_dir("search-captions");
  fs::copy_file(index_video("idx-cap", 60), dir / "c.mp4");
  const std::string db = (dir.parent_path() / "search-captions.db").string();
  fs::remove(db);
  const RunResult indexed =
      run_cli(index_args({dir.string()}, db,
                         {"--captions", "--model", tiny_vlm().string(), "--set",
                          "caption.max_new_tokens=6", "--set", "caption.frames_per_segment=2"}));
  ASSERT_EQ(indexed.exit_code, 0) << indexed.err;
  IndexDb sql(db);
  const auto captions = sql.rows("SELECT caption FROM segments ORDER BY t_begin");
  ASSERT_GE(captions.size(), 2u);
  for (const auto& c : captions)
    EXPECT_FALSE(c[0].empty()) << "every segment has a caption";
  // A word of one caption (random model: pick an ASCII word of 3+ letters if there is one).
  std::string word;
  for (const auto& c : captions) {
    std::string cur;
    for (const char ch : c[0] + " ") {
      if (std::isalpha(static_cast<unsigned char>(ch)) && static_cast<unsigned char>(ch) < 128) {
        cur += ch;
      } else {
        if (cur.size() >= 3 && word.empty()) word = cur;
        cur.clear();
      }
    }
  }
  if (word.empty()) GTEST_SKIP() << "the random captions hold no ASCII word";
  std::vector<std::string> args = {"search", "--db", db, word, "-k", "20", "--json"};
  for (const std::string& m : model_args())
    args.push_back(m);
  const RunResult r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  bool found = false;
  const json doc = parse_or_fail(r.out);
  for (const json& h : doc.at("results")) {
    std::string lower = h.at("caption").get<std::string>(), w = word;
    for (auto* s : {&lower, &w})
      std::transform(s->begin(), s->end(), s->begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    found = found || lower.find(w) != std::string::npos;
  }
  EXPECT_TRUE(found) << word << "\n" << r.out;
}

// `index --relevance-model M` then `search "text"` with no model named: the index records M,
// and search compares pictures with it; when M is gone, search says so and uses captions.
TEST(SearchCli, SearchesWithTheModelTheIndexWasBuiltWithUntilItIsGone) {
  const fs::path dir = fresh_dir("search-recorded-model");
  fs::copy_file(index_video("idx-rec", 60), dir / "r.mp4");
  const fs::path model = dir.parent_path() / "search-recorded-model-siglip";
  fs::remove_all(model);
  fs::copy(tiny_siglip(), model, fs::copy_options::recursive);
  const std::string db = (dir.parent_path() / "search-recorded-model.db").string();
  fs::remove(db);
  std::vector<std::string> args = index_args({dir.string()}, db);
  const auto at = std::find(args.begin(), args.end(), tiny_siglip().string());
  ASSERT_NE(at, args.end());
  *at = model.string();
  const RunResult indexed = run_cli(args);
  ASSERT_EQ(indexed.exit_code, 0) << indexed.err;

  const std::vector<std::string> search = {"search",       "--db",   db,
                                           "a red square", "--json", "--no-cache"};
  RunResult r = run_cli(search);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = parse_or_fail(r.out);
  ASSERT_FALSE(doc.at("results").empty()) << r.out;
  for (const json& hit : doc.at("results"))
    EXPECT_TRUE(hit.at("similarity").is_number()) << "pictures compared: " << r.out;
  EXPECT_NE(r.err.find("the model this index was built with, " + abs_path(model)),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("captions only"), std::string::npos) << r.err;
  EXPECT_EQ(doc.at("captions_only"), false) << r.out;
  EXPECT_EQ(r.err.find("--relevance-model"), std::string::npos) << r.err;

  fs::remove_all(model);
  r = run_cli(search);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  doc = parse_or_fail(r.out);
  for (const json& hit : doc.at("results"))
    EXPECT_TRUE(hit.at("similarity").is_null()) << "captions only: " << r.out;
  EXPECT_NE(r.err.find("captions only: the model this index was built with (" + abs_path(model) +
                       ") cannot be used here"),
            std::string::npos)
      << r.err;
  // Scripts learn it from the JSON, people from the hint that says what to do.
  EXPECT_EQ(doc.at("captions_only"), true) << r.out;
  ASSERT_TRUE(doc.at("notes").is_array()) << r.out;
  EXPECT_NE(doc.at("notes").dump().find("cannot be used here"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("--relevance-model M"), std::string::npos) << r.err;
}

TEST(SearchCli, UnusableQueriesAreRefusedBeforeAnythingIsOpened) {
  // The database does not exist: a refusal naming the query (exit 2, as ask gives for a bad
  // question) shows the query was checked before the database and the models.
  const std::string db = (fresh_dir("search-bad-query") / "missing.db").string();
  for (const auto& [query, expected] : std::vector<std::pair<std::string, std::string>>{
           {"", "the query is empty"},
           {" \t ", "the query is only white space"},
           {"dog \xff\xfe", "the query is not valid UTF-8 (bad byte at offset 4"}}) {
    const RunResult r = run_cli({"search", "--db", db, query});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_FALSE(fs::exists(db));
}

TEST(IndexCli, JobsAndShardsCoverEveryVideoOnce) {
  const fs::path dir = fresh_dir("index-jobs");
  for (int i = 0; i < 4; ++i)
    fs::copy_file(index_video("idx-j" + std::to_string(i), 40 + 10 * i),
                  dir / (std::string("j") + std::to_string(i) + ".mp4"));
  const std::string db = (dir.parent_path() / "index-jobs.db").string();
  fs::remove(db);
  // Two shards, the second with two workers: together every video exactly once.
  const RunResult s0 = run_cli(index_args({dir.string()}, db, {"--shard", "0/2"}));
  const RunResult s1 = run_cli(index_args({dir.string()}, db, {"--shard", "1/2", "--jobs", "2"}));
  ASSERT_EQ(s0.exit_code, 0) << s0.err;
  ASSERT_EQ(s1.exit_code, 0) << s1.err;
  const json r0 = parse_or_fail(s0.out), r1 = parse_or_fail(s1.out);
  std::set<std::string> seen;
  for (const json* r : {&r0, &r1}) {
    for (const json& f : r->at("files")) {
      EXPECT_EQ(f.at("status"), "indexed");
      EXPECT_TRUE(seen.insert(f.at("path").get<std::string>()).second) << "indexed twice";
    }
  }
  EXPECT_EQ(seen.size(), 4u);
  IndexDb sql(db);
  EXPECT_EQ(sql.statuses().size(), 4u);
  EXPECT_EQ(run_cli(index_args({dir.string()}, db, {"--shard", "2/2"})).exit_code, 2);
}

// `clipmind search` as someone who may not write the index: the real binary, run by uid/gid
// 65534 when the test runs as root (root ignores permission bits), else by us after chmod.
// Exit code, stdout and stderr; 77 when that user cannot even reach the files.
RunResult run_cli_unprivileged(const std::vector<std::string>& args, const fs::path& out_dir) {
  if (::geteuid() != 0) return run_cli(args);
  if (::chown(out_dir.c_str(), 65534, 65534) != 0) return {};
  const fs::path out = out_dir / "stdout", err = out_dir / "stderr";
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(90);
    if (::access(CLIPMIND_CLI, X_OK) != 0) _exit(77);
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) _exit(91);
    std::vector<std::string> argv_s = {CLIPMIND_CLI};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_s)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    // HOME is root's: the user cache must be the unprivileged user's own (or none).
    ::setenv("HOME", out_dir.c_str(), 1);
    ::unsetenv("XDG_CACHE_HOME");
    ::execv(CLIPMIND_CLI, argv.data());
    _exit(92);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

std::set<std::string> folder_names(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    out.insert(e.path().filename().string());
  return out;
}

TEST(SearchCli, AnIndexInAReadOnlyFolderIsSearchedAndNothingIsLeftBesideIt) {
  const fs::path dir = fresh_dir("search-ro");
  const fs::path videos = dir / "videos", db_dir = dir / "db", out_dir = dir / "out";
  for (const fs::path& p : {videos, db_dir, out_dir})
    fs::create_directories(p);
  fs::copy_file(index_video("idx-s1", 60), videos / "a.mp4");
  fs::copy_file(index_video("idx-s2", 60, 160), videos / "b.mp4");
  const std::string db = (db_dir / "clips.db").string();
  const RunResult indexed = run_cli(index_args({videos.string()}, db));
  ASSERT_EQ(indexed.exit_code, 0) << indexed.err;

  std::vector<std::string> args = {"search", "--db", db,      "a bright test pattern",
                                   "-k",     "4",    "--json"};
  for (const std::string& m : model_args())
    args.push_back(m);
  const RunResult owner = run_cli(args);
  ASSERT_EQ(owner.exit_code, 0) << owner.err;
  const json want = parse_or_fail(owner.out).at("results");
  ASSERT_EQ(want.size(), 4u);

  // The owner's folder, read-only to everyone (and the database too).
  const auto before = folder_names(db_dir);
  fs::permissions(db, fs::perms(0444));
  fs::permissions(db_dir, fs::perms(0555));
  const RunResult reader = run_cli_unprivileged(args, out_dir);
  fs::permissions(db_dir, fs::perms(0755));
  fs::permissions(db, fs::perms(0644));
  if (reader.exit_code == 77) GTEST_SKIP() << "uid 65534 cannot reach " << CLIPMIND_CLI;
  ASSERT_EQ(reader.exit_code, 0) << reader.err;
  const json got = parse_or_fail(reader.out).at("results");
  ASSERT_EQ(got.size(), want.size()) << reader.out;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].at("video"), want[i].at("video"));
    EXPECT_EQ(got[i].at("start"), want[i].at("start"));
    EXPECT_EQ(got[i].at("segment_id"), want[i].at("segment_id"));
    EXPECT_NEAR(got[i].at("similarity").get<double>(), want[i].at("similarity").get<double>(),
                1e-6);
  }
  EXPECT_EQ(folder_names(db_dir), before) << "no -wal, -shm or ANN file from the reader";

  // The owner's next run (a new video) works.
  fs::copy_file(index_video("idx-s3", 40, 128), videos / "c.mp4");
  const RunResult again = run_cli(index_args({videos.string()}, db));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  const json report = parse_or_fail(again.out);
  EXPECT_EQ(report.value("indexed", 0), 1) << again.out;
}

}  // namespace
}  // namespace clipmind::e2e
