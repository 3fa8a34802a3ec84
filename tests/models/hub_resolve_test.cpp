// Model resolution without a network: spec parsing, local folders, reading a Hugging Face
// cache laid out by hand exactly as huggingface_hub writes it, offline errors, and the
// environment variables HubOptions reads.
#include <filesystem>
#include <string>

#include "tests/models/support/hub_test_util.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "models/hub/hf_cache.h"
#include "models/hub/hub_options.h"
#include "models/hub/model_folder.h"
#include "models/hub/repo_spec.h"
#include "models/hub/resolve_model.h"

namespace clipmind::models::hub {
namespace {

namespace fs = std::filesystem;
using clipmind::test::error_of;
using clipmind::test::fresh_dir;
using clipmind::test::read_file;
using clipmind::test::ScopedEnv;
using clipmind::test::write_file;
using ::testing::HasSubstr;

constexpr const char* kCommit = "4f2c1a9be07d3356a1c0ffee0123456789abcdef";

// Options that can never reach a network: offline, and an endpoint nobody listens on.
HubOptions offline_options(const fs::path& cache) {
  HubOptions options;
  options.cache_dir = cache;
  options.endpoint = "http://127.0.0.1:9";
  options.offline = true;
  return options;
}

// A cache entry built by hand, the way huggingface_hub 0.2x leaves it after
// `snapshot_download("acme/tiny-vlm")`: refs/main holds the commit without newline, snapshot
// files are relative symlinks into blobs/ named by sha256 (LFS) or git sha1.
fs::path write_hf_style_cache(const fs::path& cache, bool with_second_shard = true) {
  const fs::path repo = cache / "models--acme--tiny-vlm";
  write_file(repo / "refs" / "main", kCommit);
  const std::string config_blob = "0d8f4dbf6dc5f6ab3e8e5fa5a14c5f0e94cbbd5f";
  const std::string index_blob = "8c1e1d8e3f0b2d9a7f5c6b4a3928170605f4e3d2";
  const std::string shard1 = std::string(64, 'a');
  const std::string shard2 = std::string(64, 'b');
  write_file(repo / "blobs" / config_blob, R"({"model_type": "llava_onevision"})");
  write_file(repo / "blobs" / index_blob,
             R"({"metadata": {"total_size": 8}, "weight_map": {
                 "a": "model-00001-of-00002.safetensors",
                 "b": "model-00002-of-00002.safetensors"}})");
  write_file(repo / "blobs" / shard1, "1234");
  if (with_second_shard) write_file(repo / "blobs" / shard2, "5678");
  const fs::path snapshot = repo / "snapshots" / kCommit;
  fs::create_directories(snapshot);
  fs::create_symlink("../../blobs/" + config_blob, snapshot / "config.json");
  fs::create_symlink("../../blobs/" + index_blob, snapshot / "model.safetensors.index.json");
  fs::create_symlink("../../blobs/" + shard1, snapshot / "model-00001-of-00002.safetensors");
  fs::create_symlink("../../blobs/" + shard2, snapshot / "model-00002-of-00002.safetensors");
  return snapshot;
}

TEST(HubRepoSpec, ParsesRepoIdsAndRevisions) {
  auto spec = parse_repo_spec("llava-hf/llava-onevision-qwen2-0.5b-ov-hf");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->repo_id, "llava-hf/llava-onevision-qwen2-0.5b-ov-hf");
  EXPECT_EQ(spec->revision, "main");

  spec = parse_repo_spec("google/siglip-so400m-patch14-384@v1.0");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->repo_id, "google/siglip-so400m-patch14-384");
  EXPECT_EQ(spec->revision, "v1.0");

  spec = parse_repo_spec("Org_1/Name.2@refs/pr/3");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->revision, "refs/pr/3");
}

TEST(HubRepoSpec, RejectsWhatHuggingfaceHubRejects) {
  for (const char* bad : {"", "gpt2", "a/b/c", "/abs/path", "org/", "/name", "org/na--me",
                          "org/na..me", "org/name.git", "org/-name", "org/name-", "org/na me",
                          "org/name@", "org/name@../x", "org/name@a//b", "./org/name"}) {
    EXPECT_FALSE(parse_repo_spec(bad)) << bad;
  }
  EXPECT_FALSE(is_valid_repo_id("org/" + std::string(97, 'x')));
  EXPECT_TRUE(is_valid_repo_id("org/" + std::string(96, 'x')));
}

TEST(HubRepoSpec, CommitHashesAndCacheFolderNames) {
  EXPECT_TRUE(is_commit_hash(kCommit));
  EXPECT_FALSE(is_commit_hash("main"));
  EXPECT_FALSE(is_commit_hash(std::string(40, 'A')));  // huggingface_hub wants lower case
  EXPECT_FALSE(is_commit_hash(std::string(39, 'a')));
  EXPECT_EQ(repo_folder_name("llava-hf/llava-onevision-qwen2-0.5b-ov-hf"),
            "models--llava-hf--llava-onevision-qwen2-0.5b-ov-hf");
}

TEST(HubRepoSpec, SafeRepoPaths) {
  EXPECT_TRUE(is_safe_repo_path("model-00001-of-00002.safetensors"));
  EXPECT_TRUE(is_safe_repo_path("text_encoder/config.json"));
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../x", "a//b", "a/", "./a", "a\\b"}) {
    EXPECT_FALSE(is_safe_repo_path(bad)) << bad;
  }
}

TEST(HubCache, EtagsAndPaths) {
  EXPECT_EQ(normalize_etag("\"abc123\""), "abc123");
  EXPECT_EQ(normalize_etag("W/\"abc123\""), "abc123");
  EXPECT_EQ(normalize_etag(" abc123 "), "abc123");
  EXPECT_TRUE(is_valid_etag(std::string(64, 'f')));
  EXPECT_FALSE(is_valid_etag("../../etc"));
  EXPECT_FALSE(is_valid_etag(".hidden"));
  EXPECT_FALSE(is_valid_etag(""));

  const HfCache cache("/c");
  EXPECT_EQ(cache.blob_path("a/b", "e1"), fs::path("/c/models--a--b/blobs/e1"));
  EXPECT_EQ(cache.incomplete_path("a/b", "e1"), fs::path("/c/models--a--b/blobs/e1.incomplete"));
  EXPECT_EQ(cache.lock_path("a/b", "e1"), fs::path("/c/.locks/models--a--b/e1.lock"));
  EXPECT_EQ(cache.snapshot_dir("a/b", kCommit), fs::path("/c/models--a--b/snapshots") / kCommit);
}

TEST(HubCache, SnapshotLinksAreRelativeLikeHuggingfaceHub) {
  const fs::path root = fresh_dir("cache_links");
  const HfCache cache(root);
  write_file(cache.blob_path("acme/x", "e1"), "top");
  write_file(cache.blob_path("acme/x", "e2"), "nested");
  cache.link_snapshot_file("acme/x", kCommit, "config.json", "e1");
  cache.link_snapshot_file("acme/x", kCommit, "text/sub/config.json", "e2");
  const fs::path snapshot = cache.snapshot_dir("acme/x", kCommit);
  EXPECT_EQ(fs::read_symlink(snapshot / "config.json"), fs::path("../../blobs/e1"));
  EXPECT_EQ(fs::read_symlink(snapshot / "text/sub/config.json"), fs::path("../../../../blobs/e2"));
  EXPECT_EQ(read_file(snapshot / "text/sub/config.json"), "nested");

  // Re-linking replaces the link.
  cache.link_snapshot_file("acme/x", kCommit, "config.json", "e2");
  EXPECT_EQ(read_file(snapshot / "config.json"), "nested");

  cache.write_ref("acme/x", "main", kCommit);
  EXPECT_EQ(read_file(root / "models--acme--x/refs/main"), kCommit);  // no newline
  cache.write_ref("acme/x", kCommit, kCommit);                        // a commit gets no ref
  EXPECT_FALSE(fs::exists(root / "models--acme--x/refs" / kCommit));

  cache.mark_missing("acme/x", kCommit, "tokenizer.json");
  EXPECT_TRUE(fs::is_regular_file(root / "models--acme--x/.no_exist" / kCommit / "tokenizer.json"));
  EXPECT_TRUE(cache.is_marked_missing("acme/x", kCommit, "tokenizer.json"));
  EXPECT_FALSE(cache.is_marked_missing("acme/x", kCommit, "vocab.json"));
  EXPECT_THROW(cache.link_snapshot_file("acme/x", kCommit, "../escape", "e1"), Error);
}

TEST(HubModelFolder, AcceptsSingleFileAndShardedWeights) {
  const fs::path single = fresh_dir("folder_single");
  write_file(single / "config.json", "{}");
  write_file(single / "model.safetensors", "x");
  EXPECT_TRUE(missing_model_files(single).empty());

  const fs::path sharded = fresh_dir("folder_sharded");
  write_file(sharded / "config.json", "{}");
  write_file(
      sharded / "model.safetensors.index.json",
      R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors", "c": "s1.safetensors"}})");
  write_file(sharded / "s1.safetensors", "x");
  write_file(sharded / "s2.safetensors", "y");
  EXPECT_TRUE(missing_model_files(sharded).empty());
  EXPECT_EQ(read_safetensors_index(sharded / "model.safetensors.index.json"),
            (std::vector<std::string>{"s1.safetensors", "s2.safetensors"}));

  EXPECT_EQ(resolve_model(sharded.string(), offline_options(fresh_dir("unused_cache"))), sharded);
}

TEST(HubModelFolder, NamesWhatIsMissing) {
  const fs::path dir = fresh_dir("folder_missing");
  const HubOptions options = offline_options(fresh_dir("unused_cache2"));
  std::string message =
      error_of([&] { resolve_model(dir.string(), options); }, ErrorKind::kInvalidInput);
  EXPECT_THAT(message, HasSubstr(dir.string()));
  EXPECT_THAT(message, HasSubstr("config.json"));
  EXPECT_THAT(message, HasSubstr("model.safetensors"));

  write_file(dir / "config.json", "{}");
  write_file(dir / "model.safetensors.index.json",
             R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
  write_file(dir / "s1.safetensors", "x");
  message = error_of([&] { resolve_model(dir.string(), options); }, ErrorKind::kInvalidInput);
  EXPECT_THAT(message, HasSubstr("missing s2.safetensors"));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("config.json")));
}

TEST(HubModelFolder, ExplainsPickleOnlyFolders) {
  const fs::path dir = fresh_dir("folder_pickle");
  write_file(dir / "config.json", "{}");
  write_file(dir / "pytorch_model.bin", "pickle");
  const std::string message =
      error_of([&] { resolve_model(dir.string(), offline_options(fresh_dir("unused_cache3"))); },
               ErrorKind::kInvalidInput);
  EXPECT_THAT(message, HasSubstr(".safetensors only"));
}

TEST(HubModelFolder, RejectsMalformedAndUnsafeIndexes) {
  const fs::path dir = fresh_dir("folder_bad_index");
  write_file(dir / "config.json", "{}");
  write_file(dir / "model.safetensors.index.json", "{not json");
  EXPECT_THAT(error_of([&] { missing_model_files(dir); }, ErrorKind::kInvalidInput),
              HasSubstr("model.safetensors.index.json: not valid JSON"));
  write_file(dir / "model.safetensors.index.json", R"({"weight_map": {"a": "../../etc/passwd"}})");
  EXPECT_THAT(error_of([&] { missing_model_files(dir); }, ErrorKind::kInvalidInput),
              HasSubstr("unsafe shard file name"));
  write_file(dir / "model.safetensors.index.json", R"({"metadata": {}})");
  EXPECT_THAT(error_of([&] { missing_model_files(dir); }, ErrorKind::kInvalidInput),
              HasSubstr("weight_map"));
}

TEST(HubResolveModel, RejectsSpecsThatAreNeitherFolderNorRepoId) {
  const HubOptions options = offline_options(fresh_dir("unused_cache4"));
  EXPECT_THAT(error_of([&] { resolve_model("not a model", options); }, ErrorKind::kInvalidArgument),
              HasSubstr("neither an existing model folder nor a Hugging Face repo id"));
  EXPECT_THAT(error_of([&] { resolve_model("", options); }, ErrorKind::kInvalidArgument),
              HasSubstr("empty"));
  EXPECT_THAT(error_of([&] { resolve_model("/no/such/model/dir", options); }, ErrorKind::kNotFound),
              HasSubstr("/no/such/model/dir: no such model folder"));

  const fs::path file = fresh_dir("spec_file") / "model.safetensors";
  write_file(file, "x");
  EXPECT_THAT(error_of([&] { resolve_model(file.string(), options); }, ErrorKind::kInvalidArgument),
              HasSubstr("is a file, not a model folder"));
}

TEST(HubResolveModel, ReadsACacheLaidOutByHuggingfaceHub) {
  const fs::path cache = fresh_dir("hf_style_cache");
  const fs::path snapshot = write_hf_style_cache(cache);
  HubOptions options = offline_options(cache);
  EXPECT_EQ(resolve_model("acme/tiny-vlm", options), snapshot);
  EXPECT_EQ(resolve_model(std::string("acme/tiny-vlm@") + kCommit, options), snapshot);
  EXPECT_EQ(read_file(resolve_model("acme/tiny-vlm", options) / "model-00002-of-00002.safetensors"),
            "5678");

  // A complete cached snapshot is used without any network access, even when online.
  options.offline = false;
  EXPECT_EQ(resolve_model("acme/tiny-vlm", options), snapshot);
}

TEST(HubResolveModel, OfflineRepoNotInCacheSaysHowToFix) {
  const fs::path cache = fresh_dir("offline_empty");
  const std::string message = error_of(
      [&] { resolve_model("acme/tiny-vlm", offline_options(cache)); }, ErrorKind::kNotFound);
  EXPECT_THAT(message,
              HasSubstr("acme/tiny-vlm@main is not in the Hugging Face cache " + cache.string()));
  EXPECT_THAT(message, HasSubstr("HF_HUB_OFFLINE"));
  EXPECT_THAT(message, HasSubstr("huggingface-cli download acme/tiny-vlm"));
}

TEST(HubResolveModel, OfflinePartialCacheNamesMissingFiles) {
  const fs::path cache = fresh_dir("offline_partial");
  write_hf_style_cache(cache, /*with_second_shard=*/false);  // a dangling link: missing
  const std::string message = error_of(
      [&] { resolve_model("acme/tiny-vlm", offline_options(cache)); }, ErrorKind::kNotFound);
  EXPECT_THAT(message, HasSubstr("only partly in the Hugging Face cache"));
  EXPECT_THAT(message, HasSubstr("model-00002-of-00002.safetensors"));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("model-00001")));

  // A revision the cache does not know lists what it does know.
  const std::string other = error_of(
      [&] { resolve_model("acme/tiny-vlm@v2", offline_options(cache)); }, ErrorKind::kNotFound);
  EXPECT_THAT(other, HasSubstr("at revision \"v2\" (cached: refs: main -> 4f2c1a9be07d"));
}

#ifndef CLIPMIND_HAVE_CURL
TEST(HubResolveModel, WithoutCurlADownloadSaysHowToGetTheFiles) {
  HubOptions options = offline_options(fresh_dir("nocurl_cache"));
  options.offline = false;
  EXPECT_THAT(error_of([&] { resolve_model("acme/tiny-vlm", options); }, ErrorKind::kUnsupported),
              HasSubstr("CLIPMIND_WITH_CURL=OFF"));
}
#endif

TEST(HubOptions, CacheFolderFollowsHuggingfaceHubPrecedence) {
  ScopedEnv hub_cache("HF_HUB_CACHE", std::nullopt);
  ScopedEnv legacy("HUGGINGFACE_HUB_CACHE", std::nullopt);
  ScopedEnv hf_home("HF_HOME", std::nullopt);
  ScopedEnv xdg("XDG_CACHE_HOME", std::nullopt);
  ScopedEnv home("HOME", "/home/tester");
  EXPECT_EQ(HubOptions::from_environment().cache_dir,
            fs::path("/home/tester/.cache/huggingface/hub"));
  {
    ScopedEnv set_xdg("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(HubOptions::from_environment().cache_dir, fs::path("/xdg/huggingface/hub"));
    ScopedEnv set_home("HF_HOME", "~/hf");
    EXPECT_EQ(HubOptions::from_environment().cache_dir, fs::path("/home/tester/hf/hub"));
    ScopedEnv set_legacy("HUGGINGFACE_HUB_CACHE", "/legacy");
    EXPECT_EQ(HubOptions::from_environment().cache_dir, fs::path("/legacy"));
    ScopedEnv set_cache("HF_HUB_CACHE", "/explicit/hub");
    EXPECT_EQ(HubOptions::from_environment().cache_dir, fs::path("/explicit/hub"));
  }
}

TEST(HubOptions, EndpointTokenAndOfflineFromEnvironment) {
  const fs::path home = fresh_dir("hf_home");
  ScopedEnv hf_home("HF_HOME", home.string());
  ScopedEnv token("HF_TOKEN", std::nullopt);
  ScopedEnv token_path("HF_TOKEN_PATH", std::nullopt);
  ScopedEnv endpoint("HF_ENDPOINT", "https://mirror.example.org/");
  ScopedEnv offline("HF_HUB_OFFLINE", std::nullopt);

  HubOptions options = HubOptions::from_environment();
  EXPECT_EQ(options.endpoint, "https://mirror.example.org");
  EXPECT_EQ(options.token, "");
  EXPECT_FALSE(options.offline);

  write_file(home / "token", "hf_fromfile\n");  // as `huggingface-cli login` saves it
  EXPECT_EQ(HubOptions::from_environment().token, "hf_fromfile");
  {
    ScopedEnv set_token("HF_TOKEN", "hf_fromenv");
    EXPECT_EQ(HubOptions::from_environment().token, "hf_fromenv");
  }
  for (const char* yes : {"1", "true", "TRUE", "yes", "On"}) {
    ScopedEnv set_offline("HF_HUB_OFFLINE", yes);
    EXPECT_TRUE(HubOptions::from_environment().offline) << yes;
  }
  for (const char* no : {"0", "false", "", "off"}) {
    ScopedEnv set_offline("HF_HUB_OFFLINE", no);
    EXPECT_FALSE(HubOptions::from_environment().offline) << no;
  }
}

}  // namespace
}  // namespace clipmind::models::hub
