// FrameSampler on generated videos: the frame returned for each time must be the right one,
// read from the code drawn into every frame (independent of the decoder).
#include "decode/frame_sampler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <set>
#include <thread>

#include "tests/decode/decode_test_util.h"
#include <gtest/gtest.h>

#include "clipmind/error.h"

namespace clipmind::test {
namespace {

using decode::SampleMode;
using decode::SamplerOptions;
using decode::Strategy;

// Times around every frame (off by up to 40 % of a frame, never a tie), plus both ends.
std::vector<double> jittered_times(const std::vector<double>& frames, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> jitter(-0.4, 0.4);
  std::vector<double> times = {-1.0};
  for (size_t i = 0; i < frames.size(); ++i) {
    const double step =
        i + 1 < frames.size() ? frames[i + 1] - frames[i] : frames[i] - frames[i - 1];
    times.push_back(frames[i] + jitter(rng) * step);
  }
  times.push_back(frames.back() + 5.0);
  std::sort(times.begin(), times.end());
  return times;
}

// Checks that each sample is the frame nearest its requested time.
void expect_nearest(const std::vector<decode::Sample>& samples, const std::vector<double>& times,
                    const std::vector<double>& frames) {
  ASSERT_EQ(samples.size(), times.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    const decode::Sample& s = samples[i];
    EXPECT_EQ(s.request, i);
    EXPECT_DOUBLE_EQ(s.requested_time, times[i]);
    const size_t want = expected_nearest(frames, times[i]);
    const std::optional<uint32_t> code = read_code(s.frame);
    ASSERT_TRUE(code.has_value()) << "unreadable frame for t=" << times[i];
    EXPECT_EQ(*code, want) << "t=" << times[i];
    EXPECT_NEAR(s.frame.time, frames[want], 0.002) << "t=" << times[i];
  }
}

class SamplerCodecs : public ::testing::TestWithParam<VideoSpec> {};

TEST_P(SamplerCodecs, AccurateModeReturnsTheNearestFrame) {
  const VideoSpec spec = GetParam();
  const auto path = make_video(spec);
  const std::vector<double> frames = frame_times(spec);
  const std::vector<double> times = jittered_times(frames, 7);
  for (Strategy strategy : {Strategy::kSequential, Strategy::kSeek}) {
    for (int threads : {1, 2}) {
      SCOPED_TRACE(std::string(decode::to_string(strategy)) +
                   " threads=" + std::to_string(threads));
      SamplerOptions options;
      options.strategy = strategy;
      options.threads = threads;
      std::vector<std::string> warnings;
      expect_nearest(sample_all(path, times, options, &warnings), times, frames);
      EXPECT_TRUE(warnings.empty()) << warnings.front();
    }
  }
}

TEST_P(SamplerCodecs, SparseTimesAtOutputSize) {
  const VideoSpec spec = GetParam();
  const auto path = make_video(spec);
  const std::vector<double> frames = frame_times(spec);
  const std::vector<double> times = {0.33, 0.9, 1.51, 2.2};
  SamplerOptions options;
  options.width = 64;
  options.height = 48;
  const auto samples = sample_all(path, times, options);
  expect_nearest(samples, times, frames);
  for (const auto& s : samples) {
    EXPECT_EQ(s.frame.width, 64);
    EXPECT_EQ(s.frame.height, 48);
    EXPECT_EQ(s.frame.rgb.size(), 64u * 48u * 3u);
  }
}

TEST_P(SamplerCodecs, KeyframesModeReturnsTheNearestKeyframe) {
  const VideoSpec spec = GetParam();
  const auto path = make_video(spec);
  const std::vector<double> frames = frame_times(spec);
  const std::vector<double> keys = decode::keyframe_times(path);
  ASSERT_FALSE(keys.empty());
  const std::vector<double> times = {0.1, 0.7, 1.3, 2.1};
  for (Strategy strategy : {Strategy::kAuto, Strategy::kKeyframeScan}) {
    SCOPED_TRACE(decode::to_string(strategy));
    SamplerOptions options;
    options.mode = SampleMode::kKeyframes;
    options.strategy = strategy;
    const auto samples = sample_all(path, times, options);
    ASSERT_EQ(samples.size(), times.size());
    for (const auto& s : samples) {
      size_t best = 0;
      for (size_t k = 1; k < keys.size(); ++k) {
        if (std::abs(keys[k] - s.requested_time) < std::abs(keys[best] - s.requested_time) - 1e-9)
          best = k;
      }
      const std::optional<uint32_t> code = read_code(s.frame);
      ASSERT_TRUE(code.has_value());
      EXPECT_NEAR(frames[*code], keys[best], 0.002) << "t=" << s.requested_time;
      EXPECT_NEAR(s.frame.time, keys[best], 0.002);
      EXPECT_TRUE(s.frame.keyframe);
    }
  }
}

TEST_P(SamplerCodecs, FastModeStaysWithinTheTolerance) {
  const VideoSpec spec = GetParam();
  const auto path = make_video(spec);
  const std::vector<double> frames = frame_times(spec);
  const std::vector<double> times = {0.05, 0.3, 0.55, 1.0, 1.7, 2.3};
  SamplerOptions options;
  options.mode = SampleMode::kFast;
  options.fast_tolerance = 0.12;
  const auto samples = sample_all(path, times, options);
  ASSERT_EQ(samples.size(), times.size());
  for (const auto& s : samples) {
    const std::optional<uint32_t> code = read_code(s.frame);
    ASSERT_TRUE(code.has_value());
    EXPECT_NEAR(frames[*code], s.frame.time, 0.002);
    EXPECT_LE(std::abs(s.frame.time - s.requested_time), 0.12 + 1e-6) << "t=" << s.requested_time;
  }
}

INSTANTIATE_TEST_SUITE_P(All, SamplerCodecs, ::testing::ValuesIn(codec_matrix()),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

VideoSpec long_gop_spec() {
  VideoSpec spec;
  spec.name = "long-gop-bframes";
  spec.frames = 300;
  spec.gop = 250;
  spec.bframes = 3;
  spec.extra = {"-x264-params", "b-adapt=0:scenecut=0", "-preset", "veryfast"};
  return spec;
}

TEST(FrameSampler, LongGopWithBFrames) {
  const VideoSpec spec = long_gop_spec();
  const auto path = make_video(spec);
  const std::vector<double> frames = frame_times(spec);
  const std::vector<double> times = {0.0, 3.3, 7.9, 8.0, 9.96, 10.0, 11.5, 11.96};
  for (int threads : {1, 2}) {
    SamplerOptions options;
    options.threads = threads;
    expect_nearest(sample_all(path, times, options), times, frames);
  }
}

TEST(FrameSampler, SkipsUnreferencedFramesItDoesNotNeed) {
  const VideoSpec spec = long_gop_spec();
  const auto path = make_video(spec);
  const std::vector<double> frames = frame_times(spec);
  decode::FrameSampler sampler(path, {8.0});  // frame 200, in the first GOP (250 frames)
  const auto sample = sampler.next();
  ASSERT_TRUE(sample.has_value());
  EXPECT_EQ(read_code(sample->frame), 200u);
  EXPECT_FALSE(sampler.next().has_value());
  // Frames 0..200 (and a few after, for the nearest-frame decision) would be 200+; with
  // unreferenced B-frames left out far fewer are decoded.
  EXPECT_LT(sampler.stats().frames_decoded, 150);
  EXPECT_EQ(sampler.stats().frames_converted, 1);
}

TEST(FrameSampler, VariableFrameRate) {
  for (std::string container : {"mp4", "mkv", "webm"}) {
    VideoSpec spec;
    spec.name = "vfr-" + container;
    spec.container = container;
    spec.codec = container == "webm" ? "libvpx-vp9" : "libx264";
    if (container == "webm") spec.extra = {"-deadline", "realtime", "-cpu-used", "8"};
    spec.vfr = {{20, 25}, {10, 5}, {20, 50}, {5, 2}};
    spec.gop = 8;
    const auto path = make_video(spec);
    const std::vector<double> frames = frame_times(spec);
    SCOPED_TRACE(container);
    ASSERT_NEAR(frames.back(), 0.8 + 2.0 + 0.4 + 2.0, 1e-9);
    const std::vector<double> times = jittered_times(frames, 11);
    expect_nearest(sample_all(path, times), times, frames);
    SamplerOptions seek;
    seek.strategy = Strategy::kSeek;
    seek.threads = 2;
    expect_nearest(sample_all(path, times, seek), times, frames);
  }
}

TEST(FrameSampler, RotationIsApplied) {
  for (int rotation : {90, 180, 270}) {
    VideoSpec spec;
    spec.name = "rotated-" + std::to_string(rotation);
    spec.width = 160;
    spec.height = 96;
    spec.rotation = rotation;
    const auto path = make_video(spec);
    const std::vector<double> frames = frame_times(spec);
    SCOPED_TRACE(rotation);
    const std::vector<double> times = {0.0, 0.5, 1.96};
    const auto samples = sample_all(path, times);
    expect_nearest(samples, times, frames);
    for (const auto& s : samples) {
      EXPECT_EQ(s.frame.width, 160);
      EXPECT_EQ(s.frame.height, 96);
    }
    SamplerOptions fit;
    fit.width = 64;
    fit.height = 64;
    fit.resize = decode::Resize::kFit;
    const auto small = sample_all(path, times, fit);
    expect_nearest(small, times, frames);
    EXPECT_EQ(small[0].frame.width, 64);
    EXPECT_EQ(small[0].frame.height, 38);  // 160x96 → 64x38.4
  }
}

TEST(FrameSampler, RotationMatchesFfmpegAutorotate) {
  // ffmpeg's own autorotation (an independent reader) shows the same upright code.
  VideoSpec spec;
  spec.name = "rotated-90";
  spec.width = 160;
  spec.height = 96;
  spec.rotation = 90;
  const auto path = make_video(spec);
  const auto dir = video_dir() / "autorotate";
  std::filesystem::create_directories(dir);
  const auto png = dir / "frame7.png";
  const CommandResult r =
      run_command({"ffmpeg", "-nostdin", "-v", "error", "-y", "-i", path.string(), "-vf",
                   "select=eq(n\\,7)", "-frames:v", "1", png.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const RgbImage image = read_image_rgb(png);
  EXPECT_EQ(image.width, 160);
  EXPECT_EQ(image.height, 96);
  EXPECT_EQ(read_code(image.rgb.data(), image.width, image.height, image.width * 3u), 7u);
}

TEST(FrameSampler, OutputSizes) {
  VideoSpec spec;
  spec.name = "sizes";
  const auto path = make_video(spec);
  const std::vector<double> frames = frame_times(spec);
  struct Case {
    int w, h;
    decode::Resize resize;
    int want_w, want_h;
  };
  const std::vector<Case> cases = {
      {0, 0, decode::Resize::kExact, 160, 120},  {384, 384, decode::Resize::kExact, 384, 384},
      {80, 0, decode::Resize::kExact, 80, 60},   {0, 30, decode::Resize::kExact, 40, 30},
      {100, 100, decode::Resize::kFit, 100, 75}, {400, 90, decode::Resize::kFit, 120, 90},
      {33, 17, decode::Resize::kExact, 33, 17},
  };
  for (const Case& c : cases) {
    SamplerOptions o;
    o.width = c.w;
    o.height = c.h;
    o.resize = c.resize;
    const auto samples = sample_all(path, {1.0}, o);
    ASSERT_EQ(samples.size(), 1u);
    EXPECT_EQ(samples[0].frame.width, c.want_w) << c.w << "x" << c.h;
    EXPECT_EQ(samples[0].frame.height, c.want_h) << c.w << "x" << c.h;
    EXPECT_EQ(read_code(samples[0].frame), 25u);
  }
}

TEST(FrameSampler, NonSquarePixelsAreStretched) {
  VideoSpec spec;
  spec.name = "sar-2-1";
  spec.extra = {"-aspect", "8:3"};
  const auto samples = sample_all(make_video(spec), {0.4});
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].frame.width, 320);
  EXPECT_EQ(samples[0].frame.height, 120);
  EXPECT_EQ(read_code(samples[0].frame), 10u);
}

TEST(FrameSampler, OddSizes) {
  std::vector<VideoSpec> specs(3);
  specs[0].name = "odd-vp9";
  specs[0].container = "webm";
  specs[0].codec = "libvpx-vp9";
  specs[0].extra = {"-deadline", "realtime", "-cpu-used", "8"};
  specs[1].name = "odd-x264-444";
  specs[1].container = "mkv";
  specs[1].pix_fmt = "yuv444p";
  specs[2].name = "odd-mjpeg";
  specs[2].container = "avi";
  specs[2].codec = "mjpeg";
  specs[2].pix_fmt = "yuvj444p";
  for (VideoSpec& spec : specs) {
    spec.width = 161;
    spec.height = 97;
    SCOPED_TRACE(spec.name);
    const auto path = make_video(spec);
    const std::vector<double> frames = frame_times(spec);
    const std::vector<double> times = jittered_times(frames, 3);
    const auto samples = sample_all(path, times);
    expect_nearest(samples, times, frames);
    EXPECT_EQ(samples[0].frame.width, 161);
    EXPECT_EQ(samples[0].frame.height, 97);
  }
}

TEST(FrameSampler, OneFrameVideo) {
  VideoSpec spec;
  spec.name = "one-frame";
  spec.frames = 1;
  const auto samples = sample_all(make_video(spec), {-1.0, 0.0, 0.5, 100.0});
  ASSERT_EQ(samples.size(), 4u);
  for (const auto& s : samples) {
    EXPECT_EQ(read_code(s.frame), 0u);
    EXPECT_DOUBLE_EQ(s.frame.time, 0.0);
  }
}

TEST(FrameSampler, RepeatedTimesAndSkippingDuplicates) {
  VideoSpec spec;
  spec.name = "sizes";
  const auto path = make_video(spec);
  const std::vector<double> times = {1.0, 1.0, 1.01, 1.2};
  EXPECT_EQ(sample_all(path, times).size(), 4u);
  SamplerOptions o;
  o.skip_duplicates = true;
  const auto unique = sample_all(path, times, o);
  ASSERT_EQ(unique.size(), 2u);
  EXPECT_EQ(read_code(unique[0].frame), 25u);
  EXPECT_EQ(read_code(unique[1].frame), 30u);
  EXPECT_EQ(unique[1].request, 3u);
}

TEST(FrameSampler, AutoStrategyFollowsDensity) {
  const auto path = make_video(long_gop_spec());  // 12 s, keyframes at 0 and 10 s
  decode::FrameSampler dense(path, {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0});
  EXPECT_EQ(dense.strategy(), Strategy::kSequential);
  VideoSpec short_gops;
  short_gops.name = "gop5";
  short_gops.frames = 100;
  short_gops.gop = 5;
  short_gops.extra = {"-sc_threshold", "0"};
  SamplerOptions two;
  two.threads = 2;
  decode::FrameSampler sparse(make_video(short_gops), {0.5, 1.5, 2.5, 3.5}, two);
  EXPECT_EQ(sparse.strategy(), Strategy::kSeek);
  EXPECT_EQ(sparse.decoders(), 2);
}

TEST(FrameSampler, RejectsBadTimesAndOptions) {
  VideoSpec spec;
  spec.name = "sizes";
  const auto path = make_video(spec);
  auto kind_of = [&](std::vector<double> times, SamplerOptions o) {
    try {
      decode::FrameSampler s(path, std::move(times), std::move(o));
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()), "");
      return e.kind();
    }
    return ErrorKind::kInternal;
  };
  EXPECT_EQ(kind_of({2.0, 1.0}, {}), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of({NAN}, {}), ErrorKind::kInvalidArgument);
  SamplerOptions fit;
  fit.resize = decode::Resize::kFit;
  fit.width = 10;
  EXPECT_EQ(kind_of({1.0}, fit), ErrorKind::kInvalidArgument);
  SamplerOptions negative;
  negative.width = -3;
  EXPECT_EQ(kind_of({1.0}, negative), ErrorKind::kInvalidArgument);
  SamplerOptions scan;
  scan.strategy = Strategy::kKeyframeScan;
  EXPECT_EQ(kind_of({1.0}, scan), ErrorKind::kInvalidArgument);
}

TEST(FrameSampler, NoTimesNoSamples) {
  VideoSpec spec;
  spec.name = "sizes";
  decode::FrameSampler sampler(make_video(spec), {});
  EXPECT_FALSE(sampler.next().has_value());
}

TEST(FrameSampler, ProgressAndCancellation) {
  const VideoSpec spec = long_gop_spec();
  const auto path = make_video(spec);
  std::vector<double> times;
  for (int i = 0; i < 100; ++i)
    times.push_back(i * 0.1);
  SamplerOptions o;
  int64_t last_done = 0;
  int events = 0;
  o.progress = [&](const ProgressEvent& e) {
    EXPECT_EQ(e.stage, "decode");
    EXPECT_EQ(e.total, 100);
    EXPECT_GT(e.done, last_done);
    last_done = e.done;
    if (++events == 5) o.cancel.request();
  };
  decode::FrameSampler sampler(path, times, o);
  int got = 0;
  EXPECT_THROW(
      {
        while (sampler.next())
          ++got;
      },
      Cancelled);
  EXPECT_EQ(got, 5);
}

TEST(FrameSampler, DestroyingEarlyStopsTheWorkers) {
  const auto path = make_video(long_gop_spec());
  SamplerOptions o;
  o.threads = 2;
  o.strategy = Strategy::kSeek;
  for (int i = 0; i < 3; ++i) {
    decode::FrameSampler sampler(path, {0.5, 2.0, 5.0, 10.5, 11.0}, o);
    ASSERT_TRUE(sampler.next().has_value());
  }  // must not hang or crash
}

TEST(FrameSampler, SlowConsumerKeepsTheBufferBounded) {
  VideoSpec spec;
  spec.name = "gop5";
  spec.frames = 100;
  spec.gop = 5;
  spec.extra = {"-sc_threshold", "0"};
  const auto path = make_video(spec);
  std::vector<double> times;
  for (int i = 0; i < 40; ++i)
    times.push_back(i * 0.1);
  SamplerOptions o;
  o.threads = 2;
  o.strategy = Strategy::kSeek;
  decode::FrameSampler sampler(path, times, o);
  int got = 0;
  while (sampler.next()) {
    ++got;
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  EXPECT_EQ(got, 40);
  const decode::SamplerStats stats = sampler.stats();
  EXPECT_GT(stats.buffer_limit, 0);
  EXPECT_LE(stats.max_buffered_frames, stats.buffer_limit);
  EXPECT_GE(stats.max_buffered_frames, 1);
}

TEST(FrameSampler, HardwareDecodingFallsBackToSoftware) {
  VideoSpec spec;
  spec.name = "sizes";
  const auto path = make_video(spec);
  const std::vector<double> frames = frame_times(spec);
  for (decode::HwAccel hw :
       {decode::HwAccel::kVaapi, decode::HwAccel::kCuda, decode::HwAccel::kAuto}) {
    SamplerOptions o;
    o.hwaccel = hw;
    std::vector<std::string> seen;
    o.on_warning = [&](const std::string& w) { seen.push_back(w); };
    std::vector<std::string> warnings;
    const std::vector<double> times = {0.2, 1.0, 2.0};
    expect_nearest(sample_all(path, times, o, &warnings), times, frames);
    // No GPU on the test machines: the sampler must say it fell back. Where a GPU works, the
    // frames above are still checked and no fallback warning is required.
    bool fell_back = false;
    for (const auto& w : warnings) {
      if (w.find("decoding in software") != std::string::npos) fell_back = true;
    }
    if (std::filesystem::exists("/dev/dri") || std::filesystem::exists("/dev/nvidia0")) continue;
    EXPECT_TRUE(fell_back) << "no fallback warning";
    EXPECT_EQ(seen, warnings);  // the callback saw the same warnings
  }
}

// Leaving out non-reference frames (SamplerOptions::skip_unneeded_frames) must not change a
// single sample. B-frame videos with long GOPs, sampled at frame times, jittered times, exact
// ties (half-way between two frames: the earlier frame) and times outside the video; each
// sample is checked against the drawn index AND against the same run with skipping off (same
// frame, same time, same pixels: the reference frames were decoded exactly as before).
std::vector<VideoSpec> skipping_specs() {
  std::vector<VideoSpec> specs;
  VideoSpec pyramid;  // x264's default B-pyramid: the middle B-frame is a reference
  pyramid.name = "skip-bpyramid";
  pyramid.frames = 400;
  pyramid.gop = 200;
  pyramid.bframes = 3;
  pyramid.extra = {"-x264-params", "b-adapt=0:scenecut=0", "-preset", "veryfast"};
  specs.push_back(pyramid);
  VideoSpec flat = pyramid;  // every B-frame unreferenced, in Matroska (1 ms time base)
  flat.name = "skip-bflat";
  flat.container = "mkv";
  flat.extra = {"-x264-params", "b-adapt=0:scenecut=0:b-pyramid=none", "-preset", "veryfast"};
  specs.push_back(flat);
  VideoSpec mpeg4;  // MPEG-4 part 2 B-frames
  mpeg4.name = "skip-mpeg4";
  mpeg4.container = "mkv";
  mpeg4.codec = "mpeg4";
  mpeg4.frames = 200;
  mpeg4.gop = 100;
  mpeg4.bframes = 2;
  mpeg4.extra = {"-q:v", "3"};
  specs.push_back(mpeg4);
  return specs;
}

// Every kind of time: before the first frame, each frame's own time, each exact tie, a
// jittered time per frame, after the last frame.
std::vector<double> every_kind_of_time(const std::vector<double>& frames) {
  std::vector<double> times = jittered_times(frames, 23);
  times.push_back(-0.5 * (frames[1] - frames[0]));
  for (size_t i = 0; i < frames.size(); ++i) {
    times.push_back(frames[i]);
    if (i + 1 < frames.size()) times.push_back(0.5 * (frames[i] + frames[i + 1]));
  }
  times.push_back(frames.back() + 0.5 * (frames.back() - frames[frames.size() - 2]));
  std::sort(times.begin(), times.end());
  return times;
}

// A sparse subset (a few per GOP, seek strategy), ties included.
std::vector<double> sparse_times(const std::vector<double>& all) {
  std::vector<double> times;
  for (size_t i = 0; i < all.size(); i += 37)
    times.push_back(all[i]);
  times.push_back(all.back());
  return times;
}

void expect_same_samples(const std::vector<decode::Sample>& got,
                         const std::vector<decode::Sample>& reference) {
  ASSERT_EQ(got.size(), reference.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].request, reference[i].request);
    EXPECT_EQ(got[i].frame.time, reference[i].frame.time) << "t=" << got[i].requested_time;
    EXPECT_TRUE(got[i].frame.rgb == reference[i].frame.rgb)
        << "pixels differ at t=" << got[i].requested_time;
  }
}

TEST(NonReferenceSkipping, SamplesAreTheSameWithAndWithoutIt) {
  for (const VideoSpec& spec : skipping_specs()) {
    const auto path = make_video(spec);
    const std::vector<double> frames = frame_times(spec);
    const std::vector<double> dense = every_kind_of_time(frames);
    const std::vector<double> sparse = sparse_times(dense);
    struct Run {
      const std::vector<double>* times;
      Strategy strategy;
      int threads;  // 2 and 4 run FFmpeg frame threads inside a decoder
    };
    const std::vector<Run> runs = {{&dense, Strategy::kSequential, 1},
                                   {&dense, Strategy::kSequential, 2},
                                   {&sparse, Strategy::kSeek, 1},
                                   {&sparse, Strategy::kSeek, 2},
                                   {&sparse, Strategy::kSeek, 4}};
    for (const Run& run : runs) {
      SCOPED_TRACE(spec.name + " " + decode::to_string(run.strategy) + " threads=" +
                   std::to_string(run.threads) + " times=" + std::to_string(run.times->size()));
      SamplerOptions off;
      off.strategy = run.strategy;
      off.threads = run.threads;
      off.skip_unneeded_frames = false;
      SamplerOptions on = off;
      on.skip_unneeded_frames = true;
      const auto reference = sample_all(path, *run.times, off);
      const auto got = sample_all(path, *run.times, on);
      expect_nearest(reference, *run.times, frames);
      expect_nearest(got, *run.times, frames);
      expect_same_samples(got, reference);
    }
  }
}

TEST(NonReferenceSkipping, FastModeIsUnchanged) {
  const VideoSpec spec = skipping_specs().front();
  const auto path = make_video(spec);
  const std::vector<double> times = sparse_times(every_kind_of_time(frame_times(spec)));
  SamplerOptions off;
  off.mode = SampleMode::kFast;
  off.fast_tolerance = 0.3;  // well under the 8 s GOP: most times decode from a keyframe
  off.threads = 2;
  off.skip_unneeded_frames = false;
  SamplerOptions on = off;
  on.skip_unneeded_frames = true;
  const auto reference = sample_all(path, times, off);
  ASSERT_EQ(reference.size(), times.size());
  const double last = frame_times(spec).back();
  for (const decode::Sample& s : reference) {
    if (s.requested_time >= 0.0 && s.requested_time <= last) {
      EXPECT_LE(std::abs(s.frame.time - s.requested_time), 0.3 + 1e-9);
    }
  }
  expect_same_samples(sample_all(path, times, on), reference);
}

TEST(NonReferenceSkipping, DecodesFewerFrames) {
  for (const VideoSpec& spec : skipping_specs()) {
    SCOPED_TRACE(spec.name);
    const auto path = make_video(spec);
    const std::vector<double> frames = frame_times(spec);
    // One time late in each GOP: everything before it in the GOP is decoded or left out.
    const std::vector<double> times = {frames[spec.gop - 20], frames[2 * spec.gop - 10]};
    auto decoded = [&](bool skip) {
      SamplerOptions o;
      o.strategy = Strategy::kSeek;
      o.threads = 1;
      o.skip_unneeded_frames = skip;
      decode::FrameSampler sampler(path, times, o);
      size_t n = 0;
      while (auto s = sampler.next()) {
        EXPECT_EQ(read_code(s->frame), expected_nearest(frames, s->requested_time));
        ++n;
      }
      EXPECT_EQ(n, times.size());
      EXPECT_EQ(sampler.stats().frames_converted, static_cast<int64_t>(times.size()));
      return sampler.stats().frames_decoded;
    };
    const int64_t all = decoded(false);
    const int64_t fewer = decoded(true);
    // Without skipping every frame from each keyframe to its time is decoded (plus a few
    // after it, to settle the nearest frame).
    EXPECT_GE(all, 2 * (spec.gop - 20));
    // B-frames are most non-key frames here; at least a third of them are unreferenced.
    EXPECT_LT(fewer, all * 4 / 5) << "decoded " << fewer << " of " << all;
  }
}

}  // namespace
}  // namespace clipmind::test
