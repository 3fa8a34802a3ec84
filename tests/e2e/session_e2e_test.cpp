// The job API as the GUI drives it (pipeline::Session from a worker thread), with the tiny
// random LLaVA-OneVision on generated videos: progress events in order, streamed text that is
// the answer, cancellation within a second, a chat that encodes once, the token cache.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "tests/decode/test_videos.h"
#include "tests/e2e/e2e_support.h"
#include <gtest/gtest.h>

#include "pipeline/caption_job.h"
#include "pipeline/errors.h"
#include "pipeline/segment_analysis.h"
#include "pipeline/session.h"
#include "pipeline/thumbnails.h"
#include "pipeline/token_cache.h"

namespace clipmind::e2e {
namespace {

namespace fs = std::filesystem;
using pipeline::JobProgress;

fs::path test_video(const std::string& name = "session-video", int frames = 200) {
  return e2e_video(name, frames, 20, 128, 96);
}

pipeline::PipelineConfig tiny_config(const std::string& cache_name = "") {
  pipeline::PipelineConfig c;
  c.model = tiny_vlm().string();
  c.offline = true;
  c.generate.max_new_tokens = 12;
  c.cache.enabled = !cache_name.empty();
  if (!cache_name.empty()) c.cache.dir = fresh_dir(cache_name).string();
  return c;
}

TEST(SessionAsk, ProgressEventsArriveInOrderAndTextStreams) {
  pipeline::Session session(tiny_config());
  std::mutex mutex;
  std::vector<JobProgress> events;
  std::vector<std::string> pieces;
  std::vector<pipeline::Moment> streamed;
  bool prepared_before_text = false;
  bool prepared = false;
  pipeline::JobCallbacks cb;
  cb.on_progress = [&](const JobProgress& p) {
    std::lock_guard lock(mutex);
    events.push_back(p);
  };
  cb.on_text = [&](std::string_view t) {
    prepared_before_text = prepared;
    pieces.emplace_back(t);
  };
  cb.on_prepared = [&](const pipeline::PreparedSummary& s) {
    prepared = true;
    EXPECT_FALSE(s.segments.empty());
    EXPECT_FALSE(s.clips.empty());
  };
  cb.on_moment = [&](const pipeline::Moment& m) { streamed.push_back(m); };
  const pipeline::AskResult r = session.ask(test_video(), "What is on the screen?", cb);

  // Streamed pieces are exactly the answer, and they came after the video was prepared.
  std::string joined;
  for (const auto& p : pieces)
    joined += p;
  EXPECT_EQ(joined, r.answer);
  EXPECT_TRUE(pieces.empty() || prepared_before_text);
  EXPECT_EQ(streamed.size(), r.moments.size());

  // Per stage: begin (done 0) first, done never decreasing, finished last (and complete).
  std::map<std::string, std::vector<JobProgress>> by_stage;
  std::vector<std::string> first_seen;
  for (const JobProgress& p : events) {
    if (!by_stage.count(p.stage)) first_seen.push_back(p.stage);
    by_stage[p.stage].push_back(p);
  }
  for (const auto& [stage, list] : by_stage) {
    SCOPED_TRACE(stage);
    EXPECT_EQ(list.front().done, 0);
    for (size_t i = 1; i < list.size(); ++i) {
      EXPECT_GE(list[i].done, list[i - 1].done);
      EXPECT_FALSE(list[i - 1].finished);
      EXPECT_GE(list[i].elapsed_s, list[i - 1].elapsed_s);
    }
    EXPECT_TRUE(list.back().finished);
    EXPECT_EQ(list.back().done, list.back().total);
    EXPECT_GE(list.back().stage_index, 0);  // every stage is one the job planned
  }
  // Stages begin in pipeline order.
  const std::vector<std::string> order = {"probe",  "load model", "select",  "decode",
                                          "encode", "merge",      "prefill", "generate"};
  std::vector<std::string> seen;
  for (const std::string& s : first_seen) {
    if (std::find(order.begin(), order.end(), s) != order.end()) seen.push_back(s);
  }
  EXPECT_EQ(seen, order);
}

TEST(SessionAsk, CancellationStopsWithinASecondWithoutOutput) {
  pipeline::PipelineConfig config = tiny_config("session-cancel-cache");
  config.select.method = "uniform";
  config.select.max_frames = 128;
  config.encode.batch_frames = 1;
  pipeline::Session session(config);
  session.load_models();
  CancelToken cancel;
  std::chrono::steady_clock::time_point requested;
  std::atomic<bool> fired{false};
  pipeline::JobCallbacks cb;
  // Cancel from another thread (as the GUI's Cancel button does) once encoding is under way.
  std::thread canceller;
  cb.on_progress = [&](const JobProgress& p) {
    if (p.stage == "encode" && p.done >= 2 && !fired.exchange(true)) {
      canceller = std::thread([&] {
        requested = std::chrono::steady_clock::now();
        cancel.request();
      });
    }
  };
  const fs::path video = test_video("session-long", 2400);  // 120 s, 128 frames to encode
  EXPECT_THROW(session.ask(video, "What happens?", cb, cancel), Cancelled);
  const auto stopped = std::chrono::steady_clock::now();
  ASSERT_TRUE(fired);
  canceller.join();
  EXPECT_LT(std::chrono::duration<double>(stopped - requested).count(), 1.0);
  // What was encoded before the cancel stays usable; no temporary files are left behind.
  for (const auto& e : fs::recursive_directory_iterator(config.cache.dir)) {
    EXPECT_EQ(e.path().string().find(".part-"), std::string::npos) << e.path();
  }
  EXPECT_GT(session.cache()->stats().writes, 0);
  EXPECT_LT(session.cache()->stats().writes, 128);
}

TEST(SessionChat, FollowUpsNeverEncodeAgain) {
  pipeline::Session session(tiny_config("session-chat-cache"));
  auto chat = session.open_chat(test_video());
  const pipeline::TokenCache::Stats after_open = session.cache()->stats();
  EXPECT_GT(after_open.writes, 0);
  const pipeline::AskResult a = chat->ask("What is first?");
  const pipeline::AskResult b = chat->ask("What is last?");
  const pipeline::TokenCache::Stats after = session.cache()->stats();
  // Not even a cache lookup: the chat holds the encoded video and its KV prefix.
  EXPECT_EQ(after.hits, after_open.hits);
  EXPECT_EQ(after.misses, after_open.misses);
  EXPECT_EQ(after.writes, after_open.writes);
  EXPECT_EQ(a.tokens.frames_encoded, 0);
  EXPECT_EQ(b.tokens.frames_encoded, 0);
  EXPECT_EQ(chat->turns(), 2);
  EXPECT_LT(b.tokens.prefill_tokens, chat->prepared().tokens.prompt_tokens);
}

TEST(SessionChat, HistoryOffAnswersLikeAFreshAsk) {
  // With greedy decoding, a chat question without history must give exactly what a one-shot
  // ask with the same (query-free) selection gives: the cached prefix changes nothing. Chats
  // never merge inside the LLM, so the one-shot ask runs without it too.
  pipeline::PipelineConfig config = tiny_config();
  config.chat.history = false;
  config.select.method = "scene";
  config.inner.method = "none";
  pipeline::Session session(config);
  auto chat = session.open_chat(test_video());
  chat->ask("Something else first?");
  const pipeline::AskResult in_chat = chat->ask("What is on the screen?");
  const pipeline::AskResult fresh = session.ask(test_video(), "What is on the screen?");
  EXPECT_EQ(in_chat.answer, fresh.answer);
  EXPECT_EQ(in_chat.tokens.prompt_tokens, fresh.tokens.prompt_tokens);
  EXPECT_EQ(in_chat.tokens.inner_method, "none");
  EXPECT_EQ(fresh.tokens.inner_method, "none");
}

TEST(SessionAsk, DefaultIsFullHolitomWhoseInnerMergeChangesTheComputation) {
  // inner.method "auto" runs HoliTom's inner merge for a one-shot question: fewer rows after
  // layer K than in the prompt, and different logits than the same ask without it.
  pipeline::PipelineConfig config = tiny_config();
  config.generate.max_new_tokens = 16;
  pipeline::Session with_merge(config);
  const pipeline::AskResult merged = with_merge.ask(test_video(), "What is on the screen?");
  EXPECT_EQ(merged.tokens.inner_method, "holitom");
  EXPECT_GE(merged.tokens.inner_layer, 1);
  EXPECT_LT(merged.tokens.tokens_after_inner, merged.tokens.prompt_tokens);
  config.inner.method = "none";
  pipeline::Session without(config);
  const pipeline::AskResult plain = without.ask(test_video(), "What is on the screen?");
  EXPECT_EQ(plain.tokens.inner_method, "none");
  EXPECT_EQ(plain.tokens.tokens_after_inner, plain.tokens.prompt_tokens);
  EXPECT_EQ(plain.tokens.prompt_tokens, merged.tokens.prompt_tokens);
  EXPECT_LT(merged.tokens.prefill_flops, plain.tokens.prefill_flops);
  EXPECT_NE(merged.answer, plain.answer);
}

TEST(SessionAsk, InputSizeSetsTheTowerResolutionAndTokensPerFrame) {
  // The tiny tower is trained at 28 px with 4 px patches: 7x7 patches pool to 4x4 tokens. At
  // encode.input_size 16 it sees 4x4 patches, which pool to 2x2 (LLaVA's ceil(side / 2)).
  const auto ask_with = [](int64_t input_size) {
    pipeline::PipelineConfig config = tiny_config();
    config.select.method = "uniform";
    config.select.max_frames = 4;
    config.merge.method = "none";
    config.encode.input_size = input_size;
    pipeline::Session session(config);
    return session.ask(test_video(), "What is on the screen?");
  };
  const pipeline::AskResult native = ask_with(0);
  const pipeline::AskResult small = ask_with(16);
  ASSERT_EQ(native.tokens.frames, 4);
  ASSERT_EQ(small.tokens.frames, 4);
  EXPECT_EQ(native.tokens.visual_before_merge, 4 * 16);
  EXPECT_EQ(small.tokens.visual_before_merge, 4 * 4);
  EXPECT_LT(small.tokens.prompt_tokens, native.tokens.prompt_tokens);

  try {
    ask_with(4);  // one patch: nothing to pool
    FAIL() << "an input size below two patches must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("encode.input_size 4"), std::string::npos) << e.what();
  }
}

TEST(SessionCaption, CancelledBatchLeavesNoPartialOutput) {
  pipeline::PipelineConfig config = tiny_config();
  pipeline::Session session(config);
  const fs::path out = fresh_dir("session-caption-cancel");
  CancelToken cancel;
  pipeline::JobCallbacks cb;
  cb.on_progress = [&](const JobProgress& p) {
    if (p.stage == "captions" && p.done >= 3) cancel.request();
  };
  pipeline::CaptionRequest request;
  request.inputs = {test_video("session-cap", 400)};
  request.out_dir = out;
  request.segment = "1";
  const pipeline::CaptionReport report = pipeline::run_captions(session, request, cb, cancel);
  EXPECT_TRUE(report.cancelled);
  EXPECT_EQ(report.exit_code(), 130);
  ASSERT_EQ(report.files.size(), 1u);
  EXPECT_EQ(report.files[0].status, pipeline::CaptionStatus::kCancelled);
  EXPECT_TRUE(fs::is_empty(out));
}

// Red for 4 s, then blue for 4 s: one scene cut at 4 s.
fs::path two_scene_video() {
  const fs::path path = work_dir() / "two-scenes.mp4";
  if (fs::exists(path)) return path;
  const fs::path temp = work_dir() / "two-scenes.part.mp4";
  const test::CommandResult r = test::run_command({"ffmpeg",
                                                   "-y",
                                                   "-v",
                                                   "error",
                                                   "-f",
                                                   "lavfi",
                                                   "-i",
                                                   "color=c=red:s=96x72:d=4:r=10",
                                                   "-f",
                                                   "lavfi",
                                                   "-i",
                                                   "color=c=blue:s=96x72:d=4:r=10",
                                                   "-filter_complex",
                                                   "[0:v][1:v]concat=n=2:v=1[v]",
                                                   "-map",
                                                   "[v]",
                                                   "-c:v",
                                                   "libx264",
                                                   "-pix_fmt",
                                                   "yuv420p",
                                                   temp.string()});
  if (r.exit_code != 0) throw std::runtime_error(r.err);
  fs::rename(temp, path);
  return path;
}

TEST(SessionIndex, SegmentsGetEmbeddingsThumbnailsAndCaptions) {
  pipeline::PipelineConfig config = tiny_config();
  config.relevance_model = tiny_siglip().string();
  config.caption.min_segment_s = 1.0;
  pipeline::Session session(config);
  pipeline::SegmentAnalysisOptions options;
  options.captions = true;
  const pipeline::SegmentAnalysis a =
      pipeline::analyze_segments(session, two_scene_video(), options);
  ASSERT_EQ(a.segments.size(), 2u);
  EXPECT_NEAR(a.segments[0].t_begin, 0.0, 1e-9);
  EXPECT_NEAR(a.segments[0].t_end, 4.0, 0.6);  // the cut, to the probe's 1 s resolution
  EXPECT_NEAR(a.segments[1].t_end, 8.0, 0.15);
  for (const auto& seg : a.segments) {
    double norm = 0;
    for (const float v : seg.embedding)
      norm += static_cast<double>(v) * v;
    EXPECT_NEAR(norm, 1.0, 1e-4);
    ASSERT_GT(seg.thumbnail_jpeg.size(), 4u);
    EXPECT_EQ(seg.thumbnail_jpeg[0], 0xFF);  // JPEG SOI marker
    EXPECT_EQ(seg.thumbnail_jpeg[1], 0xD8);
  }
  EXPECT_NE(a.segments[0].embedding, a.segments[1].embedding);
  EXPECT_FALSE(a.embedding_model.empty());
  const std::vector<float> q = pipeline::embed_query(session, "a red wall");
  EXPECT_EQ(q.size(), a.segments[0].embedding.size());

  // Hover thumbnails for a timeline: fitted into the box, aspect ratio kept (96x72 -> 64x48).
  pipeline::ThumbnailOptions thumbs;
  thumbs.max_width = 64;
  thumbs.max_height = 64;
  const auto frames = pipeline::thumbnail_frames(two_scene_video(), {1.0, 6.0}, thumbs);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].width, 64);
  EXPECT_EQ(frames[0].height, 48);
  EXPECT_GT(frames[0].rgb[0], 200);  // red
  EXPECT_GT(frames[1].rgb[2], 200);  // blue
  const auto jpeg = pipeline::thumbnail_jpeg(two_scene_video(), 6.0, thumbs);
  ASSERT_GT(jpeg.size(), 2u);
  EXPECT_EQ(jpeg[0], 0xFF);

  // Without a relevance model: a clear error with a hint.
  pipeline::Session no_relevance(tiny_config());
  try {
    pipeline::analyze_segments(no_relevance, two_scene_video());
    FAIL();
  } catch (const pipeline::StageError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(e.hint().find("relevance-model"), std::string::npos);
  }
}

}  // namespace
}  // namespace clipmind::e2e
