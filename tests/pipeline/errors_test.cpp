// User-facing errors: stage context, hints, exit codes.
#include "pipeline/errors.h"

#include <new>
#include <stdexcept>

#include <gtest/gtest.h>

namespace clipmind::pipeline {
namespace {

UserError describe(const std::function<void()>& f) {
  try {
    f();
  } catch (...) {
    return describe_error(std::current_exception());
  }
  return {};
}

TEST(Errors, StageContextIsAddedOnce) {
  const UserError e = describe([] {
    in_stage("decode", "clip.mp4", [] {
      in_stage("decode", "clip.mp4",
               []() -> int { throw Error(ErrorKind::kInvalidInput, "no video stream"); });
      return 0;
    });
  });
  EXPECT_EQ(e.kind, ErrorKind::kInvalidInput);
  EXPECT_EQ(e.message, "clip.mp4: decode: no video stream");
  EXPECT_EQ(e.stage, "decode");
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_FALSE(e.hint.empty());
}

TEST(Errors, MessagesThatAlreadyNameTheFileAreNotPrefixedTwice) {
  const UserError e = describe([] {
    in_stage("probe", "clip.mp4",
             []() -> int { throw Error(ErrorKind::kInvalidInput, "clip.mp4: not a video"); });
  });
  EXPECT_EQ(e.message, "probe: clip.mp4: not a video");
}

TEST(Errors, CancellationPassesThroughUnchanged) {
  EXPECT_THROW(in_stage("encode", "x", []() -> int { throw Cancelled(); }), Cancelled);
  const UserError e = describe([] { throw Cancelled(); });
  EXPECT_EQ(e.kind, ErrorKind::kCancelled);
  EXPECT_EQ(e.exit_code, 130);
  EXPECT_TRUE(e.hint.empty());
}

TEST(Errors, ForeignExceptionsBecomeTypedErrors) {
  const UserError oom =
      describe([] { in_stage("encode", "v.mp4", []() -> int { throw std::bad_alloc(); }); });
  EXPECT_EQ(oom.message, "v.mp4: encode: out of memory");
  EXPECT_EQ(oom.kind, ErrorKind::kIo);
  const UserError internal =
      describe([] { in_stage("prefill", "", []() -> int { throw std::logic_error("shape"); }); });
  EXPECT_EQ(internal.kind, ErrorKind::kInternal);
  EXPECT_EQ(internal.message, "prefill: shape");
  EXPECT_EQ(internal.exit_code, 1);
}

TEST(Errors, MissingModelGetsAnActionableHint) {
  const UserError e = describe([] {
    in_stage("load model", "",
             []() -> int { throw Error(ErrorKind::kNotFound, "llava: no such model"); });
  });
  EXPECT_EQ(e.exit_code, 4);
  EXPECT_NE(e.hint.find("--model"), std::string::npos);
}

}  // namespace
}  // namespace clipmind::pipeline
