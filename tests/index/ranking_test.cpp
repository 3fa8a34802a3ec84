// Query words, reciprocal rank fusion (hand-computed), shards and SHA-256 (published vectors
// and the sha256sum tool).
#include "index/ranking.h"

#include <cstdio>
#include <fstream>
#include <set>

#include "index_test_util.h"
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "index/file_hash.h"
#include "index/shard.h"

namespace clipmind::index {
namespace {

TEST(QueryWords, SplitsLowercasesAndDropsOperators) {
  EXPECT_EQ(query_words("Red car AT night, in the \"rain\" -OR- NEAR(x*)"),
            (std::vector<std::string>{"red", "car", "at", "night", "in", "the", "rain", "or",
                                      "near", "x"}));
  EXPECT_EQ(query_words("car car CAR"), (std::vector<std::string>{"car"}));
  EXPECT_TRUE(query_words("  ,;'\"()*  ").empty());
  EXPECT_EQ(query_words("café 42"), (std::vector<std::string>{"café", "42"}));
}

TEST(Fusion, ReciprocalRankFusionByHand) {
  // Vector list: 1, 2, 3, 4; text list: 4, 9.
  const std::vector<Neighbor> vec{{1, 0.9f}, {2, 0.8f}, {3, 0.7f}, {4, 0.1f}};
  const std::vector<int64_t> text{4, 9};
  const FusionParams p;  // k = 60, weights 1
  const auto out = fuse_rrf(vec, text, p, 10);
  ASSERT_EQ(out.size(), 5u);
  // 4: 1/64 + 1/61; 1: 1/61; 2: 1/62; 9: 1/62 (tie with 2, 2 has a similarity); 3: 1/63.
  EXPECT_EQ(out[0].id, 4);
  EXPECT_NEAR(out[0].score, 1.0 / 64 + 1.0 / 61, 1e-12);
  EXPECT_EQ(out[1].id, 1);
  EXPECT_NEAR(out[1].score, 1.0 / 61, 1e-12);
  EXPECT_EQ(out[2].id, 2);
  EXPECT_EQ(out[3].id, 9);
  EXPECT_NEAR(out[3].score, 1.0 / 62, 1e-12);
  EXPECT_FALSE(out[3].similarity.has_value());
  EXPECT_EQ(out[3].text_rank, 2u);
  EXPECT_EQ(out[4].id, 3);
  EXPECT_EQ(out[0].vector_rank, 4u);
  EXPECT_EQ(out[0].text_rank, 1u);

  FusionParams vec_only;
  vec_only.text_weight = 0.0;
  const auto v = fuse_rrf(vec, text, vec_only, 3);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].id, 1);
  EXPECT_EQ(v[1].id, 2);
  EXPECT_EQ(v[2].id, 3);
}

TEST(Shard, ParsesAndRejects) {
  EXPECT_EQ(parse_shard("0/4").index, 0u);
  EXPECT_EQ(parse_shard("3/4").count, 4u);
  for (const char* bad : {"4/4", "1", "a/2", "1/0", "-1/3", "1/2/3", "", "/2", "1/"}) {
    EXPECT_THROW(parse_shard(bad), Error) << bad;
  }
}

TEST(Shard, KnownFnvValuesAndExactCover) {
  // Published FNV-1a 64-bit test vectors.
  EXPECT_EQ(stable_path_hash(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(stable_path_hash("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(stable_path_hash("foobar"), 0x85944171f73967e8ull);
  std::vector<std::string> paths;
  for (int i = 0; i < 1000; ++i)
    paths.push_back("/data/clips/" + std::to_string(i) + ".mp4");
  for (uint32_t n : {1u, 2u, 7u}) {
    std::multiset<std::string> seen;
    for (uint32_t i = 0; i < n; ++i) {
      const auto part = select_shard(paths, Shard{i, n});
      if (n == 7) {
        EXPECT_GT(part.size(), 100u);  // roughly even: 1000/7 = 143 expected
        EXPECT_LT(part.size(), 190u);
      }
      seen.insert(part.begin(), part.end());
    }
    EXPECT_EQ(seen.size(), paths.size());
    for (const auto& p : paths)
      EXPECT_EQ(seen.count(p), 1u) << p;
  }
}

TEST(FileHash, Sha256KnownVectorsAndTool) {
  auto hex = [](std::string_view s) {
    Sha256 h;
    h.update(s.data(), s.size());
    return Sha256::hex(h.finish());
  };
  EXPECT_EQ(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

  const auto dir = test::fresh_dir("hash");
  const auto file = dir / "blob.bin";
  {
    std::ofstream out(file, std::ios::binary);
    for (int i = 0; i < 3'000'001; ++i)
      out.put(static_cast<char>((i * 2654435761u) >> 13));
  }
  const std::string cmd = "sha256sum '" + file.string() + "'";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[65] = {};
  ASSERT_EQ(fread(buf, 1, 64, p), 64u);
  pclose(p);
  EXPECT_EQ(sha256_file(file), std::string(buf, 64));
  const auto st = stat_file(file);
  EXPECT_EQ(st.size_bytes, 3'000'001);
  EXPECT_GT(st.mtime_ns, 1'500'000'000LL * 1'000'000'000LL);
  try {
    sha256_file(dir / "missing.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("missing.bin"), std::string::npos);
  }
}

}  // namespace
}  // namespace clipmind::index
