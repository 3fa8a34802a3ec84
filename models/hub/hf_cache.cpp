#include "models/hub/hf_cache.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "clipmind/atomic_file.h"
#include "clipmind/error.h"
#include "models/hub/repo_spec.h"

namespace clipmind::models::hub {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void io_error(const fs::path& path, const std::string& what,
                           const std::error_code& ec) {
  throw Error(ErrorKind::kIo, path.string() + ": " + what + ": " + ec.message());
}

void make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) io_error(dir, "cannot create folder", ec);
}

std::string read_trimmed(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream content;
  content << in.rdbuf();
  std::string text = content.str();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.pop_back();
  return text;
}

// The repo file's path below snapshots/<commit>/, checked: the name may come from a server.
fs::path repo_relative(std::string_view file) {
  if (!is_safe_repo_path(file)) {
    throw Error(ErrorKind::kInvalidInput,
                "unsafe file name in repo: \"" + std::string(file) + "\"");
  }
  return fs::path(std::string(file));
}

std::string random_suffix() {
  std::random_device seed;
  return std::to_string(seed());
}

}  // namespace

bool is_valid_etag(std::string_view etag) {
  if (etag.empty() || etag.size() > 128 || etag.front() == '.') return false;
  return std::all_of(etag.begin(), etag.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::string normalize_etag(std::string_view value) {
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) {
    value.remove_prefix(1);
  }
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) {
    value.remove_suffix(1);
  }
  if (value.starts_with("W/")) value.remove_prefix(2);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    value = value.substr(1, value.size() - 2);
  }
  return std::string(value);
}

HfCache::HfCache(fs::path root) : root_(std::move(root)) {}

fs::path HfCache::repo_dir(std::string_view repo_id) const {
  return root_ / repo_folder_name(repo_id);
}

fs::path HfCache::snapshot_dir(std::string_view repo_id, std::string_view commit) const {
  return repo_dir(repo_id) / "snapshots" / std::string(commit);
}

fs::path HfCache::blob_path(std::string_view repo_id, std::string_view etag) const {
  return repo_dir(repo_id) / "blobs" / std::string(etag);
}

fs::path HfCache::incomplete_path(std::string_view repo_id, std::string_view etag) const {
  return repo_dir(repo_id) / "blobs" / (std::string(etag) + ".incomplete");
}

fs::path HfCache::lock_path(std::string_view repo_id, std::string_view etag) const {
  return root_ / ".locks" / repo_folder_name(repo_id) / (std::string(etag) + ".lock");
}

std::optional<std::string> HfCache::cached_commit(std::string_view repo_id,
                                                  std::string_view revision) const {
  if (is_commit_hash(revision)) return std::string(revision);
  if (!is_valid_revision(revision)) return std::nullopt;
  const std::string commit = read_trimmed(repo_dir(repo_id) / "refs" / std::string(revision));
  if (!is_commit_hash(commit)) return std::nullopt;
  return commit;
}

std::string HfCache::describe_cached(std::string_view repo_id) const {
  const fs::path dir = repo_dir(repo_id);
  std::error_code ec;
  std::vector<std::string> refs;
  for (auto it = fs::recursive_directory_iterator(dir / "refs", ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      refs.push_back(fs::relative(it->path(), dir / "refs", ec).generic_string() + " -> " +
                     read_trimmed(it->path()).substr(0, 12));
    }
  }
  std::vector<std::string> snapshots;
  ec.clear();
  for (auto it = fs::directory_iterator(dir / "snapshots", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    snapshots.push_back(it->path().filename().string().substr(0, 12));
  }
  std::sort(refs.begin(), refs.end());
  std::sort(snapshots.begin(), snapshots.end());
  std::string out;
  auto append = [&out](const char* label, const std::vector<std::string>& items) {
    if (items.empty()) return;
    if (!out.empty()) out += "; ";
    out += label;
    for (size_t i = 0; i < items.size(); ++i)
      out += (i ? ", " : " ") + items[i];
  };
  append("refs:", refs);
  append("snapshots:", snapshots);
  return out;
}

void HfCache::write_ref(std::string_view repo_id, std::string_view revision,
                        std::string_view commit) const {
  if (revision == commit) return;
  if (!is_valid_revision(revision) || !is_commit_hash(commit)) {
    throw Error(ErrorKind::kInternal, "write_ref: bad revision or commit");
  }
  const fs::path ref = repo_dir(repo_id) / "refs" / std::string(revision);
  make_dirs(ref.parent_path());
  write_file_atomically(ref, commit);
}

void HfCache::link_snapshot_file(std::string_view repo_id, std::string_view commit,
                                 std::string_view file, std::string_view etag) const {
  const fs::path relative = repo_relative(file);
  const fs::path link = snapshot_dir(repo_id, commit) / relative;
  make_dirs(link.parent_path());

  // Lexically relative, as huggingface_hub's os.path.relpath: "../../blobs/<etag>" plus one
  // "../" per sub-folder, so the cache still works after being moved or mounted elsewhere.
  fs::path target;
  for (auto it = relative.begin(); it != relative.end(); ++it) {
    if (std::next(it) != relative.end()) target /= "..";
  }
  target = target / ".." / ".." / "blobs" / std::string(etag);

  const fs::path temp = link.string() + ".tmp-" + random_suffix();
  std::error_code ec;
  fs::create_symlink(target, temp, ec);
  if (ec) {
    // File systems without symlinks (some network and FAT mounts): copy the blob instead.
    ec.clear();
    fs::copy_file(blob_path(repo_id, etag), temp, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      std::error_code ignored;  // a copy cut short by a full disk must not stay behind
      fs::remove(temp, ignored);
      io_error(link, "cannot link or copy the downloaded file", ec);
    }
    // A copy may report a full disk only when flushed (delayed allocation, quotas).
    const int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
    try {
      if (fd < 0)
        io_error(link, "cannot copy the downloaded file", {errno, std::generic_category()});
      sync_file(fd, link, "cannot copy the downloaded file");
      ::close(fd);
    } catch (...) {
      if (fd >= 0) ::close(fd);
      std::error_code ignored;
      fs::remove(temp, ignored);
      throw;
    }
  }
  try {
    rename_into_place(temp, link);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
}

void HfCache::mark_missing(std::string_view repo_id, std::string_view commit,
                           std::string_view file) const {
  const fs::path marker =
      repo_dir(repo_id) / ".no_exist" / std::string(commit) / repo_relative(file);
  make_dirs(marker.parent_path());
  std::ofstream touch(marker, std::ios::app);
  if (!touch) {
    throw Error(ErrorKind::kIo, marker.string() + ": cannot create: " + std::strerror(errno));
  }
}

bool HfCache::is_marked_missing(std::string_view repo_id, std::string_view commit,
                                std::string_view file) const {
  if (!is_safe_repo_path(file)) return false;
  std::error_code ec;
  return fs::is_regular_file(
      repo_dir(repo_id) / ".no_exist" / std::string(commit) / std::string(file), ec);
}

BlobLock::BlobLock(const fs::path& lock_file, const CancelToken& cancel) {
  make_dirs(lock_file.parent_path());
  fd_ = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw Error(ErrorKind::kIo,
                lock_file.string() + ": cannot open lock file: " + std::strerror(errno));
  }
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK && err != EINTR) {
      ::close(fd_);
      throw Error(ErrorKind::kIo, lock_file.string() + ": cannot lock: " + std::strerror(err));
    }
    if (cancel.requested()) {
      ::close(fd_);
      throw Cancelled();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

BlobLock::~BlobLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

}  // namespace clipmind::models::hub
