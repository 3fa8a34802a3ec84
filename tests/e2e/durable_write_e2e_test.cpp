// Writes whose data is refused only when flushed to the disk (NFS, btrfs/XFS with delayed
// allocation, quotas report ENOSPC/EDQUOT/EIO at fsync or close), through the real `clipmind`
// binary: an LD_PRELOAD library (tests/support/fail_sync_preload.cpp) makes fsync, or close,
// fail for the files whose path contains a given text, and logs every failure it injects, so
// each test also proves the failure happened. What is checked: the exit code, a message naming
// the file with the reason in words, and what is on the disk afterwards: nothing under the final
// name of a file whose flush failed (a rename before the fsync could leave it empty or short
// after a crash, "as if complete"), no temporary file, and a later run finishing the work.
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/e2e_support.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace clipmind::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The environment that loads the library and fails `calls` for paths containing `path_part`.
std::map<std::string, std::string> failing(const std::string& path_part, const std::string& err,
                                           const fs::path& log,
                                           const std::string& calls = "fsync,fdatasync") {
  return {{"LD_PRELOAD", CLIPMIND_FAIL_SYNC_PRELOAD},
          // A sanitizer build wants its runtime first; the preload library comes before it.
          {"ASAN_OPTIONS", "verify_asan_link_order=0"},
          {"CLIPMIND_FAIL_SYNC_PATH", path_part},
          {"CLIPMIND_FAIL_SYNC_ERRNO", err},
          {"CLIPMIND_FAIL_SYNC_CALLS", calls},
          {"CLIPMIND_FAIL_SYNC_LOG", log.string()}};
}

// The failures the library injected, one "<call> <path>" line each.
std::vector<std::string> injected(const fs::path& log) {
  std::vector<std::string> lines;
  if (!fs::exists(log)) return lines;
  std::istringstream in(read_file(log));
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

bool any_temporary(const std::vector<std::string>& files) {
  for (const std::string& f : files) {
    if (f.find(".part-") != std::string::npos) return true;
  }
  return false;
}

// The line of `text` that contains `needle` and the line after it.
std::pair<std::string, std::string> line_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(needle) == std::string::npos) continue;
    std::string next;
    std::getline(in, next);
    return {line, next};
  }
  return {};
}

std::vector<std::string> caption_args(const fs::path& in, const fs::path& out) {
  return {"caption",          in.string(), "--out",     out.string(),
          "--format",         "srt",       "--model",   tiny_vlm().string(),
          "--max-new-tokens", "4",         "--segment", "2",
          "--threads",        "1"};
}

fs::path two_videos(const std::string& name) {
  const fs::path in = fresh_dir(name);
  fs::copy_file(e2e_video("durable-a", 40, 10, 96, 72), in / "a.mp4");
  fs::copy_file(e2e_video("durable-b", 40, 10, 96, 72), in / "b.mp4");
  return in;
}

// fsync (EDQUOT) and then close (EIO, with fsync passing) of a's caption file fail: a is failed
// in the summary with its file and the reason, b (whose flush works) is written, exit 5; no
// a.srt and no temporary file exist; the same command without the failure captions a and skips b.
TEST(CliDurableWrites, CaptionFileWhoseFlushOrCloseFailsIsFailedAndNothingIsLeftUnderItsName) {
  struct Case {
    std::string calls, err, reason;
  };
  for (const Case& c : {Case{"fsync", "EDQUOT", "Disk quota exceeded"},
                        Case{"close", "EIO", "Input/output error"}}) {
    SCOPED_TRACE(c.calls);
    const fs::path in = two_videos("durable-caption-in");
    const fs::path out = fresh_dir("durable-caption-out");
    const fs::path log = fresh_dir("durable-caption-log") / "injected.txt";
    RunOptions options;
    options.env = failing(out.string() + "/a.srt.part-", c.err, log, c.calls);
    options.env["XDG_CACHE_HOME"] = fresh_dir("durable-caption-cache").string();

    const RunResult r = run_cli(caption_args(in, out), options);
    EXPECT_EQ(r.exit_code, 5) << r.err;  // kIo
    ASSERT_FALSE(injected(log).empty()) << "the library injected nothing: " << r.err;
    EXPECT_EQ(injected(log)[0].rfind(c.calls == "close" ? "fclose " : "fsync ", 0), 0u)
        << injected(log)[0];
    const auto [a_line, a_error] = line_with(r.out, "a.mp4");
    EXPECT_EQ(a_line.rfind("failed", 0), 0u) << r.out;
    EXPECT_NE(a_error.find((out / "a.srt").string() + ": cannot write: " + c.reason),
              std::string::npos)
        << r.out;
    EXPECT_EQ(line_with(r.out, "b.mp4").first.rfind("done", 0), 0u) << r.out;
    EXPECT_NE(r.err.find("1 of 2 files could not be captioned"), std::string::npos) << r.err;
    const std::vector<std::string> left = files_under(out);
    EXPECT_EQ(left, (std::vector<std::string>{".clipmind/b.srt.source", "b.srt"}));
    EXPECT_FALSE(any_temporary(left));
    EXPECT_EQ(validate_srt(read_file(out / "b.srt")), "");

    std::vector<std::string> again = caption_args(in, out);
    again.push_back("--json");
    RunOptions plain;
    plain.env = {{"XDG_CACHE_HOME", options.env["XDG_CACHE_HOME"]}};
    const RunResult resumed = run_cli(again, plain);
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    const json report = json::parse(resumed.out);
    EXPECT_EQ(report.at("done"), 1);
    EXPECT_EQ(report.at("skipped"), 1);
    EXPECT_EQ(validate_srt(read_file(out / "a.srt")), "");
    EXPECT_FALSE(any_temporary(files_under(out)));
  }
}

// The folder's fsync after the rename fails: the file is complete under its name (it was synced
// before the rename), so that is not an error (include/clipmind/atomic_file.h says why).
TEST(CliDurableWrites, AFailedFolderFsyncAfterTheRenameKeepsTheCompleteFile) {
  const fs::path in = fresh_dir("durable-dir-in");
  fs::copy_file(e2e_video("durable-a", 40, 10, 96, 72), in / "a.mp4");
  const fs::path out = fresh_dir("durable-dir-out");
  const fs::path log = fresh_dir("durable-dir-log") / "injected.txt";
  RunOptions options;
  options.env = failing(out.string() + "$", "EIO", log);
  options.env["XDG_CACHE_HOME"] = fresh_dir("durable-dir-cache").string();
  const RunResult r = run_cli(caption_args(in, out), options);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(injected(log).empty()) << "the folder was never synced: " << r.err;
  EXPECT_EQ(validate_srt(read_file(out / "a.srt")), "");
  EXPECT_FALSE(any_temporary(files_under(out)));
}

// make-tiny-model renames its finished folder into place and then fsyncs the parent folder, so
// the new name survives a crash (the scripts make their demo model this way). The injected
// failure of that fsync proves it happened and, as for a file, is not an error: the folder is
// complete under its name and nothing temporary is left beside it.
TEST(CliDurableWrites, MakeTinyModelSyncsTheFolderItRenamesInto) {
  const fs::path parent = fresh_dir("durable-tiny-parent");
  const fs::path log = fresh_dir("durable-tiny-log") / "injected.txt";
  RunOptions options;
  options.env = failing(parent.string() + "$", "EIO", log);
  const RunResult r =
      run_cli({"make-tiny-model", "--arch", "qwen2", (parent / "tiny").string()}, options);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(injected(log).empty()) << "the parent folder was never synced: " << r.err;
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.json"})
    EXPECT_TRUE(fs::exists(parent / "tiny" / file)) << file;
  EXPECT_FALSE(any_temporary(files_under(parent)));
}

// Every token-cache entry's close fails (EDQUOT, as NFS reports a quota at close; entries are
// not fsynced, their checksum stands in, see pipeline/token_cache.h): the answer is printed,
// exit 0, one warning names the entry's file and the reason; no entry is left that a later run
// would read, and the later run (no failure) encodes again, stores its entries and gives the
// same answer.
TEST(CliDurableWrites, TokenCacheEntriesWhoseCloseFailsAreNotKept) {
  const fs::path cache_home = fresh_dir("durable-cache");
  const fs::path log = fresh_dir("durable-cache-log") / "injected.txt";
  const std::vector<std::string> args = {"ask",
                                         e2e_video("durable-ask", 40, 10, 96, 72).string(),
                                         "What happens?",
                                         "--model",
                                         tiny_vlm().string(),
                                         "--json",
                                         "--max-new-tokens",
                                         "4"};
  RunOptions options;
  options.env = failing(cache_home.string() + "/", "EDQUOT", log, "fsync,close");
  options.env["XDG_CACHE_HOME"] = cache_home.string();
  const RunResult r = run_cli(args, options);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(injected(log).empty()) << r.err;
  const std::string answer = json::parse(r.out).at("answer").get<std::string>();
  EXPECT_NE(r.err.find("warning: cannot store encoded tokens (" + cache_home.string()),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("Disk quota exceeded"), std::string::npos) << r.err;
  EXPECT_EQ(files_under(cache_home), std::vector<std::string>{}) << "no entry was complete";

  RunOptions plain;
  plain.env = {{"XDG_CACHE_HOME", cache_home.string()}};
  const RunResult after = run_cli(args, plain);
  ASSERT_EQ(after.exit_code, 0) << after.err;
  const json doc = json::parse(after.out);
  EXPECT_EQ(doc.at("answer"), answer);
  EXPECT_EQ(doc.at("tokens").at("frames_from_cache"), 0) << "read an entry the failed run left";
  EXPECT_FALSE(files_under(cache_home).empty());
}

}  // namespace
}  // namespace clipmind::e2e
