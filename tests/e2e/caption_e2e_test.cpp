// `clipmind caption` end to end: output validates as SRT / WebVTT / JSONL, resume skips
// finished files, a damaged file is reported while the rest complete, Ctrl-C stops promptly
// and leaves no partial output.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "tests/decode/test_videos.h"
#include "tests/e2e/e2e_support.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace clipmind::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSamples = CLIPMIND_OPENCV_SAMPLES;

fs::path video(const std::string& name, int frames, int fps = 10) {
  return e2e_video(name, frames, fps, 96, 72);
}

// A folder with two good videos and one mp4 cut off in the middle (its index is lost).
fs::path batch_folder(const std::string& name) {
  const fs::path dir = fresh_dir(name);
  fs::copy_file(video("cap-a", 60), dir / "a.mp4");
  fs::copy_file(video("cap-b", 80), dir / "b.mp4");
  const std::string bytes = read_file(video("cap-c", 60));
  std::ofstream(dir / "c-truncated.mp4", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  return dir;
}

std::vector<std::string> caption_args(const fs::path& in, const fs::path& out,
                                      const std::string& format,
                                      const std::vector<std::string>& more = {}) {
  std::vector<std::string> a = {"caption",          in.string(), "--out",   out.string(),
                                "--format",         format,      "--model", tiny_vlm().string(),
                                "--max-new-tokens", "8"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

// Everything in an output folder but the source records' folder (.clipmind).
std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != ".clipmind") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// A folder scan finds every container in decode/video_files.h (each written here by FFmpeg:
// 1 s, 25 frames), whatever the case of its extension, and nothing else: no text, no still
// image, no audio. Each one is read to its real end (a raw MPEG-1 stream's bit-rate guess of
// 1 ms is not taken).
TEST(CliCaption, AFolderScanFindsEveryVideoContainerAndNothingElse) {
  const fs::path dir = fresh_dir("caption-containers-in");
  struct Made {
    std::string name;
    std::vector<std::string> args;  // ffmpeg output options
  };
  const std::vector<std::string> h264 = {"-c:v", "libx264", "-pix_fmt", "yuv420p"};
  // MPEG program streams at a DVD's constant rate, so that every picture starts its own packet.
  const std::vector<std::string> dvd_rate = {"-b:v",     "4M", "-minrate", "4M",
                                             "-maxrate", "4M", "-bufsize", "2M"};
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  const std::vector<Made> made = {
      {"a.3g2", with({"-f", "3g2"}, h264)},
      {"a.3gp", with({"-f", "3gp"}, h264)},
      {"a.asf", {"-f", "asf", "-c:v", "msmpeg4"}},
      {"a.avi", {"-c:v", "mpeg4"}},
      {"a.divx", {"-f", "avi", "-c:v", "mpeg4"}},
      {"a.f4v", with({"-f", "f4v"}, h264)},
      {"a.flv", {"-c:v", "flv"}},
      {"a.gif", {"-c:v", "gif"}},
      {"a.m1v", {"-f", "mpeg1video", "-c:v", "mpeg1video"}},
      {"a.m2t", {"-f", "mpegts", "-c:v", "mpeg2video"}},
      {"a.m2ts", with({"-f", "mpegts"}, h264)},
      {"a.m2v", {"-f", "mpeg2video", "-c:v", "mpeg2video"}},
      {"a.m4v", with({"-f", "mp4"}, h264)},
      {"a.mkv", h264},
      {"a.mov", h264},
      {"a.mp4", h264},
      {"a.mpeg", with({"-f", "mpeg", "-c:v", "mpeg2video"}, dvd_rate)},
      {"a.mpg", with({"-f", "mpeg", "-c:v", "mpeg1video"}, dvd_rate)},
      {"a.mts", with({"-f", "mpegts"}, h264)},
      {"a.mxf", {"-f", "mxf", "-c:v", "mpeg2video"}},
      {"a.nut", {"-f", "nut", "-c:v", "mpeg4"}},
      {"a.ogv", {"-f", "ogg", "-c:v", "libtheora"}},
      {"a.qt", with({"-f", "mov"}, h264)},
      {"a.rm", {"-f", "rm", "-c:v", "rv10"}},
      {"a.rmvb", {"-f", "rm", "-c:v", "rv20"}},
      {"a.ts", with({"-f", "mpegts"}, h264)},
      {"a.vob", with({"-f", "vob", "-c:v", "mpeg2video"}, dvd_rate)},
      {"a.webm", {"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"}},
      {"a.wmv", {"-f", "asf", "-c:v", "wmv2"}},
      {"a.wtv", {"-f", "wtv", "-c:v", "mpeg2video"}},
      {"a.y4m", {"-f", "yuv4mpegpipe", "-pix_fmt", "yuv420p"}},
      {"UPPER.MP4", with({"-f", "mp4"}, h264)},
      // DV has fixed picture sizes.
      {"a.dv", {"-s", "720x576", "-pix_fmt", "yuv420p", "-c:v", "dvvideo", "-f", "dv"}},
      // Not videos: a still image, audio, text.
      {"still.png", {"-frames:v", "1"}},
      {"song.m4a", {}},
  };
  for (const Made& m : made) {
    const bool audio = m.name == "song.m4a";
    std::vector<std::string> args = m.args;
    args.push_back((dir / m.name).string());
    const test::CommandResult r = test::ffmpeg_lavfi(
        audio ? "sine=frequency=440:duration=1" : "testsrc=size=96x64:rate=25:duration=1", args);
    ASSERT_EQ(r.exit_code, 0) << m.name << ": " << r.err;
  }
  std::ofstream(dir / "notes.txt") << "not a video\n";

  const fs::path out = fresh_dir("caption-containers-out");
  const RunResult r =
      run_cli(caption_args(dir, out, "jsonl", {"--segment", "1", "--json", "--no-cache"}));
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const json report = json::parse(r.out);
  std::set<std::string> found;
  for (const json& f : report.at("files")) {
    const std::string name = fs::path(f.at("video").get<std::string>()).filename().string();
    found.insert(name);
    EXPECT_EQ(f.at("status"), "done") << name << ": " << f.dump();
    std::vector<Cue> cues;
    const fs::path output = f.at("output").get<std::string>();
    EXPECT_EQ(validate_jsonl(read_file(output), &cues), "") << name;
    ASSERT_FALSE(cues.empty()) << name;
    EXPECT_NEAR(cues.back().end, 1.0, 0.1) << name;  // 25 frames at 25 fps
  }
  std::set<std::string> want;
  for (const Made& m : made) {
    if (m.name != "still.png" && m.name != "song.m4a") want.insert(m.name);
  }
  EXPECT_EQ(found, want);
}

TEST(CliCaption, EveryFormatValidatesAndCoversTheVideo) {
  const fs::path in = video("cap-formats", 100);  // 10 s
  for (const std::string format : {"srt", "vtt", "jsonl"}) {
    const fs::path out = fresh_dir("caption-" + format);
    RunOptions options;
    options.env = {{"XDG_CACHE_HOME", (work_dir() / "caption-format-cache").string()}};
    const RunResult r = run_cli(
        caption_args(in, out, format, {"--segment", "3", "--set", "caption.max_new_tokens=6"}),
        options);
    ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
    const fs::path file = out / (in.stem().string() + "." + format);
    ASSERT_TRUE(fs::exists(file)) << r.out;
    const std::string text = read_file(file);
    std::vector<Cue> cues;
    const std::string problem = format == "srt"   ? validate_srt(text, &cues)
                                : format == "vtt" ? validate_vtt(text, &cues)
                                                  : validate_jsonl(text, &cues);
    EXPECT_EQ(problem, "") << text;
    // 3 s windows over 10 s: [0,3) [3,6) [6,9) [9,10].
    ASSERT_EQ(cues.size(), 4u) << text;
    EXPECT_NEAR(cues.front().start, 0.0, 1e-3);
    EXPECT_NEAR(cues[1].start, 3.0, 1e-3);
    EXPECT_NEAR(cues.back().end, 10.0, 0.05);
    EXPECT_EQ(files_in(out).size(), 1u) << "no temporary files left";
    // The windows after the first format's run come from the token cache: said once for the
    // video, not once per window.
    size_t said = 0;
    for (size_t at = r.err.find("came from the token cache"); at != std::string::npos;
         at = r.err.find("came from the token cache", at + 1))
      ++said;
    if (format != "srt") {
      EXPECT_EQ(said, 1u) << r.err;
      EXPECT_NE(r.err.find(in.string() + ": 32 of 32 frames came from the token cache"),
                std::string::npos)
          << r.err;
    }
    EXPECT_LE(said, 1u) << r.err;
  }
}

TEST(CliCaption, AutoSegmentsFollowTheVideo) {
  const fs::path out = fresh_dir("caption-auto");
  const fs::path in = video("cap-auto", 120);
  const RunResult r = run_cli(caption_args(in, out, "srt", {"--segment", "auto", "--no-cache"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<Cue> cues;
  EXPECT_EQ(validate_srt(read_file(out / (in.stem().string() + ".srt")), &cues), "");
  ASSERT_FALSE(cues.empty());
  EXPECT_NEAR(cues.front().start, 0.0, 1e-3);
  EXPECT_NEAR(cues.back().end, 12.0, 0.05);
  for (size_t i = 1; i < cues.size(); ++i)
    EXPECT_NEAR(cues[i].start, cues[i - 1].end, 1e-3);
}

TEST(CliCaption, DamagedFileIsReportedAndTheRestCompleteThenResumeSkipsThem) {
  const fs::path in = batch_folder("caption-batch-in");
  const fs::path out = fresh_dir("caption-batch-out");
  RunOptions options;
  options.env = {{"XDG_CACHE_HOME", fresh_dir("caption-batch-cache").string()}};
  const RunResult first =
      run_cli(caption_args(in, out, "vtt", {"--segment", "2", "--json"}), options);
  EXPECT_EQ(first.exit_code, 3) << first.err;  // a damaged input: kInvalidInput
  const json report = json::parse(first.out);
  EXPECT_EQ(report.at("done"), 2);
  EXPECT_EQ(report.at("failed"), 1);
  for (const json& f : report.at("files")) {
    const std::string name = fs::path(f.at("video").get<std::string>()).filename().string();
    if (name == "c-truncated.mp4") {
      EXPECT_EQ(f.at("status"), "failed");
      EXPECT_NE(f.at("error").get<std::string>().find("c-truncated.mp4"), std::string::npos);
    } else {
      EXPECT_EQ(f.at("status"), "done") << name;
    }
  }
  ASSERT_TRUE(fs::exists(out / "a.vtt"));
  ASSERT_TRUE(fs::exists(out / "b.vtt"));
  EXPECT_FALSE(fs::exists(out / "c-truncated.vtt"));
  EXPECT_EQ(validate_vtt(read_file(out / "a.vtt")), "");
  EXPECT_EQ(validate_vtt(read_file(out / "b.vtt")), "");
  const auto a_time = fs::last_write_time(out / "a.vtt");

  // Resume: the finished files are skipped (not rewritten), the damaged one fails again.
  const RunResult second = run_cli(caption_args(in, out, "vtt", {"--segment", "2"}), options);
  EXPECT_EQ(second.exit_code, 3);
  EXPECT_NE(second.out.find("skipped"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("2 skipped, 1 failed"), std::string::npos) << second.out;
  // The summary table: a header, one row per file (status first), the failure's reason.
  EXPECT_EQ(second.out.rfind("status", 0), 0u) << second.out;
  EXPECT_NE(second.out.find("3 files: 0 captioned"), std::string::npos) << second.out;
  for (const char* name : {"a.mp4", "b.mp4"}) {
    const size_t at = second.out.find(name);
    ASSERT_NE(at, std::string::npos) << second.out;
    const size_t line = second.out.rfind('\n', at) + 1;
    EXPECT_EQ(second.out.compare(line, 7, "skipped"), 0) << second.out;
  }
  const size_t bad = second.out.find("c-truncated.mp4");
  ASSERT_NE(bad, std::string::npos);
  EXPECT_EQ(second.out.compare(second.out.rfind('\n', bad) + 1, 6, "failed"), 0) << second.out;
  EXPECT_EQ(fs::last_write_time(out / "a.vtt"), a_time);
  EXPECT_EQ(files_in(out).size(), 2u);

  // A cut-off output is not complete: it is redone.
  const std::string a_text = read_file(out / "a.vtt");
  std::ofstream(out / "a.vtt", std::ios::binary) << a_text.substr(0, a_text.size() / 2);
  const RunResult third =
      run_cli(caption_args(in, out, "vtt", {"--segment", "2", "--json"}), options);
  const json again = json::parse(third.out);
  EXPECT_EQ(again.at("done"), 1);
  EXPECT_EQ(again.at("skipped"), 1);
  EXPECT_EQ(validate_vtt(read_file(out / "a.vtt")), "");
}

// Videos whose names clash (same stem in one folder, same name in two folders) each get their
// own output; a second run skips all of them. An output folder that cannot be written fails
// before any video is captioned.
TEST(CliCaption, ClashingNamesGetTheirOwnOutputsAndUnwritableOutFailsAtOnce) {
  const fs::path in = fresh_dir("caption-names-in");
  fs::create_directories(in / "day1");
  fs::create_directories(in / "day2");
  fs::copy_file(video("cap-a", 60), in / "day1" / "clip.mp4");
  fs::copy_file(video("cap-b", 80), in / "day1" / "clip.mkv");  // MP4 bytes; FFmpeg probes them
  fs::copy_file(video("cap-a", 60), in / "day2" / "clip.mp4");
  const fs::path out = fresh_dir("caption-names-out");
  RunOptions options;
  options.env = {{"XDG_CACHE_HOME", fresh_dir("caption-names-cache").string()}};
  const RunResult first =
      run_cli(caption_args(in, out, "srt", {"--segment", "3", "--json"}), options);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(json::parse(first.out).at("done"), 3);
  const std::vector<fs::path> outputs = files_in(out);
  ASSERT_EQ(outputs.size(), 3u);
  std::set<std::string> names;
  for (const fs::path& f : outputs) {
    names.insert(f.filename().string());
    EXPECT_EQ(validate_srt(read_file(f)), "") << f;
  }
  EXPECT_EQ(names,
            (std::set<std::string>{"day1_clip.mkv.srt", "day1_clip.mp4.srt", "day2_clip.srt"}));
  const RunResult second =
      run_cli(caption_args(in, out, "srt", {"--segment", "3", "--json"}), options);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(json::parse(second.out).at("skipped"), 3);
  // One video replaced by another with an older date (as `cp -p` leaves it): only it is redone.
  const auto old_date = fs::last_write_time(in / "day2" / "clip.mp4") - std::chrono::hours(48);
  fs::copy_file(video("cap-b", 80), in / "day2" / "clip.mp4", fs::copy_options::overwrite_existing);
  fs::last_write_time(in / "day2" / "clip.mp4", old_date);
  const RunResult third =
      run_cli(caption_args(in, out, "srt", {"--segment", "3", "--json"}), options);
  ASSERT_EQ(third.exit_code, 0) << third.err;
  const json report = json::parse(third.out);
  EXPECT_EQ(report.at("skipped"), 2);
  EXPECT_EQ(report.at("done"), 1);
  for (const json& f : report.at("files")) {
    const bool replaced = f.at("video").get<std::string>().find("day2") != std::string::npos;
    EXPECT_EQ(f.at("status"), replaced ? "done" : "skipped") << f.dump();
  }

  // sysfs refuses new files even to root (CI may run as root, where permissions do not).
  const RunResult unwritable = run_cli(caption_args(in, "/sys/kernel", "srt", {"--json"}), options);
  EXPECT_EQ(unwritable.exit_code, 5) << unwritable.err;
  EXPECT_NE(unwritable.err.find("cannot write in the output folder"), std::string::npos)
      << unwritable.err;
  EXPECT_TRUE(unwritable.out.empty()) << "no report: nothing was captioned";
}

// The user's own subtitles sit where a caption would go (no source record: clipmind did not
// write them). They are not replaced: that video fails naming the file and what to do, the
// rest of the batch is captioned, exit 2; --overwrite replaces them.
TEST(CliCaption, AFileClipmindDidNotWriteIsNeverReplacedWithoutOverwrite) {
  const fs::path in = fresh_dir("caption-foreign-in");
  fs::copy_file(video("cap-foreign-a", 30), in / "a.mp4");
  fs::copy_file(video("cap-foreign-b", 30), in / "b.mp4");
  const fs::path out = fresh_dir("caption-foreign-out");
  const std::string mine = "1\n00:00:00,000 --> 00:00:02,000\nmy own subtitles\n";
  std::ofstream(out / "a.srt") << mine;
  // Older than its video, so the date rule alone would have redone it.
  fs::last_write_time(out / "a.srt", fs::last_write_time(in / "a.mp4") - std::chrono::hours(1));
  RunOptions options;
  options.env = {{"XDG_CACHE_HOME", fresh_dir("caption-foreign-cache").string()}};
  const RunResult r = run_cli(caption_args(in, out, "srt", {"--segment", "2"}), options);
  EXPECT_EQ(r.exit_code, 2) << r.err << r.out;
  EXPECT_NE(
      r.out.find((out / "a.srt").string() + ": already exists and was not written by clipmind"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("pass --overwrite"), std::string::npos) << r.out;
  EXPECT_EQ(read_file(out / "a.srt"), mine);
  EXPECT_EQ(validate_srt(read_file(out / "b.srt")), "");

  const RunResult forced =
      run_cli(caption_args(in, out, "srt", {"--segment", "2", "--overwrite"}), options);
  EXPECT_EQ(forced.exit_code, 0) << forced.err << forced.out;
  EXPECT_NE(read_file(out / "a.srt"), mine);
  EXPECT_EQ(validate_srt(read_file(out / "a.srt")), "");
}

TEST(CliCaption, OneVideoNamedThreeWaysIsCaptionedOnce) {
  const fs::path in = fresh_dir("caption-same-in");
  fs::copy_file(video("cap-a", 60), in / "v.mp4");
  fs::create_symlink(in / "v.mp4", in / "alias.mp4");
  const fs::path out = fresh_dir("caption-same-out");
  RunOptions options;
  options.env = {{"XDG_CACHE_HOME", fresh_dir("caption-same-cache").string()}};
  std::vector<std::string> args =
      caption_args(in / "v.mp4", out, "srt", {"--segment", "3", "--json"});
  // The same file again through "./", "..", a symlink and its folder.
  for (const fs::path& again :
       {in / "." / "v.mp4", in / ".." / in.filename() / "v.mp4", in / "alias.mp4", in})
    args.push_back(again.string());
  const RunResult r = run_cli(args, options);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  EXPECT_EQ(report.at("done"), 1) << r.out;
  EXPECT_EQ(report.at("files").size(), 1u) << r.out;
  EXPECT_EQ(files_in(out), (std::vector<fs::path>{out / "v.srt"}));
}

TEST(CliCaption, AVideoCutShortIsCaptionedAsFarAsItGoesAndReported) {
  // moov first (as web uploads are written), then cut: the header still promises 6 s.
  const std::string bytes =
      read_file(e2e_video("cap-cut-faststart", 60, 10, 96, 72, {"-movflags", "+faststart"}));
  const fs::path in = fresh_dir("caption-cut-in") / "cut.mp4";
  std::ofstream(in, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const fs::path out = fresh_dir("caption-cut-out");
  RunOptions options;
  options.env = {{"XDG_CACHE_HOME", fresh_dir("caption-cut-cache").string()}};
  const RunResult r =
      run_cli(caption_args(in, out, "jsonl", {"--segment", "1", "--json"}), options);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("1 of 1 file is cut short: its captions cover only the part"),
            std::string::npos)
      << r.err;
  const json report = json::parse(r.out);
  EXPECT_EQ(report.at("partial"), 1);
  EXPECT_EQ(report.at("done"), 0);
  ASSERT_EQ(report.at("files").size(), 1u);
  const json& file = report.at("files")[0];
  EXPECT_EQ(file.at("status"), "partial");
  EXPECT_NE(file.at("note").get<std::string>().find("of the 6.0 s its header promises"),
            std::string::npos)
      << file.dump();
  // The captions stop where the data does, not at the promised 6 s.
  const std::string text = read_file(out / "cut.jsonl");
  EXPECT_EQ(validate_jsonl(text), "");
  double last_end = 0;
  int lines = 0;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line); ++lines)
    last_end = json::parse(line).at("end").get<double>();
  EXPECT_GE(lines, 1);
  EXPECT_GT(last_end, 0.5);
  EXPECT_LT(last_end, 5.0);

  // ask uses the same part and says what the header promised.
  const RunResult asked = run_cli({"ask", in.string(), "What happens?", "--model",
                                   tiny_vlm().string(), "--json", "--max-new-tokens", "2"},
                                  options);
  ASSERT_EQ(asked.exit_code, 0) << asked.err;
  const json video = json::parse(asked.out).at("video");
  EXPECT_NEAR(video.at("header_duration").get<double>(), 6.0, 0.05);
  EXPECT_LT(video.at("duration").get<double>(), 5.0);
}

TEST(CliCaption, RealSampleVideosWithTheBuggyOne) {
  if (!fs::exists(kSamples / "Megamind.avi")) GTEST_SKIP() << "opencv-doc is not installed";
  const fs::path out = fresh_dir("caption-real");
  const RunResult r = run_cli({"caption", (kSamples / "Megamind.avi").string(),
                               (kSamples / "Megamind_bugy.avi").string(), "--out", out.string(),
                               "--format", "srt", "--model", tiny_vlm().string(), "--segment", "5",
                               "--max-new-tokens", "6", "--no-cache", "--json"});
  const json report = json::parse(r.out);
  // The buggy file either decodes around its damage (captioned) or is reported as failed;
  // either way the good one is complete and the exit code says whether anything failed.
  EXPECT_EQ(report.at("files").size(), 2u);
  EXPECT_EQ(report.at("files")[0].at("status"), "done");
  EXPECT_EQ(validate_srt(read_file(out / "Megamind.srt")), "");
  const bool failed = report.at("failed").get<int>() > 0;
  EXPECT_EQ(r.exit_code != 0, failed) << r.err;
  if (!failed) {
    EXPECT_EQ(validate_srt(read_file(out / "Megamind_bugy.srt")), "");
  }
}

TEST(CliCaption, CtrlCStopsPromptlyAndLeavesNoPartialOutput) {
  const fs::path in = video("cap-long", 1200);  // 120 s
  const fs::path out = fresh_dir("caption-cancel");
  RunOptions options;
  // After the model is loaded the job is decoding, encoding and generating for many windows.
  options.interrupt_when = [](const std::string& err) {
    return err.find("loaded ") != std::string::npos;
  };
  const RunResult r = run_cli(caption_args(in, out, "srt",
                                           {"--segment", "1", "--no-cache", "--set",
                                            "caption.max_new_tokens=32", "--verbose"}),
                              options);
  ASSERT_TRUE(r.interrupted) << r.err;
  EXPECT_EQ(r.exit_code, 130) << r.err << r.out;
  // The batch stops within a second of the signal (the program's own reading, from the handler
  // to the unwound job); the whole process (summary, LibTorch teardown) is gone soon after,
  // even on a loaded machine.
  const std::optional<double> stopped = job_stop_seconds(r.err);
  ASSERT_TRUE(stopped.has_value()) << r.err;
  EXPECT_LT(*stopped, 1.0) << r.err;
  EXPECT_LE(*stopped, r.interrupt_to_exit_s + 0.05) << "the job stops before the process exits";
  EXPECT_LT(r.interrupt_to_exit_s, 10.0);
  EXPECT_TRUE(files_in(out).empty()) << "no partial or temporary output";
  EXPECT_NE(r.out.find("cancelled"), std::string::npos) << r.out << r.err;
}

}  // namespace
}  // namespace clipmind::e2e
