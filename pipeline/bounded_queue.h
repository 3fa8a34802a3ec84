// A bounded, blocking, cancellable queue between two stage threads, and the thread that runs a
// producing stage. They are what keeps memory bounded regardless of video length: a producer
// (decode) blocks once `capacity` items wait for the consumer (encode), so at most capacity + 2
// items (one being made, one being used) exist at any time.
//
// Ending a queue:
//   close()        the producer is done; pop() drains what is left, then returns nullopt.
//   fail(error)    the producer failed; pop() rethrows `error` (after nothing else) so the
//                  consumer sees the real cause instead of a short stream.
//   abort()        the consumer gave up; push() returns false from then on, pending items drop.
// Cancellation: blocked push()/pop() wake at least every `poll` and throw clipmind::Cancelled
// once the CancelToken fires, so a stuck stage never delays cancellation by more than that.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "clipmind/error.h"
#include "clipmind/progress.h"

namespace clipmind::pipeline {

template <class T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity, CancelToken cancel = {},
                        std::chrono::milliseconds poll = std::chrono::milliseconds(20))
      : capacity_(std::max<size_t>(1, capacity)), cancel_(std::move(cancel)), poll_(poll) {}
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Blocks while full. Returns false when the queue was aborted or closed (the item is dropped).
  bool push(T value) {
    std::unique_lock lock(mutex_);
    while (items_.size() >= capacity_ && !aborted_ && !closed_) {
      cancel_.throw_if_cancelled();
      not_full_.wait_for(lock, poll_);
    }
    cancel_.throw_if_cancelled();
    if (aborted_ || closed_) return false;
    items_.push_back(std::move(value));
    peak_ = std::max(peak_, items_.size());
    ++pushed_;
    not_empty_.notify_one();
    return true;
  }

  // Blocks while empty. nullopt once closed (or aborted) and drained; rethrows a fail() error.
  std::optional<T> pop() {
    std::unique_lock lock(mutex_);
    while (items_.empty() && !closed_ && !aborted_ && !error_) {
      cancel_.throw_if_cancelled();
      not_empty_.wait_for(lock, poll_);
    }
    cancel_.throw_if_cancelled();
    if (!items_.empty() && !aborted_) {
      T value = std::move(items_.front());
      items_.pop_front();
      not_full_.notify_one();
      return value;
    }
    if (error_) std::rethrow_exception(error_);
    return std::nullopt;
  }

  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }
  void fail(std::exception_ptr error) {
    std::lock_guard lock(mutex_);
    error_ = std::move(error);
    closed_ = true;
    items_.clear();
    not_empty_.notify_all();
    not_full_.notify_all();
  }
  void abort() {
    std::lock_guard lock(mutex_);
    aborted_ = true;
    items_.clear();
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  size_t capacity() const { return capacity_; }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  // The most items that were ever waiting at once (never above capacity()).
  size_t peak() const {
    std::lock_guard lock(mutex_);
    return peak_;
  }
  size_t pushed() const {
    std::lock_guard lock(mutex_);
    return pushed_;
  }

 private:
  const size_t capacity_;
  CancelToken cancel_;
  std::chrono::milliseconds poll_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;
  size_t peak_ = 0;
  size_t pushed_ = 0;
  bool closed_ = false;
  bool aborted_ = false;
  std::exception_ptr error_;
};

// Runs `produce(queue)` on its own thread, feeding a queue of capacity `capacity`, while the
// calling thread runs `consume(item)` for every item in order. The producer's exception reaches
// the consumer through fail(); the consumer's exception aborts the queue so the producer stops
// at its next push. Whichever failed first is rethrown here after the thread has been joined;
// nothing outlives this call.
template <class T, class Produce, class Consume>
void run_stages(size_t capacity, const CancelToken& cancel, Produce&& produce, Consume&& consume) {
  BoundedQueue<T> queue(capacity, cancel);
  std::thread producer([&queue, &produce] {
    try {
      produce(queue);
      queue.close();
    } catch (...) {
      queue.fail(std::current_exception());
    }
  });
  std::exception_ptr error;
  try {
    while (auto item = queue.pop())
      consume(std::move(*item));
  } catch (...) {
    error = std::current_exception();
    queue.abort();
  }
  producer.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace clipmind::pipeline
