#include "decode/media_index.h"

#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <tuple>

#include "decode/internal/file_scan.h"

namespace clipmind::decode {
namespace {

struct FileKey {
  std::string path;  // absolute, normalised
  uintmax_t size = 0;
  int64_t mtime = 0;  // file clock ticks
  int stream = -1;
  auto operator<=>(const FileKey&) const = default;
};

// The key of `path` as it is now; nullopt when it cannot be read (then nothing is shared).
std::optional<FileKey> key_of(const std::filesystem::path& path, int stream) {
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(path, ec).lexically_normal();
  if (ec) return std::nullopt;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return std::nullopt;
  const auto mtime = std::filesystem::last_write_time(path, ec);
  if (ec) return std::nullopt;
  return FileKey{absolute.string(), size, static_cast<int64_t>(mtime.time_since_epoch().count()),
                 stream};
}

size_t entry_bytes(const FileKey& key, const internal::PacketScan& scan) {
  return sizeof(FileKey) + key.path.size() + sizeof(internal::PacketScan) +
         scan.keyframe_times.size() * sizeof(double) +
         scan.keyframes.size() * sizeof(internal::KeyframePosition);
}

static_assert(sizeof(double) + sizeof(internal::KeyframePosition) ==
              MediaIndexCache::kBytesPerKeyframe);

}  // namespace

struct MediaIndexCache::Impl {
  struct Entry {
    FileKey key;
    std::shared_ptr<const internal::PacketScan> scan;
    size_t bytes = 0;
  };

  size_t max_bytes;
  std::function<void(const IndexNotice&)> on_notice;
  mutable std::mutex mutex;
  std::condition_variable reading_done;
  std::list<Entry> entries;  // most recently used first
  std::set<FileKey> reading;
  size_t bytes = 0;
  int64_t reads = 0;
  int64_t reuses = 0;

  // The stored scan of `key` (marked recently used), waiting while another thread reads it;
  // null when the caller must read it (then `key` is marked as being read).
  std::shared_ptr<const internal::PacketScan> find_or_claim(const FileKey& key) {
    std::unique_lock lock(mutex);
    while (true) {
      for (auto it = entries.begin(); it != entries.end(); ++it) {
        if (it->key == key) {
          entries.splice(entries.begin(), entries, it);
          ++reuses;
          return it->scan;
        }
      }
      if (!reading.contains(key)) break;
      reading_done.wait(lock);
    }
    reading.insert(key);
    return nullptr;
  }

  void store(const FileKey& key, std::shared_ptr<const internal::PacketScan> scan) {
    {
      std::lock_guard lock(mutex);
      reading.erase(key);
      ++reads;
      const size_t size = entry_bytes(key, *scan);
      if (size <= max_bytes) {
        entries.push_front({key, std::move(scan), size});
        bytes += size;
        while (bytes > max_bytes && !entries.empty()) {
          bytes -= entries.back().bytes;
          entries.pop_back();
        }
      }
    }
    reading_done.notify_all();
  }

  void release(const FileKey& key) {
    {
      std::lock_guard lock(mutex);
      reading.erase(key);
    }
    reading_done.notify_all();
  }
};

MediaIndexCache::MediaIndexCache(size_t max_bytes,
                                 std::function<void(const IndexNotice&)> on_notice)
    : impl_(std::make_unique<Impl>()) {
  impl_->max_bytes = max_bytes;
  impl_->on_notice = std::move(on_notice);
}

MediaIndexCache::~MediaIndexCache() = default;

int64_t MediaIndexCache::reads() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->reads;
}
int64_t MediaIndexCache::reuses() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->reuses;
}
size_t MediaIndexCache::bytes() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->bytes;
}
size_t MediaIndexCache::files() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->entries.size();
}

namespace internal {

FileScan::FileScan(MediaFile& file, const StreamFacts& facts, MediaIndexCache* cache,
                   CancelToken cancel, ProgressCallback progress)
    : file_(file),
      facts_(facts),
      cache_(cache),
      cancel_(std::move(cancel)),
      progress_(std::move(progress)) {}

const PacketScan& FileScan::get() {
  if (scan_) return *scan_;
  const std::optional<FileKey> key =
      cache_ ? key_of(file_.path(), facts_.stream_index) : std::nullopt;
  MediaIndexCache::Impl* cache = key ? cache_->impl_.get() : nullptr;
  if (cache) {
    scan_ = cache->find_or_claim(*key);
    if (scan_) {
      if (cache->on_notice)
        cache->on_notice({file_.path(), false, scan_->keyframe_times.size(), 0});
      return *scan_;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  try {
    scan_ = std::make_shared<const PacketScan>(scan_packets(file_, facts_, cancel_, progress_));
  } catch (...) {
    if (cache) cache->release(*key);
    throw;
  }
  if (cache) {
    cache->store(*key, scan_);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (cache->on_notice) {
      cache->on_notice({file_.path(), true, scan_->keyframe_times.size(), seconds});
    }
  }
  return *scan_;
}

}  // namespace internal
}  // namespace clipmind::decode
