// A full disk under every file the real `clipmind` writes (docs/pipeline.md "Full disk"), on a
// real filesystem that fills up: a small tmpfs in a user namespace (tests/support/small_disk.h),
// sized from a first run so that it fills in the middle of the work. Each test checks the exit
// code, that the message names the file and says there is no space, and what is on the disk
// afterwards: complete files only, never a temporary one.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include "tests/e2e/e2e_support.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace clipmind::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool says_no_space(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text.find("no space left") != std::string::npos;
}

bool any_temporary(const std::vector<std::string>& files) {
  return std::any_of(files.begin(), files.end(), [](const std::string& f) {
    return f.find(".part-") != std::string::npos || f.find("write-test") != std::string::npos;
  });
}

// The lines of `text` that contain `needle`, and the line after each.
std::vector<std::pair<std::string, std::string>> lines_with(const std::string& text,
                                                            const std::string& needle) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find(needle) != std::string::npos)
      out.emplace_back(lines[i], i + 1 < lines.size() ? lines[i + 1] : "");
  }
  return out;
}

// 100 one-second captions (a --segment 1 run over 100 s): several blocks of JSON Lines.
fs::path long_video(const std::string& name) {
  return e2e_video(name, 200, 2, 96, 72);
}

std::vector<std::string> caption_args(const std::vector<fs::path>& inputs, const fs::path& out,
                                      const std::string& format) {
  std::vector<std::string> a = {"caption"};
  for (const fs::path& i : inputs)
    a.push_back(i.string());
  // One compute thread: on a loaded machine, waking threads for a hundred tiny spans costs
  // ten times the work.
  a.insert(a.end(), {"--out", out.string(), "--format", format, "--segment", "1", "--model",
                     tiny_vlm().string(), "--max-new-tokens", "8", "--set",
                     "caption.frames_per_segment=1", "--threads", "1"});
  return a;
}

TEST(CliFullDisk, CaptionBatchFailsTheFilesThatDoNotFitAndFinishesWhenSpaceComesBack) {
  std::string why;
  const auto disk = small_disk("full-caption", 2 << 20, why);
  if (!disk) GTEST_SKIP() << "no small tmpfs in a user namespace here: " << why;
  const fs::path in = fresh_dir("full-caption-in");
  fs::copy_file(long_video("full-cap-a"), in / "a.mp4");
  fs::copy_file(long_video("full-cap-b"), in / "b.mp4");
  fs::copy_file(long_video("full-cap-c"), in / "c.mp4");
  const fs::path out = disk->dir() / "subs";
  RunOptions options;
  options.disk = disk.get();
  options.env = {{"XDG_CACHE_HOME", fresh_dir("full-caption-cache").string()}};

  // 1. What a's captions and their source record take on this disk (greedy: every run the same).
  const uint64_t empty = disk->used_bytes();
  const RunResult alone = run_cli(caption_args({in / "a.mp4"}, out, "jsonl"), options);
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  const uint64_t a_needs = disk->used_bytes() - empty;
  ASSERT_GT(a_needs, 0u);
  fs::remove_all(disk->outside(out));

  // 2. Room for a's files and one block: b and c pass the folder check, then their captions
  //    (several blocks each, checked in 3) fill the disk while being written.
  const uint64_t block = disk->block_size();
  ASSERT_EQ(disk->fill(a_needs + block), a_needs + block);
  const RunResult full = run_cli(caption_args({in}, out, "jsonl"), options);
  EXPECT_EQ(full.exit_code, 5) << full.err;  // kIo
  const auto done = lines_with(full.out, "a.mp4");
  ASSERT_EQ(done.size(), 1u) << full.out;
  EXPECT_EQ(done[0].first.rfind("done", 0), 0u) << full.out;
  for (const std::string name : {"b", "c"}) {
    const auto failed = lines_with(full.out, name + ".mp4");
    ASSERT_EQ(failed.size(), 1u) << full.out;
    EXPECT_EQ(failed[0].first.rfind("failed", 0), 0u) << full.out;
    // The error line under it: the output being written and the reason, in words.
    EXPECT_NE(failed[0].second.find((out / (name + ".jsonl")).string()), std::string::npos)
        << full.out;
    EXPECT_TRUE(says_no_space(failed[0].second)) << full.out;
  }
  EXPECT_NE(full.err.find("2 of 3 files could not be captioned"), std::string::npos) << full.err;
  // a complete, b and c absent (no half file under the final name), no temporary file.
  const std::vector<std::string> left = files_under(disk->outside(out));
  EXPECT_EQ(left, (std::vector<std::string>{".clipmind/a.jsonl.source", "a.jsonl"}));
  EXPECT_FALSE(any_temporary(left));
  EXPECT_EQ(validate_jsonl(read_file(disk->outside(out / "a.jsonl"))), "");

  // 3. Space back: the same command keeps a and writes b and c.
  disk->unfill();
  std::vector<std::string> again = caption_args({in}, out, "jsonl");
  again.push_back("--json");
  const RunResult resumed = run_cli(again, options);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const json report = json::parse(resumed.out);
  EXPECT_EQ(report.at("skipped"), 1);
  EXPECT_EQ(report.at("done"), 2);
  for (const std::string name : {"b", "c"}) {
    const fs::path file = disk->outside(out / (name + ".jsonl"));
    EXPECT_EQ(validate_jsonl(read_file(file)), "") << name;
    // More than the one free block of step 2: the disk filled in the middle of the file.
    EXPECT_GT(fs::file_size(file), block) << name;
  }
  EXPECT_FALSE(any_temporary(files_under(disk->outside(out))));
}

TEST(CliFullDisk, CaptionOnAFullDiskFailsBeforeAnyWork) {
  std::string why;
  const auto disk = small_disk("full-caption-start", 1 << 20, why);
  if (!disk) GTEST_SKIP() << "no small tmpfs in a user namespace here: " << why;
  disk->fill(0);
  const fs::path out = disk->dir() / "subs";
  RunOptions options;
  options.disk = disk.get();
  options.env = {{"XDG_CACHE_HOME", fresh_dir("full-caption-start-cache").string()}};
  for (const std::string format : {"srt", "vtt"}) {
    const RunResult r = run_cli(caption_args({long_video("full-cap-a")}, out, format), options);
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_NE(r.err.find(out.string() + ": cannot write in the output folder"), std::string::npos)
        << r.err;
    EXPECT_TRUE(says_no_space(r.err)) << r.err;
    EXPECT_NE(r.err.find("hint: Check free disk space"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << "no report: nothing was captioned\n" << r.out;
    EXPECT_EQ(files_under(disk->outside(out)), std::vector<std::string>{});
  }
}

// The token cache is an optimisation: a full cache disk costs speed, never the answer.
TEST(CliFullDisk, AskAnswersWhenTheTokenCacheFillsItsDisk) {
  std::string why;
  const auto disk = small_disk("full-cache", 4 << 20, why);
  if (!disk) GTEST_SKIP() << "no small tmpfs in a user namespace here: " << why;
  const fs::path cache = disk->dir() / "cache";
  RunOptions options;
  options.disk = disk.get();
  options.env = {{"XDG_CACHE_HOME", cache.string()}};
  const std::vector<std::string> args = {"ask",
                                         e2e_video("full-cache-video", 80, 10, 96, 72).string(),
                                         "What happens?",
                                         "--model",
                                         tiny_vlm().string(),
                                         "--json",
                                         "--max-new-tokens",
                                         "4"};

  // 1. With room: the answer, and every cache entry it stores.
  const RunResult roomy = run_cli(args, options);
  ASSERT_EQ(roomy.exit_code, 0) << roomy.err;
  const std::string answer = json::parse(roomy.out).at("answer").get<std::string>();
  std::map<std::string, std::string> entries;
  uint64_t entry_bytes = 0;
  for (const std::string& f : files_under(disk->outside(cache))) {
    entries[f] = read_file(disk->outside(cache / f));
    entry_bytes += entries[f].size();
  }
  ASSERT_GE(entries.size(), 2u);
  fs::remove_all(disk->outside(cache));

  // 2. Room for about half of them: the same answer, exit 0, one warning naming the cache
  //    file and the reason; what was stored is whole (byte for byte what the roomy run stored).
  disk->fill(entry_bytes / 2);
  const RunResult full = run_cli(args, options);
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_EQ(json::parse(full.out).at("answer"), answer);
  EXPECT_NE(full.err.find("cannot store encoded tokens (" + cache.string()), std::string::npos)
      << full.err;
  EXPECT_TRUE(says_no_space(full.err)) << full.err;
  const std::vector<std::string> kept = files_under(disk->outside(cache));
  EXPECT_FALSE(any_temporary(kept));
  EXPECT_LT(kept.size(), entries.size());
  for (const std::string& f : kept) {
    ASSERT_EQ(entries.count(f), 1u) << f;
    EXPECT_TRUE(read_file(disk->outside(cache / f)) == entries[f]) << f << " is not whole";
  }

  // 3. Space back: the entries kept are read (none damaged) and the answer is the same.
  disk->unfill();
  const RunResult after = run_cli(args, options);
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(json::parse(after.out).at("answer"), answer);
  EXPECT_EQ(after.err.find("removed, the tokens will be recomputed"), std::string::npos)
      << after.err;
  EXPECT_EQ(files_under(disk->outside(cache)).size(), entries.size());
}

TEST(CliFullDisk, FramesStopAtTheFirstImageThatDoesNotFit) {
  std::string why;
  const auto disk = small_disk("full-frames", 1 << 20, why);
  if (!disk) GTEST_SKIP() << "no small tmpfs in a user namespace here: " << why;
  const fs::path out = disk->dir() / "frames";
  RunOptions options;
  options.disk = disk.get();
  // Each 64x48 JPEG takes one block: three fit.
  disk->fill(3 * disk->block_size());
  const RunResult r = run_cli({"frames", e2e_video("full-frames", 80, 10, 96, 72).string(),
                               "--count", "8", "--size", "64x48", "--out", out.string()},
                              options);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_TRUE(says_no_space(r.err)) << r.err;
  std::smatch named;
  ASSERT_TRUE(std::regex_search(r.err, named, std::regex(R"((/\S+\.jpg): cannot write)"))) << r.err;
  const fs::path failed = named[1].str();
  EXPECT_EQ(failed.parent_path(), out);
  // The files on the disk are exactly those printed, each a whole JPEG; not the failed one.
  std::vector<std::string> printed;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    printed.push_back(fs::path(line).filename().string());
  std::sort(printed.begin(), printed.end());
  const std::vector<std::string> left = files_under(disk->outside(out));
  EXPECT_EQ(left, printed);
  EXPECT_EQ(left.size(), 3u);
  EXPECT_EQ(std::count(left.begin(), left.end(), failed.filename().string()), 0);
  for (const std::string& f : left) {
    const std::string bytes = read_file(disk->outside(out / f));
    ASSERT_GT(bytes.size(), 4u) << f;
    EXPECT_EQ(bytes.substr(0, 2), "\xFF\xD8") << f;
    EXPECT_EQ(bytes.substr(bytes.size() - 2), "\xFF\xD9") << f << " is cut short";
  }
}

TEST(CliFullDisk, MakeTinyModelLeavesNothingBehind) {
  std::string why;
  const auto disk = small_disk("full-model", 64 << 10, why);  // less than the weights
  if (!disk) GTEST_SKIP() << "no small tmpfs in a user namespace here: " << why;
  RunOptions options;
  options.disk = disk.get();
  const fs::path target = disk->dir() / "tiny-llava";
  const RunResult r =
      run_cli({"make-tiny-model", "--arch", "llava-onevision", target.string()}, options);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find(target.string() + ": cannot write the model"), std::string::npos) << r.err;
  EXPECT_TRUE(says_no_space(r.err)) << r.err;
  // Neither the model folder nor its temporary folder.
  EXPECT_TRUE(fs::is_empty(disk->outside())) << files_under(disk->outside()).size();
}

}  // namespace
}  // namespace clipmind::e2e
