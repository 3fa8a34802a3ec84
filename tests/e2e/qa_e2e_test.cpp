// Robustness found by black-box QA, through the real `clipmind` binary and a tiny random model:
// `--method none` takes the model's pooled grid under every frame selection and input size;
// encode.input_size above twice the tower's size is refused before decoding; one unusable chat
// line (not UTF-8, blank, too long for the context) is refused and the chat goes on unchanged.
#include <filesystem>

#include "tests/e2e/e2e_support.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace clipmind::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path qa_video() {
  return e2e_video("qa-short", 60, 10, 160, 120);  // 6 s
}

std::vector<std::string> ask_args(const std::vector<std::string>& more) {
  std::vector<std::string> a = {"ask",        qa_video().string(), "What happens?",
                                "--model",    tiny_vlm().string(), "--json",
                                "--no-cache", "--max-new-tokens",  "2"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

TEST(CliSelectionGrid, MethodNoneTakesTheModelsPooledGridUnderEverySelection) {
  const TinyVision vision = tiny_vision();
  struct Case {
    std::string select;
    int input_size;
  };
  // 0 = the tower's own size; 16 = 4 patches -> 2x2; twice the tower's size is the most allowed.
  const std::vector<Case> cases = {{"scene", 0},
                                   {"anylength", 0},
                                   {"uniform", 0},
                                   {"scene", 16},
                                   {"anylength", 16},
                                   {"scene", 2 * vision.image_size},
                                   {"anylength", 2 * vision.image_size}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.select + " at input size " + std::to_string(c.input_size));
    std::vector<std::string> more = {"--method", "none", "--select", c.select};
    if (c.input_size > 0) {
      more.push_back("--set");
      more.push_back("encode.input_size=" + std::to_string(c.input_size));
    }
    const RunResult r = run_cli(ask_args(more));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json doc = json::parse(r.out);
    const int grid = vision.pooled_grid(c.input_size);
    EXPECT_EQ(doc.at("selection").at("method"), c.select);
    const json& frames = doc.at("selection").at("frames");
    ASSERT_FALSE(frames.empty());
    for (const json& f : frames)
      EXPECT_EQ(f.at("grid").get<int>(), grid) << f.dump();
    for (const json& clip : doc.at("selection").at("clips"))
      EXPECT_EQ(clip.at("grid").get<int>(), grid) << clip.dump();
    // No merging: the model sees every token of every frame.
    const auto n = static_cast<int>(frames.size());
    EXPECT_EQ(doc.at("tokens").at("visual_before_merge").get<int>(), n * grid * grid);
    EXPECT_EQ(doc.at("tokens").at("visual_after_merge").get<int>(), n * grid * grid);
  }
}

TEST(CliInputSize, AboveTwiceTheTowersSizeIsRefusedBeforeDecoding) {
  const TinyVision vision = tiny_vision();
  const std::string range = std::to_string(2 * vision.patch_size) + " to " +
                            std::to_string(2 * vision.image_size) + " pixels";
  for (const int size : {2 * vision.image_size + 1, 2048}) {
    const RunResult r = run_cli(ask_args({"--set", "encode.input_size=" + std::to_string(size)}));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find("encode.input_size " + std::to_string(size)), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(range), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("decode:"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("frame #"), std::string::npos) << r.err;
  }
}

TEST(CliChatRobustness, AnUnusableLineIsRefusedAndTheChatGoesOnUnchanged) {
  const std::vector<std::string> args = {
      "chat",   qa_video().string(), "--model",          tiny_vlm().string(),
      "--json", "--no-cache",        "--max-new-tokens", "4",
      "--set",  "dtype=\"float32\""};
  std::string too_long;
  for (int i = 0; i < 2000; ++i)
    too_long += "word ";  // 10,000 characters: more tokens than the tiny model's context
  RunOptions bad;
  bad.stdin_text = "Q1\n\xff\xfe\n \f \n" + too_long + "\nQ3\n";
  const RunResult r = run_cli(args, bad);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<json> events = json_lines(r.out);
  ASSERT_EQ(events.size(), 6u) << r.out;
  EXPECT_EQ(events[0].at("event"), "prepared");
  EXPECT_EQ(events[1].at("event"), "answer");
  EXPECT_EQ(events[1].at("question"), "Q1");
  EXPECT_EQ(events[1].at("turn"), 1);
  const std::vector<std::pair<int, std::string>> refused = {
      {2, "not valid UTF-8"}, {3, "only white space"}, {4, "too long"}};
  for (size_t k = 0; k < refused.size(); ++k) {
    const json& e = events[2 + k];
    EXPECT_EQ(e.at("event"), "error") << e.dump();
    EXPECT_EQ(e.at("line"), refused[k].first) << e.dump();
    EXPECT_EQ(e.at("stage"), "question") << e.dump();
    EXPECT_EQ(e.at("exit_code"), 2) << e.dump();
    EXPECT_NE(e.at("message").get<std::string>().find(refused[k].second), std::string::npos)
        << e.dump();
    EXPECT_NE(r.err.find(refused[k].second), std::string::npos) << r.err;
  }
  const json& q3 = events[5];
  EXPECT_EQ(q3.at("event"), "answer");
  EXPECT_EQ(q3.at("question"), "Q3");
  EXPECT_EQ(q3.at("turn"), 2);

  // The refused lines changed nothing: Q3 continues Q1's conversation exactly as in a chat
  // that never saw them (same prompt, same greedy answer).
  RunOptions clean;
  clean.stdin_text = "Q1\nQ3\n";
  const RunResult reference = run_cli(args, clean);
  ASSERT_EQ(reference.exit_code, 0) << reference.err;
  const std::vector<json> expected = json_lines(reference.out);
  ASSERT_EQ(expected.size(), 3u) << reference.out;
  EXPECT_EQ(q3.at("tokens").at("prompt_tokens"), expected[2].at("tokens").at("prompt_tokens"));
  EXPECT_GT(q3.at("tokens").at("prompt_tokens").get<int>(),
            events[1].at("tokens").at("prompt_tokens").get<int>());
  EXPECT_EQ(q3.at("answer"), expected[2].at("answer"));
  EXPECT_EQ(events[1].at("answer"), expected[1].at("answer"));
}

}  // namespace
}  // namespace clipmind::e2e
