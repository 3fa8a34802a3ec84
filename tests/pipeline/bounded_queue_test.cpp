// Bounded queues between stage threads: memory bound, ordering, error propagation both ways,
// cancellation of blocked threads.
#include "pipeline/bounded_queue.h"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "clipmind/error.h"

namespace clipmind::pipeline {
namespace {

TEST(BoundedQueue, SlowConsumerNeverLetsMoreThanCapacityWait) {
  BoundedQueue<int> queue(3);
  std::thread producer([&] {
    for (int i = 0; i < 50; ++i)
      ASSERT_TRUE(queue.push(i));
    queue.close();
  });
  std::vector<int> got;
  while (auto v = queue.pop()) {
    got.push_back(*v);
    if (got.size() % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  producer.join();
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(got[static_cast<size_t>(i)], i);
  EXPECT_LE(queue.peak(), 3u);
  EXPECT_EQ(queue.pushed(), 50u);
}

TEST(BoundedQueue, ProducerFailureReachesTheConsumer) {
  BoundedQueue<int> queue(2);
  std::thread producer([&] {
    queue.push(1);
    try {
      throw Error(ErrorKind::kInvalidInput, "clip.mp4: damaged packet");
    } catch (...) {
      queue.fail(std::current_exception());
    }
  });
  producer.join();
  try {
    // The failure wins over the pending item: the consumer learns the real cause at once.
    queue.pop();
    FAIL() << "expected the producer's error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_STREQ(e.what(), "clip.mp4: damaged packet");
  }
}

TEST(BoundedQueue, AbortReleasesABlockedProducer) {
  BoundedQueue<int> queue(1);
  std::atomic<bool> returned{false};
  std::atomic<bool> result{true};
  std::thread producer([&] {
    queue.push(1);
    result = queue.push(2);  // blocks: full
    returned = true;
  });
  while (queue.size() < 1)
    std::this_thread::yield();
  queue.abort();
  producer.join();
  EXPECT_TRUE(returned);
  EXPECT_FALSE(result);
  EXPECT_FALSE(queue.pop().has_value());
}

TEST(BoundedQueue, CancellationWakesBlockedPopAndPush) {
  CancelToken cancel;
  BoundedQueue<int> empty(1, cancel);
  BoundedQueue<int> full(1, cancel);
  full.push(0);
  std::atomic<int> cancelled{0};
  std::thread a([&] {
    try {
      empty.pop();
    } catch (const Cancelled&) {
      ++cancelled;
    }
  });
  std::thread b([&] {
    try {
      full.push(1);
    } catch (const Cancelled&) {
      ++cancelled;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  cancel.request();
  a.join();
  b.join();
  EXPECT_EQ(cancelled.load(), 2);
}

TEST(RunStages, DeliversEverythingInOrder) {
  std::vector<int> got;
  run_stages<int>(
      2, CancelToken{},
      [](BoundedQueue<int>& q) {
        for (int i = 0; i < 20; ++i)
          q.push(i);
      },
      [&](int v) { got.push_back(v); });
  ASSERT_EQ(got.size(), 20u);
  EXPECT_EQ(got.back(), 19);
}

TEST(RunStages, ProducerErrorIsRethrownToTheCaller) {
  int consumed = 0;
  EXPECT_THROW(run_stages<int>(
                   2, CancelToken{},
                   [](BoundedQueue<int>& q) {
                     q.push(1);
                     throw Error(ErrorKind::kInvalidInput, "bad frame");
                   },
                   [&](int) { ++consumed; }),
               Error);
  EXPECT_LE(consumed, 1);
}

TEST(RunStages, ConsumerErrorStopsTheProducer) {
  std::atomic<int> produced{0};
  EXPECT_THROW(run_stages<int>(
                   2, CancelToken{},
                   [&](BoundedQueue<int>& q) {
                     for (int i = 0; i < 1000000; ++i) {
                       if (!q.push(i)) return;
                       ++produced;
                     }
                   },
                   [](int v) {
                     if (v == 3) throw std::runtime_error("encoder failed");
                   }),
               std::runtime_error);
  EXPECT_LT(produced.load(), 10);
}

TEST(RunStages, CancellationEndsBothSides) {
  CancelToken cancel;
  std::atomic<int> consumed{0};
  EXPECT_THROW(run_stages<int>(
                   2, cancel,
                   [&](BoundedQueue<int>& q) {
                     for (int i = 0;; ++i)
                       q.push(i);
                   },
                   [&](int) {
                     if (++consumed == 5) cancel.request();
                   }),
               Cancelled);
  EXPECT_EQ(consumed.load(), 5);
}

}  // namespace
}  // namespace clipmind::pipeline
