// The one error type every clipmind library throws.
//
// Libraries never print or exit: they throw clipmind::Error (or a subclass) with a message a
// user can act on, naming the file and the problem ("clip.mp4: no video stream"). Front ends
// catch it, show what(), and map kind() to an exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace clipmind {

enum class ErrorKind {
  kInvalidArgument,  // a bad option or parameter from the caller
  kInvalidInput,     // a file exists but its content is wrong (corrupt video, malformed JSON)
  kNotFound,         // a file, model or database entry that is not there
  kUnsupported,      // valid input we do not handle (codec, architecture, dtype)
  kIo,               // reading or writing failed (permissions, full disk)
  kNetwork,          // downloads and database connections
  kCancelled,        // the caller's CancelToken was triggered
  kInternal,         // a broken invariant: a bug in clipmind
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}

  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// Thrown by long operations when their CancelToken fires; nothing half-done is left behind.
class Cancelled : public Error {
 public:
  Cancelled() : Error(ErrorKind::kCancelled, "cancelled") {}
};

// Process exit code for an error kind, shared by every front end (0 is success).
inline int exit_code_for(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return 2;
    case ErrorKind::kInvalidInput:
    case ErrorKind::kUnsupported:
      return 3;
    case ErrorKind::kNotFound:
      return 4;
    case ErrorKind::kIo:
    case ErrorKind::kNetwork:
      return 5;
    case ErrorKind::kCancelled:
      return 130;
    case ErrorKind::kInternal:
      break;
  }
  return 1;
}

}  // namespace clipmind
