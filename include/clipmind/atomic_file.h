// Writes a file so that readers see either the old content or the complete new one, also after
// a crash or a power loss.
//
// Output goes to "<path>.part-<random>" in the same directory and is renamed over <path> only by
// commit(), which first flushes the data to the disk (fsync) and checks close(): filesystems with
// delayed allocation, quotas or a server behind them (NFS, btrfs, XFS) may report a full disk or
// an I/O error only there, and a rename before it could leave a final-named file that is empty
// or short after a crash. Destroying an uncommitted AtomicFile removes the temporary file, so a
// failure, an exception or cancellation never leaves a half-written file that looks complete.
//
// The directory is fsynced after the rename so the new name survives a crash too. A failure of
// that last fsync is not an error (see rename_into_place): the complete file is already in place
// under its name, and after a crash a reader would find the old file or none, never a partial one.
//
// sync_file() and rename_into_place() are the one way clipmind makes a write durable; writers
// that do not go through AtomicFile (the ANN index, downloads) use them.
//
// Durability::kReaderVerifies skips both fsyncs (close() is still checked) for files whose reader
// checks every byte and recomputes what fails (token-cache entries carry a checksum): a short or
// empty file after a crash is then a cache miss, not a wrong answer, and an fsync per encoded
// frame cost a small run about a fifth of its time (docs/pipeline.md "Full disk").
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include "clipmind/error.h"

namespace clipmind {

// Flushes the file open as `fd` to the disk; returns 0 or the errno of the failure (EINTR is
// retried).
inline int fsync_errno(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

// fsync_errno() that throws kIo "<shown>: <what>: <reason>".
inline void sync_file(int fd, const std::filesystem::path& shown, const std::string& what) {
  if (const int err = fsync_errno(fd); err != 0) {
    throw Error(ErrorKind::kIo, shown.string() + ": " + what + ": " + std::strerror(err));
  }
}

// Renames `temp` over `path` (same directory), then fsyncs the directory so the new name is on
// the disk. Throws kIo naming `path` when the rename fails. A failed directory fsync is ignored
// on purpose: the data was synced before and the complete file is in place; the only risk left
// is that a crash brings back the old name, which readers already handle (old file or none),
// and some filesystems refuse fsync on directories (EINVAL), where failing would make every
// write fail.
inline void rename_into_place(const std::filesystem::path& temp,
                              const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    throw Error(ErrorKind::kIo, path.string() + ": cannot rename into place: " + ec.message());
  }
  const std::filesystem::path parent = path.has_parent_path() ? path.parent_path() : ".";
  const int dir = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  (void)::fsync(dir);
  ::close(dir);
}

enum class Durability {
  kSynced,          // fsync the file before the rename and the folder after it
  kReaderVerifies,  // no fsync: the reader checks every byte (see above)
};

// Moves `temp` over `path` after fsyncing nothing: for kReaderVerifies writes.
inline void rename_unsynced(const std::filesystem::path& temp, const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    throw Error(ErrorKind::kIo, path.string() + ": cannot rename into place: " + ec.message());
  }
}

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path, Durability durability = Durability::kSynced)
      : path_(std::move(path)), durability_(durability) {
    std::random_device seed;
    temp_ = path_;
    temp_ += ".part-" + std::to_string(seed());
    file_ = std::fopen(temp_.c_str(), "wbe");
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

  // Flushes and fsyncs the temporary file, closes it (checked), renames it over the target path
  // and fsyncs the directory. On any failure before the rename the temporary file is removed
  // (by the destructor) and nothing appears under the target name.
  void commit() {
    const bool synced = durability_ == Durability::kSynced;
    if (std::fflush(file_) != 0) fail("cannot write");
    try {
      if (synced) sync_file(::fileno(file_), path_, "cannot write");
    } catch (...) {
      std::fclose(file_);
      file_ = nullptr;
      throw;
    }
    const int closed = std::fclose(file_);
    file_ = nullptr;
    if (closed != 0) fail("cannot write");
    if (synced) {
      rename_into_place(temp_, path_);
    } else {
      rename_unsynced(temp_, path_);
    }
    committed_ = true;
  }

  const std::filesystem::path& path() const { return path_; }

 private:
  [[noreturn]] void fail(const char* what) {
    const int err = errno;
    throw Error(ErrorKind::kIo, path_.string() + ": " + what + ": " + std::strerror(err));
  }

  std::filesystem::path path_;
  Durability durability_;
  std::filesystem::path temp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// Writes the whole of `content` to `path` atomically.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view content,
                                  Durability durability = Durability::kSynced) {
  AtomicFile file(path, durability);
  file.write(content);
  file.commit();
}

}  // namespace clipmind
