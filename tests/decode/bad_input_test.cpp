// Bad input never crashes: a clear error naming the file, or a partial result with warnings.
#include <fstream>

#include "tests/decode/decode_test_util.h"
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "clipmind/error.h"
#include "decode/frame_sampler.h"
#include "decode/video_info.h"

namespace clipmind::test {
namespace {

std::filesystem::path bad_dir() {
  const auto dir = video_dir() / "bad";
  std::filesystem::create_directories(dir);
  return dir;
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The error probe() throws for `path`; fails the test if it does not throw.
Error probe_error(const std::filesystem::path& path) {
  try {
    decode::probe(path);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "probe did not throw for " << path;
  return Error(ErrorKind::kInternal, "");
}

void expect_error(const std::filesystem::path& path, ErrorKind kind, const std::string& words) {
  const Error e = probe_error(path);
  const std::string message = e.what();
  EXPECT_EQ(e.kind(), kind) << message;
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find(words), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
  // The sampler refuses the same way.
  try {
    decode::FrameSampler sampler(path, {0.0});
    ADD_FAILURE() << "sampler accepted " << path;
  } catch (const Error& s) {
    EXPECT_EQ(s.kind(), kind);
  }
}

TEST(BadInput, MissingPath) {
  expect_error(bad_dir() / "does-not-exist.mp4", ErrorKind::kNotFound, "no such file");
}

TEST(BadInput, FileUsedAsAFolderIsNotFound) {
  const auto file = bad_dir() / "plain.mp4";
  write_bytes(file, "x");
  expect_error(file / "inside.mp4", ErrorKind::kNotFound, "no such file");
}

// A FIFO would block the open until something writes to it, beyond the reach of Ctrl-C.
TEST(BadInput, FifoIsRefusedWithoutOpeningIt) {
  const auto fifo = bad_dir() / "stream.mp4";
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_error(fifo, ErrorKind::kInvalidInput, "pipe");
}

// A terminal would block the open like a FIFO; /dev/zero never ends.
TEST(BadInput, CharacterDeviceIsRefusedWithoutOpeningIt) {
  expect_error("/dev/zero", ErrorKind::kInvalidInput, "character device");
  expect_error("/dev/null", ErrorKind::kInvalidInput, "character device");
}

TEST(BadInput, Directory) {
  expect_error(bad_dir(), ErrorKind::kInvalidInput, "directory");
}

TEST(BadInput, EmptyFile) {
  const auto path = bad_dir() / "empty.mp4";
  write_bytes(path, "");
  expect_error(path, ErrorKind::kInvalidInput, "empty file");
}

TEST(BadInput, TextFileNamedMp4) {
  const auto path = bad_dir() / "notes.mp4";
  write_bytes(path, "These are my notes, not a video.\nSecond line.\n");
  expect_error(path, ErrorKind::kInvalidInput, "not a readable video");
}

TEST(BadInput, AudioOnly) {
  expect_error(make_audio_only("mp4"), ErrorKind::kInvalidInput, "no video stream");
}

VideoSpec cut_spec(bool faststart) {
  VideoSpec spec;
  spec.name = faststart ? "cut-faststart" : "cut-moov-at-end";
  spec.frames = 100;
  spec.gop = 10;
  if (faststart) spec.extra = {"-movflags", "+faststart"};
  return spec;
}

TEST(BadInput, Mp4WithoutMoov) {
  // Written the default way (moov at the end) and cut in the middle: the index is gone.
  const auto whole = make_video(cut_spec(false));
  const std::string bytes = read_bytes(whole);
  const auto path = bad_dir() / "no-moov.mp4";
  write_bytes(path, bytes.substr(0, bytes.size() / 2));
  expect_error(path, ErrorKind::kInvalidInput, "moov");
}

TEST(BadInput, Mp4CutInTheMiddleGivesAPartialResult) {
  const VideoSpec spec = cut_spec(true);
  const auto whole = make_video(spec);
  const std::string bytes = read_bytes(whole);
  const auto path = bad_dir() / "cut.mp4";
  write_bytes(path, bytes.substr(0, bytes.size() / 2));
  const std::vector<double> frames = frame_times(spec);
  // The header promises the whole 4 s; probe reports where the indexed data stops, and the
  // frame just before that point is really there.
  const decode::VideoInfo info = decode::probe(path);
  EXPECT_NEAR(info.header_duration, 4.0, 0.05);
  EXPECT_GT(info.duration, 0.5);
  EXPECT_LT(info.duration, 3.0);
  {
    const double last = info.duration - 0.1;
    const auto samples = sample_all(path, {last});
    ASSERT_EQ(samples.size(), 1u);
    EXPECT_EQ(read_code(samples[0].frame), expected_nearest(frames, last));
  }
  EXPECT_EQ(decode::probe(whole).header_duration, 0.0) << "a whole file is not cut short";
  const std::vector<double> times = {0.2, 0.8, 1.2, 3.0, 3.9};
  for (decode::Strategy strategy : {decode::Strategy::kSequential, decode::Strategy::kSeek}) {
    decode::SamplerOptions o;
    o.strategy = strategy;
    o.threads = 2;
    std::vector<std::string> warnings;
    const auto samples = sample_all(path, times, o, &warnings);
    ASSERT_EQ(samples.size(), times.size());
    // The early times are intact; late ones get the last frame that could be decoded.
    EXPECT_EQ(read_code(samples[0].frame), expected_nearest(frames, 0.2));
    EXPECT_EQ(read_code(samples[1].frame), expected_nearest(frames, 0.8));
    EXPECT_LT(samples[4].frame.time, 3.0);
    ASSERT_FALSE(warnings.empty());
    bool says_truncated = false;
    for (const auto& w : warnings) {
      EXPECT_EQ(w.rfind(path.string() + ":", 0), 0u) << w;
      if (w.find("truncated") != std::string::npos) says_truncated = true;
    }
    EXPECT_TRUE(says_truncated);
  }
}

TEST(BadInput, CorruptedBytesGiveFramesAndWarnings) {
  VideoSpec spec;
  spec.name = "to-corrupt";
  spec.frames = 100;
  spec.gop = 25;
  spec.extra = {"-movflags", "+faststart", "-sc_threshold", "0"};
  const auto whole = make_video(spec);
  std::string bytes = read_bytes(whole);
  // Overwrite a stretch in the middle of the media data.
  for (size_t i = bytes.size() / 2; i < bytes.size() / 2 + 2000 && i < bytes.size(); ++i) {
    bytes[i] = static_cast<char>(i * 7919);
  }
  const auto path = bad_dir() / "corrupted.mp4";
  write_bytes(path, bytes);
  std::vector<double> times;
  for (int i = 0; i < 40; ++i)
    times.push_back(i * 0.1);
  std::vector<std::string> warnings;
  const auto samples = sample_all(path, times, {}, &warnings);
  EXPECT_GE(samples.size(), times.size() / 2);
  EXPECT_FALSE(warnings.empty());
  // Frames far from the damage are still right.
  EXPECT_EQ(read_code(samples[0].frame), 0u);
}

}  // namespace
}  // namespace clipmind::test
