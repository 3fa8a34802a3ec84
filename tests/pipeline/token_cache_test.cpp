// The token cache: round trips, atomic writes, corruption tolerance, LRU trimming.
#include "pipeline/token_cache.h"

#include <chrono>
#include <filesystem>
#include <fstream>

#include "tests/support/work_dir.h"
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipmind/error.h"

namespace clipmind::pipeline {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  return test::fresh_work_dir(fs::path("pipeline_cache") / name);
}

CacheEntry sample_entry(float base = 1.5f, int64_t rows = 3) {
  CacheEntry e;
  e.meta = R"({"times":[0.0,1.0,2.0]})";
  CacheArray tokens{"tokens", "float32", {rows, 2}, {}};
  std::vector<float> values;
  for (int64_t i = 0; i < rows * 2; ++i)
    values.push_back(base + static_cast<float>(i));
  tokens.bytes.assign(reinterpret_cast<const char*>(values.data()), values.size() * 4);
  CacheArray grid{"grid", "int64", {rows}, {}};
  std::vector<int64_t> grids(static_cast<size_t>(rows), 14);
  grid.bytes.assign(reinterpret_cast<const char*>(grids.data()), grids.size() * 8);
  e.arrays = {tokens, grid};
  return e;
}

TEST(TokenCache, KeysAreCanonical) {
  EXPECT_EQ(make_cache_key({{"video", "s1-ab"}, {"model", "m"}}), "model=m\nvideo=s1-ab\n");
  EXPECT_THROW(make_cache_key({{"bad", "a\nb"}}), Error);
}

TEST(TokenCache, PutThenGetReturnsTheSameBytes) {
  TokenCache cache(fresh_dir("roundtrip"), 0);
  const std::string key = make_cache_key({{"video", "s1-1"}, {"model", "tiny"}});
  EXPECT_FALSE(cache.get(key).has_value());
  ASSERT_TRUE(cache.put(key, sample_entry()));
  const auto got = cache.get(key);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->meta, sample_entry().meta);
  ASSERT_EQ(got->arrays.size(), 2u);
  EXPECT_EQ(got->arrays[0].bytes, sample_entry().arrays[0].bytes);
  EXPECT_EQ(got->find("grid")->shape, (std::vector<int64_t>{3}));
  const auto stats = cache.stats();
  EXPECT_EQ(stats.hits, 1);
  EXPECT_EQ(stats.misses, 1);
  EXPECT_EQ(stats.writes, 1);
  // No temporary files are left next to the entry.
  for (const auto& f : fs::recursive_directory_iterator(cache.dir())) {
    EXPECT_EQ(f.path().string().find(".part-"), std::string::npos) << f.path();
  }
}

TEST(TokenCache, DifferentSettingsAreDifferentEntries) {
  TokenCache cache(fresh_dir("keys"), 0);
  const std::string a = make_cache_key({{"video", "s1-1"}, {"model", "tiny"}, {"grid", "14"}});
  const std::string b = make_cache_key({{"video", "s1-1"}, {"model", "tiny"}, {"grid", "7"}});
  cache.put(a, sample_entry(1.0f));
  EXPECT_FALSE(cache.get(b).has_value());
  cache.put(b, sample_entry(9.0f));
  EXPECT_NE(cache.get(a)->arrays[0].bytes, cache.get(b)->arrays[0].bytes);
}

TEST(TokenCache, DamagedFilesAreMissesAndAreRemoved) {
  std::vector<LogRecord> records;
  TokenCache cache(fresh_dir("damaged"), 0,
                   Logger([&](const LogRecord& r) { records.push_back(r); }));
  const std::string key = make_cache_key({{"video", "s1-2"}});
  cache.put(key, sample_entry());
  const fs::path file = cache.path_for(key);
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // 1. a flipped bit in the payload
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  std::ofstream(file, std::ios::binary) << flipped;
  EXPECT_FALSE(cache.get(key).has_value());
  EXPECT_FALSE(fs::exists(file));
  // 2. truncated
  std::ofstream(file, std::ios::binary) << bytes.substr(0, bytes.size() - 40);
  EXPECT_FALSE(cache.get(key).has_value());
  // 3. empty file
  std::ofstream(file, std::ios::binary) << "";
  EXPECT_FALSE(cache.get(key).has_value());
  // 4. a valid file stored under another key (e.g. copied by hand)
  const std::string other = make_cache_key({{"video", "s1-3"}});
  fs::create_directories(cache.path_for(other).parent_path());
  std::ofstream(cache.path_for(other), std::ios::binary) << bytes;
  EXPECT_FALSE(cache.get(other).has_value());
  EXPECT_EQ(cache.stats().damaged, 4);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].level, LogLevel::kWarning);
  EXPECT_NE(records[0].message.find("checksum"), std::string::npos) << records[0].message;
  EXPECT_NE(records[3].message.find("another key"), std::string::npos) << records[3].message;
  // And the entry can be written again.
  EXPECT_TRUE(cache.put(key, sample_entry()));
  EXPECT_TRUE(cache.get(key).has_value());
}

TEST(TokenCache, DecodeRejectsInconsistentHeaders) {
  const std::string good = encode_cache_file("k", sample_entry());
  EXPECT_NO_THROW(decode_cache_file(good, "k"));
  EXPECT_THROW(decode_cache_file(good, "other"), Error);
  EXPECT_THROW(decode_cache_file("CMTOKEN1", "k"), Error);
  EXPECT_THROW(decode_cache_file(std::string(100, 'x'), "k"), Error);
  CacheEntry wrong = sample_entry();
  wrong.arrays[0].shape = {5, 5};
  EXPECT_THROW(encode_cache_file("k", wrong), Error);
}

TEST(TokenCache, UnwritableFolderIsLoggedNotThrown) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can write anywhere";
  const fs::path dir = fresh_dir("readonly");
  ::chmod(dir.c_str(), 0500);
  std::vector<LogRecord> records;
  TokenCache cache(dir, 0, Logger([&](const LogRecord& r) { records.push_back(r); }));
  EXPECT_FALSE(cache.put("k", sample_entry()));
  EXPECT_EQ(cache.stats().write_errors, 1);
  EXPECT_EQ(records.size(), 1u);
  ::chmod(dir.c_str(), 0700);
}

TEST(TokenCache, WriteFailureIsLoggedNotThrown) {
  // A regular file where the cache folder should be: creating the folder fails for any user.
  const fs::path dir = fresh_dir("blocked");
  std::ofstream(dir / "tokens") << "not a folder";
  std::vector<LogRecord> records;
  TokenCache cache(dir, 0, Logger([&](const LogRecord& r) { records.push_back(r); }));
  EXPECT_FALSE(cache.put("k", sample_entry()));
  EXPECT_EQ(cache.stats().write_errors, 1);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].level, LogLevel::kWarning);
}

TEST(TokenCache, TrimEvictsLeastRecentlyUsedAndStaleTemporaries) {
  const fs::path dir = fresh_dir("trim");
  const uint64_t one = encode_cache_file(make_cache_key({{"n", "0"}}), sample_entry()).size();
  TokenCache cache(dir, 2 * one + one / 2);  // room for two entries
  std::vector<std::string> keys;
  for (int i = 0; i < 3; ++i) {
    keys.push_back(make_cache_key({{"n", std::to_string(i)}}));
    cache.put(keys.back(), sample_entry());
    // Distinct, ordered modification times without sleeping.
    fs::last_write_time(cache.path_for(keys.back()),
                        fs::file_time_type::clock::now() - std::chrono::hours(10 - i));
  }
  // Reading entry 0 makes it the most recently used.
  ASSERT_TRUE(cache.get(keys[0]).has_value());
  const fs::path stale = cache.path_for(keys[0]).parent_path() / "x.cmt.part-123";
  std::ofstream(stale) << "partial";
  fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(2));
  EXPECT_GT(cache.trim(), 0u);
  EXPECT_TRUE(fs::exists(cache.path_for(keys[0])));
  EXPECT_FALSE(fs::exists(cache.path_for(keys[1])));  // oldest untouched entry goes first
  EXPECT_TRUE(fs::exists(cache.path_for(keys[2])));
  EXPECT_FALSE(fs::exists(stale));
}

}  // namespace
}  // namespace clipmind::pipeline
