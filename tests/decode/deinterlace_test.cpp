// Interlaced video (two fields 1/50 s apart woven into each picture) is detected and
// deinterlaced before scaling; progressive video is untouched. The interlaced files are made
// here by FFmpeg from 50 progressive frames per second of stripes moving 8 px per field
// (tinterlace weaves two of them into one interlaced picture), then coded as interlaced
// MPEG-2 (interlaced DCT and motion estimation, top field first) and H.264 (PAFF/MBAFF).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "tests/decode/decode_test_util.h"
#include <gtest/gtest.h>

#include "decode/frame_sampler.h"
#include "decode/video_info.h"

namespace clipmind::test {
namespace {

namespace fs = std::filesystem;

fs::path make_interlaced(const std::string& name, const std::vector<std::string>& codec) {
  const fs::path dir = video_dir() / "interlaced";
  fs::create_directories(dir);
  const fs::path path = dir / name;
  if (fs::exists(path)) return path;
  const fs::path partial = dir / ("partial-" + name);
  std::vector<std::string> args = {"-t", "2", "-vf", "tinterlace=mode=interleave_top,setfield=tff"};
  args.insert(args.end(), codec.begin(), codec.end());
  args.push_back(partial.string());
  const CommandResult r = ffmpeg_lavfi(
      "nullsrc=size=320x240:rate=50,format=gray,"
      "geq=lum='if(lt(mod(X+Y/4+T*400\\,64)\\,32)\\,220\\,30)',format=yuv420p",
      args);
  if (r.exit_code != 0) throw std::runtime_error("ffmpeg: " + r.err);
  fs::rename(partial, path);
  return path;
}

std::vector<fs::path> interlaced_videos() {
  return {make_interlaced("stripes-mpeg2.mpg", {"-c:v", "mpeg2video", "-flags", "+ildct+ilme",
                                                "-top", "1", "-q:v", "2", "-g", "12"}),
          make_interlaced("stripes-h264.mp4", {"-c:v", "libx264", "-flags", "+ildct+ilme",
                                               "-x264-params", "tff=1", "-preset", "veryfast"})};
}

// Combing: the mean over the picture of |row i - (row i-1 + row i+1) / 2| in the green channel.
// Woven fields of a moving picture make alternate rows disagree (large); a progressive picture
// of the same stripes varies smoothly between rows (small).
double combing(const decode::Frame& f) {
  double sum = 0;
  int64_t n = 0;
  const size_t stride = static_cast<size_t>(f.width) * 3;
  for (int y = 1; y + 1 < f.height; ++y) {
    for (int x = 0; x < f.width; ++x) {
      const double above = f.rgb[(y - 1) * stride + x * 3 + 1];
      const double here = f.rgb[y * stride + x * 3 + 1];
      const double below = f.rgb[(y + 1) * stride + x * 3 + 1];
      sum += std::fabs(here - 0.5 * (above + below));
      ++n;
    }
  }
  return n > 0 ? sum / static_cast<double>(n) : 0.0;
}

struct Sampled {
  std::vector<decode::Frame> frames;
  decode::SamplerStats stats;
};

Sampled sample(const fs::path& path, const std::vector<double>& times, bool deinterlace,
               int width = 0, int height = 0) {
  decode::SamplerOptions o;
  o.deinterlace = deinterlace;
  o.width = width;
  o.height = height;
  Sampled out;
  decode::FrameSampler sampler(path, times, o);
  while (auto s = sampler.next())
    out.frames.push_back(std::move(s->frame));
  out.stats = sampler.stats();
  EXPECT_TRUE(sampler.warnings().empty()) << sampler.warnings().front();
  return out;
}

TEST(Deinterlace, InterlacedFramesAreDetectedAndLoseTheirCombing) {
  const std::vector<double> times = {0.3, 0.9, 1.5};
  for (const fs::path& video : interlaced_videos()) {
    SCOPED_TRACE(video.filename().string());
    const decode::VideoInfo info = decode::probe(video);
    EXPECT_EQ(info.field_order, "tt");
    EXPECT_TRUE(info.interlaced());

    const Sampled woven = sample(video, times, false);
    const Sampled clean = sample(video, times, true);
    ASSERT_EQ(woven.frames.size(), times.size());
    ASSERT_EQ(clean.frames.size(), times.size());
    EXPECT_EQ(woven.stats.frames_deinterlaced, 0);
    EXPECT_EQ(clean.stats.frames_deinterlaced, static_cast<int64_t>(times.size()));
    for (size_t i = 0; i < times.size(); ++i) {
      SCOPED_TRACE(times[i]);
      EXPECT_EQ(clean.frames[i].time, woven.frames[i].time);
      ASSERT_EQ(clean.frames[i].width, 320);
      ASSERT_EQ(clean.frames[i].height, 240);
      const double before = combing(woven.frames[i]);
      const double after = combing(clean.frames[i]);
      // Stripes 8 px apart between the fields: every edge combs over its whole height.
      EXPECT_GT(before, 10.0);
      EXPECT_LT(after, 0.1 * before) << "woven " << before << ", deinterlaced " << after;
      std::printf("%s at %.1f s: combing %.1f woven, %.1f deinterlaced\n", video.filename().c_str(),
                  times[i], before, after);
    }
  }
}

// Hardware decoders hand frames back as NV12 (semi-planar: the chroma samples of both
// components interleaved in one plane), which estdif does not take. No hardware decoder runs
// here, so the same frames come from FFmpeg's rawvideo decoder: the woven stripes stored
// uncompressed as NV12 in Matroska (field order tt), decoded as interlaced NV12 frames, and the
// same stored as YUV 4:2:0 planar. The NV12 frames go through the sampler's conversion
// like any decoded frame: they must be deinterlaced, without a warning, into exactly the
// pictures the planar frames give (moving chroma samples to their own planes changes no value).
TEST(Deinterlace, Nv12FramesAreDeinterlacedLikePlanarOnes) {
  const fs::path nv12 = make_interlaced(
      "stripes-raw-nv12.mkv", {"-c:v", "rawvideo", "-pix_fmt", "nv12", "-field_order", "tt"});
  const fs::path planar = make_interlaced(
      "stripes-raw-yuv420p.mkv", {"-c:v", "rawvideo", "-pix_fmt", "yuv420p", "-field_order", "tt"});
  const decode::VideoInfo info = decode::probe(nv12);
  ASSERT_EQ(info.pixel_format, "nv12");
  EXPECT_TRUE(info.interlaced());
  ASSERT_EQ(decode::probe(planar).pixel_format, "yuv420p");

  const std::vector<double> times = {0.3, 0.9, 1.5};
  const Sampled woven = sample(nv12, times, false);
  const Sampled clean = sample(nv12, times, true);  // checks: no warning
  const Sampled reference = sample(planar, times, true);
  ASSERT_EQ(woven.frames.size(), times.size());
  ASSERT_EQ(clean.frames.size(), times.size());
  ASSERT_EQ(reference.frames.size(), times.size());
  EXPECT_EQ(clean.stats.frames_deinterlaced, static_cast<int64_t>(times.size()));
  for (size_t i = 0; i < times.size(); ++i) {
    SCOPED_TRACE(times[i]);
    const double before = combing(woven.frames[i]);
    const double after = combing(clean.frames[i]);
    EXPECT_GT(before, 10.0);
    EXPECT_LT(after, 0.1 * before) << "woven " << before << ", deinterlaced " << after;
    EXPECT_EQ(clean.frames[i].time, reference.frames[i].time);
    EXPECT_TRUE(clean.frames[i].rgb == reference.frames[i].rgb);
  }
}

TEST(Deinterlace, ProgressiveFramesAreUntouched) {
  for (const VideoSpec& spec : codec_matrix()) {
    if (spec.name != "h264-mp4" && spec.name != "mpeg2-mpg" && spec.name != "h264-ts") continue;
    SCOPED_TRACE(spec.name);
    const fs::path video = make_video(spec);
    EXPECT_FALSE(decode::probe(video).interlaced());
    const std::vector<double> times = {0.2, 0.9, 1.7};
    const Sampled on = sample(video, times, true);
    const Sampled off = sample(video, times, false);
    ASSERT_EQ(on.frames.size(), times.size());
    ASSERT_EQ(off.frames.size(), times.size());
    EXPECT_EQ(on.stats.frames_deinterlaced, 0);
    for (size_t i = 0; i < times.size(); ++i) {
      EXPECT_EQ(on.frames[i].time, off.frames[i].time);
      EXPECT_TRUE(on.frames[i].rgb == off.frames[i].rgb) << "frame at " << times[i];
    }
  }
}

}  // namespace
}  // namespace clipmind::test
