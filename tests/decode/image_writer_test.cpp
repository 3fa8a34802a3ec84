// encode_image / write_image, read back with the ffmpeg CLI (an independent decoder).
#include "decode/image_writer.h"

#include <cmath>

#include "tests/decode/test_videos.h"
#include <gtest/gtest.h>

#include "clipmind/error.h"

namespace clipmind::test {
namespace {

decode::Frame coded_frame(int w, int h, uint32_t code) {
  decode::Frame f;
  f.width = w;
  f.height = h;
  f.rgb.resize(static_cast<size_t>(w) * h * 3);
  draw_code(f.rgb.data(), w, h, f.stride(), code);
  // A colour gradient in the first row, so that channel order matters.
  for (int x = 0; x < w; ++x) {
    f.rgb[3 * x] = static_cast<uint8_t>(x * 255 / std::max(1, w - 1));
    f.rgb[3 * x + 1] = 40;
    f.rgb[3 * x + 2] = 200;
  }
  return f;
}

std::filesystem::path image_dir() {
  const auto dir = video_dir() / "images";
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(ImageWriter, PngIsLossless) {
  const decode::Frame frame = coded_frame(161, 97, 1234);
  const auto path = image_dir() / "lossless.png";
  decode::write_image(frame, path, {decode::ImageFormat::kPng});
  const RgbImage back = read_image_rgb(path);
  ASSERT_EQ(back.width, 161);
  ASSERT_EQ(back.height, 97);
  EXPECT_EQ(back.rgb, frame.rgb);
}

TEST(ImageWriter, JpegIsCloseAndKeepsTheCode) {
  const decode::Frame frame = coded_frame(160, 120, 4321);
  const auto path = image_dir() / "lossy.jpg";
  decode::write_image(frame, path);
  const RgbImage back = read_image_rgb(path);
  ASSERT_EQ(back.width, 160);
  ASSERT_EQ(back.height, 120);
  EXPECT_EQ(read_code(back.rgb.data(), back.width, back.height, back.width * 3u), 4321u);
  double diff = 0;
  for (size_t i = 0; i < back.rgb.size(); ++i)
    diff += std::abs(int(back.rgb[i]) - int(frame.rgb[i]));
  EXPECT_LT(diff / back.rgb.size(), 6.0);
  // Red rises along the first row: channel order survived.
  EXPECT_GT(int(back.rgb[3 * 157]), int(back.rgb[3 * 2]) + 100);
}

TEST(ImageWriter, QualityChangesTheSize) {
  const decode::Frame frame = coded_frame(160, 120, 7);
  decode::ImageOptions low{decode::ImageFormat::kJpeg, 10};
  decode::ImageOptions high{decode::ImageFormat::kJpeg, 100};
  EXPECT_LT(decode::encode_image(frame, low).size(), decode::encode_image(frame, high).size());
  const std::vector<uint8_t> jpeg = decode::encode_image(frame);
  ASSERT_GE(jpeg.size(), 4u);
  EXPECT_EQ(jpeg[0], 0xFF);  // JPEG SOI marker
  EXPECT_EQ(jpeg[1], 0xD8);
  const std::vector<uint8_t> png = decode::encode_image(frame, {decode::ImageFormat::kPng});
  EXPECT_EQ(png[1], 'P');
}

TEST(ImageWriter, ErrorsNameTheFileAndLeaveNothingBehind) {
  const decode::Frame frame = coded_frame(32, 32, 1);
  const auto dir = image_dir() / "missing-folder";
  std::filesystem::remove_all(dir);
  try {
    decode::write_image(frame, dir / "x.jpg");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("x.jpg"), std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_THROW(decode::encode_image(decode::Frame{}), Error);
  EXPECT_THROW(decode::encode_image(frame, {decode::ImageFormat::kJpeg, 0}), Error);
}

TEST(ImageWriter, FormatFromFileName) {
  EXPECT_EQ(decode::image_format_for("a/b.PNG"), decode::ImageFormat::kPng);
  EXPECT_EQ(decode::image_format_for("b.jpeg"), decode::ImageFormat::kJpeg);
  EXPECT_THROW(decode::image_format_for("b.gif"), Error);
}

}  // namespace
}  // namespace clipmind::test
