// Encodes a Frame as a JPEG or PNG image with FFmpeg's own encoders (mjpeg, png), for
// `clipmind frames` and index thumbnails.
//
// encode_image() returns the file bytes; write_image() writes them atomically (a temporary
// file renamed into place, see clipmind/atomic_file.h), so a failure never leaves a partial
// image. Throws clipmind::Error: kInvalidArgument (empty frame, bad quality),
// kIo (cannot write, naming the file), kInternal (the encoder failed).
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "decode/frame.h"

namespace clipmind::decode {

enum class ImageFormat { kJpeg, kPng };

struct ImageOptions {
  ImageFormat format = ImageFormat::kJpeg;
  // JPEG quality 1..100 (maps onto the mjpeg encoder's quantiser scale 31..2); 90 is close to
  // `ffmpeg -q:v 4`. Ignored for PNG, which is lossless.
  int jpeg_quality = 90;
};

std::vector<uint8_t> encode_image(const Frame& frame, const ImageOptions& options = {});

void write_image(const Frame& frame, const std::filesystem::path& path,
                 const ImageOptions& options = {});

// The format for a file name: ".png" → kPng, ".jpg"/".jpeg" → kJpeg; otherwise kInvalidArgument.
ImageFormat image_format_for(const std::filesystem::path& path);

}  // namespace clipmind::decode
