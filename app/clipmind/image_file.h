// Reading a still image file into RGB bytes for the CLI (`clipmind embed --image`). Models take
// plain RGB byte views and must not depend on an image library; the CLI uses OpenCV's imread
// (JPEG, PNG, WebP, BMP, TIFF...; EXIF orientation applied) through this one helper.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace clipmind::cli {

struct RgbImage {
  std::vector<uint8_t> pixels;  // height x width x 3, packed rows
  int64_t height = 0;
  int64_t width = 0;
};

// Throws clipmind::Error: kNotFound (no such file), kInvalidInput (not a readable image).
RgbImage read_rgb_image(const std::filesystem::path& path);

}  // namespace clipmind::cli
