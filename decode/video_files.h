// Which files are videos by their name: the one list of file name extensions that folder scans
// (`clipmind caption DIR`, `clipmind index DIR`) pick up and the GUI's open dialog offers.
//
// Each is a container FFmpeg reads and that holds video (docs/decode.md, "Video files"):
// MP4/QuickTime and their relatives, Matroska/WebM, AVI, MPEG program and transport streams
// (DVD .vob, camcorder .mts/.m2ts), raw MPEG-1/2 video, ASF/WMV, Flash, Ogg video, GIF, MXF,
// DV, NUT, RealMedia, Windows TV and YUV4MPEG. Still images and containers that are usually
// audio (.ogg, .mka, .m4a) are left out, so a folder of photos or music is not taken for
// videos. Any file can still be named explicitly; the list only decides what a scan finds.
#pragma once

#include <filesystem>
#include <span>
#include <string_view>

namespace clipmind::decode {

// Lower case, with the leading dot (".mp4"), sorted.
std::span<const std::string_view> video_extensions();

// Whether `path`'s extension is in video_extensions(), ignoring case (".MP4", ".Vob").
bool has_video_extension(const std::filesystem::path& path);

}  // namespace clipmind::decode
