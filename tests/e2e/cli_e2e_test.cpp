// The real `clipmind` binary end to end, with tiny random models on generated videos and on
// the opencv-doc sample videos: ask (streamed and --json), chat over stdin, caption batches
// (formats, resume, damaged files, Ctrl-C).
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/e2e/e2e_support.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace clipmind::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSamples = CLIPMIND_OPENCV_SAMPLES;

fs::path short_video() {
  return e2e_video("e2e-short", 250, 25, 160, 120);  // 10 s
}

struct TinyDims {
  double d = 0, m = 0, layers = 0;
  int frame_tokens = 0;  // pooled grid squared
};

TinyDims tiny_dims() {
  const json text = json::parse(read_file(tiny_vlm() / "config.json")).at("text_config");
  TinyDims dims;
  dims.d = text.at("hidden_size").get<double>();
  dims.m = text.at("intermediate_size").get<double>();
  dims.layers = text.at("num_hidden_layers").get<double>();
  const int grid = tiny_vision().pooled_grid();
  dims.frame_tokens = grid * grid;
  return dims;
}

std::vector<std::string> model_args() {
  return {"--model", tiny_vlm().string()};
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::map<std::string, std::string> cache_env(const std::string& name) {
  return {{"XDG_CACHE_HOME", fresh_dir(name).string()}};
}

void expect_moments_inside(const json& doc, double duration) {
  for (const json& m : doc.at("moments")) {
    EXPECT_GE(m.at("start").get<double>(), 0.0);
    EXPECT_LE(m.at("end").get<double>(), duration + 1e-6);
    EXPECT_LE(m.at("start").get<double>(), m.at("end").get<double>());
  }
}

TEST(CliAsk, StreamsTheAnswerAndItsJsonParses) {
  const fs::path video = short_video();
  RunOptions options;
  options.env = cache_env("ask-cache");
  const RunResult text = run_cli(
      concat({"ask", video.string(), "What happens in this video?", "--max-new-tokens", "12"},
             model_args()),
      options);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_FALSE(text.out.empty());
  EXPECT_EQ(text.out.back(), '\n');
  EXPECT_EQ(text.err.find('\x1b'), std::string::npos) << "no progress bar when stderr is a pipe";

  const RunResult r = run_cli(concat({"ask", video.string(), "When does the picture change?",
                                      "--json", "--max-new-tokens", "12"},
                                     model_args()),
                              options);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json doc = json::parse(r.out);
  EXPECT_TRUE(doc.at("answer").is_string());
  EXPECT_EQ(doc.at("question"), "When does the picture change?");
  const double duration = doc.at("video").at("duration").get<double>();
  EXPECT_NEAR(duration, 10.0, 0.05);
  expect_moments_inside(doc, duration);
  // Selected frames and clips, merged segments: all inside the video, in time order.
  const json& frames = doc.at("selection").at("frames");
  ASSERT_FALSE(frames.empty());
  double previous = -1;
  for (const json& f : frames) {
    EXPECT_GE(f.at("time").get<double>(), previous);
    previous = f.at("time").get<double>();
    EXPECT_LE(previous, duration);
  }
  EXPECT_FALSE(doc.at("selection").at("clips").empty());
  const json& segments = doc.at("segments");
  ASSERT_FALSE(segments.empty());
  for (const json& s : segments) {
    EXPECT_LE(s.at("start").get<double>(), s.at("end").get<double>());
    EXPECT_GE(s.at("start").get<double>(), 0.0);
    EXPECT_LE(s.at("end").get<double>(), duration);
    EXPECT_GT(s.at("tokens").get<int>(), 0);
    EXPECT_EQ(s.at("separator").get<std::string>().front(), '[');
  }
  // Token counts per stage: merging kept fewer tokens than the frames had, and the prompt is
  // smaller than the unmerged baseline.
  const json& t = doc.at("tokens");
  EXPECT_EQ(t.at("frames").get<int>(), static_cast<int>(frames.size()));
  EXPECT_EQ(t.at("visual_before_merge").get<int>(),
            tiny_dims().frame_tokens * t.at("frames").get<int>());
  EXPECT_LT(t.at("visual_after_merge").get<int>(), t.at("visual_before_merge").get<int>());
  EXPECT_GT(t.at("separator_tokens").get<int>(), 0);
  EXPECT_GT(t.at("prompt_tokens").get<int>(), t.at("visual_after_merge").get<int>());
  // The paper-compatible count (methods.md section 7) for the tiny decoder, with its sizes
  // read from the model's config.json, and the baseline's prompt: the same text with every
  // frame unmerged and no separators or header.
  const TinyDims dims = tiny_dims();
  const auto layer_flops = [&](double n) {
    return 4 * n * dims.d * dims.d + 2 * n * n * dims.d + 2 * n * dims.d * dims.m;
  };
  const auto flops = [&](double n) { return dims.layers * layer_flops(n); };
  const int prompt = t.at("prompt_tokens").get<int>();
  // Full HoliTom by default (docs/pipeline.md "HoliTom defaults"): from layer K = 18/28 of the
  // layers (rounded half to even) on, the inner merge keeps half the visual rows (the merged
  // tokens and the video's image_newline), rounded half to even.
  const json& inner = t.at("inner");
  EXPECT_EQ(inner.at("method"), "holitom");
  const double k = std::nearbyint(18.0 * dims.layers / 28.0);
  EXPECT_EQ(inner.at("layer").get<double>(), k);
  const int visual_rows = t.at("visual_after_merge").get<int>() + 1;
  const int after = prompt - visual_rows + static_cast<int>(std::nearbyint(0.5 * visual_rows));
  EXPECT_EQ(inner.at("tokens_after").get<int>(), after);
  EXPECT_DOUBLE_EQ(t.at("prefill_flops").get<double>(),
                   k * layer_flops(prompt) + (dims.layers - k) * layer_flops(after));
  const int baseline = prompt - t.at("visual_after_merge").get<int>() -
                       t.at("separator_tokens").get<int>() - t.at("header_tokens").get<int>() +
                       dims.frame_tokens * t.at("frames").get<int>();
  EXPECT_EQ(t.at("baseline_prompt_tokens").get<int>(), baseline);
  EXPECT_DOUBLE_EQ(t.at("baseline_prefill_flops").get<double>(), flops(baseline));
  EXPECT_LE(t.at("generated_tokens").get<int>(), 12);
  // Per-stage timings.
  for (const char* stage :
       {"probe", "select", "decode", "encode", "merge", "prompt", "prefill", "generate", "total"}) {
    ASSERT_TRUE(doc.at("timings").contains(stage)) << stage;
    EXPECT_GE(doc.at("timings").at(stage).get<double>(), 0.0) << stage;
  }
  EXPECT_GT(doc.at("time_to_first_token").get<double>(), 0.0);
  EXPECT_LE(doc.at("time_to_first_token").get<double>(),
            doc.at("timings").at("total").get<double>());
}

TEST(CliAsk, SecondQuestionReusesTheTokenCache) {
  const fs::path video = short_video();
  RunOptions options;
  options.env = cache_env("ask-twice-cache");
  const auto args = [&](const std::string& q) {
    return concat(
        {"ask", video.string(), q, "--json", "--max-new-tokens", "4", "--select", "uniform"},
        model_args());
  };
  const RunResult first = run_cli(args("What is shown?"), options);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const json a = json::parse(first.out);
  EXPECT_GT(a.at("tokens").at("frames_encoded").get<int>(), 0);
  EXPECT_EQ(a.at("tokens").at("frames_from_cache").get<int>(), 0);
  const RunResult second = run_cli(args("Is there any text?"), options);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const json b = json::parse(second.out);
  EXPECT_EQ(b.at("tokens").at("frames_encoded").get<int>(), 0);
  EXPECT_EQ(b.at("tokens").at("frames_from_cache").get<int>(),
            b.at("tokens").at("frames").get<int>());
  EXPECT_EQ(b.at("segments"), a.at("segments"));  // same tokens, same merge
  // Nothing was decoded or encoded: those stages took no time at all ("decode+encode" is the
  // stage's wall time, here only the cache reads).
  for (const char* stage : {"decode", "encode"}) {
    EXPECT_EQ(b.at("timings").value(stage, 0.0), 0.0) << stage;
  }
  EXPECT_GT(a.at("timings").at("encode").get<double>(), 0.0);
  EXPECT_LT(b.at("timings").at("decode+encode").get<double>(),
            a.at("timings").at("decode+encode").get<double>());
  for (const json& f : b.at("selection").at("frames"))
    EXPECT_TRUE(f.at("from_cache").get<bool>());
}

TEST(CliAsk, RealSampleVideo) {
  const fs::path video = kSamples / "vtest.avi";
  if (!fs::exists(video)) GTEST_SKIP() << "opencv-doc is not installed";
  const RunResult r = run_cli(concat({"ask", video.string(), "How many people walk by?", "--json",
                                      "--max-new-tokens", "16", "--no-cache"},
                                     model_args()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json doc = json::parse(r.out);
  const double duration = doc.at("video").at("duration").get<double>();
  EXPECT_GT(duration, 60.0);
  expect_moments_inside(doc, duration);
  EXPECT_EQ(doc.at("selection").at("method"), "scene");  // auto without a relevance model
  EXPECT_EQ(doc.at("selection").at("frames").size(), 32u);
}

TEST(CliAsk, F2cUsesTheRelevanceModel) {
  const fs::path video = short_video();
  const RunResult r =
      run_cli(concat({"ask", video.string(), "a white square", "--json", "--max-new-tokens", "4",
                      "--select", "f2c", "--no-cache", "--relevance-model", tiny_siglip().string()},
                     model_args()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json doc = json::parse(r.out);
  EXPECT_EQ(doc.at("selection").at("method"), "f2c");
  EXPECT_FALSE(doc.at("selection").at("frames").empty());
  // Without the relevance model: one warning, and scene-aware selection.
  const RunResult fallback =
      run_cli(concat({"ask", video.string(), "a white square", "--json", "--max-new-tokens", "4",
                      "--select", "f2c", "--no-cache"},
                     model_args()));
  ASSERT_EQ(fallback.exit_code, 0) << fallback.err;
  EXPECT_EQ(json::parse(fallback.out).at("selection").at("method"), "scene");
  EXPECT_NE(fallback.err.find("relevance model"), std::string::npos) << fallback.err;
}

TEST(CliAsk, BadInputsAreClearErrors) {
  const fs::path dir = fresh_dir("ask-bad");
  const fs::path not_video = dir / "notes.mp4";
  std::ofstream(not_video) << "this is not a video";
  RunResult r = run_cli(concat({"ask", not_video.string(), "What?", "--no-cache"}, model_args()));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("notes.mp4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("hint:"), std::string::npos) << r.err;

  r = run_cli({"ask", short_video().string(), "What?", "--model", (dir / "no-model").string(),
               "--offline"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no-model"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());

  r = run_cli({"ask", short_video().string(), "What?", "--budget", "100", "--ratio", "0.1"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST(CliChat, AnswersTwoQuestionsAndEncodesOnce) {
  const fs::path video = short_video();
  RunOptions options;
  options.stdin_text = "What happens first?\n\nWhat happens at the end?\n";
  const RunResult r =
      run_cli(concat({"chat", video.string(), "--json", "--max-new-tokens", "8", "--no-cache"},
                     model_args()),
              options);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> events;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line))
    events.push_back(json::parse(line));
  ASSERT_EQ(events.size(), 3u) << r.out;
  EXPECT_EQ(events[0].at("event"), "prepared");
  const int frames = events[0].at("tokens").at("frames_encoded").get<int>();
  EXPECT_GT(frames, 0);
  const int prefix = events[0].at("tokens").at("prompt_tokens").get<int>();
  EXPECT_GT(prefix, events[0].at("tokens").at("visual_after_merge").get<int>());
  for (int turn = 1; turn <= 2; ++turn) {
    const json& a = events[static_cast<size_t>(turn)];
    EXPECT_EQ(a.at("event"), "answer");
    EXPECT_EQ(a.at("turn").get<int>(), turn);
    // No decoding, no encoding, and only the new turn is prefilled.
    EXPECT_EQ(a.at("tokens").at("frames_encoded").get<int>(), 0);
    EXPECT_FALSE(a.at("timings").contains("decode"));
    EXPECT_FALSE(a.at("timings").contains("encode"));
    EXPECT_LT(a.at("tokens").at("prefill_tokens").get<int>(), prefix / 2);
    EXPECT_GT(a.at("tokens").at("prompt_tokens").get<int>(), prefix);
    EXPECT_TRUE(a.at("answer").is_string());
    expect_moments_inside(a, events[0].at("video").at("duration").get<double>());
  }
  EXPECT_EQ(events[1].at("question"), "What happens first?");
  EXPECT_EQ(events[2].at("question"), "What happens at the end?");
  // The second turn continues the first: its prompt includes the first answer.
  EXPECT_GT(events[2].at("tokens").at("prompt_tokens").get<int>(),
            events[1].at("tokens").at("prompt_tokens").get<int>());
}

TEST(CliChat, PlainTextModeStreamsEachAnswer) {
  RunOptions options;
  options.stdin_text = "First?\nSecond?\n";
  const RunResult r = run_cli(
      concat({"chat", short_video().string(), "--max-new-tokens", "6", "--no-cache"}, model_args()),
      options);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GE(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
}

}  // namespace
}  // namespace clipmind::e2e
