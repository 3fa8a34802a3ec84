// Robustness found by black-box QA, through the real `clipmind` binary and a tiny random model:
// `--method none` takes the model's pooled grid under every frame selection and input size;
// encode.input_size above twice the tower's size is refused before decoding; one unusable chat
// line (not UTF-8, blank, too long for the context) is refused and the chat goes on unchanged.
// Odd but real files: MPEG-PS and MPEG-TS (keyframes, seeking, no false damage reports), clocks
// that do not start at 0 (an offset Matroska file, a picture that starts after its sound),
// files that state no duration (a live-written WebM, a still image), two video streams, paths
// that read as options or are devices or unreadable, and questions longer than the context.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "tests/decode/test_videos.h"
#include "tests/e2e/e2e_support.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

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

// The frame index drawn into an image clipmind wrote (tests/decode/test_videos.h), read with
// FFmpeg's own image decoder; -1 when unreadable.
int frame_code(const fs::path& image) {
  const test::RgbImage rgb = test::read_image_rgb(image);
  const auto code =
      test::read_code(rgb.rgb.data(), rgb.width, rgb.height, static_cast<size_t>(rgb.width) * 3);
  return code ? static_cast<int>(*code) : -1;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

std::vector<std::string> model_ask(const fs::path& video, const std::string& question) {
  return {"ask",    video.string(), question,           "--model", tiny_vlm().string(),
          "--json", "--no-cache",   "--max-new-tokens", "2"};
}

// 4 s at 10 fps, a keyframe every second, B-frames; in MPEG-TS (its clock starts at 1.4 s) and
// MPEG-PS (MPEG-2 video at a DVD's rate, streams found only by reading packets). FFmpeg's timestamp
// seek in both lands anywhere in a GOP, and their demuxers file the packets it reads as keyframes.
std::vector<fs::path> mpeg_videos() {
  return {e2e_video("qa-mpegts", 40, 10, 160, 120, {}, "ts"),
          e2e_video("qa-mpegps", 40, 10, 160, 120,
                    {"-c:v", "mpeg2video", "-b:v", "4M", "-minrate", "4M", "-maxrate", "4M",
                     "-bufsize", "2M", "-bf", "2"},
                    "mpg")};
}

TEST(CliMpegStreams, KeyframesAreTheRightFramesAndNothingIsCalledDamaged) {
  for (const fs::path& video : mpeg_videos()) {
    SCOPED_TRACE(video.filename().string());
    const fs::path out = fresh_dir("qa-mpeg-keyframes-" + video.extension().string().substr(1));
    const RunResult r = run_cli({"frames", video.string(), "--keyframes-only", "--at",
                                 "0.3,1.2,2.7", "--out", out.string(), "--format", "png"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find("decoding error"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
    // The keyframes as ffprobe (independent) reads them: packets flagged K, by their time from
    // the first frame; frame k is at k / 10 s by construction. Each time gets the nearest
    // (ties: the earlier), once.
    const test::CommandResult probed =
        test::run_command({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                           "packet=pts_time,flags", "-of", "csv=p=0", video.string()});
    ASSERT_EQ(probed.exit_code, 0) << probed.err;
    std::vector<std::pair<double, bool>> packets;  // pts, keyframe
    for (const std::string& line : lines(probed.out)) {
      const size_t comma = line.find(',');
      if (comma == std::string::npos || line.rfind("N/A", 0) == 0) continue;
      packets.emplace_back(std::stod(line.substr(0, comma)), line[comma + 1] == 'K');
    }
    ASSERT_FALSE(packets.empty()) << probed.out;
    double first = packets[0].first;
    for (const auto& p : packets)
      first = std::min(first, p.first);
    std::vector<int> keys;
    for (const auto& [pts, key] : packets) {
      if (key) keys.push_back(static_cast<int>(std::lround((pts - first) * 10.0)));
    }
    std::sort(keys.begin(), keys.end());
    ASSERT_GE(keys.size(), 3u) << probed.out;
    std::vector<int> want;
    for (const double t : {0.3, 1.2, 2.7}) {
      int best = keys[0];
      for (const int k : keys) {
        if (std::abs(k / 10.0 - t) < std::abs(best / 10.0 - t) - 1e-9) best = k;
      }
      if (want.empty() || want.back() != best) want.push_back(best);
    }
    const std::vector<std::string> written = lines(r.out);
    ASSERT_EQ(written.size(), want.size()) << r.out;
    for (size_t i = 0; i < want.size(); ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "t%010.3f.png", want[i] / 10.0);
      EXPECT_EQ(fs::path(written[i]).filename(), std::string(name));
      EXPECT_EQ(frame_code(written[i]), want[i]) << written[i];
    }

    // Accurate frames anywhere (the sampler seeks to keyframes by their byte position).
    const fs::path exact = fresh_dir("qa-mpeg-exact-" + video.extension().string().substr(1));
    const RunResult e = run_cli({"frames", video.string(), "--at", "0.15,2.45,3.9", "--out",
                                 exact.string(), "--format", "png"});
    ASSERT_EQ(e.exit_code, 0) << e.err;
    EXPECT_EQ(e.err.find("warning"), std::string::npos) << e.err;
    const std::vector<std::string> frames = lines(e.out);
    ASSERT_EQ(frames.size(), 3u) << e.out;
    // Ties go to the earlier frame: 0.15 -> frame 1, 2.45 -> 24, 3.9 -> 39.
    EXPECT_EQ(frame_code(frames[0]), 1);
    EXPECT_EQ(frame_code(frames[1]), 24);
    EXPECT_EQ(frame_code(frames[2]), 39);

    const RunResult ask = run_cli(model_ask(video, "What happens?"));
    ASSERT_EQ(ask.exit_code, 0) << ask.err;
    const json doc = json::parse(ask.out);
    EXPECT_NEAR(doc.at("video").at("duration").get<double>(), 4.0, 0.05);
    for (const json& f : doc.at("selection").at("frames")) {
      EXPECT_NEAR(f.at("time").get<double>(), f.at("requested_time").get<double>(), 0.051)
          << f.dump();
    }
  }
}

// `ask` opens several samplers of one file (the scene probes of selection, the encode pass):
// an MPEG-TS, which has no index, is read in full once per run and the others reuse that read
// (decode/media_index.h). --verbose says so for every read and every reuse.
TEST(CliMpegStreams, AskReadsAllOfATsOnceHoweverManySamplersItOpens) {
  const fs::path ts = mpeg_videos()[0];
  std::vector<std::string> args = model_ask(ts, "What happens?");
  args.insert(args.end(), {"--select", "scene", "--verbose"});
  const RunResult r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = r.err.find(what); at != std::string::npos; at = r.err.find(what, at + 1))
      ++n;
    return n;
  };
  // Two samplers: the scene probes of selection (the first user: it reads) and the encode pass
  // (it reuses). Either one reading the file by itself would leave no reuse line.
  EXPECT_EQ(count(ts.string() + ": read all its packets once to index it ("), 1u) << r.err;
  EXPECT_EQ(count(ts.string() + ": reused its packet index ("), 1u) << r.err;
  EXPECT_EQ(count("read all its packets"), 1u) << r.err;
}

// A Matroska file whose clock starts at 100 s states a segment of 104 s: the video is 4 s
// long, starts at 0, and nothing past 4 s is captioned or called truncated.
TEST(CliStartTimes, AnOffsetClockStartsAtZeroAndLastsAsLongAsTheVideo) {
  const fs::path video =
      e2e_video("qa-offset-100", 40, 10, 160, 120, {"-output_ts_offset", "100"}, "mkv");
  const RunResult probe = run_cli({"probe", video.string(), "--json"});
  ASSERT_EQ(probe.exit_code, 0) << probe.err;
  const json info = json::parse(probe.out);
  EXPECT_EQ(info.at("start_time").get<double>(), 0.0);
  EXPECT_NEAR(info.at("duration").get<double>(), 4.0, 0.05);

  const fs::path out = fresh_dir("qa-offset-captions");
  const RunResult r =
      run_cli({"caption", video.string(), "--out", out.string(), "--format", "srt", "--segment",
               "2", "--model", tiny_vlm().string(), "--no-cache", "--max-new-tokens", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("truncated"), std::string::npos) << r.err;
  std::vector<Cue> cues;
  ASSERT_EQ(validate_srt(read_file(out / (video.stem().string() + ".srt")), &cues), "");
  ASSERT_FALSE(cues.empty());
  EXPECT_NEAR(cues.back().end, 4.0, 0.05);
}

// The sound starts 2 s before the picture. A player's clock starts with the sound; so do
// clipmind's times: the first frame is at 2 s, and frames, answers and captions say so.
TEST(CliStartTimes, APictureThatStartsAfterItsSoundIsTimedLikeAPlayerShowsIt) {
  test::VideoSpec spec;
  spec.name = "qa-picture-2s-late";
  spec.frames = 40;
  spec.fps = 10;
  spec.gop = 10;
  spec.audio = true;
  spec.extra = {"-vf", "setpts=PTS+2/TB"};
  const fs::path video = test::make_video(spec);

  const RunResult probe = run_cli({"probe", video.string(), "--json"});
  ASSERT_EQ(probe.exit_code, 0) << probe.err;
  const json info = json::parse(probe.out);
  EXPECT_NEAR(info.at("start_time").get<double>(), 2.0, 0.01);
  EXPECT_NEAR(info.at("duration").get<double>(), 6.0, 0.01);
  const RunResult text = run_cli({"probe", video.string()});
  EXPECT_NE(text.out.find("video starts:  2.000 s"), std::string::npos) << text.out;

  const fs::path out = fresh_dir("qa-late-frames");
  const RunResult frames = run_cli(
      {"frames", video.string(), "--at", "2.0,3.5", "--out", out.string(), "--format", "png"});
  ASSERT_EQ(frames.exit_code, 0) << frames.err;
  const std::vector<std::string> written = lines(frames.out);
  ASSERT_EQ(written.size(), 2u) << frames.out;
  EXPECT_EQ(fs::path(written[0]).filename(), "t000002.000.png");
  EXPECT_EQ(frame_code(written[0]), 0);
  EXPECT_EQ(fs::path(written[1]).filename(), "t000003.500.png");
  EXPECT_EQ(frame_code(written[1]), 15);

  const RunResult ask = run_cli(model_ask(video, "What happens?"));
  ASSERT_EQ(ask.exit_code, 0) << ask.err;
  const json doc = json::parse(ask.out);
  EXPECT_NEAR(doc.at("video").at("duration").get<double>(), 6.0, 0.01);
  for (const json& f : doc.at("selection").at("frames")) {
    EXPECT_GE(f.at("time").get<double>(), 2.0 - 1e-6) << f.dump();  // the first frame at least
  }

  const fs::path captions = fresh_dir("qa-late-captions");
  const RunResult r = run_cli({"caption", video.string(), "--out", captions.string(), "--format",
                               "srt", "--segment", "2", "--model", tiny_vlm().string(),
                               "--no-cache", "--max-new-tokens", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<Cue> cues;
  ASSERT_EQ(validate_srt(read_file(captions / (video.stem().string() + ".srt")), &cues), "");
  ASSERT_FALSE(cues.empty());
  EXPECT_NEAR(cues.back().end, 6.0, 0.01);
}

// A WebM written live (as a browser's MediaRecorder does) and a still image state no duration:
// both are read to their end instead of being refused as damaged.
TEST(CliNoDuration, ALiveWebmAndStillImagesAreAnswered) {
  const fs::path webm = e2e_video(
      "qa-live", 30, 10, 160, 120,
      {"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-live", "1"}, "webm");
  const fs::path dir = fresh_dir("qa-stills");
  const fs::path png = dir / "still.png", jpg = dir / "still.jpg";
  for (const fs::path& still : {png, jpg}) {
    const test::CommandResult made =
        test::run_command({"ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", "1", "-i",
                           webm.string(), "-frames:v", "1", still.string()});
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  struct Case {
    fs::path video;
    double duration;
    size_t frames;
  };
  for (const Case& c : {Case{webm, 3.0, 0}, Case{png, 0.04, 1}, Case{jpg, 0.04, 1}}) {
    SCOPED_TRACE(c.video.filename().string());
    const RunResult r = run_cli(model_ask(c.video, "What is shown?"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json doc = json::parse(r.out);
    EXPECT_NEAR(doc.at("video").at("duration").get<double>(), c.duration, 0.011);
    if (c.frames > 0) {
      EXPECT_EQ(doc.at("selection").at("frames").size(), c.frames);
    }
  }
}

// Two pictures, the first marked default (the one players show), the second larger: the
// default one is used.
TEST(CliStreams, TheDefaultPictureIsUsedNotTheLargest) {
  const fs::path small = e2e_video("qa-streams-main", 40, 10, 160, 120);
  const fs::path large = e2e_video("qa-streams-large", 20, 5, 320, 240);
  const fs::path video = fresh_dir("qa-two-streams") / "two.mp4";
  const test::CommandResult made = test::mux_two_video_streams(small, large, video);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const RunResult probe = run_cli({"probe", video.string(), "--json"});
  ASSERT_EQ(probe.exit_code, 0) << probe.err;
  EXPECT_EQ(json::parse(probe.out).at("width"), 160);
  const fs::path out = fresh_dir("qa-two-streams-frames");
  const RunResult frames =
      run_cli({"frames", video.string(), "--at", "1", "--out", out.string(), "--format", "png"});
  ASSERT_EQ(frames.exit_code, 0) << frames.err;
  EXPECT_EQ(frame_code(lines(frames.out).at(0)), 10);  // frame 10 of the 10 fps stream
}

TEST(CliPaths, AFileNamedLikeAnOptionGetsAHintThatNamesIt) {
  const fs::path dir = fresh_dir("qa-dash");
  fs::copy_file(qa_video(), dir / "-clip.mp4");
  RunOptions here;
  here.cwd = dir.string();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"probe", "-clip.mp4"},
        std::vector<std::string>{"ask", "-clip.mp4", "What happens?"}}) {
    const RunResult r = run_cli(args, here);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("hint: '-clip.mp4' is a file whose name starts with '-'"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("'./-clip.mp4'"), std::string::npos) << r.err;
    // Not the hint for questions that start with '-'.
    EXPECT_EQ(r.err.find("a question that starts with"), std::string::npos) << r.err;
  }
  const RunResult fixed = run_cli({"probe", "./-clip.mp4"}, here);
  EXPECT_EQ(fixed.exit_code, 0) << fixed.err;
}

TEST(CliPaths, DevicesAndUnreadableFilesAreClearErrors) {
  for (const std::string device : {"/dev/zero", "/dev/null"}) {
    const RunResult r = run_cli({"probe", device});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find(device + ": is a character device"), std::string::npos) << r.err;
  }
  const RunResult asked = run_cli(model_ask("/dev/zero", "What happens?"));
  EXPECT_EQ(asked.exit_code, 3) << asked.err;
  EXPECT_NE(asked.err.find("/dev/zero"), std::string::npos) << asked.err;
  EXPECT_TRUE(asked.out.empty()) << asked.out;

  // Mode 000, read by someone who is not root (root reads any file).
  const fs::path dir = fresh_dir("qa-unreadable");
  const fs::path locked = dir / "locked.mp4";
  fs::copy_file(qa_video(), locked);
  fs::permissions(locked, fs::perms::none);
  RunOptions nobody;
  nobody.unprivileged = true;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"probe", locked.string()}, model_ask(locked, "What?")}) {
    const RunResult r = run_cli(args, nobody);
    if (r.exit_code == 77) GTEST_SKIP() << "uid 65534 cannot run " << args[0];
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_NE(r.err.find(locked.string() + ": cannot open: Permission denied"), std::string::npos)
        << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

// Questions in any script go to the model as they are; one longer than the context is refused
// before anything is decoded, naming the question as the problem.
TEST(CliQuestions, AnyScriptIsAnsweredAndOneLongerThanTheContextIsRefused) {
  for (const std::string question : {"\xE8\xA7\x86\xE9\xA2\x91\xE9\x87\x8C\xE6\x9C\x89\xE4\xBB\x80"
                                     "\xE4\xB9\x88\xEF\xBC\x9F",  // 视频里有什么？
                                     "\xD9\x85\xD8\xA7\xD8\xB0\xD8\xA7 "
                                     "\xD9\x8A\xD8\xAD\xD8\xAF\xD8\xAB\xD8\x9F",  // ماذا يحدث؟
                                     "Where is the \xF0\x9F\x90\x88\xE2\x80\x8D\xE2\xAC\x9B? "
                                     "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD"}) {
    const RunResult r = run_cli(model_ask(qa_video(), question));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out).at("question"), question);
  }
  const std::string long_question(50000, 'x');
  const RunResult r = run_cli(model_ask(qa_video(), long_question));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("the question is too long"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("shorten the question"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("decode"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace clipmind::e2e
