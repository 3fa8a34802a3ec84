// LineReader over real pipes: lines split across reads, a last line without "\n", empty lines,
// an over-long line skipped with bounded memory, EINTR while waiting, a non-blocking fd, a
// cancellation while it waits for input that never comes, and a closed fd.
#include "app/clipmind/line_reader.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "clipmind/error.h"

namespace clipmind::cli {
namespace {

// A pipe whose ends close with the object.
struct Pipe {
  int read_end = -1, write_end = -1;
  Pipe() {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    read_end = fds[0];
    write_end = fds[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  void write(const std::string& s) const {
    ASSERT_EQ(::write(write_end, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  void close_write() {
    if (write_end >= 0) ::close(write_end);
    write_end = -1;
  }
  void close_read() {
    if (read_end >= 0) ::close(read_end);
    read_end = -1;
  }
};

std::string text_of(const std::optional<LineReader::Line>& line) {
  EXPECT_TRUE(line.has_value());
  return line ? line->text : "<none>";
}

TEST(LineReader, SplitsLinesAndKeepsALastLineWithoutNewline) {
  Pipe p;
  p.write("first\n\nthird line\nlast");
  p.close_write();
  LineReader reader(p.read_end, CancelToken(), 100, "test input");
  EXPECT_EQ(text_of(reader.next()), "first");
  EXPECT_EQ(text_of(reader.next()), "");
  EXPECT_EQ(text_of(reader.next()), "third line");
  const auto last = reader.next();
  EXPECT_EQ(text_of(last), "last");
  EXPECT_FALSE(last->too_long);
  EXPECT_EQ(last->bytes, 4u);
  EXPECT_FALSE(reader.next().has_value());
  EXPECT_FALSE(reader.next().has_value());  // stays at the end
}

TEST(LineReader, InputEndingWithNewlineHasNoEmptyLastLine) {
  Pipe p;
  p.write("only\n");
  p.close_write();
  LineReader reader(p.read_end, CancelToken(), 100, "test input");
  EXPECT_EQ(text_of(reader.next()), "only");
  EXPECT_FALSE(reader.next().has_value());
}

TEST(LineReader, JoinsALineThatArrivesInPieces) {
  Pipe p;
  std::thread writer([&p] {
    p.write("hel");
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    p.write("lo wor");
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    p.write("ld\nnext\n");
    p.close_write();
  });
  LineReader reader(p.read_end, CancelToken(), 100, "test input");
  EXPECT_EQ(text_of(reader.next()), "hello world");
  EXPECT_EQ(text_of(reader.next()), "next");
  EXPECT_FALSE(reader.next().has_value());
  writer.join();
}

TEST(LineReader, AnOverlongLineIsCutMarkedAndSkippedToItsEnd) {
  Pipe p;
  std::thread writer([&p] {
    // 200,000 bytes on one line: more than one read() and far more than the limit of 8.
    p.write(std::string(200000, 'x') + "\nok\n");
    p.close_write();
  });
  LineReader reader(p.read_end, CancelToken(), 8, "test input");
  const auto big = reader.next();
  ASSERT_TRUE(big.has_value());
  EXPECT_TRUE(big->too_long);
  EXPECT_EQ(big->text, "xxxxxxxx");
  EXPECT_EQ(big->bytes, 200000u);
  const auto ok = reader.next();
  EXPECT_EQ(text_of(ok), "ok");
  EXPECT_FALSE(ok->too_long);
  EXPECT_FALSE(reader.next().has_value());
  writer.join();
}

TEST(LineReader, ALineOfExactlyTheLimitIsNotTooLong) {
  Pipe p;
  p.write("12345678\n123456789");
  p.close_write();
  LineReader reader(p.read_end, CancelToken(), 8, "test input");
  const auto exact = reader.next();
  EXPECT_EQ(text_of(exact), "12345678");
  EXPECT_FALSE(exact->too_long);
  const auto over = reader.next();
  EXPECT_EQ(text_of(over), "12345678");
  EXPECT_TRUE(over->too_long);  // also for a last line without "\n"
  EXPECT_EQ(over->bytes, 9u);
}

TEST(LineReader, CancellingWhileWaitingThrowsCancelled) {
  Pipe p;  // the write end stays open: without the token the reader would wait for ever
  CancelToken token;
  LineReader reader(p.read_end, token, 100, "test input");
  p.write("answered\n");
  EXPECT_EQ(text_of(reader.next()), "answered");
  std::thread canceller([token] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    token.request();
  });
  EXPECT_THROW(reader.next(), Cancelled);
  canceller.join();
}

TEST(LineReader, ACancelledTokenStopsEvenWithLinesBuffered) {
  Pipe p;
  p.write("one\ntwo\n");
  CancelToken token;
  LineReader reader(p.read_end, token, 100, "test input");
  EXPECT_EQ(text_of(reader.next()), "one");
  token.request();
  EXPECT_THROW(reader.next(), Cancelled);
}

std::atomic<int> g_usr1_count{0};
extern "C" void count_usr1(int) {
  g_usr1_count.fetch_add(1);
}

TEST(LineReader, SignalsWithoutRestartDoNotEndTheWait) {
  struct sigaction action {
  }, previous{};
  action.sa_handler = count_usr1;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: poll() and read() return EINTR
  ASSERT_EQ(::sigaction(SIGUSR1, &action, &previous), 0);
  Pipe p;
  LineReader reader(p.read_end, CancelToken(), 100, "test input");
  const pthread_t reader_thread = ::pthread_self();
  std::thread sender([&p, reader_thread] {
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ::pthread_kill(reader_thread, SIGUSR1);
    }
    p.write("after signals\n");
    p.close_write();
  });
  EXPECT_EQ(text_of(reader.next()), "after signals");
  EXPECT_FALSE(reader.next().has_value());
  sender.join();
  ::sigaction(SIGUSR1, &previous, nullptr);
  EXPECT_EQ(g_usr1_count.load(), 5);
}

TEST(LineReader, ReadsANonBlockingFd) {
  Pipe p;
  ASSERT_EQ(::fcntl(p.read_end, F_SETFL, ::fcntl(p.read_end, F_GETFL) | O_NONBLOCK), 0);
  std::thread writer([&p] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    p.write("late\n");
    p.close_write();
  });
  LineReader reader(p.read_end, CancelToken(), 100, "test input");
  EXPECT_EQ(text_of(reader.next()), "late");
  EXPECT_FALSE(reader.next().has_value());
  writer.join();
}

TEST(LineReader, AClosedFdIsAnIoErrorNamingTheInput) {
  Pipe p;
  const int fd = p.read_end;
  p.close_read();
  LineReader reader(fd, CancelToken(), 100, "the questions on standard input");
  try {
    reader.next();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("the questions on standard input"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace clipmind::cli
