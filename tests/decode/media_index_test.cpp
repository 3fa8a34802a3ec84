// MediaIndexCache (decode/media_index.h): probes and samplers that share a cache read a file
// without an index (MPEG-TS) or without a stated duration (a live WebM) once, get the same
// frames as without the cache, read a changed file again, keep nothing from a cancelled read,
// and stay within their memory bound.
#include "decode/media_index.h"

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "tests/decode/decode_test_util.h"
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "decode/frame_sampler.h"
#include "decode/video_info.h"

namespace clipmind::test {
namespace {

namespace fs = std::filesystem;

VideoSpec ts_spec(int frames = 100) {
  VideoSpec s;
  s.name = "index-ts";
  s.container = "ts";
  s.frames = frames;
  s.fps = 25;
  s.gop = 25;
  s.extra = {"-preset", "veryfast", "-sc_threshold", "0"};
  return s;
}

// The frame codes a sampler returns (the frames' own indices, tests/decode/test_videos.h).
std::vector<int> codes(const fs::path& path, const std::vector<double>& times,
                       decode::SamplerOptions options) {
  options.width = 160;
  options.height = 120;
  std::vector<int> out;
  decode::FrameSampler sampler(path, times, options);
  while (auto s = sampler.next()) {
    const auto code = read_code(s->frame);
    out.push_back(code ? static_cast<int>(*code) : -1);
  }
  return out;
}

TEST(MediaIndex, SamplersSharingACacheReadATsOnceAndGetTheSameFrames) {
  const fs::path ts = make_video(ts_spec());
  std::vector<decode::IndexNotice> notices;
  auto cache = std::make_shared<decode::MediaIndexCache>(
      decode::MediaIndexCache::kDefaultMaxBytes,
      [&](const decode::IndexNotice& n) { notices.push_back(n); });
  const std::vector<double> times = {0.3, 1.1, 2.5, 3.9};
  for (const decode::SampleMode mode :
       {decode::SampleMode::kKeyframes, decode::SampleMode::kAccurate, decode::SampleMode::kFast}) {
    SCOPED_TRACE(decode::to_string(mode));
    decode::SamplerOptions alone;
    alone.mode = mode;
    alone.fast_tolerance = 0.2;
    decode::SamplerOptions shared = alone;
    shared.index_cache = cache;
    const std::vector<int> want = codes(ts, times, alone);
    ASSERT_EQ(want.size(), times.size());
    EXPECT_EQ(codes(ts, times, shared), want);
  }
  EXPECT_EQ(cache->reads(), 1);
  EXPECT_EQ(cache->reuses(), 2);
  ASSERT_EQ(notices.size(), 3u);
  EXPECT_TRUE(notices[0].read);
  EXPECT_EQ(notices[0].keyframes, 4u);  // 100 frames, one keyframe every 25
  EXPECT_FALSE(notices[1].read);
  EXPECT_FALSE(notices[2].read);
  EXPECT_EQ(notices[0].file, ts);
  // The stated bound: kBytesPerKeyframe per keyframe plus the path and fixed parts.
  EXPECT_EQ(cache->files(), 1u);
  EXPECT_GE(cache->bytes(), 4 * decode::MediaIndexCache::kBytesPerKeyframe);
  EXPECT_LE(cache->bytes(),
            4 * decode::MediaIndexCache::kBytesPerKeyframe + 512 + ts.string().size());
}

TEST(MediaIndex, AFileWithoutADurationIsReadOnceByItsProbeAndItsSampler) {
  VideoSpec spec;
  spec.name = "index-live-webm";
  spec.container = "webm";
  spec.codec = "libvpx-vp9";
  spec.frames = 30;
  spec.fps = 10;
  spec.gop = 10;
  spec.extra = {"-deadline", "realtime", "-cpu-used", "8", "-live", "1"};
  const fs::path webm = make_video(spec);
  const decode::VideoInfo alone = decode::probe(webm);
  ASSERT_NEAR(alone.duration, 3.0, 0.011);  // found by reading to the end

  decode::MediaIndexCache cache;
  const decode::VideoInfo info = decode::probe(webm, &cache);
  EXPECT_EQ(info.duration, alone.duration);
  EXPECT_EQ(cache.reads(), 1);
  auto shared = std::shared_ptr<decode::MediaIndexCache>(&cache, [](decode::MediaIndexCache*) {});
  decode::SamplerOptions o;
  o.mode = decode::SampleMode::kKeyframes;
  o.index_cache = shared;
  decode::SamplerOptions plain = o;
  plain.index_cache.reset();
  EXPECT_EQ(codes(webm, {0.0, 1.4, 2.9}, o), codes(webm, {0.0, 1.4, 2.9}, plain));
  // The sampler needed the duration and every keyframe: both from the probe's read.
  EXPECT_EQ(cache.reads(), 1);
  EXPECT_EQ(cache.reuses(), 1);
}

TEST(MediaIndex, AChangedFileIsReadAgain) {
  const fs::path dir = video_dir() / "media-index-changed";
  fs::create_directories(dir);
  const fs::path ts = dir / "clip.ts";
  fs::copy_file(make_video(ts_spec()), ts, fs::copy_options::overwrite_existing);
  decode::MediaIndexCache cache;
  const std::vector<double> first = decode::keyframe_times(ts, {}, {}, &cache);
  EXPECT_EQ(decode::keyframe_times(ts, {}, {}, &cache), first);
  EXPECT_EQ(cache.reads(), 1);
  EXPECT_EQ(cache.reuses(), 1);
  fs::last_write_time(ts, fs::last_write_time(ts) + std::chrono::seconds(5));
  EXPECT_EQ(decode::keyframe_times(ts, {}, {}, &cache), first);
  EXPECT_EQ(cache.reads(), 2);
  // Another file of the same content is another entry.
  fs::copy_file(ts, dir / "copy.ts", fs::copy_options::overwrite_existing);
  decode::keyframe_times(dir / "copy.ts", {}, {}, &cache);
  EXPECT_EQ(cache.reads(), 3);
  EXPECT_EQ(cache.files(), 3u);
}

TEST(MediaIndex, ACancelledReadKeepsNothingAndATooSmallCacheKeepsNothing) {
  const fs::path ts = make_video(ts_spec(600));  // over 512 packets: the scan checks the token
  decode::MediaIndexCache cache;
  CancelToken cancelled;
  cancelled.request();
  EXPECT_THROW(decode::keyframe_times(ts, cancelled, {}, &cache), Cancelled);
  EXPECT_EQ(cache.reads(), 0);
  EXPECT_EQ(cache.files(), 0u);
  EXPECT_EQ(decode::keyframe_times(ts, {}, {}, &cache).size(), 24u);
  EXPECT_EQ(cache.reads(), 1);

  decode::MediaIndexCache tiny(64);  // smaller than any entry
  decode::keyframe_times(ts, {}, {}, &tiny);
  decode::keyframe_times(ts, {}, {}, &tiny);
  EXPECT_EQ(tiny.reads(), 2);
  EXPECT_EQ(tiny.files(), 0u);
  EXPECT_EQ(tiny.bytes(), 0u);
}

TEST(MediaIndex, SamplersStartedTogetherOnSeveralThreadsReadTheFileOnce) {
  const fs::path ts = make_video(ts_spec());
  auto cache = std::make_shared<decode::MediaIndexCache>();
  decode::SamplerOptions plain;
  plain.mode = decode::SampleMode::kKeyframes;
  const std::vector<int> want = codes(ts, {0.5, 2.2}, plain);
  std::vector<std::vector<int>> got(4);
  {
    std::vector<std::jthread> threads;
    for (size_t i = 0; i < got.size(); ++i) {
      threads.emplace_back([&, i] {
        decode::SamplerOptions o = plain;
        o.index_cache = cache;
        got[i] = codes(ts, {0.5, 2.2}, o);
      });
    }
  }
  for (const auto& g : got)
    EXPECT_EQ(g, want);
  EXPECT_EQ(cache->reads(), 1);
  EXPECT_EQ(cache->reuses(), 3);
}

}  // namespace
}  // namespace clipmind::test

namespace clipmind::test {
namespace {

// MPEG-2 in MPEG-PS at a low rate (no rate set: a few hundred bytes per picture), a keyframe
// every 12 frames, 2 B-frames: several pictures share one PES packet, and later keyframes
// carry no timestamp of their own (only the decode time FFmpeg infers). They are shown when
// the next I/P picture is decoded (open GOPs: three frames after their decode time, the first
// one frame after). keyframe_times() and the keyframe mode must give their true times.
TEST(LowRateMpegPs, KeyframesHaveTheirTrueTimesAndPictures) {
  const VideoSpec spec = low_rate_mpeg_ps();
  const fs::path ps = make_video(spec);
  const std::vector<double> keys = decode::keyframe_times(ps);
  ASSERT_EQ(keys.size(), 9u);  // frames 0, 12, ..., 96
  for (size_t k = 0; k < keys.size(); ++k)
    EXPECT_NEAR(keys[k], 12.0 * static_cast<double>(k) / 25.0, 1e-3) << "keyframe " << k;

  std::vector<double> times;
  for (size_t k = 0; k < keys.size(); ++k)
    times.push_back(12.0 * static_cast<double>(k) / 25.0);
  decode::SamplerOptions o;
  o.mode = decode::SampleMode::kKeyframes;
  o.width = 160;
  o.height = 120;
  decode::FrameSampler sampler(ps, times, o);
  size_t k = 0;
  while (auto s = sampler.next()) {
    ASSERT_LT(k, times.size());
    EXPECT_EQ(read_code(s->frame), std::optional<uint32_t>(static_cast<uint32_t>(12 * k)))
        << "at " << times[k];
    EXPECT_NEAR(s->frame.time, times[k], 1e-3);
    ++k;
  }
  EXPECT_EQ(k, times.size());

  // Reading straight through, accurate mode returns every frame as itself (after seeks: below).
  decode::SamplerOptions exact = o;
  exact.mode = decode::SampleMode::kAccurate;
  exact.strategy = decode::Strategy::kSequential;
  std::vector<double> every;
  for (int f = 0; f < spec.frames; ++f)
    every.push_back(f / 25.0);
  decode::FrameSampler frames(ps, every, exact);
  size_t got = 0;
  while (auto s = frames.next()) {
    EXPECT_EQ(read_code(s->frame), std::optional<uint32_t>(static_cast<uint32_t>(s->request)));
    EXPECT_NEAR(s->frame.time, every[s->request], 1e-3);
    ++got;
  }
  EXPECT_EQ(got, every.size());
}

// The same file with every frame reached through a seek to its keyframe's byte position (which
// lands inside a PES packet shared with earlier pictures): accurate mode, with one time every
// 36 frames (3 GOPs) so that each time needs its own seek, for each of the 36 offsets (every
// frame of the file once), with 1 and 2 decoders; and fast mode at every frame with a tolerance
// below half a frame. Every sample must be the frame at its time, with that time. Before the fix,
// the pictures after a keyframe kept the demuxer's guessed times there, up to two frames off.
TEST(LowRateMpegPs, EveryFrameIsItselfAfterASeek) {
  const VideoSpec spec = low_rate_mpeg_ps();
  const fs::path ps = make_video(spec);
  // Times 2 ms after each frame's: a keyframe's time computed from its pts can lie a rounding
  // error after f / 25, and the seek would then go to the keyframe before it.
  const auto check = [&](const std::vector<int>& frames, decode::SamplerOptions o) {
    o.width = 160;
    o.height = 120;
    std::vector<double> times;
    for (int f : frames)
      times.push_back(f / 25.0 + 0.002);
    decode::FrameSampler sampler(ps, times, o);
    size_t got = 0;
    while (auto s = sampler.next()) {
      const int want = frames[s->request];
      EXPECT_EQ(read_code(s->frame), std::optional<uint32_t>(static_cast<uint32_t>(want)))
          << "frame " << want;
      EXPECT_NEAR(s->frame.time, want / 25.0, 1e-3) << "frame " << want;
      ++got;
    }
    EXPECT_EQ(got, times.size());
    return sampler.stats().seeks;
  };
  for (int threads : {1, 2}) {
    for (int offset = 0; offset < 36; ++offset) {
      SCOPED_TRACE(testing::Message() << "threads " << threads << ", offset " << offset);
      std::vector<int> frames;
      for (int f = offset; f < spec.frames; f += 36)
        frames.push_back(f);
      decode::SamplerOptions o;
      o.strategy = decode::Strategy::kSeek;
      o.threads = threads;
      const int64_t seeks = check(frames, o);
      // Each time past the first keyframe's GOP gets its own seek.
      EXPECT_GE(seeks, static_cast<int64_t>(frames.size()) - 1);
    }
  }
  std::vector<int> all(static_cast<size_t>(spec.frames));
  for (int f = 0; f < spec.frames; ++f)
    all[static_cast<size_t>(f)] = f;
  decode::SamplerOptions fast;
  fast.mode = decode::SampleMode::kFast;
  fast.fast_tolerance = 0.01;
  fast.threads = 2;
  EXPECT_GT(check(all, fast), 8);
}

}  // namespace
}  // namespace clipmind::test
