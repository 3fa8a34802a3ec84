// probe() and keyframe_times() on generated videos of every codec/container, checked against
// the spec that made them and against ffprobe (an independent reader).
#include <cmath>
#include <sstream>

#include "tests/decode/decode_test_util.h"
#include <gtest/gtest.h>

#include "decode/video_info.h"

namespace clipmind::test {
namespace {

class ProbeCodecs : public ::testing::TestWithParam<VideoSpec> {};

std::string expected_codec(const std::string& encoder) {
  if (encoder == "libx264") return "h264";
  if (encoder == "libx265") return "hevc";
  if (encoder == "libvpx-vp9") return "vp9";
  if (encoder == "libsvtav1") return "av1";
  return encoder;  // mpeg4, mjpeg
}

TEST_P(ProbeCodecs, ReportsWhatTheFileWasMadeOf) {
  const VideoSpec spec = GetParam();
  const auto path = make_video(spec);
  const decode::VideoInfo info = decode::probe(path);
  EXPECT_EQ(info.path, path);
  EXPECT_EQ(info.container, spec.container);
  EXPECT_EQ(info.codec, expected_codec(spec.codec));
  EXPECT_EQ(info.width, spec.width);
  EXPECT_EQ(info.height, spec.height);
  EXPECT_EQ(info.display_width, spec.width);
  EXPECT_EQ(info.display_height, spec.height);
  EXPECT_EQ(info.rotation, 0);
  EXPECT_EQ(info.sample_aspect_ratio, (decode::Rational{1, 1}));
  EXPECT_NEAR(info.frame_rate(), spec.fps, 0.01);
  EXPECT_NEAR(info.duration, spec.frames / static_cast<double>(spec.fps), 0.1);
  if (spec.container == "mkv" || spec.container == "webm") {
    EXPECT_FALSE(info.frame_count_exact);  // Matroska does not store a frame count
    EXPECT_NEAR(static_cast<double>(info.frame_count), spec.frames, 2.0);
  } else {
    EXPECT_TRUE(info.frame_count_exact);
    EXPECT_EQ(info.frame_count, spec.frames);
  }
  EXPECT_GT(info.bit_rate, 0);
  EXPECT_FALSE(info.has_audio);
  EXPECT_FALSE(info.pixel_format.empty());
}

INSTANTIATE_TEST_SUITE_P(All, ProbeCodecs, ::testing::ValuesIn(codec_matrix()),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

TEST(Probe, BFramesAndAudio) {
  VideoSpec spec;
  spec.name = "bframes-audio";
  spec.bframes = 3;
  spec.audio = true;
  spec.extra = {"-x264-params", "b-adapt=0"};
  const decode::VideoInfo info = decode::probe(make_video(spec));
  EXPECT_TRUE(info.has_b_frames);
  EXPECT_TRUE(info.has_audio);
  EXPECT_EQ(info.audio_codec, "aac");
  EXPECT_EQ(info.profile, "High");
}

TEST(Probe, NoBFramesWhenEncodedWithout) {
  VideoSpec spec;
  spec.name = "no-bframes";
  spec.bframes = 0;
  EXPECT_FALSE(decode::probe(make_video(spec)).has_b_frames);
}

TEST(Probe, RotationFromTheDisplayMatrix) {
  for (int rotation : {90, 180, 270}) {
    VideoSpec spec;
    spec.name = "rotated-" + std::to_string(rotation);
    spec.width = 160;  // as displayed
    spec.height = 96;
    spec.rotation = rotation;
    const auto path = make_video(spec);
    // ffprobe (independent) reads the matrix as the counter-clockwise angle.
    const CommandResult r =
        run_command({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                     "stream_side_data=rotation", "-of", "csv=p=0", path.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const int ffprobe_rotation = std::stoi(r.out);
    EXPECT_EQ(((-ffprobe_rotation) % 360 + 360) % 360, rotation);

    const decode::VideoInfo info = decode::probe(path);
    EXPECT_EQ(info.rotation, rotation);
    const bool quarter = rotation != 180;
    EXPECT_EQ(info.width, quarter ? 96 : 160);  // as stored
    EXPECT_EQ(info.height, quarter ? 160 : 96);
    EXPECT_EQ(info.display_width, 160);
    EXPECT_EQ(info.display_height, 96);
  }
}

TEST(Probe, NonSquarePixelsWidenTheDisplaySize) {
  VideoSpec spec;
  spec.name = "sar-2-1";
  spec.extra = {"-aspect", "8:3"};  // 160x120 shown as 8:3 → pixels twice as wide as high
  const decode::VideoInfo info = decode::probe(make_video(spec));
  EXPECT_EQ(info.sample_aspect_ratio, (decode::Rational{2, 1}));
  EXPECT_EQ(info.display_width, 320);
  EXPECT_EQ(info.display_height, 120);
}

TEST(Probe, OneFrameVideo) {
  VideoSpec spec;
  spec.name = "one-frame";
  spec.frames = 1;
  const decode::VideoInfo info = decode::probe(make_video(spec));
  EXPECT_EQ(info.frame_count, 1);
  EXPECT_TRUE(info.frame_count_exact);
}

TEST(Probe, OddSizes) {
  VideoSpec spec;
  spec.name = "odd-vp9";
  spec.container = "webm";
  spec.codec = "libvpx-vp9";
  spec.width = 161;
  spec.height = 97;
  spec.extra = {"-deadline", "realtime", "-cpu-used", "8"};
  const decode::VideoInfo info = decode::probe(make_video(spec));
  EXPECT_EQ(info.width, 161);
  EXPECT_EQ(info.height, 97);
}

std::vector<double> ffprobe_keyframes(const std::filesystem::path& path) {
  const CommandResult r =
      run_command({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                   "packet=pts_time,dts_time,flags", "-of", "csv=p=0", path.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<double> keys;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string pts, dts, flags;
    std::getline(fields, pts, ',');
    std::getline(fields, dts, ',');
    std::getline(fields, flags, ',');
    if (flags.find('K') == std::string::npos) continue;
    keys.push_back(std::stod(pts != "N/A" ? pts : dts));
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

TEST(KeyframeTimes, MatchFfprobeInEveryContainer) {
  for (std::string container : {"mp4", "mkv", "mov", "avi", "webm"}) {
    VideoSpec spec;
    spec.name = "gop10-" + container;
    spec.container = container;
    spec.frames = 75;
    spec.gop = 10;
    spec.bframes = container == "avi" ? 0 : 2;
    spec.codec = container == "webm" ? "libvpx-vp9" : container == "avi" ? "mpeg4" : "libx264";
    if (spec.codec == "libx264") spec.extra = {"-sc_threshold", "0"};
    if (spec.codec == "libvpx-vp9") spec.extra = {"-deadline", "realtime", "-cpu-used", "8"};
    const auto path = make_video(spec);
    const std::vector<double> expected = ffprobe_keyframes(path);
    const std::vector<double> got = decode::keyframe_times(path);
    SCOPED_TRACE(container);
    ASSERT_GE(expected.size(), 2u);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], expected[i], 0.001) << i;
  }
}

}  // namespace
}  // namespace clipmind::test
