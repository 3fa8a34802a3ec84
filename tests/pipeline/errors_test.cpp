// User-facing errors: stage context, hints, exit codes.
#include "pipeline/errors.h"

#include <new>
#include <stdexcept>

#include <ATen/ATen.h>
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

// A real LibTorch allocation failure (16 TiB): the user sees one line saying the encode stage
// ran out of memory, not LibTorch's "[enforce fail ...]" and its C++ stack trace.
TEST(Errors, LibTorchOutOfMemoryIsOneLineOfTheStageThatRanOut) {
  const auto huge = []() -> int {
    const at::Tensor t = at::empty({int64_t{1} << 42}, at::kFloat);
    return static_cast<int>(t.dim());
  };
  try {
    huge();
  } catch (const std::exception& e) {
    ASSERT_NE(std::string(e.what()).find("memory"), std::string::npos) << e.what();
  }
  const UserError e = describe([&] { in_stage("encode", "v.mp4", huge); });
  if (e.message.empty()) GTEST_SKIP() << "this machine handed out 16 TiB";
  EXPECT_EQ(e.kind, ErrorKind::kIo);
  EXPECT_EQ(e.exit_code, 5);
  EXPECT_EQ(e.stage, "encode");
  EXPECT_EQ(e.message.rfind("v.mp4: encode: out of memory", 0), 0u) << e.message;
  EXPECT_EQ(e.message.find('\n'), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find("frame #"), std::string::npos) << e.message;
  EXPECT_NE(e.hint.find("encode.input_size"), std::string::npos) << e.message << " / " << e.hint;
}

// Other LibTorch errors keep their first line only (their what() goes on with a stack trace).
TEST(Errors, LibTorchErrorsLoseTheirStackTrace) {
  const auto bad_view = []() -> int { return static_cast<int>(at::ones({2, 3}).view({4}).dim()); };
  const UserError e = describe([&] { in_stage("prefill", "v.mp4", bad_view); });
  EXPECT_EQ(e.kind, ErrorKind::kInternal);
  EXPECT_EQ(e.message.rfind("v.mp4: prefill: ", 0), 0u) << e.message;
  EXPECT_NE(e.message.find("is invalid for input of size 6"), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find('\n'), std::string::npos) << e.message;
  // Not wrapped in a stage: the same one line, as an internal error.
  const UserError bare = describe([&] { bad_view(); });
  EXPECT_EQ(bare.message.rfind("internal error: ", 0), 0u) << bare.message;
  EXPECT_EQ(bare.message.find('\n'), std::string::npos) << bare.message;
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
