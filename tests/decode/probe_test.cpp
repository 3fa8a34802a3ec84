// probe() and keyframe_times() on generated videos of every codec/container, checked against
// the spec that made them and against ffprobe (an independent reader).
#include <cmath>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/decode/decode_test_util.h"
#include <gtest/gtest.h>

#include "decode/frame_sampler.h"
#include "decode/media_index.h"
#include "decode/video_info.h"

namespace clipmind::test {
namespace {

namespace fs = std::filesystem;

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
  EXPECT_EQ(info.container, expected_container(spec.container));
  EXPECT_EQ(info.codec, expected_codec(spec.codec));
  EXPECT_EQ(info.width, spec.width);
  EXPECT_EQ(info.height, spec.height);
  EXPECT_EQ(info.display_width, spec.width);
  EXPECT_EQ(info.display_height, spec.height);
  EXPECT_EQ(info.rotation, 0);
  EXPECT_EQ(info.sample_aspect_ratio, (decode::Rational{1, 1}));
  EXPECT_NEAR(info.frame_rate(), spec.fps, 0.01);
  // Times count from the file's start: an MPEG-TS clock that starts at 1.4 s starts at 0.
  EXPECT_EQ(info.start_time, 0.0);
  const double frames_off = 2.0;
  EXPECT_NEAR(info.duration, spec.frames / static_cast<double>(spec.fps),
              frames_off / spec.fps + 0.02);
  if (spec.container == "mkv" || spec.container == "webm" || spec.container == "ts" ||
      spec.container == "mpg") {
    EXPECT_FALSE(info.frame_count_exact);  // these containers store no frame count
    EXPECT_NEAR(static_cast<double>(info.frame_count), spec.frames, frames_off);
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

// A Matroska file whose clock starts at 100 s states a segment duration of 100 s + its length;
// an mp4 states it in an edit list. Both start at 0 and last as long as their frames.
TEST(Probe, StartOffsetsAreNotPartOfTheDuration) {
  for (const std::string container : {"mkv", "mp4", "ts"}) {
    VideoSpec spec;
    spec.name = "offset-100";
    spec.container = container;
    spec.extra = {"-output_ts_offset", "100"};
    const decode::VideoInfo info = decode::probe(make_video(spec));
    SCOPED_TRACE(container);
    EXPECT_EQ(info.start_time, 0.0);
    EXPECT_NEAR(info.duration, spec.frames / static_cast<double>(spec.fps), 0.05);
    EXPECT_NEAR(static_cast<double>(info.frame_count), spec.frames, 2.0);
  }
}

// Files written live (a browser's MediaRecorder, `-live 1`) state no duration at all: it is
// found by reading the packets.
TEST(Probe, AFileThatStatesNoDurationIsReadToItsEnd) {
  for (const std::string container : {"webm", "mkv"}) {
    VideoSpec spec;
    spec.name = "live";
    spec.container = container;
    spec.codec = container == "webm" ? "libvpx-vp9" : "libx264";
    spec.extra = {"-live", "1"};
    if (container == "webm") {
      spec.extra.insert(spec.extra.end(), {"-deadline", "realtime", "-cpu-used", "8"});
    }
    const auto path = make_video(spec);
    SCOPED_TRACE(container);
    // ffprobe (independent) finds no duration in the file.
    const CommandResult r = run_command({"ffprobe", "-v", "error", "-show_entries",
                                         "format=duration", "-of", "csv=p=0", path.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.substr(0, 3), "N/A") << r.out;
    const decode::VideoInfo info = decode::probe(path);
    EXPECT_NEAR(info.duration, spec.frames / static_cast<double>(spec.fps), 0.05);
    const std::vector<double> frames = frame_times(spec);
    const auto samples = sample_all(path, {0.0, 1.0, frames.back()});
    ASSERT_EQ(samples.size(), 3u);
    EXPECT_EQ(read_code(samples[2].frame), static_cast<uint32_t>(spec.frames - 1));
  }
}

// A 1-second MPEG-1 program stream at 96x64 (25 pictures): the pictures share PES packets and
// the last ones carry no timestamp, so FFmpeg, which estimates an MPEG-PS duration from the
// last PES timestamp, under-reports it. probe() and the sampler count every picture of the
// file's last packets and agree on 1 s, with and without a MediaIndexCache (which a sampler of
// this file fills with a read of every packet), and every frame comes back with its time.
TEST(Probe, AnMpeg1ProgramStreamLastsToItsLastPicture) {
  const fs::path dir = video_dir() / "mpeg1-duration";
  fs::create_directories(dir);
  const fs::path mpg = dir / "testsrc-1s.mpg";
  const CommandResult made =
      ffmpeg_lavfi("testsrc=size=96x64:rate=25:duration=1", {"-c:v", "mpeg1video", mpg.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  // ffprobe (independent): 25 pictures, and a container duration short of 1 s (the defect).
  const CommandResult counted =
      run_command({"ffprobe", "-v", "error", "-count_frames", "-select_streams", "v",
                   "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", mpg.string()});
  ASSERT_EQ(counted.exit_code, 0) << counted.err;
  EXPECT_EQ(std::stoi(counted.out), 25);
  const CommandResult stated = run_command({"ffprobe", "-v", "error", "-show_entries",
                                            "format=duration", "-of", "csv=p=0", mpg.string()});
  ASSERT_EQ(stated.exit_code, 0) << stated.err;
  EXPECT_LT(std::stod(stated.out), 0.9) << "FFmpeg no longer under-reports: " << stated.out;

  const decode::VideoInfo info = decode::probe(mpg);
  EXPECT_EQ(info.container, "mpeg");
  EXPECT_NEAR(info.duration, 1.0, 1e-6);
  EXPECT_EQ(info.frame_count, 25);

  std::vector<double> times;
  for (int f = 0; f < 25; ++f)
    times.push_back(f / 25.0);
  decode::SamplerOptions o;
  o.skip_duplicates = true;
  auto cache = std::make_shared<decode::MediaIndexCache>();
  o.index_cache = cache;
  decode::FrameSampler sampler(mpg, times, o);
  EXPECT_NEAR(sampler.info().duration, info.duration, 1e-9);
  size_t got = 0;
  while (auto s = sampler.next()) {
    EXPECT_NEAR(s->frame.time, times[s->request], 1e-3);
    ++got;
  }
  EXPECT_EQ(got, times.size());
  for (const std::string& w : sampler.warnings())
    ADD_FAILURE() << "warning: " << w;
  EXPECT_EQ(cache->reads(), 1);  // the sampler read every packet for the keyframes
  EXPECT_NEAR(decode::probe(mpg, cache.get()).duration, info.duration, 1e-9);

  // The same for an MPEG-2 program stream at a few hundred bytes per picture (100 pictures).
  EXPECT_NEAR(decode::probe(make_video(low_rate_mpeg_ps())).duration, 4.0, 1e-6);
}

// The sound starts 2 s before the picture: a player's clock starts with the sound, and so do
// the times, so that a time means the same moment in a player and in clipmind.
TEST(Probe, AVideoThatStartsAfterItsSoundStartsLater) {
  for (const std::string container : {"mp4", "mkv"}) {
    VideoSpec spec;
    spec.name = "picture-2s-late";
    spec.container = container;
    spec.audio = true;
    spec.extra = {"-vf", "setpts=PTS+2/TB"};
    const auto path = make_video(spec);
    SCOPED_TRACE(container);
    const decode::VideoInfo info = decode::probe(path);
    const double length = spec.frames / static_cast<double>(spec.fps);
    // Opus (the Matroska test audio) starts 7 ms early: the picture then starts 14 ms after
    // the file's start, as ffprobe's start times say.
    const double tolerance = container == "mkv" ? 0.02 : 0.005;
    EXPECT_NEAR(info.start_time, 2.0, tolerance);
    EXPECT_NEAR(info.duration, 2.0 + length, tolerance);
    EXPECT_NEAR(static_cast<double>(info.frame_count), spec.frames, 2.0);
    // Before the picture starts, its first frame stands in.
    const auto samples = sample_all(path, {0.0, 2.0, 2.0 + 1.0});
    ASSERT_EQ(samples.size(), 3u);
    EXPECT_EQ(read_code(samples[0].frame), 0u);
    EXPECT_EQ(read_code(samples[1].frame), 0u);
    EXPECT_NEAR(samples[1].frame.time, 2.0, tolerance);
    EXPECT_EQ(read_code(samples[2].frame), static_cast<uint32_t>(spec.fps));
    EXPECT_NEAR(samples[2].frame.time, 3.0, tolerance);
    const std::vector<double> keys = decode::keyframe_times(path);
    ASSERT_FALSE(keys.empty());
    EXPECT_NEAR(keys.front(), 2.0, tolerance);
  }
}

// Two pictures in one file: the one marked default (the one players show) is used, even when
// the other is larger.
TEST(Probe, TheDefaultVideoStreamIsUsed) {
  VideoSpec main_spec;
  main_spec.name = "two-streams-main";
  VideoSpec big_spec;
  big_spec.name = "two-streams-big";
  big_spec.width = 320;
  big_spec.height = 240;
  big_spec.fps = 10;
  big_spec.frames = 20;
  const auto main_path = make_video(main_spec);
  const auto big_path = make_video(big_spec);
  const auto path = video_dir() / "two-video-streams.mp4";
  std::filesystem::remove(path);
  const CommandResult r = mux_two_video_streams(main_path, big_path, path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const decode::VideoInfo info = decode::probe(path);
  EXPECT_EQ(info.width, main_spec.width);
  EXPECT_NEAR(info.frame_rate(), main_spec.fps, 0.01);
  const auto samples = sample_all(path, {1.0});
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(read_code(samples[0].frame), static_cast<uint32_t>(main_spec.fps));
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
