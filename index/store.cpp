#include "index/store.h"

#include <chrono>
#include <cmath>

#include "clipmind/error.h"
#include "index/ann_index.h"
#include "index/sqlite_store.h"
#include "index/store_common.h"
#ifdef CLIPMIND_INDEX_HAVE_POSTGRES
#include "index/pg_store.h"
#endif

namespace clipmind::index {

namespace fs = std::filesystem;

const char* to_string(VideoStatus status) {
  switch (status) {
    case VideoStatus::kInProgress:
      return "in_progress";
    case VideoStatus::kIndexed:
      return "indexed";
    case VideoStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

const char* to_string(Freshness freshness) {
  switch (freshness) {
    case Freshness::kNew:
      return "new";
    case Freshness::kUnchanged:
      return "unchanged";
    case Freshness::kChanged:
      return "changed";
    case Freshness::kIncomplete:
      return "incomplete";
    case Freshness::kFailedBefore:
      return "failed-before";
    case Freshness::kOutdated:
      return "outdated";
  }
  return "unknown";
}

bool is_postgres_uri(const std::string& location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::string redact_uri(const std::string& uri) {
  const auto scheme = uri.find("://");
  if (scheme == std::string::npos) return uri;
  const auto at = uri.find('@', scheme + 3);
  const auto slash = uri.find('/', scheme + 3);
  std::string out = uri;
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    const auto colon = uri.find(':', scheme + 3);
    if (colon != std::string::npos && colon < at) {
      out = uri.substr(0, colon + 1) + "***" + uri.substr(at);
    }
  }
  // password=... in the query string
  const auto pw = out.find("password=");
  if (pw != std::string::npos) {
    const auto end = out.find('&', pw);
    out = out.substr(0, pw + 9) + "***" + (end == std::string::npos ? "" : out.substr(end));
  }
  return out;
}

std::unique_ptr<Store> open_store(const std::string& location, const OpenOptions& options) {
  if (location.empty()) throw Error(ErrorKind::kInvalidArgument, "no index database given");
  if (is_postgres_uri(location)) {
#ifdef CLIPMIND_INDEX_HAVE_POSTGRES
    return open_pg_store(location, options);
#else
    throw Error(ErrorKind::kUnsupported,
                redact_uri(location) + ": this clipmind was built without PostgreSQL support");
#endif
  }
  const auto scheme = location.find("://");
  if (scheme != std::string::npos && location.find('/') > scheme) {
    throw Error(ErrorKind::kInvalidArgument,
                redact_uri(location) +
                    ": unsupported index location (use a SQLite file path or postgresql://...)");
  }
  std::string path = location;
  if (path.starts_with("sqlite:")) path = path.substr(7);
  return open_sqlite_store(path, options);
}

std::vector<std::string> prune_missing(Store& store, std::span<const fs::path> roots) {
  std::vector<std::string> gone;
  for (const auto& video : store.list_videos()) {
    bool under = roots.empty();
    for (const auto& root : roots) {
      const std::string r = root.string();
      if (video.path == r ||
          (video.path.starts_with(r) && (r.ends_with('/') || video.path[r.size()] == '/'))) {
        under = true;
        break;
      }
    }
    std::error_code ec;
    if (under && !fs::exists(video.path, ec) && !ec) gone.push_back(video.path);
  }
  if (!gone.empty()) store.remove_videos(gone);
  return gone;
}

FreshnessDecision decide_freshness(const std::optional<VideoRecord>& stored, int64_t size_bytes,
                                   int64_t mtime_ns, const std::function<std::string()>& hash) {
  if (!stored) return {Freshness::kNew, false};
  if (stored->status == VideoStatus::kInProgress) return {Freshness::kIncomplete, false};
  const Freshness same = stored->status != VideoStatus::kIndexed       ? Freshness::kFailedBefore
                         : stored->segments_version < kSegmentsVersion ? Freshness::kOutdated
                                                                       : Freshness::kUnchanged;
  if (stored->stamp.size_bytes != size_bytes) return {Freshness::kChanged, false};
  if (stored->stamp.mtime_ns == mtime_ns) return {same, false};
  if (hash && hash() == stored->stamp.content_hash) return {same, true};
  return {Freshness::kChanged, false};
}

PreparedSegments prepare_segments(std::span<const Segment> segments, const std::string& where,
                                  const std::string& video) {
  PreparedSegments out;
  out.embeddings.reserve(segments.size());
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto& s = segments[i];
    const std::string which = where + ": " + video + ": segment " + std::to_string(i) + ": ";
    if (!std::isfinite(s.t_begin) || !std::isfinite(s.t_end) || s.t_begin > s.t_end ||
        s.t_begin < 0) {
      throw Error(ErrorKind::kInvalidArgument, which + "bad time span [" +
                                                   std::to_string(s.t_begin) + ", " +
                                                   std::to_string(s.t_end) + "]");
    }
    if (s.embedding.empty()) throw Error(ErrorKind::kInvalidArgument, which + "no embedding");
    if (i == 0) out.dim = static_cast<int>(s.embedding.size());
    if (s.embedding.size() != static_cast<size_t>(out.dim)) {
      throw Error(ErrorKind::kInvalidArgument,
                  which + "embedding has " + std::to_string(s.embedding.size()) +
                      " dims, the video's first segment has " + std::to_string(out.dim));
    }
    std::vector<float> e = s.embedding;
    try {
      normalize_in_place(e);
    } catch (const Error& err) {
      throw Error(ErrorKind::kInvalidArgument, which + err.what());
    }
    out.embeddings.push_back(std::move(e));
  }
  return out;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace clipmind::index
