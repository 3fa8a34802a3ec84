// Logging through one callback, progress events with rate/ETA from timestamps, the progress bar.
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "pipeline/log.h"
#include "pipeline/progress_bar.h"
#include "pipeline/progress_tracker.h"

namespace clipmind::pipeline {
namespace {

TEST(Logger, FiltersByLevelAndDeliversThroughOneSink) {
  std::vector<LogRecord> records;
  Logger log([&](const LogRecord& r) { records.push_back(r); }, LogLevel::kInfo);
  log.debug("decode", "hidden");
  log.info("decode", "shown");
  log.warning("cache", "careful");
  log.error("encode", "broken");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].message, "shown");
  EXPECT_EQ(records[0].component, "decode");
  EXPECT_EQ(records[1].level, LogLevel::kWarning);
  EXPECT_EQ(records[2].level, LogLevel::kError);
  EXPECT_FALSE(log.enabled(LogLevel::kDebug));
}

TEST(Logger, QuietKeepsOnlyErrorsAndVerboseKeepsDebug) {
  int count = 0;
  Logger quiet([&](const LogRecord&) { ++count; }, parse_log_level("quiet"));
  quiet.warning("x", "no");
  quiet.error("x", "yes");
  EXPECT_EQ(count, 1);
  Logger verbose([&](const LogRecord&) { ++count; }, parse_log_level("verbose"));
  verbose.debug("x", "yes");
  EXPECT_EQ(count, 2);
  EXPECT_THROW(parse_log_level("loud"), Error);
}

TEST(Logger, OnceSharedBetweenCopies) {
  std::vector<std::string> messages;
  Logger log([&](const LogRecord& r) { messages.push_back(r.message); });
  Logger copy = log;
  EXPECT_TRUE(log.once("f2c", LogLevel::kWarning, "select", "fallback"));
  EXPECT_FALSE(copy.once("f2c", LogLevel::kWarning, "select", "fallback"));
  EXPECT_TRUE(copy.once("other", LogLevel::kInfo, "select", "other"));
  EXPECT_EQ(messages, (std::vector<std::string>{"fallback", "other"}));
}

TEST(Logger, NoSinkDropsEverything) {
  Logger log;
  log.error("x", "nobody listens");
  EXPECT_FALSE(log.enabled(LogLevel::kError));
}

TEST(Logger, ConcurrentLoggingNeverInterleavesSinkCalls) {
  int inside = 0;
  int max_inside = 0;
  int count = 0;
  Logger log([&](const LogRecord&) {
    ++inside;
    max_inside = std::max(max_inside, inside);
    ++count;
    --inside;
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i)
        log.info("t", "m");
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(count, 2000);
  EXPECT_EQ(max_inside, 1);
}

struct FakeClock {
  double now = 100.0;
  ProgressTracker::Clock fn() {
    return [this] { return now; };
  }
};

TEST(ProgressTracker, RateAndEtaComeFromTimestamps) {
  FakeClock clock;
  std::vector<JobProgress> events;
  ProgressOptions options;
  options.min_interval_s = 0.0;
  options.rate_window_s = 100.0;
  ProgressTracker tracker([&](const JobProgress& p) { events.push_back(p); }, {"decode", "encode"},
                          options, clock.fn());
  auto stage = tracker.begin("encode", 10, "frames");
  clock.now = 102.0;
  stage.advance(2);  // 2 frames in 2 s: 1 frame/s, 8 left
  clock.now = 103.0;
  stage.advance(2);  // 4 frames in 3 s
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].stage, "encode");
  EXPECT_EQ(events[0].stage_index, 1);
  EXPECT_EQ(events[0].stage_count, 2);
  EXPECT_EQ(events[0].done, 0);
  EXPECT_DOUBLE_EQ(events[0].eta_s, -1.0);
  EXPECT_DOUBLE_EQ(events[1].rate, 1.0);
  EXPECT_DOUBLE_EQ(events[1].eta_s, 8.0);
  EXPECT_DOUBLE_EQ(events[2].rate, 4.0 / 3.0);
  EXPECT_DOUBLE_EQ(events[2].eta_s, 6.0 / (4.0 / 3.0));
  EXPECT_DOUBLE_EQ(events[2].elapsed_s, 3.0);
  clock.now = 104.0;
  stage.finish();
  EXPECT_TRUE(events.back().finished);
  EXPECT_EQ(events.back().done, 4);
  EXPECT_EQ(events.back().total, 4);  // finishing early shrinks the total to what was done
  EXPECT_DOUBLE_EQ(events.back().eta_s, 0.0);
}

TEST(ProgressTracker, SlidingWindowFollowsTheCurrentRate) {
  FakeClock clock;
  std::vector<JobProgress> events;
  ProgressOptions options;
  options.min_interval_s = 0.0;
  options.rate_window_s = 5.0;
  ProgressTracker tracker([&](const JobProgress& p) { events.push_back(p); }, {}, options,
                          clock.fn());
  auto stage = tracker.begin("decode", 1000);
  // 1 unit/s for 10 s, then 10 units/s.
  for (int i = 1; i <= 10; ++i) {
    clock.now += 1.0;
    stage.advance(1);
  }
  for (int i = 1; i <= 10; ++i) {
    clock.now += 1.0;
    stage.advance(10);
  }
  EXPECT_NEAR(events.back().rate, 10.0, 1e-9);
  EXPECT_NEAR(events.back().eta_s, (1000.0 - 110.0) / 10.0, 1e-9);
}

TEST(ProgressTracker, ThrottlesUpdatesButNeverBeginReachOrFinish) {
  FakeClock clock;
  std::vector<JobProgress> events;
  ProgressOptions options;
  options.min_interval_s = 1.0;
  ProgressTracker tracker([&](const JobProgress& p) { events.push_back(p); }, {}, options,
                          clock.fn());
  auto stage = tracker.begin("decode", 5);
  for (int i = 0; i < 5; ++i) {
    clock.now += 0.01;
    stage.advance();
  }
  stage.finish();
  // begin, the update that reached the total, finish.
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].done, 5);
  EXPECT_FALSE(events[1].finished);
  EXPECT_TRUE(events[2].finished);
}

TEST(ProgressTracker, EventsOfEachStageArriveInOrderUnderConcurrency) {
  std::vector<JobProgress> events;
  ProgressOptions options;
  options.min_interval_s = 0.0;
  ProgressTracker tracker([&](const JobProgress& p) { events.push_back(p); }, {"decode", "encode"},
                          options);
  auto decode = tracker.begin("decode", 200, "frames");
  auto encode = tracker.begin("encode", 200, "frames");
  std::thread a([&] {
    for (int i = 0; i < 200; ++i)
      decode.advance();
    decode.finish();
  });
  std::thread b([&] {
    for (int i = 0; i < 200; ++i)
      encode.set_done(i + 1);
    encode.finish();
  });
  a.join();
  b.join();
  for (const std::string name : {"decode", "encode"}) {
    int64_t last = -1;
    bool began = false;
    bool finished = false;
    for (const JobProgress& p : events) {
      if (p.stage != name) continue;
      EXPECT_FALSE(finished) << "event after finish";
      if (!began) {
        EXPECT_EQ(p.done, 0);
        began = true;
      }
      EXPECT_GE(p.done, last);
      last = p.done;
      finished = p.finished;
    }
    EXPECT_TRUE(finished);
    EXPECT_EQ(last, 200);
  }
}

TEST(ProgressTracker, LibraryCallbackAdapterForwardsDoneAndTotal) {
  std::vector<JobProgress> events;
  ProgressOptions options;
  options.min_interval_s = 0.0;
  ProgressTracker tracker([&](const JobProgress& p) { events.push_back(p); }, {}, options);
  auto stage = tracker.begin("load model");
  ProgressCallback cb = stage.callback();
  cb(ProgressEvent{"x", 3, 9, "weights"});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].done, 3);
  EXPECT_EQ(events[1].total, 9);
  EXPECT_EQ(events[1].detail, "weights");
  cb(ProgressEvent{"x", 2, 9, ""});  // never backwards
  EXPECT_EQ(events.back().done, 3);
}

TEST(FormatDuration, Examples) {
  EXPECT_EQ(format_duration(7.2), "0:07");
  EXPECT_EQ(format_duration(754), "12:34");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "--:--");
}

TEST(ProgressBar, LineShowsStageCountsRateAndEta) {
  JobProgress p;
  p.stage = "encode";
  p.stage_index = 2;
  p.stage_count = 6;
  p.done = 12;
  p.total = 32;
  p.unit = "frames";
  p.rate = 3.14;
  p.eta_s = 7;
  const std::string line = format_progress_line(p, 100);
  EXPECT_EQ(line.rfind("encode [3/6] [", 0), 0u) << line;
  EXPECT_NE(line.find("12/32 frames"), std::string::npos) << line;
  EXPECT_NE(line.find("3.1/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 0:07"), std::string::npos) << line;
  EXPECT_LT(line.size(), 100u);
  // 12/32 of a bar: count the filled cells.
  const size_t open = line.find("] [") + 3;
  const size_t close = line.find(']', open);
  const std::string bar = line.substr(open, close - open);
  EXPECT_EQ(std::count(bar.begin(), bar.end(), '#'), static_cast<long>(12 * bar.size() / 32));
  EXPECT_LE(format_progress_line(p, 30).size(), 29u);
}

TEST(ProgressBar, RendersWithControlCodesAndThrottles) {
  ProgressBar bar(80, 0.5);
  JobProgress p;
  p.stage = "decode";
  p.total = 4;
  auto first = bar.render(p, 10.0);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->front(), '\r');
  EXPECT_NE(first->find("\x1b[K"), std::string::npos);
  EXPECT_FALSE(bar.render(p, 10.1));
  p.finished = true;
  EXPECT_TRUE(bar.render(p, 10.2));
  EXPECT_EQ(bar.clear(), "\r\x1b[K");
  EXPECT_EQ(bar.clear(), "");
}

}  // namespace
}  // namespace clipmind::pipeline
