// Writes a file so that readers see either the old content or the complete new one.
//
// Output goes to "<path>.part-<random>" in the same directory, is flushed, and is renamed over
// <path> only by commit(). Destroying an uncommitted AtomicFile removes the temporary file, so
// a failure, an exception or cancellation never leaves a half-written file that looks complete.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

#include "clipmind/error.h"

namespace clipmind {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path) : path_(std::move(path)) {
    std::random_device seed;
    temp_ = path_;
    temp_ += ".part-" + std::to_string(seed());
    file_ = std::fopen(temp_.c_str(), "wb");
    if (!file_) fail("cannot create");
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (file_) std::fclose(file_);
    if (!committed_) {
      std::error_code ignored;
      std::filesystem::remove(temp_, ignored);
    }
  }

  void write(const void* data, size_t size) {
    if (size > 0 && std::fwrite(data, 1, size, file_) != size) fail("cannot write");
  }
  void write(std::string_view text) { write(text.data(), text.size()); }

  // Flushes, closes and renames the temporary file over the target path.
  void commit() {
    if (std::fflush(file_) != 0) fail("cannot write");
    const int closed = std::fclose(file_);
    file_ = nullptr;
    if (closed != 0) fail("cannot write");
    std::error_code ec;
    std::filesystem::rename(temp_, path_, ec);
    if (ec) throw Error(ErrorKind::kIo, path_.string() + ": cannot rename into place: " + ec.message());
    committed_ = true;
  }

  const std::filesystem::path& path() const { return path_; }

 private:
  [[noreturn]] void fail(const char* what) {
    const int err = errno;
    throw Error(ErrorKind::kIo, path_.string() + ": " + what + ": " + std::strerror(err));
  }

  std::filesystem::path path_;
  std::filesystem::path temp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// Writes the whole of `content` to `path` atomically.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  AtomicFile file(path);
  file.write(content);
  file.commit();
}

}  // namespace clipmind
