// Sampling a long video holds a bounded number of frames: peak memory stays flat.
#include <cmath>

#include "tests/decode/decode_test_util.h"
#include <gtest/gtest.h>

#include "decode/frame_sampler.h"

namespace clipmind::test {
namespace {

// Two hours at 5 fps, 64x48: 36000 frames, small enough to make and decode quickly.
VideoSpec two_hour_spec() {
  VideoSpec spec;
  spec.name = "two-hours";
  spec.width = 64;
  spec.height = 48;
  spec.fps = 5;
  spec.frames = 2 * 3600 * 5;
  spec.gop = 50;
  spec.extra = {"-preset", "ultrafast", "-sc_threshold", "0"};
  return spec;
}

TEST(Memory, SamplingTwoHoursKeepsPeakMemoryFlat) {
  const VideoSpec spec = two_hour_spec();
  const auto path = make_video(spec);
  // One frame every 2 s at 320x240 (230 KB each): holding them all would take 830 MB.
  std::vector<double> times;
  for (int i = 0; i < 3600; ++i)
    times.push_back(2.0 * i + 0.05);
  decode::SamplerOptions o;
  o.width = 320;
  o.height = 240;
  o.threads = 2;
  const bool reset = reset_peak_rss();
  const int64_t before = peak_rss_bytes();
  ASSERT_GT(before, 0);
  decode::FrameSampler sampler(path, times, o);
  size_t count = 0;
  size_t checked = 0;
  while (auto sample = sampler.next()) {
    if (count % 250 == 0) {
      EXPECT_EQ(read_code(sample->frame), count * 10 + 0u) << "t=" << sample->requested_time;
      ++checked;
    }
    ++count;
  }
  EXPECT_EQ(count, times.size());
  EXPECT_GE(checked, 14u);
  const int64_t growth = peak_rss_bytes() - before;
  RecordProperty("peak_rss_growth_mb", std::to_string(growth >> 20));
#if !defined(__SANITIZE_ADDRESS__)  // AddressSanitizer's quarantine keeps freed memory on purpose
  EXPECT_LT(growth, int64_t{200} << 20)
      << "peak RSS grew by " << (growth >> 20) << " MiB" << (reset ? "" : " (peak not resettable)");
#else
  (void)reset;
#endif
  const decode::SamplerStats stats = sampler.stats();
  EXPECT_LE(stats.max_buffered_frames, stats.buffer_limit);
  EXPECT_LE(stats.buffer_limit, 64);
}

TEST(Memory, SparseParallelSamplingOfTwoHours) {
  const auto path = make_video(two_hour_spec());
  std::vector<double> times;
  for (int i = 0; i < 64; ++i)
    times.push_back(i * 112.4 + 3.0);
  decode::SamplerOptions o;
  o.threads = 2;
  decode::FrameSampler sampler(path, times, o);
  EXPECT_EQ(sampler.strategy(), decode::Strategy::kSeek);
  size_t count = 0;
  while (auto sample = sampler.next()) {
    const uint32_t want = static_cast<uint32_t>(std::lround(times[sample->request] * 5));
    EXPECT_EQ(read_code(sample->frame), want)
        << sample->frame.width << "x" << sample->frame.height << " " << sample->frame.rgb.size()
        << " t=" << sample->frame.time;
    ++count;
  }
  EXPECT_EQ(count, times.size());
  // Seeking decodes a small part of the 36000 frames.
  EXPECT_LT(sampler.stats().frames_decoded, 64 * 50);
}

}  // namespace
}  // namespace clipmind::test
