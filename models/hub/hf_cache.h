// The Hugging Face hub cache, read and written exactly as huggingface_hub lays it out, so that
// clipmind, transformers and `huggingface-cli` share downloads:
//
//   <cache>/models--org--name/refs/<revision>            commit hash the branch/tag resolved to
//                                                         (no trailing newline)
//   <cache>/models--org--name/snapshots/<commit>/<file>  relative symlink ../../blobs/<etag>
//                                                         (one more ../ per sub-folder of <file>)
//   <cache>/models--org--name/blobs/<etag>               the content; <etag> is its sha256 (LFS
//                                                         files) or git blob sha1 (small files)
//   <cache>/models--org--name/blobs/<etag>.incomplete    a download in progress or broken off
//   <cache>/models--org--name/.no_exist/<commit>/<file>  empty: <file> is absent at <commit>
//   <cache>/.locks/models--org--name/<etag>.lock         flock()ed while <etag> is downloaded
//
// HfCache is a value holding the root path; methods touch the file system only when they say
// so. Writes are atomic (temporary name + rename) and throw clipmind::Error (kIo) naming the
// path. Where symlinks cannot be made, the blob is copied into the snapshot instead (as
// huggingface_hub does).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "clipmind/progress.h"

namespace clipmind::models::hub {

// An ETag usable as a blob file name: [A-Za-z0-9._-], not starting with '.', at most 128 chars.
bool is_valid_etag(std::string_view etag);

// The server's ETag header value as a blob name: drops a weak "W/" prefix and the quotes.
std::string normalize_etag(std::string_view header_value);

class HfCache {
 public:
  explicit HfCache(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path repo_dir(std::string_view repo_id) const;
  std::filesystem::path snapshot_dir(std::string_view repo_id, std::string_view commit) const;
  std::filesystem::path blob_path(std::string_view repo_id, std::string_view etag) const;
  std::filesystem::path incomplete_path(std::string_view repo_id, std::string_view etag) const;
  std::filesystem::path lock_path(std::string_view repo_id, std::string_view etag) const;

  // The commit `revision` stands for in the cache: itself when it is a commit hash, else the
  // content of refs/<revision>; nullopt when the cache does not know it. Reads refs/.
  std::optional<std::string> cached_commit(std::string_view repo_id,
                                           std::string_view revision) const;

  // "refs: main -> 1a2b..; snapshots: 1a2b.." for error messages; "" when the repo is absent.
  std::string describe_cached(std::string_view repo_id) const;

  // Writes refs/<revision> = commit (atomically). No-op when revision is the commit itself.
  void write_ref(std::string_view repo_id, std::string_view revision,
                 std::string_view commit) const;

  // Makes snapshots/<commit>/<file> point at blobs/<etag>, replacing what was there.
  void link_snapshot_file(std::string_view repo_id, std::string_view commit, std::string_view file,
                          std::string_view etag) const;

  // Records (or checks) that <file> does not exist at <commit> (.no_exist/ marker).
  void mark_missing(std::string_view repo_id, std::string_view commit, std::string_view file) const;
  bool is_marked_missing(std::string_view repo_id, std::string_view commit,
                         std::string_view file) const;

 private:
  std::filesystem::path root_;
};

// Exclusive flock() on a blob's lock file, the same lock huggingface_hub's FileLock takes, so
// two downloaders (clipmind or Python) never write one blob at once. Waits, polling `cancel`
// every 100 ms (throws Cancelled). Released by the destructor; the lock file stays, as
// huggingface_hub leaves it.
class BlobLock {
 public:
  BlobLock(const std::filesystem::path& lock_file, const CancelToken& cancel);
  ~BlobLock();
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace clipmind::models::hub
