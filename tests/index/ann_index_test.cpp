// AnnIndex against an independent brute force: exact search equals it, HNSW reaches recall
// 1.0 on small sets with adequate ef, files round-trip and bad files are refused.
#include "index/ann_index.h"

#include <chrono>
#include <filesystem>
#include <fstream>

#include "index_test_util.h"
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "index/ann_cache.h"

namespace clipmind::index {
namespace {

using test::brute_force;
using test::random_vector;
using test::unit;

struct Data {
  std::vector<int64_t> ids;
  std::vector<float> flat;
  std::vector<std::pair<int64_t, std::vector<float>>> items;
};

Data make_data(int n, int dim, int64_t first_id = 100) {
  Data d;
  for (int i = 0; i < n; ++i) {
    auto v = random_vector(i, dim);
    d.ids.push_back(first_id + i * 3);  // sparse ids, like segment ids after deletions
    const auto u = unit(v);
    d.flat.insert(d.flat.end(), u.begin(), u.end());
    d.items.emplace_back(first_id + i * 3, v);
  }
  return d;
}

TEST(AnnIndex, ExactSearchMatchesBruteForce) {
  const int dim = 24;
  auto data = make_data(300, dim);
  AnnIndex ann(dim, 10, AnnParams{});  // capacity grows on demand
  ann.add(data.ids, data.flat);
  EXPECT_EQ(ann.live_count(), 300u);
  for (int q = 0; q < 10; ++q) {
    const auto query = unit(random_vector(10000 + q, dim));
    const auto got = ann.exact_search(query, 7);
    const auto want = brute_force(data.items, query, 7);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].id, want[i].key) << "query " << q << " rank " << i;
      EXPECT_NEAR(got[i].similarity, want[i].similarity, 1e-5);
    }
  }
}

TEST(AnnIndex, HnswRecallIsOneOnSmallSets) {
  const int dim = 32;
  auto data = make_data(1000, dim);
  AnnParams params;
  params.threads = 2;  // exercise the parallel add
  AnnIndex ann(dim, 1000, params);
  ann.add(data.ids, data.flat);
  size_t found = 0, total = 0;
  for (int q = 0; q < 20; ++q) {
    const auto query = unit(random_vector(20000 + q, dim));
    const auto got = ann.search(query, 10, 200);
    const auto want = brute_force(data.items, query, 10);
    for (const auto& w : want) {
      ++total;
      for (const auto& g : got)
        found += g.id == w.key;
    }
  }
  EXPECT_EQ(found, total) << "recall@10 = " << double(found) / total;
}

TEST(AnnIndex, RemovedIdsNeverComeBack) {
  const int dim = 8;
  auto data = make_data(50, dim);
  AnnIndex ann(dim, 50, AnnParams{});
  ann.add(data.ids, data.flat);
  const auto query = unit(random_vector(7, dim));  // vector #7 itself
  EXPECT_EQ(ann.exact_search(query, 1).at(0).id, data.ids[7]);
  EXPECT_TRUE(ann.remove(data.ids[7]));
  EXPECT_FALSE(ann.remove(data.ids[7]));
  EXPECT_FALSE(ann.remove(999999));
  EXPECT_FALSE(ann.contains(data.ids[7]));
  for (const auto& n : ann.exact_search(query, 50))
    EXPECT_NE(n.id, data.ids[7]);
  for (const auto& n : ann.search(query, 49, 100))
    EXPECT_NE(n.id, data.ids[7]);
  EXPECT_EQ(ann.live_count(), 49u);
}

TEST(AnnIndex, SaveLoadRoundTripAndBadFiles) {
  const int dim = 16;
  const auto dir = test::fresh_dir("ann");
  auto data = make_data(200, dim);
  AnnIndex ann(dim, 200, AnnParams{});
  ann.add(data.ids, data.flat);
  ann.remove(data.ids[3]);
  ann.save(dir / "a.hnsw");
  auto loaded = AnnIndex::load(dir / "a.hnsw", dim, AnnParams{});
  EXPECT_EQ(loaded->live_count(), 199u);
  EXPECT_FALSE(loaded->contains(data.ids[3]));
  const auto query = unit(random_vector(5, dim));
  EXPECT_EQ(loaded->exact_search(query, 5).at(0).id, data.ids[5]);
  // The loaded index keeps growing.
  auto more = make_data(10, dim, 100000);
  loaded->add(more.ids, more.flat);
  EXPECT_EQ(loaded->live_count(), 209u);

  try {
    AnnIndex::load(dir / "a.hnsw", dim + 1, AnnParams{});
    FAIL() << "loaded with the wrong dimension";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("a.hnsw"), std::string::npos);
  }
  {
    std::ofstream out(dir / "garbage.hnsw", std::ios::binary);
    for (int i = 0; i < 5000; ++i)
      out.put(static_cast<char>(i * 37));
  }
  EXPECT_THROW(AnnIndex::load(dir / "garbage.hnsw", dim, AnnParams{}), Error);
  // Truncated copy of a good file.
  std::filesystem::copy_file(dir / "a.hnsw", dir / "cut.hnsw");
  std::filesystem::resize_file(dir / "cut.hnsw", std::filesystem::file_size(dir / "a.hnsw") / 2);
  EXPECT_THROW(AnnIndex::load(dir / "cut.hnsw", dim, AnnParams{}), Error);
  EXPECT_THROW(AnnIndex::load(dir / "missing.hnsw", dim, AnnParams{}), Error);
}

TEST(AnnIndex, RejectsZeroVectorsAndWrongQueryDims) {
  std::vector<float> zero(4, 0.0f);
  EXPECT_THROW(normalize_in_place(zero), Error);
  AnnIndex ann(4, 4, AnnParams{});
  const std::vector<float> q(5, 1.0f);
  EXPECT_THROW(ann.exact_search(q, 1), Error);
}

// The index-ann cap (OpenOptions::ann_cache_max_bytes): whole folders of other databases go,
// least recently used first, until the total fits; the kept folder stays whatever its size.
TEST(AnnCacheDir, TrimRemovesLeastRecentlyUsedOtherFoldersUntilUnderTheCap) {
  namespace fs = std::filesystem;
  const auto root = test::fresh_dir("ann-trim");
  const auto now = fs::file_time_type::clock::now();
  const auto make_folder = [&](const std::string& name, size_t bytes, int hours_ago) {
    const fs::path folder = root / name;
    fs::create_directories(folder / "sub");
    std::ofstream(folder / "segments.ann-x-1.hnsw", std::ios::binary) << std::string(bytes, 'a');
    std::ofstream(folder / "sub" / "extra", std::ios::binary) << std::string(100, 'b');
    fs::last_write_time(folder, now - std::chrono::hours(hours_ago));
    return folder;
  };
  const fs::path oldest = make_folder("pg-oldest", 4000, 30);
  const fs::path kept = make_folder("pg-kept", 9000, 20);  // the open database: never removed
  const fs::path middle = make_folder("pg-middle", 3000, 10);
  const fs::path newest = make_folder("pg-newest", 2000, 1);
  fs::create_directories(root / "not-a-db");  // only pg-* folders are the cache's
  std::ofstream(root / "not-a-db" / "big", std::ios::binary) << std::string(50000, 'c');

  // Total of the pg-* folders: 18,400 bytes. No cap, or a cap above the total: nothing goes.
  EXPECT_EQ(trim_ann_cache_dir(root, 0, kept), 0u);
  EXPECT_EQ(trim_ann_cache_dir(root, 18400, kept), 0u);
  EXPECT_TRUE(fs::exists(oldest));

  // 14,300: removing the oldest (4,100) is just enough.
  EXPECT_EQ(trim_ann_cache_dir(root, 14300, kept), 4100u);
  EXPECT_FALSE(fs::exists(oldest));
  EXPECT_TRUE(fs::exists(middle) && fs::exists(newest) && fs::exists(kept));

  // A cap below the kept folder alone: every other folder goes, the kept one stays, however
  // its path is spelt.
  EXPECT_EQ(trim_ann_cache_dir(root, 5000, root / "." / "pg-kept" / ""), 3100u + 2100u);
  EXPECT_FALSE(fs::exists(middle));
  EXPECT_FALSE(fs::exists(newest));
  EXPECT_TRUE(fs::exists(kept / "segments.ann-x-1.hnsw"));
  EXPECT_TRUE(fs::exists(root / "not-a-db" / "big"));

  // A missing folder is no error.
  EXPECT_EQ(trim_ann_cache_dir(root / "missing", 1, kept), 0u);
}

}  // namespace
}  // namespace clipmind::index
