// A Hugging Face download onto a disk that fills up, through the real `clipmind` binary and the
// real download path: `clipmind ask --model acme/tiny-vlm` against a fake hub served on
// 127.0.0.1 (tests/models/support/fake_hub.h, the tiny VLM's own files), with the Hugging Face
// cache on a small tmpfs in a user namespace (tests/support/small_disk.h) that has room for the
// small files but not the weights. Checked: exit 5, a message naming the repo file, the cache
// file and "no space"; nothing under the blob's final name or in the snapshot that a later run
// could take as complete; with space back the same command resumes the partial file with a Range
// request and answers.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>

#include "tests/e2e/e2e_support.h"
#include "tests/models/support/fake_hub.h"
#include "tests/models/support/test_http_server.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace clipmind::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kRepo = "acme/tiny-vlm";
constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

bool says_no_space(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text.find("no space left") != std::string::npos;
}

TEST(HubFullDisk, ADownloadThatDoesNotFitFailsNamingTheFileAndTheNextRunResumesIt) {
  std::string why;
  const auto disk = small_disk("hub-full-disk", 4 << 20, why);
  if (!disk) GTEST_SKIP() << "no small tmpfs in a user namespace here: " << why;

  test::FakeHub hub(kRepo, kCommit);
  uint64_t small_files = 0;
  std::string weights;
  for (const auto& entry : fs::directory_iterator(tiny_vlm())) {
    const std::string name = entry.path().filename().string();
    const std::string content = read_file(entry.path());
    const bool lfs = name.ends_with(".safetensors");
    hub.add_file(name, content, lfs);
    if (lfs) {
      weights = content;
    } else {
      small_files += content.size();
    }
  }
  ASSERT_GT(weights.size(), 256u << 10) << "the weights must not fit the space left below";
  test::TestHttpServer server([&hub](const test::HttpRequest& r) { return hub.handle(r); });
  hub.set_cdn_url(server.url());

  const fs::path cache = disk->dir() / "hub";
  const fs::path repo = cache / "models--acme--tiny-vlm";
  const fs::path blob = repo / "blobs" / hub.etag_of("model.safetensors");
  const fs::path incomplete = fs::path(blob.string() + ".incomplete");
  RunOptions options;
  options.disk = disk.get();
  options.env = {{"HF_ENDPOINT", server.url()},
                 {"HF_HUB_CACHE", cache.string()},
                 {"HF_HUB_OFFLINE", ""},
                 {"HF_TOKEN", ""},
                 {"XDG_CACHE_HOME", fresh_dir("hub-full-disk-cache").string()}};
  const std::vector<std::string> args = {"ask",
                                         e2e_video("hub-full-disk", 30, 10, 96, 72).string(),
                                         "What happens?",
                                         "--model",
                                         kRepo,
                                         "--max-new-tokens",
                                         "4",
                                         "--no-cache"};

  // Room for the small files (and their folders, links and locks) and a part of the weights.
  const uint64_t block = disk->block_size();
  disk->fill(small_files + 64 * block + (128u << 10));
  const RunResult full = run_cli(args, options);
  EXPECT_EQ(full.exit_code, 5) << full.err;  // kIo
  EXPECT_NE(full.err.find(std::string(kRepo) + "@main: model.safetensors: " + incomplete.string() +
                          ": cannot write"),
            std::string::npos)
      << full.err;
  EXPECT_TRUE(says_no_space(full.err)) << full.err;
  EXPECT_TRUE(full.out.empty()) << full.out;
  // Nothing a later run (or transformers) would take as the complete file: no blob under its
  // final name, no snapshot entry, no ref (written last); the partial file keeps its name.
  EXPECT_FALSE(fs::exists(disk->outside(blob)));
  EXPECT_FALSE(fs::exists(disk->outside(repo / "snapshots" / kCommit / "model.safetensors")));
  EXPECT_FALSE(fs::exists(disk->outside(repo / "refs" / "main")));
  ASSERT_TRUE(fs::exists(disk->outside(incomplete)));
  const uint64_t kept = fs::file_size(disk->outside(incomplete));
  EXPECT_GT(kept, 0u);
  EXPECT_LT(kept, weights.size());
  for (const std::string& f : files_under(disk->outside(cache)))
    EXPECT_EQ(f.find(".part-"), std::string::npos) << f;

  // Space back: the same command resumes from the bytes kept and answers.
  disk->unfill();
  const RunResult after = run_cli(args, options);
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_FALSE(after.out.empty());
  EXPECT_EQ(read_file(disk->outside(blob)), weights);
  EXPECT_FALSE(fs::exists(disk->outside(incomplete)));
  bool resumed = false;
  for (const test::HttpRequest& r : server.requests()) {
    if (r.method == "GET" && r.target == hub.content_path("model.safetensors"))
      resumed = resumed || r.header("range") == "bytes=" + std::to_string(kept) + "-";
  }
  EXPECT_TRUE(resumed) << "the second run did not resume from byte " << kept;
}

}  // namespace
}  // namespace clipmind::e2e
