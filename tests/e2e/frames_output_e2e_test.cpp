// `clipmind frames` prints the paths it wrote, through the real binary: on a pipe one per line
// and byte for byte (an --out folder holding ESC, a tab and BEL included), NUL-terminated with
// -0; an --out folder whose name has a line break is refused without -0 (it would split a
// path over two lines) and works with it; on a terminal the paths are shown terminal-safe, so
// a hostile folder name cannot send escape sequences to it.
#include <filesystem>
#include <string>
#include <vector>

#include "tests/e2e/e2e_support.h"
#include <gtest/gtest.h>

namespace clipmind::e2e {
namespace {

namespace fs = std::filesystem;

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD

fs::path frames_video() {
  return e2e_video("frames-output", 30, 10, 64, 48);  // 3 s: --count 3 gives 3 distinct frames
}

// The pieces of `text` between `separator`s; the text must end with one.
std::vector<std::string> split_terminated(const std::string& text, const std::string& separator) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin < text.size()) {
    const size_t end = text.find(separator, begin);
    if (end == std::string::npos) {
      ADD_FAILURE() << "not terminated: " << text.substr(begin);
      break;
    }
    out.push_back(text.substr(begin, end - begin));
    begin = end + separator.size();
  }
  return out;
}

size_t files_in(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    n += e.is_regular_file() ? 1 : 0;
  return n;
}

std::vector<std::string> frames_args(const fs::path& out, std::vector<std::string> more = {}) {
  std::vector<std::string> a = {"frames",    frames_video().string(), "--count", "3", "--out",
                                out.string()};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

// A folder name with ESC (a colour sequence), a tab and BEL, but no line break.
fs::path hostile_folder(const std::string& test) {
  return fresh_dir(test) / "odd\x1b[31m\tname\x07";
}

TEST(FramesCliOutput, OnAPipeThePathsAreExactOnePerLine) {
  const fs::path out = hostile_folder("frames-pipe");
  const RunResult r = run_cli(frames_args(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> paths = split_terminated(r.out, "\n");
  ASSERT_EQ(paths.size(), 3u) << r.out;
  for (const std::string& p : paths) {
    EXPECT_EQ(fs::path(p).parent_path(), out) << p;
    EXPECT_TRUE(fs::is_regular_file(p)) << p;
  }
  EXPECT_EQ(files_in(out), 3u);
}

TEST(FramesCliOutput, OnATerminalThePathsAreShownTerminalSafe) {
  const fs::path out = hostile_folder("frames-tty");
  RunOptions tty;
  tty.stdout_tty = true;
  const RunResult r = run_cli(frames_args(out), tty);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The terminal turns each "\n" into "\r\n"; nothing else below U+0020 may reach it.
  const std::vector<std::string> lines = split_terminated(r.out, "\r\n");
  ASSERT_EQ(lines.size(), 3u) << r.out;
  for (const std::string& line : lines) {
    for (const char c : line)
      EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7F) << line;
    // ESC and BEL are shown as U+FFFD, the tab as a space; the frame's own name is kept.
    EXPECT_NE(line.find("odd" + kReplacement + "[31m name" + kReplacement + "/t"),
              std::string::npos)
        << line;
  }
  EXPECT_EQ(files_in(out), 3u) << "the files keep their real names";
}

TEST(FramesCliOutput, AFolderNameWithALineBreakNeedsNulTerminatedPaths) {
  const fs::path out = fresh_dir("frames-newline") / "two\nlines";
  const RunResult refused = run_cli(frames_args(out));
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_TRUE(refused.out.empty()) << refused.out;
  EXPECT_NE(refused.err.find("two\\nlines"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("-0"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(out)) << "refused before anything was written";

  for (const std::string flag : {"-0", "--null"}) {
    SCOPED_TRACE(flag);
    const RunResult r = run_cli(frames_args(out, {flag}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::vector<std::string> paths = split_terminated(r.out, std::string(1, '\0'));
    ASSERT_EQ(paths.size(), 3u) << r.out;
    for (const std::string& p : paths) {
      EXPECT_EQ(fs::path(p).parent_path(), out) << p;
      EXPECT_TRUE(fs::is_regular_file(p)) << p;
    }
  }
}

TEST(FramesCliOutput, HelpDescribesTheOutput) {
  const RunResult r = run_cli({"frames", "--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("-0,--null"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("terminal-safe"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace clipmind::e2e
