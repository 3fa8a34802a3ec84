// Model identity through the real CLI (`clipmind index` / `clipmind search` on SQLite): an index
// built with a relevance model folder is used with a `cp -r` copy (new file times) and a
// symlink of that folder; a different random model is refused with a message naming both
// models; an index that holds the folder's old (v1, path + mtime) id is accepted by search and
// upgraded to the content id by index. The database is read and written with plain SQL.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/e2e/index_e2e_util.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/tiny/tiny_model.h"
#include "pipeline/model_id.h"

namespace clipmind::e2e {
namespace {

using nlohmann::json;

std::string abs_path(const fs::path& p) {
  return fs::absolute(p).lexically_normal().string();
}

std::vector<std::string> with_model(std::vector<std::string> args, const fs::path& model) {
  args.insert(args.end(), {"--relevance-model", model.string(), "--set", "caption.max_segment_s=3",
                           "--set", "caption.min_segment_s=1", "--no-cache", "-q"});
  return args;
}

RunResult index_with(const fs::path& videos, const std::string& db, const fs::path& model) {
  return run_cli(with_model({"index", videos.string(), "--db", db, "--json"}, model));
}

RunResult search_with(const std::string& db, const fs::path& model) {
  return run_cli(with_model({"search", "--db", db, "a test pattern", "-k", "3", "--json"}, model));
}

size_t result_count(const RunResult& r) {
  try {
    return json::parse(r.out).at("results").size();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a search result: " << e.what() << "\n" << r.out;
    return 0;
  }
}

void sql_write(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  sqlite3_busy_timeout(h, 10000);
  char* err = nullptr;
  const int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << "\n" << sql;
  sqlite3_free(err);
  sqlite3_close(h);
}

std::string meta(const std::string& db, const std::string& key) {
  IndexDb sql(db);
  const auto rows = sql.rows("SELECT value FROM clipmind_meta WHERE key = '" + key + "'");
  return rows.empty() ? std::string("<absent>") : rows[0][0];
}

// model_id of every video row, distinct.
std::vector<std::string> video_model_ids(const std::string& db) {
  IndexDb sql(db);
  std::vector<std::string> out;
  for (const auto& r : sql.rows("SELECT DISTINCT model_id FROM videos ORDER BY 1"))
    out.push_back(r[0]);
  return out;
}

TEST(ModelIdentityCli, CopiesAndLinksOfTheModelMatchAnotherModelIsRefusedV1IsUpgraded) {
  const fs::path dir = fresh_dir("model-identity");
  const fs::path videos = dir / "videos";
  fs::create_directories(videos);
  fs::copy_file(index_video("mid-a", 60), videos / "a.mp4");
  const fs::path model_a = dir / "siglip-a";
  fs::copy(tiny_siglip(), model_a, fs::copy_options::recursive);
  const std::string db = (dir / "index.db").string();

  // 1. Built with folder A: the index records a content id and A's path as its name.
  const RunResult first = index_with(videos, db, model_a);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string id = meta(db, "model_id");
  ASSERT_EQ(id.substr(0, 3), "m2-") << id;
  EXPECT_EQ(meta(db, "model_name"), abs_path(model_a));
  EXPECT_EQ(video_model_ids(db), std::vector<std::string>{id});

  // 2. A copy with other file times (another user's cache, another machine) and a symlink to
  // the folder are the same model: search and index work and keep the id.
  const fs::path model_b = dir / "siglip-b";
  fs::copy(model_a, model_b, fs::copy_options::recursive);
  for (const auto& e : fs::directory_iterator(model_b))
    fs::last_write_time(e.path(), fs::file_time_type::clock::now() - std::chrono::hours(7));
  ASSERT_NE(pipeline::legacy_model_folder_id(model_b), pipeline::legacy_model_folder_id(model_a));
  const RunResult search_b = search_with(db, model_b);
  ASSERT_EQ(search_b.exit_code, 0) << search_b.err;
  EXPECT_GT(result_count(search_b), 0u) << search_b.out;
  const fs::path model_link = dir / "siglip-link";
  fs::create_directory_symlink(model_a, model_link);
  const RunResult search_link = search_with(db, model_link);
  EXPECT_EQ(search_link.exit_code, 0) << search_link.err;
  EXPECT_GT(result_count(search_link), 0u);
  fs::copy_file(index_video("mid-b", 40, 128), videos / "b.mp4");
  const RunResult index_b = index_with(videos, db, model_b);
  ASSERT_EQ(index_b.exit_code, 0) << index_b.err;
  EXPECT_EQ(json::parse(index_b.out).value("indexed", -1), 1) << index_b.out;
  EXPECT_EQ(meta(db, "model_id"), id);
  EXPECT_EQ(video_model_ids(db), std::vector<std::string>{id});

  // 3. Another random model: refused by search and by index, naming both models and what to do.
  const fs::path other = dir / "siglip-other";
  models::TinyModelOptions options;
  options.seed = 4242;
  models::write_tiny_model("siglip-dual", other, options);
  for (const RunResult& r : {search_with(db, other), index_with(videos, db, other)}) {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("another embedding model"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(abs_path(model_a)), std::string::npos) << r.err;  // the index's model
    EXPECT_NE(r.err.find(pipeline::short_model_id(id)), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(abs_path(other)), std::string::npos) << r.err;  // the configured one
    EXPECT_NE(r.err.find("new database"), std::string::npos) << r.err;
  }
  EXPECT_EQ(meta(db, "model_id"), id);

  // 4. An index from before content ids: it holds A's v1 id (path + file times).
  const std::string v1 = pipeline::legacy_model_folder_id(model_a);
  ASSERT_EQ(v1.size(), 32u);
  sql_write(db, "UPDATE clipmind_meta SET value = '" + v1 +
                    "' WHERE key = 'model_id'; UPDATE videos SET model_id = '" + v1 +
                    "'; DELETE FROM clipmind_meta WHERE key = 'model_name';");
  // search with the same folder accepts it and writes nothing.
  const RunResult legacy_search = search_with(db, model_a);
  ASSERT_EQ(legacy_search.exit_code, 0) << legacy_search.err;
  EXPECT_GT(result_count(legacy_search), 0u);
  EXPECT_EQ(meta(db, "model_id"), v1);
  // The copy cannot be matched to a v1 id (it saw the path): refused, with the way out.
  const RunResult legacy_copy = search_with(db, model_b);
  EXPECT_EQ(legacy_copy.exit_code, 2) << legacy_copy.err;
  EXPECT_NE(legacy_copy.err.find("older clipmind"), std::string::npos) << legacy_copy.err;
  // index with the same folder upgrades metadata and every video row to the content id.
  const RunResult upgrade = index_with(videos, db, model_a);
  ASSERT_EQ(upgrade.exit_code, 0) << upgrade.err;
  EXPECT_EQ(json::parse(upgrade.out).value("skipped", -1), 2) << upgrade.out;
  EXPECT_EQ(meta(db, "model_id"), id);
  EXPECT_EQ(meta(db, "model_name"), abs_path(model_a));
  EXPECT_EQ(video_model_ids(db), std::vector<std::string>{id});
  // ... after which the copy works again.
  const RunResult after = search_with(db, model_b);
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_GT(result_count(after), 0u);
}

}  // namespace
}  // namespace clipmind::e2e
