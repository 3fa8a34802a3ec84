// Real videos no one here made (Debian's opencv-doc samples), checked against the ffmpeg CLI.
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "tests/decode/decode_test_util.h"
#include <gtest/gtest.h>

#include "decode/frame_sampler.h"
#include "decode/video_info.h"

namespace clipmind::test {
namespace {

std::filesystem::path sample_video(const std::string& name) {
  const std::filesystem::path path = std::filesystem::path(CLIPMIND_OPENCV_SAMPLES) / name;
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << path << " is missing: run scripts/setup.sh (it installs opencv-doc)";
  }
  return path;
}

// Presentation times of every frame as ffprobe sees them (best-effort timestamps).
std::vector<double> ffprobe_frame_times(const std::filesystem::path& path) {
  const CommandResult r =
      run_command({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                   "frame=best_effort_timestamp_time", "-of", "csv=p=0", path.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<double> times;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line != "N/A") times.push_back(std::stod(line));
  }
  return times;
}

// Frames number ns decoded by the ffmpeg CLI in one pass, as RGB at their native size.
std::map<size_t, RgbImage> ffmpeg_frames(const std::filesystem::path& path, std::set<size_t> ns) {
  const auto dir = video_dir() / "reference" / path.stem();
  std::filesystem::create_directories(dir);
  std::string select;
  for (size_t n : ns) {
    if (!select.empty()) select += '+';
    select += "eq(n\\," + std::to_string(n) + ")";
  }
  for (const auto& old : std::filesystem::directory_iterator(dir))
    std::filesystem::remove(old.path());
  const CommandResult r =
      run_command({"ffmpeg", "-nostdin", "-v", "error", "-y", "-i", path.string(), "-vf",
                   "select=" + select, "-fps_mode", "passthrough", "-frames:v",
                   std::to_string(ns.size()), (dir / "%04d.png").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<size_t, RgbImage> frames;
  int i = 1;
  for (size_t n : ns) {
    char name[16];
    std::snprintf(name, sizeof name, "%04d.png", i++);
    frames[n] = read_image_rgb(dir / name);
  }
  return frames;
}

double mean_abs_diff(const decode::Frame& a, const RgbImage& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  if (a.rgb.size() != b.rgb.size()) return 255.0;
  double sum = 0;
  for (size_t i = 0; i < a.rgb.size(); ++i)
    sum += std::abs(int(a.rgb[i]) - int(b.rgb[i]));
  return sum / static_cast<double>(a.rgb.size());
}

void check_against_ffmpeg(const std::string& name, const std::vector<double>& times) {
  const auto path = sample_video(name);
  const std::vector<double> frames = ffprobe_frame_times(path);
  ASSERT_GT(frames.size(), 10u);
  std::set<size_t> wanted;
  for (double t : times)
    wanted.insert(expected_nearest(frames, t));
  const std::map<size_t, RgbImage> reference = ffmpeg_frames(path, wanted);
  for (int threads : {1, 2}) {
    decode::SamplerOptions o;
    o.threads = threads;
    const auto samples = sample_all(path, times, o);
    ASSERT_EQ(samples.size(), times.size());
    for (const auto& s : samples) {
      const size_t n = expected_nearest(frames, s.requested_time);
      EXPECT_NEAR(s.frame.time, frames[n], 0.002) << name << " t=" << s.requested_time;
      // Same frame as ffmpeg's: only colour-conversion rounding may differ.
      EXPECT_LT(mean_abs_diff(s.frame, reference.at(n)), 3.0)
          << name << " t=" << s.requested_time << " frame " << n;
    }
  }
}

TEST(RealVideos, ProbeVtest) {
  const decode::VideoInfo info = decode::probe(sample_video("vtest.avi"));
  EXPECT_EQ(info.container, "avi");
  EXPECT_EQ(info.codec, "msmpeg4v3");
  EXPECT_EQ(info.width, 768);
  EXPECT_EQ(info.height, 576);
  EXPECT_NEAR(info.frame_rate(), 10.0, 1e-9);
  EXPECT_EQ(info.frame_count, 795);
  EXPECT_TRUE(info.frame_count_exact);
  EXPECT_NEAR(info.duration, 79.5, 0.01);
  EXPECT_FALSE(info.has_audio);
}

TEST(RealVideos, ProbeMegamind) {
  const decode::VideoInfo info = decode::probe(sample_video("Megamind.avi"));
  EXPECT_EQ(info.codec, "mpeg4");
  EXPECT_EQ(info.width, 720);
  EXPECT_EQ(info.height, 528);
  EXPECT_EQ(info.frame_count, 270);
  EXPECT_TRUE(info.has_audio);
  EXPECT_EQ(info.audio_codec, "ac3");
  EXPECT_TRUE(info.has_b_frames);
}

TEST(RealVideos, VtestFramesMatchFfmpeg) {
  check_against_ffmpeg("vtest.avi", {0.0, 10.04, 33.3, 79.45});
}

TEST(RealVideos, MegamindPackedBFramesMatchFfmpeg) {
  check_against_ffmpeg("Megamind.avi", {0.5, 3.0, 3.04, 7.77, 11.2});
}

TEST(RealVideos, TreeCinepakMatchesFfmpeg) {
  check_against_ffmpeg("tree.avi", {0.0, 5.5, 29.5});
}

TEST(RealVideos, DamagedMegamindGivesAResultNotACrash) {
  const auto path = sample_video("Megamind_bugy.avi");
  const decode::VideoInfo info = decode::probe(path);
  EXPECT_EQ(info.codec, "mpeg4");
  std::vector<double> times;
  for (int i = 0; i < 20; ++i)
    times.push_back(i * 0.5);
  for (decode::Strategy s : {decode::Strategy::kSequential, decode::Strategy::kSeek}) {
    decode::SamplerOptions o;
    o.strategy = s;
    o.threads = 2;
    std::vector<std::string> warnings;
    const auto samples = sample_all(path, times, o, &warnings);
    ASSERT_FALSE(samples.empty());
    double last = -1;
    for (const auto& sample : samples) {
      EXPECT_EQ(sample.frame.width, 720);
      EXPECT_GE(sample.frame.time, last);
      last = sample.frame.time;
    }
    // Whatever is missing is reported.
    if (samples.size() < times.size()) {
      EXPECT_FALSE(warnings.empty());
    }
  }
}

}  // namespace
}  // namespace clipmind::test
