#include "decode/video_files.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace clipmind::decode {
namespace {

constexpr std::array<std::string_view, 32> kVideoExtensions = {
    ".3g2",  ".3gp", ".asf", ".avi",  ".divx", ".dv",  ".f4v",  ".flv", ".gif", ".m1v", ".m2t",
    ".m2ts", ".m2v", ".m4v", ".mkv",  ".mov",  ".mp4", ".mpeg", ".mpg", ".mts", ".mxf", ".nut",
    ".ogv",  ".qt",  ".rm",  ".rmvb", ".ts",   ".vob", ".webm", ".wmv", ".wtv", ".y4m"};

static_assert(std::is_sorted(kVideoExtensions.begin(), kVideoExtensions.end()));

}  // namespace

std::span<const std::string_view> video_extensions() {
  return kVideoExtensions;
}

bool has_video_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::binary_search(kVideoExtensions.begin(), kVideoExtensions.end(), ext);
}

}  // namespace clipmind::decode
