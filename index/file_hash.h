// Content identity of a file for the index's freshness check: SHA-256 of its bytes, and the
// size/mtime stamp from stat(). Reads the file in 1 MiB chunks; throws Error(kIo / kNotFound)
// naming the file, or Cancelled when `cancel` fires.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "clipmind/progress.h"
#include "index/store.h"

namespace clipmind::index {

// Incremental SHA-256 (FIPS 180-4).
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::array<uint8_t, 32> finish();
  static std::string hex(const std::array<uint8_t, 32>& digest);

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t used_ = 0;
  uint64_t total_ = 0;
};

// Lower-case hex SHA-256 of the file's content.
std::string sha256_file(const std::filesystem::path& file, const CancelToken* cancel = nullptr);

// Size and mtime (ns) of `file`; content_hash left empty.
FileStamp stat_file(const std::filesystem::path& file);

}  // namespace clipmind::index
