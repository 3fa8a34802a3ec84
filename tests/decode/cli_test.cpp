// The real `clipmind probe` and `clipmind frames`, run as a user would.
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/decode/decode_test_util.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace clipmind::test {
namespace {

CommandResult clipmind(std::vector<std::string> args) {
  args.insert(args.begin(), CLIPMIND_CLI);
  return run_command(args);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = video_dir() / "cli" / name;
  std::filesystem::remove_all(dir);
  return dir;
}

VideoSpec cli_spec() {
  VideoSpec spec;
  spec.name = "cli";
  spec.frames = 100;
  spec.gop = 20;
  spec.audio = true;
  return spec;
}

TEST(Cli, ProbeText) {
  const auto path = make_video(cli_spec());
  const CommandResult r = clipmind({"probe", path.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("h264"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("160x120"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("aac"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST(Cli, ProbeJson) {
  const auto path = make_video(cli_spec());
  const CommandResult r = clipmind({"probe", path.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["path"], path.string());
  EXPECT_EQ(j["container"], "mp4");
  EXPECT_EQ(j["codec"], "h264");
  EXPECT_EQ(j["width"], 160);
  EXPECT_EQ(j["height"], 120);
  EXPECT_EQ(j["rotation"], 0);
  EXPECT_EQ(j["frame_count"], 100);
  EXPECT_EQ(j["frame_count_exact"], true);
  EXPECT_NEAR(j["duration"].get<double>(), 4.0, 0.05);
  EXPECT_NEAR(j["fps"].get<double>(), 25.0, 1e-6);
  EXPECT_EQ(j["has_audio"], true);
}

// Interlaced MPEG-2 (top field first) and a progressive file: `probe` says which is which.
TEST(Cli, ProbeSaysWhetherTheVideoIsInterlaced) {
  const std::filesystem::path dir = fresh_dir("interlaced");
  std::filesystem::create_directories(dir);
  const std::filesystem::path interlaced = dir / "i.mpg";
  const CommandResult made =
      ffmpeg_lavfi("testsrc2=size=320x240:rate=50",
                   {"-t", "1", "-vf", "tinterlace=mode=interleave_top,setfield=tff", "-c:v",
                    "mpeg2video", "-flags", "+ildct+ilme", "-top", "1", interlaced.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const CommandResult text = clipmind({"probe", interlaced.string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("interlaced:    yes, top field first (frames are deinterlaced"),
            std::string::npos)
      << text.out;
  const CommandResult json = clipmind({"probe", interlaced.string(), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["field_order"], "tt");
  EXPECT_EQ(j["interlaced"], true);

  const auto progressive = make_video(cli_spec());
  const nlohmann::json p =
      nlohmann::json::parse(clipmind({"probe", progressive.string(), "--json"}).out);
  EXPECT_EQ(p["field_order"], "progressive");
  EXPECT_EQ(p["interlaced"], false);
  EXPECT_NE(clipmind({"probe", progressive.string()}).out.find("interlaced:    no (progressive)"),
            std::string::npos);
}

// A 1-second MPEG-1 program stream whose last pictures carry no timestamp (FFmpeg says 0.64 s):
// `probe` says 1 s and `frames --fps 25` writes all 25 pictures, the last at 0.96 s.
TEST(Cli, AnMpeg1ProgramStreamIsProbedAndSampledToItsEnd) {
  const std::filesystem::path dir = fresh_dir("mpeg1");
  std::filesystem::create_directories(dir);
  const std::filesystem::path mpg = dir / "m1.mpg";
  const CommandResult made =
      ffmpeg_lavfi("testsrc=size=96x64:rate=25:duration=1", {"-c:v", "mpeg1video", mpg.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const CommandResult probed = clipmind({"probe", mpg.string(), "--json"});
  ASSERT_EQ(probed.exit_code, 0) << probed.err;
  const nlohmann::json j = nlohmann::json::parse(probed.out);
  EXPECT_NEAR(j["duration"].get<double>(), 1.0, 1e-3);
  EXPECT_EQ(j["frame_count"], 25);
  const CommandResult frames =
      clipmind({"frames", mpg.string(), "--fps", "25", "--out", (dir / "frames").string()});
  ASSERT_EQ(frames.exit_code, 0) << frames.err;
  const std::vector<std::string> written = lines(frames.out);
  ASSERT_EQ(written.size(), 25u) << frames.out;
  EXPECT_EQ(std::filesystem::path(written.back()).filename(), "t000000.960.jpg");
  EXPECT_EQ(frames.err, "");
}

TEST(Cli, ProbeSaysWhenTheFileIsCutShort) {
  // moov first, then cut in half: the header still promises 4 s.
  VideoSpec spec = cli_spec();
  spec.name = "cli-cut";
  spec.extra = {"-movflags", "+faststart"};
  std::string bytes;
  {
    std::ifstream in(make_video(spec), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const auto path = video_dir() / "cli-cut-half.mp4";
  std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() / 2);

  const CommandResult json = clipmind({"probe", path.string(), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json j = nlohmann::json::parse(json.out);
  EXPECT_NEAR(j["header_duration"].get<double>(), 4.0, 0.05);
  EXPECT_GT(j["duration"].get<double>(), 0.5);
  EXPECT_LT(j["duration"].get<double>(), 3.0);
  const CommandResult text = clipmind({"probe", path.string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("cut short:     the header promises 4.0"), std::string::npos) << text.out;
  // A whole file has no such line, and header_duration 0.
  const CommandResult whole = clipmind({"probe", make_video(spec).string(), "--json"});
  EXPECT_EQ(nlohmann::json::parse(whole.out)["header_duration"], 0.0);
}

// Each written file must be named by the time of the frame it holds.
void check_written(const CommandResult& r, const std::vector<double>& frames, size_t count,
                   const std::string& ext) {
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> paths = lines(r.out);
  ASSERT_EQ(paths.size(), count) << r.out;
  const std::regex name("t(\\d{6}\\.\\d{3})\\." + ext);
  for (const std::string& p : paths) {
    std::smatch m;
    const std::string file = std::filesystem::path(p).filename().string();
    ASSERT_TRUE(std::regex_match(file, m, name)) << file;
    ASSERT_TRUE(std::filesystem::exists(p));
    const double time = std::stod(m[1]);
    const RgbImage image = read_image_rgb(p);
    const auto code = read_code(image.rgb.data(), image.width, image.height, image.width * 3u);
    ASSERT_TRUE(code.has_value()) << p;
    EXPECT_NEAR(frames[*code], time, 0.0015) << p;
  }
}

TEST(Cli, FramesCount) {
  const VideoSpec spec = cli_spec();
  const auto path = make_video(spec);
  const auto out = fresh_dir("count");
  const CommandResult r =
      clipmind({"frames", path.string(), "--count", "8", "--out", out.string(), "--size", "64x48"});
  check_written(r, frame_times(spec), 8, "jpg");
  const RgbImage first = read_image_rgb(lines(r.out)[0]);
  EXPECT_EQ(first.width, 64);
  EXPECT_EQ(first.height, 48);
  // The middles of 8 equal parts of 4 s: 0.25 s, 0.75 s, ...
  EXPECT_EQ(std::filesystem::path(lines(r.out)[0]).filename(), "t000000.240.jpg");
}

TEST(Cli, FramesAtPngFit) {
  const VideoSpec spec = cli_spec();
  const auto path = make_video(spec);
  const auto out = fresh_dir("at");
  const CommandResult r = clipmind({"frames", path.string(), "--at", "3.01,0.51,1", "--out",
                                    out.string(), "--size", "100x100", "--fit", "--format", "png"});
  check_written(r, frame_times(spec), 3, "png");
  const std::vector<std::string> paths = lines(r.out);
  EXPECT_EQ(std::filesystem::path(paths[0]).filename(), "t000000.520.png");  // sorted
  EXPECT_EQ(std::filesystem::path(paths[2]).filename(), "t000003.000.png");
  EXPECT_EQ(read_image_rgb(paths[0]).height, 75);
}

TEST(Cli, FramesFpsAndKeyframesOnly) {
  const VideoSpec spec = cli_spec();
  const auto path = make_video(spec);
  const CommandResult all =
      clipmind({"frames", path.string(), "--fps", "2", "--out", fresh_dir("fps").string()});
  check_written(all, frame_times(spec), 8, "jpg");
  // Keyframes every 20 frames (0.8 s): at 10 fps the previews repeat, one file per keyframe.
  const CommandResult keys = clipmind({"frames", path.string(), "--fps", "10", "--keyframes-only",
                                       "--out", fresh_dir("keys").string()});
  ASSERT_EQ(keys.exit_code, 0) << keys.err;
  const auto paths = lines(keys.out);
  EXPECT_GE(paths.size(), 5u);
  EXPECT_LE(paths.size(), 8u);
  check_written(keys, frame_times(spec), paths.size(), "jpg");
}

TEST(Cli, HelpForEveryCommand) {
  for (const char* cmd : {"probe", "frames"}) {
    const CommandResult r = clipmind({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("VIDEO"), std::string::npos) << r.out;
  }
  const CommandResult frames = clipmind({"frames", "--help"});
  for (const char* option :
       {"--fps", "--count", "--at", "--out", "--size", "--fit", "--keyframes-only", "--format"}) {
    EXPECT_NE(frames.out.find(option), std::string::npos) << option;
  }
}

// A failure: non-zero exit, one line on stderr that names the file and the problem.
void expect_failure(const CommandResult& r, int code, const std::string& words) {
  EXPECT_EQ(r.exit_code, code) << r.err;
  const auto err = lines(r.err);
  ASSERT_EQ(err.size(), 1u) << r.err;
  EXPECT_NE(err[0].find(words), std::string::npos) << err[0];
  EXPECT_EQ(r.out, "");
}

TEST(Cli, Errors) {
  const auto dir = video_dir() / "cli";
  std::filesystem::create_directories(dir);
  const auto missing = dir / "missing.mp4";
  expect_failure(clipmind({"probe", missing.string()}), 4, missing.string() + ": no such file");
  const auto text = dir / "text.mp4";
  { std::ofstream(text) << "hello\n"; }
  expect_failure(clipmind({"probe", text.string()}), 3, text.string() + ": not a readable video");
  expect_failure(
      clipmind({"frames", text.string(), "--count", "3", "--out", fresh_dir("e").string()}), 3,
      text.string());
  const auto path = make_video(cli_spec());
  expect_failure(clipmind({"frames", path.string(), "--out", fresh_dir("e").string()}), 2,
                 "exactly one of --fps, --count or --at");
  expect_failure(clipmind({"frames", path.string(), "--count", "2", "--out",
                           fresh_dir("e").string(), "--size", "big"}),
                 2, "--size");
  // Times outside the video are refused, not silently moved to its first or last frame.
  expect_failure(
      clipmind({"frames", path.string(), "--at", "-1", "--out", fresh_dir("e").string()}), 2,
      "before the start");
  expect_failure(
      clipmind({"frames", path.string(), "--at", "1,100", "--out", fresh_dir("e").string()}), 2,
      path.string() + ": --at 100.000 s is past the end of the video (4.");
  const CommandResult both = clipmind(
      {"frames", path.string(), "--count", "2", "--fps", "1", "--out", fresh_dir("e").string()});
  EXPECT_EQ(both.exit_code, 2);
  // The output folder cannot be a file.
  const auto blocker = dir / "blocker";
  { std::ofstream(blocker) << "x"; }
  expect_failure(clipmind({"frames", path.string(), "--count", "2", "--out", blocker.string()}), 5,
                 blocker.string());
}

TEST(Cli, RealSampleVideo) {
  const std::filesystem::path vtest = std::filesystem::path(CLIPMIND_OPENCV_SAMPLES) / "vtest.avi";
  const CommandResult r = clipmind({"frames", vtest.string(), "--count", "4", "--size", "192x144",
                                    "--out", fresh_dir("vtest").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines(r.out).size(), 4u);
  EXPECT_EQ(r.err, "");  // no TTY: no progress; a clean file: no warnings
}

}  // namespace
}  // namespace clipmind::test
