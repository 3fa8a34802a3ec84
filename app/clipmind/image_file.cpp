#include "app/clipmind/image_file.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "clipmind/error.h"

namespace clipmind::cli {

RgbImage read_rgb_image(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(ErrorKind::kNotFound, path.string() + ": no such image file");
  cv::Mat bgr;
  try {
    bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw Error(ErrorKind::kInvalidInput, path.string() + ": cannot decode image: " + e.what());
  }
  if (bgr.empty() || bgr.type() != CV_8UC3)
    throw Error(ErrorKind::kInvalidInput, path.string() + ": not a readable image file");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  RgbImage image;
  image.height = rgb.rows;
  image.width = rgb.cols;
  image.pixels.resize(static_cast<size_t>(rgb.rows) * static_cast<size_t>(rgb.cols) * 3);
  for (int y = 0; y < rgb.rows; ++y) {
    const uint8_t* row = rgb.ptr<uint8_t>(y);
    std::copy(row, row + rgb.cols * 3,
              image.pixels.begin() + static_cast<std::ptrdiff_t>(y) * rgb.cols * 3);
  }
  return image;
}

}  // namespace clipmind::cli
