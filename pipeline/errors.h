// What a person sees when a job fails: any exception turned into a kind, a one-line message that
// names the file and the problem, a hint saying what to do, and the process exit code.
//
// Jobs throw StageError (a clipmind::Error) when a stage fails, so the message says where
// ("clip.mp4: decode: no video stream") and the hint can be specific ("the model folder needs
// config.json ..."). Errors from outside clipmind (LibTorch, std::bad_alloc) become kInternal or
// kIo with the first line of their text (LibTorch appends a C++ stack trace); allocation
// failures (std::bad_alloc, LibTorch's "not enough memory" / "out of memory") are kIo "out of
// memory: ..." with a hint. Cancellation is kCancelled with the message "cancelled".
#pragma once

#include <exception>
#include <string>

#include "clipmind/error.h"

namespace clipmind::pipeline {

class StageError : public Error {
 public:
  StageError(ErrorKind kind, std::string stage, std::string file, const std::string& message,
             std::string hint = {});

  const std::string& stage() const { return stage_; }
  const std::string& file() const { return file_; }
  const std::string& hint() const { return hint_; }
  // The message without the "file: stage: " prefix.
  const std::string& detail() const { return detail_; }

 private:
  std::string stage_;
  std::string file_;
  std::string hint_;
  std::string detail_;
};

struct UserError {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;  // one line: "clip.mp4: decode: no video stream"
  std::string hint;     // what to do, or ""
  std::string stage;    // where it failed, or ""
  int exit_code = 1;
};

UserError describe_error(const std::exception_ptr& error);

// Runs `body`; rethrows any failure as a StageError for `stage` and `file` (Cancelled passes
// through unchanged, StageErrors are not wrapped twice).
template <class F>
auto in_stage(const std::string& stage, const std::string& file, F&& body) -> decltype(body());

// Implementation detail of in_stage.
[[noreturn]] void rethrow_in_stage(const std::string& stage, const std::string& file);

template <class F>
auto in_stage(const std::string& stage, const std::string& file, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (...) {
    rethrow_in_stage(stage, file);
  }
}

}  // namespace clipmind::pipeline
