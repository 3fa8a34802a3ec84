// Content hashes of video files, the first part of every cache key: the same bytes give the same
// hash wherever the file lives (renames and copies keep their cached tokens), different bytes
// almost always a different one, and hashing a multi-GB file costs milliseconds.
//
// kSampled (default, "s1-" prefix): SHA-256 over a domain tag, the file size (64-bit little
// endian) and, for files up to 8 MiB, the whole file; for larger files the first 1 MiB, the last
// 1 MiB and 64 blocks of 64 KiB at evenly spaced offsets in between (6 MiB read in all, in file
// order). It sees every change of size, every change to the container's header and index (MP4
// moov, Matroska cues, AVI idx1 sit at the start or the end) and any edit that touches a sampled
// block; it misses a same-size in-place edit confined to unsampled bytes, which re-encoding,
// trimming and remuxing never produce. kFull ("f1-" prefix): SHA-256 of the whole file, for
// those who need certainty (reads everything; checks the CancelToken every 4 MiB).
// The hash is 32 lowercase hex digits (128 bits of the SHA-256), after the prefix.
// Throws clipmind::Error(kNotFound / kIo) naming the file, Cancelled when cancelled.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "clipmind/progress.h"

namespace clipmind::pipeline {

enum class ContentHashMode { kSampled, kFull };

ContentHashMode parse_content_hash_mode(std::string_view text);  // "sampled" | "full"

struct ContentHash {
  std::string hex;    // "s1-<32 hex>" or "f1-<32 hex>"
  uint64_t size = 0;  // file size in bytes
  uint64_t bytes_read = 0;
};

ContentHash content_hash(const std::filesystem::path& path,
                         ContentHashMode mode = ContentHashMode::kSampled,
                         const CancelToken& cancel = {});

// SHA-256 of a byte string as 64 lowercase hex digits (cache file names, checksums).
std::string sha256_hex(std::string_view bytes);

}  // namespace clipmind::pipeline
