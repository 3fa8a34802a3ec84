// Progress reporting and cancellation, taken by every long operation in clipmind.
//
// A CancelToken is cheap to copy; all copies share one flag. Long loops call
// token.throw_if_cancelled() often enough that cancellation takes effect within a second.
// Progress callbacks run on the thread doing the work and must return quickly.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "clipmind/error.h"

namespace clipmind {

class CancelToken {
 public:
  CancelToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}

  void request() const noexcept { flag_->store(true, std::memory_order_relaxed); }
  bool requested() const noexcept { return flag_->load(std::memory_order_relaxed); }
  void throw_if_cancelled() const {
    if (requested()) throw Cancelled();
  }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

struct ProgressEvent {
  std::string stage;   // "decode", "encode", "merge", "generate", ...
  int64_t done = 0;    // units finished in this stage
  int64_t total = -1;  // units in this stage; -1 when unknown
  std::string detail;  // optional: the file being processed, a sub-step
};

using ProgressCallback = std::function<void(const ProgressEvent&)>;

}  // namespace clipmind
