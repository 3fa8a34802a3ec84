// The CLI's Terminal writes a streamed answer through TerminalTextStream: stdout (redirected to
// a file here) gets no raw control characters, a UTF-8 sequence split across pieces arrives
// whole, an unfinished one at the end becomes U+FFFD, and the answer ends with one newline.
// Log lines and messages on stderr are sanitized too.
#include "app/clipmind/cli_terminal.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace clipmind::cli {
namespace {

const std::string R = "\xEF\xBF\xBD";  // U+FFFD

// Runs `body` with `fd` (stdout or stderr) sent to a file; returns what was written.
std::string capture(int fd, const std::function<void()>& body) {
  const std::filesystem::path file =
      std::filesystem::path(CLIPMIND_TEST_WORK_DIR) / ("cli-terminal-" + std::to_string(fd));
  std::fflush(nullptr);
  const int saved = ::dup(fd);
  const int target = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  EXPECT_GE(target, 0);
  ::dup2(target, fd);
  ::close(target);
  body();
  std::fflush(nullptr);
  ::dup2(saved, fd);
  ::close(saved);
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(CliTerminal, StreamedAnswerIsSanitizedAcrossPieces) {
  Terminal t(/*bar=*/false);
  const std::string out = capture(STDOUT_FILENO, [&] {
    t.text("He\x1b[2J");
    t.text("llo \xE4");  // 中 = E4 B8 AD split over three pieces
    t.text("\xB8");
    t.text("\xAD\r\n\tnext \xF0\x9F");  // an emoji cut off by the end of the answer
    t.end_answer();
  });
  EXPECT_EQ(out, "He" + R + "[2Jllo \xE4\xB8\xAD" + R + "\n\tnext " + R + "\n");
}

TEST(CliTerminal, AnAnswerEndingInNewlineGetsNoSecondOne) {
  Terminal t(false);
  const std::string out = capture(STDOUT_FILENO, [&] {
    t.text("done\n");
    t.end_answer();
    t.text("x\x07");
    t.end_answer();
  });
  EXPECT_EQ(out, "done\nx" + R + "\n");
}

TEST(CliTerminal, LogLinesAndMessagesAreSanitized) {
  Terminal t(false);
  const std::string err = capture(STDERR_FILENO, [&] {
    t.log({pipeline::LogLevel::kInfo, "index", "video evil\x1b]0;x\x07.mp4"});
    t.message("clipmind: \xC2\x9Bq\xFF");
  });
  EXPECT_EQ(err, "clipmind: video evil" + R + "]0;x" + R + ".mp4\nclipmind: " + R + "q" + R + "\n");
}

}  // namespace
}  // namespace clipmind::cli
