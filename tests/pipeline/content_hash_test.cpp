// Content hashes checked against the coreutils `sha256sum` of the byte sequence the
// documented scheme says is hashed (an independent SHA-256 and an independent layout).
#include "pipeline/content_hash.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "tests/support/work_dir.h"
#include <gtest/gtest.h>

#include "clipmind/error.h"

namespace clipmind::pipeline {
namespace {

namespace fs = std::filesystem;

fs::path work_dir() {
  return test::work_dir("pipeline_hash");
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s)
    c = static_cast<char>(rng() & 0xff);
  return s;
}

fs::path write(const std::string& name, const std::string& bytes) {
  const fs::path p = work_dir() / name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

std::string sha256sum(const std::string& bytes) {
  const fs::path p = write("reference.bin", bytes);
  const std::string cmd = "sha256sum " + p.string();
  FILE* pipe = popen(cmd.c_str(), "r");
  char out[128] = {};
  const size_t n = std::fread(out, 1, 64, pipe);
  pclose(pipe);
  return std::string(out, n);
}

std::string size_le(uint64_t size) {
  std::string s;
  for (int i = 0; i < 8; ++i)
    s += static_cast<char>((size >> (8 * i)) & 0xff);
  return s;
}

TEST(ContentHash, SmallFileIsHashedWhole) {
  const std::string data = random_bytes(100000, 1);
  const fs::path p = write("small.bin", data);
  const std::string expected =
      sha256sum(std::string("clipmind-content-sampled-v1") + '\0' + size_le(data.size()) + data);
  const ContentHash h = content_hash(p);
  EXPECT_EQ(h.hex, "s1-" + expected.substr(0, 32));
  EXPECT_EQ(h.size, data.size());
  EXPECT_EQ(h.bytes_read, data.size());
}

TEST(ContentHash, LargeFileIsSampledAsDocumented) {
  const uint64_t size = (20ull << 20) + 12345;  // above the 8 MiB whole-file limit
  const std::string data = random_bytes(size, 2);
  const fs::path p = write("large.bin", data);
  std::string sampled = std::string("clipmind-content-sampled-v1") + '\0' + size_le(size);
  const uint64_t edge = 1 << 20, block = 64 << 10;
  sampled += data.substr(0, edge);
  for (uint64_t i = 0; i < 64; ++i) {
    const uint64_t offset = edge + (size - edge - block - edge) * i / 63;
    sampled += data.substr(offset, block);
  }
  sampled += data.substr(size - edge, edge);
  const ContentHash h = content_hash(p);
  EXPECT_EQ(h.hex, "s1-" + sha256sum(sampled).substr(0, 32));
  EXPECT_EQ(h.bytes_read, 2 * edge + 64 * block);

  const ContentHash full = content_hash(p, ContentHashMode::kFull);
  EXPECT_EQ(full.hex,
            "f1-" + sha256sum(std::string("clipmind-content-full-v1") + '\0' + size_le(size) + data)
                        .substr(0, 32));
}

TEST(ContentHash, SameBytesAnywhereSameHashAnyChangeThatMattersDiffers) {
  const std::string data = random_bytes((10ull << 20) + 7, 3);
  const fs::path a = write("a.bin", data);
  const fs::path b = write("copy-with-other-name.bin", data);
  const std::string base = content_hash(a).hex;
  EXPECT_EQ(content_hash(b).hex, base);

  std::string appended = data + "x";
  EXPECT_NE(content_hash(write("appended.bin", appended)).hex, base);
  std::string header = data;
  header[10] ^= 1;  // container header
  EXPECT_NE(content_hash(write("header.bin", header)).hex, base);
  std::string tail = data;
  tail[tail.size() - 5] ^= 1;  // index at the end
  EXPECT_NE(content_hash(write("tail.bin", tail)).hex, base);
  // Full mode sees a change anywhere.
  std::string middle = data;
  middle[(5u << 20) + 333] ^= 1;
  EXPECT_NE(content_hash(write("middle.bin", middle), ContentHashMode::kFull).hex,
            content_hash(a, ContentHashMode::kFull).hex);
}

TEST(ContentHash, MissingFileAndFolderAreErrors) {
  try {
    content_hash(work_dir() / "nope.mp4");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("nope.mp4"), std::string::npos);
  }
  EXPECT_THROW(content_hash(work_dir()), Error);
}

TEST(ContentHash, CancelledBeforeReading) {
  CancelToken cancel;
  cancel.request();
  EXPECT_THROW(content_hash(write("c.bin", "abc"), ContentHashMode::kFull, cancel), Cancelled);
}

TEST(Sha256, KnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace clipmind::pipeline
