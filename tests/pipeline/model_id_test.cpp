// pipeline::model_folder_id (content-based, v2) and legacy_model_folder_id (v1) on hand-made
// model folders: a config, tokenizer files and a safetensors file whose data region (2 MiB) is
// larger than what the id samples, so both sampled and unsampled bytes can be changed.
#include "pipeline/model_id.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "pipeline/content_hash.h"

namespace clipmind::pipeline {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kDataBytes = 2u << 20;
constexpr uint64_t kSample = 64 * 1024;

fs::path fresh(const std::string& name) {
  const fs::path dir = fs::path(CLIPMIND_TEST_WORK_DIR) / "model-id" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void spit(const fs::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
}

std::string safetensors_header() {
  return R"({"w":{"dtype":"F32","shape":[524288],"data_offsets":[0,2097152]}})";
}

std::string safetensors_bytes() {
  const std::string header = safetensors_header();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  out += header;
  uint32_t x = 12345;
  for (uint64_t i = 0; i < kDataBytes; ++i) {
    x = x * 1664525u + 1013904223u;
    out.push_back(static_cast<char>(x >> 24));
  }
  return out;
}

// Where the data region starts in safetensors_bytes().
uint64_t data_begin() {
  return 8 + safetensors_header().size();
}

fs::path make_model(const std::string& name) {
  const fs::path dir = fresh(name);
  spit(dir / "config.json", R"({"model_type":"siglip","hidden_size":64})");
  spit(dir / "tokenizer.json", R"({"model":{"type":"BPE","vocab":{"a":0,"b":1}}})");
  spit(dir / "spiece.model", std::string("\x0a\x05"
                                         "hello\x12\x03"
                                         "abc",
                                         12));
  spit(dir / "model.safetensors", safetensors_bytes());
  return dir;
}

void flip_byte(const fs::path& file, uint64_t offset) {
  std::string bytes = slurp(file);
  ASSERT_LT(offset, bytes.size());
  bytes[offset] = static_cast<char>(bytes[offset] ^ 0x5a);
  spit(file, bytes);
}

void age(const fs::path& dir, std::chrono::hours by) {
  for (const auto& e : fs::directory_iterator(dir)) {
    fs::last_write_time(e.path(), fs::file_time_type::clock::now() - by);
  }
}

TEST(ModelId, SameBytesGiveTheSameIdInACopyASymlinkedFolderAndLinkedFiles) {
  const fs::path a = make_model("same-a");
  const std::string id = model_folder_id(a);
  EXPECT_EQ(id.size(), 35u);
  EXPECT_EQ(id.substr(0, 3), "m2-");
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 3), std::string::npos);

  const fs::path copy = fresh("same-copy");
  fs::copy(a, copy, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  age(copy, std::chrono::hours(30));
  EXPECT_EQ(model_folder_id(copy), id);

  const fs::path link = fresh("same-link").parent_path() / "same-link-dir";
  fs::remove_all(link);
  fs::create_directory_symlink(a, link);
  EXPECT_EQ(model_folder_id(link), id);

  const fs::path files = fresh("same-file-links");
  for (const auto& e : fs::directory_iterator(a))
    fs::create_symlink(e.path(), files / e.path().filename());
  EXPECT_EQ(model_folder_id(files), id);

  // The v1 id saw the path and the file times: that is why it had to go.
  EXPECT_NE(legacy_model_folder_id(copy), legacy_model_folder_id(a));
}

TEST(ModelId, AChangedFileChangesTheId) {
  const fs::path base = make_model("change-base");
  const std::string id = model_folder_id(base);
  const uint64_t data = data_begin();
  const uint64_t last_start = kDataBytes - kSample;
  struct Case {
    std::string name;
    std::function<void(const fs::path&)> edit;
  };
  const std::vector<Case> cases = {
      {"config", [](const fs::path& d) { flip_byte(d / "config.json", 5); }},
      {"tokenizer.json", [](const fs::path& d) { flip_byte(d / "tokenizer.json", 30); }},
      {"spiece.model", [](const fs::path& d) { flip_byte(d / "spiece.model", 4); }},
      {"new tokenizer_config.json",
       [](const fs::path& d) { spit(d / "tokenizer_config.json", "{}"); }},
      // "F32" -> "F16": same length, offsets unchanged, only the header differs.
      {"safetensors header",
       [](const fs::path& d) {
         std::string bytes = slurp(d / "model.safetensors");
         const size_t at = bytes.find("F32");
         bytes.replace(at, 3, "F16");
         spit(d / "model.safetensors", bytes);
       }},
      {"first data byte", [data](const fs::path& d) { flip_byte(d / "model.safetensors", data); }},
      {"last data byte",
       [data](const fs::path& d) { flip_byte(d / "model.safetensors", data + kDataBytes - 1); }},
      // Inside the 4th of the 8 evenly spaced 64 KiB blocks.
      {"middle sample",
       [data, last_start](const fs::path& d) {
         flip_byte(d / "model.safetensors", data + last_start * 3 / 7 + 100);
       }},
      {"weights renamed",
       [](const fs::path& d) { fs::rename(d / "model.safetensors", d / "other.safetensors"); }},
      {"weights appended",
       [](const fs::path& d) {
         std::ofstream(d / "model.safetensors", std::ios::binary | std::ios::app) << 'x';
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path dir = make_model("change-edit");
    EXPECT_EQ(model_folder_id(dir), id);
    c.edit(dir);
    EXPECT_NE(model_folder_id(dir), id);
  }

  // The documented trade-off: bytes between the sampled blocks are not read.
  const fs::path dir = make_model("change-unsampled");
  flip_byte(dir / "model.safetensors", data + last_start / 7 + kSample + 1000);
  EXPECT_EQ(model_folder_id(dir), id);
}

// huggingface_hub's layout: snapshots/<rev>/<file> -> ../../blobs/<etag>.
fs::path hf_cache_model(const fs::path& root, const std::string& revision, const fs::path& source) {
  const fs::path repo = root / "models--org--tiny";
  fs::create_directories(repo / "blobs");
  const fs::path snap = repo / "snapshots" / revision;
  fs::create_directories(snap);
  for (const auto& e : fs::directory_iterator(source)) {
    const std::string bytes = slurp(e.path());
    const std::string etag = sha256_hex(bytes);  // LFS blobs are named by their sha256
    spit(repo / "blobs" / etag, bytes);
    fs::create_symlink(fs::path("../../blobs") / etag, snap / e.path().filename());
  }
  return snap;
}

TEST(ModelId, TheSameRepoInTwoHuggingFaceCachesAndAPlainFolderAgree) {
  const fs::path plain = make_model("hf-plain");
  const fs::path root = fresh("hf-caches");
  const fs::path one = hf_cache_model(root / "user1" / "hub", "0123abcd", plain);
  const fs::path two = hf_cache_model(root / "user2" / "cache" / "hub", "0123abcd", plain);
  age(root / "user2" / "cache" / "hub" / "models--org--tiny" / "blobs", std::chrono::hours(5));
  EXPECT_EQ(model_folder_id(one), model_folder_id(two));
  EXPECT_EQ(model_folder_id(one), model_folder_id(plain));
  EXPECT_NE(legacy_model_folder_id(one), legacy_model_folder_id(two));
}

// The v1 material as clipmind wrote it before: old indexes hold these ids, so the kept
// function must reproduce them exactly.
std::string v1_reference(const fs::path& dir) {
  std::string material = "clipmind-model-id-v1\n" + fs::absolute(dir).lexically_normal().string() +
                         "\n" + slurp(dir / "config.json");
  const fs::path weights = fs::canonical(dir / "model.safetensors");
  material += "\nmodel.safetensors " + std::to_string(fs::file_size(weights)) + " " +
              std::to_string(fs::last_write_time(weights).time_since_epoch().count());
  return sha256_hex(material).substr(0, 32);
}

TEST(ModelId, LegacyIdIsTheV1Material) {
  const fs::path dir = make_model("legacy");
  EXPECT_EQ(legacy_model_folder_id(dir), v1_reference(dir));
  age(dir, std::chrono::hours(2));
  EXPECT_EQ(legacy_model_folder_id(dir), v1_reference(dir));
  EXPECT_EQ(short_model_id("m2-0123456789abcdef0123"), "0123456789ab");
  EXPECT_EQ(short_model_id("fedcba9876543210fedc"), "fedcba987654");
}

TEST(ModelId, AnUnreadableFolderOrFileIsAClearError) {
  EXPECT_THROW(model_folder_id(fs::path(CLIPMIND_TEST_WORK_DIR) / "model-id" / "missing"),
               clipmind::Error);
}

}  // namespace
}  // namespace clipmind::pipeline
