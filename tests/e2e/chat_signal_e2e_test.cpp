// `clipmind chat` waiting for its next question, through the real binary with a tiny model: a
// SIGINT or SIGTERM while stdin stays open ends it at once with the cancellation exit code and
// message (it used to hang until Enter and then exit 0); the end of stdin still ends it with 0,
// a last question without "\n" is answered, and a line of more than 1 MiB is refused alone.
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "tests/e2e/e2e_support.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace clipmind::e2e {
namespace {

using nlohmann::json;

std::vector<std::string> chat_args() {
  return {"chat",
          e2e_video("e2e-chat-signal", 100, 25, 96, 72).string(),  // 4 s
          "--model",
          tiny_vlm().string(),
          "--json",
          "--no-cache",
          "--max-new-tokens",
          "4",
          "--set",
          "dtype=\"float32\""};
}

size_t lines_in(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

std::vector<std::string> verbose_chat_args() {
  std::vector<std::string> args = chat_args();
  args.push_back("--verbose");
  return args;
}

// The cancellation contract of every command (cli_signals.h, main.cpp): a notice, the job
// stopped within a second of the signal (the program's own reading, "--verbose"), then
// "cancelled", exit 130; process teardown only has to be reasonable on a loaded machine.
void expect_cancelled(InteractiveCli& chat, int code) {
  EXPECT_EQ(code, 130) << chat.err();
  const std::optional<double> stopped = job_stop_seconds(chat.err());
  ASSERT_TRUE(stopped.has_value()) << chat.err();
  EXPECT_LT(*stopped, 1.0) << chat.err();
  EXPECT_LE(*stopped, chat.signal_to_exit_s() + 0.05) << "the job stops before the exit";
  EXPECT_LT(chat.signal_to_exit_s(), 10.0) << chat.err();
  EXPECT_NE(chat.err().find("clipmind: cancelling"), std::string::npos) << chat.err();
  EXPECT_NE(chat.err().find("clipmind: cancelled"), std::string::npos) << chat.err();
}

TEST(CliChatSignals, SigintWhileWaitingForTheNextQuestionEndsTheChat) {
  InteractiveCli chat(verbose_chat_args());
  ASSERT_TRUE(chat.write("What happens first?\n"));
  // "prepared" and the first answer: the chat now waits on an open stdin.
  ASSERT_TRUE(chat.wait_for(
      [](const std::string& out, const std::string&) { return lines_in(out) >= 2; }, 180))
      << chat.err();
  chat.signal(SIGINT);
  const int code = chat.wait_exit(30);
  expect_cancelled(chat, code);
  const std::vector<json> events = json_lines(chat.out());
  ASSERT_EQ(events.size(), 2u) << chat.out();
  EXPECT_EQ(events[0].at("event"), "prepared");
  EXPECT_EQ(events[1].at("event"), "answer");
  EXPECT_EQ(events[1].at("question"), "What happens first?");
}

TEST(CliChatSignals, SigtermBeforeTheFirstQuestionEndsTheChat) {
  InteractiveCli chat(verbose_chat_args());
  ASSERT_TRUE(chat.wait_for(
      [](const std::string& out, const std::string&) { return lines_in(out) >= 1; }, 180))
      << chat.err();
  chat.signal(SIGTERM);
  const int code = chat.wait_exit(30);
  expect_cancelled(chat, code);
  const std::vector<json> events = json_lines(chat.out());
  ASSERT_EQ(events.size(), 1u) << chat.out();
  EXPECT_EQ(events[0].at("event"), "prepared");
}

TEST(CliChatSignals, EndOfInputAnswersALastLineWithoutNewlineAndExitsZero) {
  // Line 2 is longer than the 1 MiB a chat line may have: refused alone (exit code 2 in its
  // event), the chat goes on; line 3 has no "\n" and is still a question.
  const std::string huge(1024 * 1024 + 10, 'x');
  InteractiveCli chat(chat_args());
  ASSERT_TRUE(chat.write("Q1\n" + huge + "\nWhat is last?"));
  chat.close_stdin();
  const int code = chat.wait_exit(180);
  ASSERT_EQ(code, 0) << chat.err();
  const std::vector<json> events = json_lines(chat.out());
  ASSERT_EQ(events.size(), 4u) << chat.out();
  EXPECT_EQ(events[1].at("event"), "answer");
  EXPECT_EQ(events[1].at("question"), "Q1");
  EXPECT_EQ(events[2].at("event"), "error");
  EXPECT_EQ(events[2].at("line"), 2);
  EXPECT_EQ(events[2].at("stage"), "question");
  EXPECT_EQ(events[2].at("exit_code"), 2);
  EXPECT_NE(events[2].at("message").get<std::string>().find("too long"), std::string::npos);
  EXPECT_NE(events[2].at("message").get<std::string>().find(std::to_string(huge.size())),
            std::string::npos)
      << events[2].dump();
  EXPECT_EQ(events[3].at("event"), "answer");
  EXPECT_EQ(events[3].at("question"), "What is last?");
  EXPECT_EQ(events[3].at("turn"), 2);
  EXPECT_EQ(chat.err().find("cancel"), std::string::npos) << chat.err();
}

}  // namespace
}  // namespace clipmind::e2e
