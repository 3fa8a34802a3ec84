// Frame reuse in the encode stage (pipeline/encode_stage.h, encode.reuse_psnr_db): frames whose
// tower input shows the same picture as the frame before them reuse its tokens instead of
// running the tower. Real FFmpeg decoding of videos generated with lavfi sources (static
// smptebars / color stretches, moving testsrc2), the tiny random LLaVA-OneVision tower, and the
// tokens compared against a run with reuse turned off.
#include <cmath>
#include <filesystem>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "tests/decode/test_videos.h"
#include "tests/e2e/e2e_support.h"
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "decode/frame_sampler.h"
#include "models/vision/video_encoder.h"
#include "pipeline/encode_stage.h"
#include "pipeline/result_json.h"
#include "pipeline/session.h"
#include "pipeline/token_cache.h"

namespace clipmind::e2e {
namespace {

namespace fs = std::filesystem;
using pipeline::EncodedFrame;
using pipeline::EncodeRequest;
using pipeline::EncodeStats;
using pipeline::PlannedFrame;

// Tiny model: 28 px input, patch 4 -> 7x7 patches, pooled grid 4.
constexpr int64_t kGrid = 4;

// Runs ffmpeg with `filter` (a filter_complex over the lavfi `inputs`) into a lossless FFV1 file
// (so static stretches decode to identical pictures, as a screen recording's would); cached by
// name in the test work folder.
fs::path lavfi_video(const std::string& name, const std::vector<std::string>& inputs,
                     const std::string& filter) {
  const fs::path dir = work_dir() / "reuse-videos";
  fs::create_directories(dir);
  const fs::path out = dir / (name + ".mkv");
  if (fs::exists(out)) return out;
  const fs::path tmp = dir / (name + ".tmp.mkv");
  std::vector<std::string> argv = {"ffmpeg", "-nostdin", "-y", "-loglevel", "error"};
  for (const std::string& in : inputs) {
    argv.insert(argv.end(), {"-f", "lavfi", "-i", in});
  }
  argv.insert(argv.end(), {"-filter_complex", filter, "-c:v", "ffv1", tmp.string()});
  const test::CommandResult r = test::run_command(argv);
  if (r.exit_code != 0) throw std::runtime_error("ffmpeg failed: " + r.err);
  fs::rename(tmp, out);
  return out;
}

// 0-3 s smptebars (static), 3-6 s testsrc2 (moving), 6-8 s a flat colour (static).
fs::path static_stretch_video() {
  return lavfi_video("bars-testsrc2-color",
                     {"smptebars=s=128x96:r=10:d=3", "testsrc2=s=128x96:r=10:d=3",
                      "color=c=0x3060a0:s=128x96:r=10:d=2"},
                     "[0]setsar=1[a];[1]setsar=1[b];[2]setsar=1[c];[a][b][c]concat=n=3:v=1:a=0,"
                     "format=yuv444p");
}

// 8 s of testsrc2: every sampled picture differs.
fs::path moving_video() {
  return lavfi_video("testsrc2-8s", {"testsrc2=s=128x96:r=10:d=8"}, "[0]format=yuv444p");
}

// 1 s of a flat colour, then 1 s of the same colour with a small slightly brighter box.
fs::path slight_change_video() {
  return lavfi_video(
      "color-then-box",
      {"color=c=0x607080:s=128x96:r=10:d=1", "color=c=0x607080:s=128x96:r=10:d=1"},
      "[1]drawbox=x=40:y=30:w=24:h=24:color=0x6c7c8c:t=fill[b];[0][b]concat=n=2:v=1:a=0,"
      "format=yuv444p");
}

// Frames every 0.5 s from 0.25 s.
std::vector<PlannedFrame> every_half_second(double duration) {
  std::vector<PlannedFrame> frames;
  for (double t = 0.25; t < duration; t += 0.5)
    frames.push_back({t, kGrid});
  return frames;
}

const models::LlavaVisionEncoder& encoder() {
  static const models::LlavaVisionEncoder e = [] {
    at::set_num_threads(2);
    return models::LlavaVisionEncoder::load(tiny_vlm());
  }();
  return e;
}

struct EncodeRun {
  std::vector<EncodedFrame> frames;
  EncodeStats stats;
  int64_t encode_done = -1;  // the encode stage's last progress event
  int64_t encode_total = -1;
  bool encode_finished = false;
};

EncodeRun encode(const fs::path& video, std::vector<PlannedFrame> planned, double reuse_psnr_db,
                 int64_t batch_frames = 4, pipeline::TokenCache* cache = nullptr) {
  EncodeRequest request;
  request.video = video;
  request.content_hash = video.filename().string();
  request.model_id = "tiny";
  request.frames = std::move(planned);
  request.batch_frames = batch_frames;
  request.reuse_psnr_db = reuse_psnr_db;
  EncodeRun run;
  std::mutex mutex;
  pipeline::ProgressTracker progress([&](const pipeline::JobProgress& p) {
    std::lock_guard lock(mutex);
    if (p.stage != "encode") return;
    run.encode_done = p.done;
    run.encode_total = p.total;
    run.encode_finished = p.finished;
  });
  run.frames = pipeline::encode_frames(request, encoder(), cache, progress, {}, {}, &run.stats);
  return run;
}

// Bit-exact equality of two tensors (shape, dtype and every byte).
bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
  if (!a.defined() || !b.defined()) return a.defined() == b.defined();
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() && at::equal(a, b);
}

TEST(FrameReusePsnr, MatchesHandComputedValues) {
  const std::vector<uint8_t> a = {10, 20, 30, 40};
  std::vector<uint8_t> b = a;
  EXPECT_TRUE(std::isinf(pipeline::picture_psnr_db(a, b)));
  b[2] = 40;  // one byte off by 10: MSE = 100 / 4 = 25, PSNR = 10 log10(65025 / 25) = 34.151
  EXPECT_NEAR(pipeline::picture_psnr_db(a, b), 34.1514, 1e-3);
  EXPECT_TRUE(pipeline::same_picture(a, b, 34.0));
  EXPECT_FALSE(pipeline::same_picture(a, b, 34.3));
  EXPECT_FALSE(pipeline::same_picture(a, b, 0.0));  // off
  EXPECT_TRUE(pipeline::same_picture(a, a, 1e9));   // identical always matches when on
  EXPECT_FALSE(pipeline::same_picture(a, a, 0.0));
  EXPECT_THROW(pipeline::picture_psnr_db(a, std::vector<uint8_t>{1, 2}), Error);
}

TEST(FrameReuse, StaticStretchesReuseTokensAndMatchARunWithoutReuse) {
  const fs::path video = static_stretch_video();
  const std::vector<PlannedFrame> planned = every_half_second(8.0);  // 16 frames
  ASSERT_EQ(planned.size(), 16u);
  // batch_frames 1: every frame is encoded alone in both runs, so the encoded frames' tokens
  // are comparable byte for byte whatever the batch composition would do to BLAS rounding.
  const EncodeRun off = encode(video, planned, 0.0, 1);
  const EncodeRun on = encode(video, planned, 50.0, 1);

  // smptebars: 6 frames at 0.25..2.75 s -> 5 repeats; testsrc2: none; colour: 4 frames at
  // 6.25..7.75 s -> 3 repeats.
  EXPECT_EQ(off.stats.reused, 0);
  EXPECT_EQ(off.stats.encoded, 16);
  EXPECT_EQ(on.stats.reused, 8);
  EXPECT_EQ(on.stats.encoded, 8);
  ASSERT_EQ(on.frames.size(), planned.size());
  ASSERT_EQ(off.frames.size(), planned.size());

  const std::vector<bool> expect_reused = {false, true,  true,  true,  true,  true, false, false,
                                           false, false, false, false, false, true, true,  true};
  for (size_t k = 0; k < planned.size(); ++k) {
    SCOPED_TRACE("frame " + std::to_string(k));
    const EncodedFrame& a = on.frames[k];
    const EncodedFrame& b = off.frames[k];
    EXPECT_EQ(a.reused, expect_reused[k]);
    EXPECT_FALSE(b.reused);
    // Each frame keeps its own times (10 fps source: the decoded frame is within 0.1 s).
    EXPECT_DOUBLE_EQ(a.requested_time, planned[k].time);
    EXPECT_NEAR(a.time, planned[k].time, 0.1);
    EXPECT_DOUBLE_EQ(a.time, b.time);
    if (k > 0) {
      EXPECT_GT(a.time, on.frames[k - 1].time);
    }
    EXPECT_EQ(a.grid, kGrid);
    EXPECT_TRUE(same_bytes(a.tokens, b.tokens));
    EXPECT_TRUE(same_bytes(a.attention, b.attention));
  }
  // The reused tokens are copies, not views of the source's storage.
  EXPECT_NE(on.frames[1].tokens.data_ptr(), on.frames[0].tokens.data_ptr());
  // Progress still reaches the total (every decoded frame, reused or not).
  EXPECT_TRUE(on.encode_finished);
  EXPECT_EQ(on.encode_total, 16);
  EXPECT_EQ(on.encode_done, 16);
}

TEST(FrameReuse, FullMicroBatchesGiveTheSameFramesAndCountsAndFillTheCache) {
  const fs::path video = static_stretch_video();
  const std::vector<PlannedFrame> planned = every_half_second(8.0);
  const fs::path dir = fresh_dir("reuse-cache");
  pipeline::TokenCache cache(dir, 1ull << 30);
  const EncodeRun on = encode(video, planned, 50.0, 4, &cache);
  EXPECT_EQ(on.stats.reused, 8);
  EXPECT_EQ(on.stats.encoded, 8);
  ASSERT_EQ(on.frames.size(), planned.size());
  // Reused frames carry exactly their source's tokens.
  EXPECT_TRUE(same_bytes(on.frames[5].tokens, on.frames[0].tokens));
  EXPECT_TRUE(same_bytes(on.frames[15].tokens, on.frames[12].tokens));
  EXPECT_FALSE(same_bytes(on.frames[6].tokens, on.frames[5].tokens));

  // Every frame, reused or not, is in the token cache: a second run encodes nothing.
  const EncodeRun again = encode(video, planned, 50.0, 4, &cache);
  EXPECT_EQ(again.stats.from_cache, 16);
  EXPECT_EQ(again.stats.encoded, 0);
  EXPECT_EQ(again.stats.reused, 0);
  ASSERT_EQ(again.frames.size(), planned.size());
  for (size_t k = 0; k < planned.size(); ++k) {
    EXPECT_TRUE(same_bytes(again.frames[k].tokens, on.frames[k].tokens)) << "frame " << k;
    EXPECT_DOUBLE_EQ(again.frames[k].time, on.frames[k].time);
  }
}

TEST(FrameReuse, AMovingVideoReusesNothing) {
  const EncodeRun on = encode(moving_video(), every_half_second(8.0), 50.0);
  EXPECT_EQ(on.stats.reused, 0);
  EXPECT_EQ(on.stats.encoded, 16);
  for (const EncodedFrame& f : on.frames)
    EXPECT_FALSE(f.reused);
}

TEST(FrameReuse, TheThresholdDecides) {
  const fs::path video = slight_change_video();
  const std::vector<PlannedFrame> planned = {{0.45, kGrid}, {1.45, kGrid}};
  // The PSNR between the two decoded tower inputs, measured independently of encode_frames.
  decode::SamplerOptions so;
  so.width = 28;
  so.height = 28;
  so.resize = decode::Resize::kExact;
  decode::FrameSampler sampler(video, {0.45, 1.45}, so);
  std::vector<std::vector<uint8_t>> pictures;
  while (auto s = sampler.next())
    pictures.push_back(s->frame.rgb);
  ASSERT_EQ(pictures.size(), 2u);
  const double psnr = pipeline::picture_psnr_db(pictures[0], pictures[1]);
  // A small but real difference: not identical, far from unrelated pictures.
  ASSERT_GT(psnr, 25.0);
  ASSERT_LT(psnr, 50.0);

  const EncodeRun low = encode(video, planned, psnr - 3.0);
  EXPECT_EQ(low.stats.reused, 1);
  EXPECT_EQ(low.stats.encoded, 1);
  const EncodeRun high = encode(video, planned, psnr + 3.0);
  EXPECT_EQ(high.stats.reused, 0);
  EXPECT_EQ(high.stats.encoded, 2);
  // The default (50 dB) does not take this box for the same picture.
  EXPECT_EQ(encode(video, planned, 50.0).stats.reused, 0);
}

TEST(FrameReuse, AskReportsReusedFramesInTheResultJson) {
  pipeline::PipelineConfig c;
  c.model = tiny_vlm().string();
  c.offline = true;
  c.cache.enabled = false;
  c.generate.max_new_tokens = 4;
  c.select.method = "uniform";
  c.select.max_frames = 16;
  pipeline::Session session(c);
  const pipeline::AskResult r = session.ask(static_stretch_video(), "What is shown?");
  const pipeline::TokenCounts& t = r.prepared.tokens;
  EXPECT_GT(t.frames_reused, 0);
  EXPECT_EQ(t.frames_encoded + t.frames_reused + t.frames_from_cache, t.frames);
  int64_t flagged = 0;
  for (const pipeline::SelectedFrame& f : r.prepared.frames)
    flagged += f.reused ? 1 : 0;
  EXPECT_EQ(flagged, t.frames_reused);
  const nlohmann::json j = pipeline::to_json(r);
  EXPECT_EQ(j.at("tokens").at("frames_reused").get<int64_t>(), t.frames_reused);
  EXPECT_EQ(j.at("tokens").at("frames_encoded").get<int64_t>(), t.frames_encoded);

  // With reuse off every frame goes through the tower.
  c.encode.reuse_psnr_db = 0.0;
  pipeline::Session off(c);
  const pipeline::AskResult r2 = off.ask(static_stretch_video(), "What is shown?");
  EXPECT_EQ(r2.prepared.tokens.frames_reused, 0);
  EXPECT_EQ(r2.prepared.tokens.frames_encoded, r2.prepared.tokens.frames);
}

}  // namespace
}  // namespace clipmind::e2e
