// Downloads from a fake Hugging Face hub that the test serves on 127.0.0.1 (no outside
// network): the cache layout huggingface_hub would write, resume with Range after a cut
// connection, checksum rejection, 401/404 messages, tokens, offline mode and cancellation.
// Expected hashes and layouts are computed independently (OpenSSL directly, hand-written
// paths), never taken from the code under test.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tests/models/support/fake_hub.h"
#include "tests/models/support/hub_test_util.h"
#include "tests/models/support/test_http_server.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "models/hub/downloader.h"
#include "models/hub/hub_options.h"
#include "models/hub/resolve_model.h"

namespace clipmind::models::hub {
namespace {

namespace fs = std::filesystem;
using clipmind::test::error_of;
using clipmind::test::FakeHub;
using clipmind::test::fresh_dir;
using clipmind::test::HttpRequest;
using clipmind::test::read_file;
using clipmind::test::TestHttpServer;
using ::testing::HasSubstr;

constexpr const char* kRepo = "acme/tiny-vlm";
constexpr const char* kCommit = "9d3b5f0e6a1c2b4d8e7f90a1b2c3d4e5f6a7b8c9";
constexpr const char* kShard1 = "model-00001-of-00002.safetensors";
constexpr const char* kShard2 = "model-00002-of-00002.safetensors";

std::string random_bytes(size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::string bytes(size, '\0');
  for (auto& byte : bytes)
    byte = static_cast<char>(generator() & 0xff);
  return bytes;
}

class HubDownload : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = fresh_dir(std::string("download_") +
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    hub_ = std::make_unique<FakeHub>(kRepo, kCommit);
    files_ = {
        {"config.json", R"({"model_type": "llava_onevision", "vision_config": {}})"},
        {"generation_config.json", R"({"do_sample": false})"},
        {"tokenizer.json", R"({"version": "1.0", "model": {"type": "BPE"}})"},
        {"tokenizer_config.json", R"({"model_max_length": 32768})"},
        {"model.safetensors.index.json",
         std::string(R"({"metadata": {"total_size": 500000}, "weight_map": {)") +
             R"("a.weight": ")" + kShard1 + R"(", "b.weight": ")" + kShard2 +
             R"(", "c.weight": ")" + kShard1 + R"("}})"},
        {kShard1, random_bytes(300'000, 1)},
        {kShard2, random_bytes(200'000, 2)},
    };
    for (const auto& [name, content] : files_) {
      hub_->add_file(name, content, name.ends_with(".safetensors"));
    }
    server_ = std::make_unique<TestHttpServer>(
        [hub = hub_.get()](const HttpRequest& request) { return hub->handle(request); });
    hub_->set_cdn_url(server_->url());

    options_.cache_dir = cache_;
    options_.endpoint = server_->url();
    options_.offline = false;
    options_.max_retries = 0;
    options_.retry_delay = std::chrono::milliseconds(0);
    options_.connect_timeout = std::chrono::seconds(5);
    options_.stall_timeout = std::chrono::seconds(30);
  }

  fs::path repo_dir() const { return cache_ / "models--acme--tiny-vlm"; }
  fs::path snapshot() const { return repo_dir() / "snapshots" / kCommit; }
  fs::path blob(const std::string& file) const {
    return repo_dir() / "blobs" / hub_->etag_of(file);
  }
  fs::path incomplete(const std::string& file) const {
    return repo_dir() / "blobs" / (hub_->etag_of(file) + ".incomplete");
  }

  std::vector<HttpRequest> requests_to(const std::string& path, const std::string& method) const {
    std::vector<HttpRequest> out;
    for (const auto& request : server_->requests()) {
      if (request.method == method && request.target == path) out.push_back(request);
    }
    return out;
  }

  // Files anywhere in the cache whose names show a temporary (not .incomplete) file.
  std::vector<std::string> stray_temporaries() const {
    std::vector<std::string> stray;
    for (const auto& entry : fs::recursive_directory_iterator(cache_)) {
      const std::string name = entry.path().filename().string();
      if (name.find(".part-") != std::string::npos || name.find(".tmp-") != std::string::npos) {
        stray.push_back(entry.path().string());
      }
    }
    return stray;
  }

  fs::path cache_;
  std::vector<std::pair<std::string, std::string>> files_;
  std::unique_ptr<FakeHub> hub_;
  std::unique_ptr<TestHttpServer> server_;
  HubOptions options_;
};

TEST_F(HubDownload, FullDownloadWritesTheHuggingfaceHubLayout) {
  std::vector<ProgressEvent> events;
  const fs::path dir =
      resolve_model(kRepo, options_, [&](const ProgressEvent& e) { events.push_back(e); });
  EXPECT_EQ(dir, snapshot());

  // refs/main holds the commit, with no newline (huggingface_hub writes it that way).
  EXPECT_EQ(read_file(repo_dir() / "refs" / "main"), kCommit);

  int64_t total_size = 0;
  std::vector<std::string> expected_blobs;
  for (const auto& [name, content] : files_) {
    const bool lfs = name.ends_with(".safetensors");
    // LFS files are stored under their sha256, small files under their git blob sha1.
    const std::string etag =
        lfs ? clipmind::test::sha256_hex(content) : clipmind::test::git_blob_sha1_hex(content);
    const fs::path link = dir / name;
    ASSERT_TRUE(fs::is_symlink(link)) << name;
    EXPECT_EQ(fs::read_symlink(link), fs::path("../../blobs") / etag) << name;
    EXPECT_EQ(read_file(link), content) << name;
    expected_blobs.push_back(etag);
    total_size += static_cast<int64_t>(content.size());
  }
  std::vector<std::string> blobs;
  for (const auto& entry : fs::directory_iterator(repo_dir() / "blobs")) {
    blobs.push_back(entry.path().filename().string());
  }
  std::sort(blobs.begin(), blobs.end());
  std::sort(expected_blobs.begin(), expected_blobs.end());
  EXPECT_EQ(blobs, expected_blobs);  // and so no .incomplete left
  EXPECT_TRUE(stray_temporaries().empty());
  EXPECT_TRUE(fs::exists(cache_ / ".locks" / "models--acme--tiny-vlm" /
                         (hub_->etag_of(kShard1) + ".lock")));

  // Optional files the repo lacks are remembered as huggingface_hub does.
  EXPECT_TRUE(fs::is_regular_file(repo_dir() / ".no_exist" / kCommit / "preprocessor_config.json"));
  EXPECT_FALSE(fs::exists(dir / "preprocessor_config.json"));

  // Every request after the first is pinned to the commit the first one reported.
  const auto requests = server_->requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.front().target, "/acme/tiny-vlm/resolve/main/config.json");
  for (size_t i = 1; i < requests.size(); ++i) {
    if (requests[i].target.starts_with("/acme/")) {
      EXPECT_THAT(requests[i].target, HasSubstr(std::string("/resolve/") + kCommit + "/"));
    }
  }

  ASSERT_FALSE(events.empty());
  for (size_t i = 1; i < events.size(); ++i)
    EXPECT_GE(events[i].done, events[i - 1].done);
  EXPECT_EQ(events.back().stage, "download");
  EXPECT_EQ(events.back().total, total_size);
  EXPECT_EQ(events.back().done, total_size);
}

TEST_F(HubDownload, DownloadedModelResolvesFromTheCacheAfterwards) {
  const fs::path dir = resolve_model(kRepo, options_);
  const size_t request_count = server_->requests().size();

  // Online: the complete snapshot is used without asking the server again.
  EXPECT_EQ(resolve_model(kRepo, options_), dir);
  EXPECT_EQ(server_->requests().size(), request_count);

  // Offline, with the server gone.
  server_.reset();
  HubOptions offline = options_;
  offline.offline = true;
  EXPECT_EQ(resolve_model(kRepo, offline), dir);
  EXPECT_EQ(read_file(resolve_model(std::string(kRepo) + "@" + kCommit, offline) / kShard2),
            files_[6].second);
}

TEST_F(HubDownload, ResumesWithRangeAfterACutConnection) {
  hub_->cut_next_get(kShard1, 100'000);
  options_.max_retries = 2;
  const fs::path dir = resolve_model(kRepo, options_);
  EXPECT_EQ(read_file(dir / kShard1), files_[5].second);

  const std::string content = hub_->content_path(kShard1);
  const auto gets = requests_to(content, "GET");
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_EQ(gets[0].header("range"), "");
  EXPECT_EQ(gets[1].header("range"), "bytes=100000-");
  // Nothing was sent twice.
  EXPECT_EQ(server_->body_bytes_sent(content), files_[5].second.size());
}

TEST_F(HubDownload, ANextRunResumesWhatAFailedRunLeft) {
  hub_->cut_next_get(kShard2, 70'000);
  const std::string message =
      error_of([&] { resolve_model(kRepo, options_); }, ErrorKind::kNetwork);
  EXPECT_THAT(message, HasSubstr(kShard2));
  EXPECT_THAT(message, HasSubstr("the partial file is kept"));
  EXPECT_EQ(fs::file_size(incomplete(kShard2)), 70'000u);
  EXPECT_FALSE(fs::exists(blob(kShard2)));
  EXPECT_FALSE(fs::exists(snapshot() / kShard2));
  EXPECT_FALSE(fs::exists(repo_dir() / "refs" / "main"));  // refs/ is written last

  const fs::path dir = resolve_model(kRepo, options_);
  EXPECT_EQ(read_file(dir / kShard2), files_[6].second);
  const auto gets = requests_to(hub_->content_path(kShard2), "GET");
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_EQ(gets[1].header("range"), "bytes=70000-");
  EXPECT_EQ(server_->body_bytes_sent(hub_->content_path(kShard2)), files_[6].second.size());
  EXPECT_FALSE(fs::exists(incomplete(kShard2)));
}

TEST_F(HubDownload, AServerIgnoringRangeMakesTheFileStartOver) {
  hub_->cut_next_get(kShard2, 70'000);
  EXPECT_THROW(resolve_model(kRepo, options_), Error);
  hub_->ignore_ranges(true);
  const fs::path dir = resolve_model(kRepo, options_);
  EXPECT_EQ(read_file(dir / kShard2), files_[6].second);
  EXPECT_EQ(server_->body_bytes_sent(hub_->content_path(kShard2)),
            70'000u + files_[6].second.size());
}

TEST_F(HubDownload, RetriesServerErrorsThenGivesUp) {
  options_.max_retries = 2;
  hub_->fail_next_gets(kShard1, 503, 3);
  const std::string message =
      error_of([&] { resolve_model(kRepo, options_); }, ErrorKind::kNetwork);
  EXPECT_THAT(message, HasSubstr("download failed after 3 attempt(s): HTTP 503"));

  hub_->fail_next_gets(kShard1, 503, 2);
  const fs::path dir = resolve_model(kRepo, options_);
  EXPECT_EQ(read_file(dir / kShard1), files_[5].second);
  EXPECT_EQ(requests_to(hub_->content_path(kShard1), "GET").size(), 6u);
}

TEST_F(HubDownload, FollowsTheHubsRelativeRedirectForRenamedRepos) {
  hub_->add_alias("acme/old-name");
  const fs::path dir = resolve_model("acme/old-name", options_);
  // Cached under the name the user asked for, as huggingface_hub does.
  EXPECT_EQ(dir, cache_ / "models--acme--old-name" / "snapshots" / kCommit);
  EXPECT_EQ(read_file(dir / kShard2), files_[6].second);
}

TEST_F(HubDownload, ChecksumMismatchIsRejectedAndTheBadFileRemoved) {
  hub_->corrupt(kShard2);
  const std::string message =
      error_of([&] { resolve_model(kRepo, options_); }, ErrorKind::kNetwork);
  EXPECT_THAT(message, HasSubstr(kShard2));
  EXPECT_THAT(message, HasSubstr("checksum mismatch"));
  EXPECT_THAT(message, HasSubstr(hub_->etag_of(kShard2)));
  EXPECT_FALSE(fs::exists(blob(kShard2)));
  EXPECT_FALSE(fs::exists(incomplete(kShard2)));
  EXPECT_FALSE(fs::exists(fs::symlink_status(snapshot() / kShard2)));
  EXPECT_FALSE(fs::exists(repo_dir() / "refs" / "main"));
}

TEST_F(HubDownload, Unauthorized401ExplainsHfToken) {
  hub_->require_token("hf_secret");
  const std::string message =
      error_of([&] { resolve_model(kRepo, options_); }, ErrorKind::kNetwork);
  EXPECT_THAT(message, HasSubstr("HTTP 401"));
  EXPECT_THAT(message, HasSubstr("set HF_TOKEN"));
  EXPECT_THAT(message, HasSubstr("gated"));
  EXPECT_THAT(message, HasSubstr("Access to model acme/tiny-vlm is restricted"));  // server's words

  options_.token = "hf_wrong";
  EXPECT_THAT(error_of([&] { resolve_model(kRepo, options_); }, ErrorKind::kNetwork),
              HasSubstr("the token (HF_TOKEN or the saved login) was refused"));
  EXPECT_FALSE(fs::exists(repo_dir() / "blobs"));
}

TEST_F(HubDownload, TokenIsSentAsBearerToTheHubButNotToTheCdn) {
  // The CDN on another port: libcurl must not forward the Authorization header there.
  TestHttpServer cdn(
      [hub = hub_.get()](const HttpRequest& request) { return hub->handle(request); });
  hub_->set_cdn_url(cdn.url());
  hub_->require_token("hf_secret");
  options_.token = "hf_secret";

  const fs::path dir = resolve_model(kRepo, options_);
  EXPECT_EQ(read_file(dir / kShard1), files_[5].second);
  const auto hub_requests = server_->requests();
  ASSERT_FALSE(hub_requests.empty());
  for (const auto& request : hub_requests) {
    EXPECT_EQ(request.header("authorization"), "Bearer hf_secret") << request.target;
  }
  const auto cdn_requests = cdn.requests();
  ASSERT_FALSE(cdn_requests.empty());
  for (const auto& request : cdn_requests) {
    EXPECT_EQ(request.header("authorization"), "") << request.target;
  }
}

TEST_F(HubDownload, NotFound404Messages) {
  std::string message =
      error_of([&] { resolve_model("acme/no-such-model", options_); }, ErrorKind::kNotFound);
  EXPECT_THAT(message, HasSubstr("acme/no-such-model@main: no such repo"));
  EXPECT_THAT(message, HasSubstr("HTTP 404"));

  message =
      error_of([&] { resolve_model(std::string(kRepo) + "@v9", options_); }, ErrorKind::kNotFound);
  EXPECT_THAT(message, HasSubstr("no such revision \"v9\""));

  // The index names a shard the repo does not have: a required file, so an error naming it.
  FakeHub broken("acme/broken", kCommit);
  broken.add_file("config.json", "{}", false);
  broken.add_file("model.safetensors.index.json",
                  R"({"weight_map": {"a": "model-00001-of-00001.safetensors"}})", false);
  TestHttpServer server([&broken](const HttpRequest& request) { return broken.handle(request); });
  broken.set_cdn_url(server.url());
  options_.endpoint = server.url();
  message = error_of([&] { resolve_model("acme/broken", options_); }, ErrorKind::kNotFound);
  EXPECT_THAT(message, HasSubstr("no such file in the repo: model-00001-of-00001.safetensors"));
}

TEST_F(HubDownload, RepoWithoutSafetensorsIsRefused) {
  FakeHub pickles("acme/pickles", kCommit);
  pickles.add_file("config.json", "{}", false);
  pickles.add_file("pytorch_model.bin", "pickle", true);
  TestHttpServer server([&pickles](const HttpRequest& request) { return pickles.handle(request); });
  pickles.set_cdn_url(server.url());
  options_.endpoint = server.url();
  EXPECT_THAT(error_of([&] { resolve_model("acme/pickles", options_); }, ErrorKind::kNotFound),
              HasSubstr("reads .safetensors weights only"));
}

TEST_F(HubDownload, UnsafeShardNamesInTheIndexAreRefused) {
  FakeHub evil("acme/evil", kCommit);
  evil.add_file("config.json", "{}", false);
  evil.add_file("model.safetensors.index.json",
                R"({"weight_map": {"a": "../../../escape.safetensors"}})", false);
  TestHttpServer server([&evil](const HttpRequest& request) { return evil.handle(request); });
  evil.set_cdn_url(server.url());
  options_.endpoint = server.url();
  EXPECT_THAT(error_of([&] { resolve_model("acme/evil", options_); }, ErrorKind::kInvalidInput),
              HasSubstr("unsafe shard file name"));
  EXPECT_FALSE(fs::exists(cache_ / "escape.safetensors"));
}

TEST_F(HubDownload, OfflineModeNeverTouchesTheNetwork) {
  options_.offline = true;
  const std::string message =
      error_of([&] { resolve_model(kRepo, options_); }, ErrorKind::kNotFound);
  EXPECT_THAT(message, HasSubstr("HF_HUB_OFFLINE is set"));
  EXPECT_TRUE(server_->requests().empty());

  // The same through the environment variable.
  clipmind::test::ScopedEnv offline("HF_HUB_OFFLINE", "1");
  clipmind::test::ScopedEnv cache("HF_HUB_CACHE", cache_.string());
  clipmind::test::ScopedEnv endpoint("HF_ENDPOINT", server_->url());
  EXPECT_THROW(resolve_model(kRepo), Error);
  EXPECT_TRUE(server_->requests().empty());
}

TEST_F(HubDownload, UnreachableServerIsNamed) {
  const std::string host = "127.0.0.1:" + std::to_string(clipmind::test::unused_local_port());
  options_.endpoint = "http://" + host;
  const std::string message =
      error_of([&] { resolve_model(kRepo, options_); }, ErrorKind::kNetwork);
  EXPECT_THAT(message, HasSubstr("cannot reach " + host));
  EXPECT_THAT(message, HasSubstr("HF_HUB_OFFLINE=1"));
}

TEST_F(HubDownload, CancellationLeavesOnlyTheIncompleteFile) {
  hub_->stall_next_get(kShard1, 50'000);
  CancelToken cancel;
  // Files go config.json, the index (fetched first), then the shards: once `done` passes the
  // first two, bytes of shard 1 have arrived.
  const int64_t before_shard1 =
      static_cast<int64_t>(files_[0].second.size() + files_[4].second.size());
  const auto cancel_in_shard = [&](const ProgressEvent& event) {
    if (event.detail == kShard1 && event.done > before_shard1) cancel.request();
  };
  EXPECT_THROW(resolve_model(kRepo, options_, cancel_in_shard, cancel), Cancelled);

  ASSERT_TRUE(fs::exists(incomplete(kShard1)));
  const auto partial = fs::file_size(incomplete(kShard1));
  EXPECT_GT(partial, 0u);
  EXPECT_LE(partial, 50'000u);
  EXPECT_FALSE(fs::exists(blob(kShard1)));
  EXPECT_FALSE(fs::exists(fs::symlink_status(snapshot() / kShard1)));
  EXPECT_FALSE(fs::exists(repo_dir() / "refs" / "main"));
  EXPECT_TRUE(stray_temporaries().empty());

  // A later run picks up where the cancelled one stopped.
  const fs::path dir = resolve_model(kRepo, options_);
  EXPECT_EQ(read_file(dir / kShard1), files_[5].second);
  const auto gets = requests_to(hub_->content_path(kShard1), "GET");
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_EQ(gets[1].header("range"), "bytes=" + std::to_string(partial) + "-");
}

TEST_F(HubDownload, BranchAndCommitRevisions) {
  hub_->add_ref("v1.0");
  const fs::path dir = resolve_model(std::string(kRepo) + "@v1.0", options_);
  EXPECT_EQ(dir, snapshot());
  EXPECT_EQ(read_file(repo_dir() / "refs" / "v1.0"), kCommit);
  EXPECT_FALSE(fs::exists(repo_dir() / "refs" / "main"));

  // By commit: no ref is written, and the blobs already there are not fetched again.
  const size_t before = server_->body_bytes_sent(hub_->content_path(kShard1));
  EXPECT_EQ(resolve_model(std::string(kRepo) + "@" + kCommit, options_), snapshot());
  EXPECT_EQ(server_->body_bytes_sent(hub_->content_path(kShard1)), before);
  EXPECT_FALSE(fs::exists(repo_dir() / "refs" / kCommit));
}

TEST_F(HubDownload, ReportsDownloadSupport) {
  EXPECT_TRUE(downloads_supported());
}

}  // namespace
}  // namespace clipmind::models::hub
