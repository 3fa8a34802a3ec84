#include "models/hub/downloader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <system_error>
#include <thread>

#include <curl/curl.h>
#include <unistd.h>

#include "clipmind/atomic_file.h"
#include "clipmind/error.h"
#include "models/hub/hf_cache.h"
#include "models/hub/http_client.h"
#include "models/hub/model_folder.h"
#include "models/hub/sha256.h"

#ifndef CLIPMIND_VERSION
#define CLIPMIND_VERSION "dev"
#endif

namespace clipmind::models::hub {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto kProgressInterval = std::chrono::milliseconds(100);
constexpr auto kMaxRetryDelay = std::chrono::milliseconds(30'000);

// Percent-encodes all but RFC 3986's unreserved characters (and '/' when keep_slash), as
// huggingface_hub's quote() does for revisions (keep_slash false) and file names (true).
std::string url_quote(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// "https://host:port" of a URL, for the Hub's relative redirects ("/new-org/name/resolve/...").
std::string origin_of(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

bool is_sha256_hex(std::string_view etag) {
  return etag.size() == 64 && std::all_of(etag.begin(), etag.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

std::optional<int64_t> parse_size(const std::string& text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    return std::nullopt;
  }
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

int64_t file_size_or_zero(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

bool path_exists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

void remove_file(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) throw Error(ErrorKind::kIo, path.string() + ": cannot remove: " + ec.message());
}

// What the Hub says about one file of the pinned revision.
struct FileMeta {
  std::string name;
  std::string commit;
  std::string etag;  // blob name: sha256 for LFS files, git blob sha1 otherwise
  int64_t size = 0;
  bool lfs = false;
};

// RAII for the .incomplete file's FILE*.
struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FileHandle = std::unique_ptr<std::FILE, FileCloser>;

class SnapshotDownloader {
 public:
  SnapshotDownloader(const RepoSpec& spec, const HubOptions& options,
                     const ProgressCallback& progress, const CancelToken& cancel)
      : spec_(spec),
        options_(options),
        progress_(progress),
        cancel_(cancel),
        cache_(options.cache_dir),
        client_(HttpClientSettings{.user_agent = std::string("clipmind/") + CLIPMIND_VERSION +
                                                 "; libcurl/" +
                                                 curl_version_info(CURLVERSION_NOW)->version,
                                   .token = options.token,
                                   .connect_timeout = options.connect_timeout,
                                   .stall_timeout = options.stall_timeout},
                cancel) {}

  DownloadResult run() {
    // The first request resolves the revision to a commit; every later one is pinned to it.
    const FileMeta config = *fetch_meta(spec_.revision, kConfigFile, true);
    commit_ = config.commit;
    std::vector<FileMeta> files = {config};

    if (auto index = fetch_meta(commit_, kWeightsIndexFile, false)) {
      // The index names the shards, so it is fetched before the others (it is small); its
      // bytes join the progress totals once those are known.
      const bool index_is_new = !path_exists(cache_.blob_path(spec_.repo_id, index->etag));
      const int64_t done_before = done_;
      fetch_blob(*index);
      if (index_is_new) {
        total_ += index->size;
        done_ = done_before + index->size;
      }
      cache_.link_snapshot_file(spec_.repo_id, commit_, index->name, index->etag);
      files.push_back(*index);
      for (const auto& shard :
           read_safetensors_index(cache_.blob_path(spec_.repo_id, index->etag))) {
        files.push_back(*fetch_meta(commit_, shard, true));
      }
    } else if (auto single = fetch_meta(commit_, kSingleWeightsFile, false)) {
      files.push_back(*single);
    } else {
      throw Error(ErrorKind::kNotFound, where() + ": the repo has neither " + kSingleWeightsFile +
                                            " nor " + kWeightsIndexFile +
                                            " (clipmind reads .safetensors weights only)");
    }
    std::vector<std::string> absent;
    for (const auto& name : optional_model_files()) {
      if (auto meta = fetch_meta(commit_, name, false)) {
        files.push_back(*meta);
      } else {
        absent.push_back(name);
      }
    }

    // Progress covers the bytes still to fetch; partial files from an earlier run count as done.
    for (const auto& file : files) {
      if (path_exists(cache_.blob_path(spec_.repo_id, file.etag))) continue;
      total_ += file.size;
      done_ +=
          std::min(file.size, file_size_or_zero(cache_.incomplete_path(spec_.repo_id, file.etag)));
    }
    totals_known_ = true;
    report(kConfigFile, true);

    DownloadResult result;
    for (const auto& file : files) {
      cancel_.throw_if_cancelled();
      fetch_blob(file);
      cache_.link_snapshot_file(spec_.repo_id, commit_, file.name, file.etag);
      result.files.push_back(file.name);
    }
    for (const auto& name : absent)
      cache_.mark_missing(spec_.repo_id, commit_, name);
    cache_.write_ref(spec_.repo_id, spec_.revision, commit_);
    report(files.back().name, true);

    result.commit = commit_;
    result.snapshot_dir = cache_.snapshot_dir(spec_.repo_id, commit_);
    result.bytes_downloaded = received_;
    return result;
  }

 private:
  std::string where() const { return spec_.repo_id + "@" + spec_.revision; }

  // A write to the cache failed (full disk, quota): the repo file, the cache file and the reason.
  // The bytes written so far stay under the .incomplete name, which is never used as a model.
  Error disk_error(const FileMeta& meta, const std::string& write_error) const {
    return Error(ErrorKind::kIo, where() + ": " + meta.name + ": " + write_error +
                                     "; the partial file is kept (never used as complete) and "
                                     "the next run resumes it");
  }

  std::string file_url(const std::string& revision, const std::string& file) const {
    return options_.endpoint + "/" + spec_.repo_id + "/resolve/" + url_quote(revision, false) +
           "/" + url_quote(file, true);
  }

  // HEAD of one file; nullopt when an optional file does not exist at the revision.
  std::optional<FileMeta> fetch_meta(const std::string& revision, const std::string& name,
                                     bool required) {
    cancel_.throw_if_cancelled();
    std::string url = file_url(revision, name);
    HttpResult head;
    for (int hop = 0;; ++hop) {
      head = client_.head(url);
      if (head.failure != TransportFailure::kNone) throw_transport(head, url, name);
      const std::string location = head.header("location");
      // The Hub redirects renamed repos with a relative Location; absolute ones go to the CDN
      // and carry the metadata already (X-Linked-Etag, X-Linked-Size).
      if (head.status >= 300 && head.status < 400 && location.starts_with("/") && hop < 5) {
        url = origin_of(url) + location;
        continue;
      }
      break;
    }
    if (head.status == 404 && !required) {
      const std::string code = head.header("x-error-code");
      if (code != "RepoNotFound" && code != "RevisionNotFound") return std::nullopt;
    }
    if (head.status >= 400 || head.status < 200) throw_http(head, url, name);

    FileMeta meta;
    meta.name = name;
    meta.commit = head.header("x-repo-commit");
    std::string etag = head.header("x-linked-etag");
    if (etag.empty()) etag = head.header("etag");
    meta.etag = normalize_etag(etag);
    std::string size = head.header("x-linked-size");
    if (size.empty()) size = head.header("content-length");
    const auto parsed_size = parse_size(size);

    if (!is_commit_hash(meta.commit)) {
      throw Error(ErrorKind::kNetwork,
                  url +
                      ": the server sent no valid X-Repo-Commit header, so it does not look like "
                      "a Hugging Face hub; check HF_ENDPOINT (now " +
                      options_.endpoint + ")");
    }
    if (!is_valid_etag(meta.etag)) {
      throw Error(ErrorKind::kNetwork, url + ": the server sent no usable ETag (\"" + etag + "\")");
    }
    if (!parsed_size) {
      throw Error(ErrorKind::kNetwork, url +
                                           ": the server sent no file size (X-Linked-Size or "
                                           "Content-Length)");
    }
    if (!commit_.empty() && meta.commit != commit_) {
      throw Error(ErrorKind::kNetwork, url + ": the server answered for commit " + meta.commit +
                                           " instead of the pinned " + commit_);
    }
    meta.size = *parsed_size;
    meta.lfs = is_sha256_hex(meta.etag);
    return meta;
  }

  // Downloads one blob into the cache unless it is there already; verifies before renaming.
  void fetch_blob(const FileMeta& meta) {
    const fs::path blob = cache_.blob_path(spec_.repo_id, meta.etag);
    if (path_exists(blob)) return;
    std::error_code ec;
    fs::create_directories(blob.parent_path(), ec);
    if (ec)
      throw Error(ErrorKind::kIo, blob.parent_path().string() + ": cannot create: " + ec.message());
    BlobLock lock(cache_.lock_path(spec_.repo_id, meta.etag), cancel_);
    if (path_exists(blob)) return;  // another process finished it while we waited for the lock

    const fs::path partial = cache_.incomplete_path(spec_.repo_id, meta.etag);
    const std::string url = file_url(commit_, meta.name);
    Sha256 hash;
    int64_t hashed = -1;  // bytes of `partial` fed into `hash`; -1: unknown, rehash from disk
    bool fresh_restart_done = false;
    auto delay = options_.retry_delay;

    for (int attempt = 0;; ++attempt) {
      int64_t offset = file_size_or_zero(partial);
      if (offset > meta.size) {
        discard(meta, partial, hashed);
        offset = 0;
      }
      if (meta.lfs && hashed != offset) {
        // Bytes from an earlier run (or a restart): hash what is on disk before appending.
        hash.reset();
        if (offset > 0) sha256_update_from_file(hash, partial, offset);
        hashed = offset;
      }
      const bool resumed_from_disk = offset > 0 && attempt == 0;

      std::string failure;  // why this attempt must be retried; empty when it completed
      if (offset < meta.size) {
        failure = transfer(meta, url, partial, offset, hash, hashed);
      }
      if (failure.empty()) {
        const int64_t have = file_size_or_zero(partial);
        if (have != meta.size) {
          discard(meta, partial, hashed);
          failure =
              "received " + std::to_string(have) + " bytes, expected " + std::to_string(meta.size);
        } else if (meta.lfs) {
          const std::string digest = hash.hex_digest();
          hashed = -1;  // the digest consumed the state
          if (digest != meta.etag) {
            discard(meta, partial, hashed);
            if (resumed_from_disk && !fresh_restart_done) {
              // The partial file from an earlier run may be what is wrong: one clean try.
              fresh_restart_done = true;
              continue;
            }
            throw Error(ErrorKind::kNetwork,
                        where() + ": " + meta.name + ": checksum mismatch: sha256 " + digest +
                            ", the server announced " + meta.etag +
                            "; the download was deleted (run again; if it persists the server or "
                            "a proxy is serving wrong data)");
          }
        }
      }
      if (failure.empty()) break;
      if (attempt >= options_.max_retries) {
        throw Error(
            ErrorKind::kNetwork,
            where() + ": " + meta.name + ": download failed after " + std::to_string(attempt + 1) +
                " attempt(s): " + failure +
                (path_exists(partial) ? "; the partial file is kept and the next run resumes it"
                                      : ""));
      }
      sleep_cancellable(delay);
      delay = std::min<std::chrono::milliseconds>(delay * 2, kMaxRetryDelay);
    }

    // The partial file was fsynced after every transfer (below).
    rename_into_place(partial, blob);
  }

  // One GET appending to `partial` from `offset`. Returns "" when the response completed, or
  // why the attempt should be retried; throws for what retrying cannot fix.
  std::string transfer(const FileMeta& meta, const std::string& url, const fs::path& partial,
                       int64_t offset, Sha256& hash, int64_t& hashed) {
    FileHandle file(std::fopen(partial.c_str(), "ab"));
    if (!file) {
      throw Error(ErrorKind::kIo,
                  partial.string() + ": cannot open for writing: " + std::strerror(errno));
    }
    std::string write_error;
    bool started = false;
    int64_t written = offset;

    const BodySink sink = [&](const HttpResult& response, const char* data, size_t size) {
      if (!started) {
        started = true;
        if (response.status == 200 && offset > 0) {
          // The server ignored the Range request: start the file over.
          if (::ftruncate(::fileno(file.get()), 0) != 0 ||
              std::fseek(file.get(), 0, SEEK_SET) != 0) {
            write_error = partial.string() + ": cannot truncate: " + std::strerror(errno);
            return false;
          }
          done_ -= offset;
          written = 0;
          hash.reset();
          hashed = 0;
        } else if (response.status == 206 &&
                   !range_starts_at(response.header("content-range"), offset)) {
          write_error = url + ": the server answered the Range request with the wrong range (" +
                        response.header("content-range") + ")";
          return false;
        }
      }
      if (written + static_cast<int64_t>(size) > meta.size) {
        write_error = url + ": the server sent more than the announced " +
                      std::to_string(meta.size) + " bytes";
        return false;
      }
      if (std::fwrite(data, 1, size, file.get()) != size) {
        write_error = partial.string() + ": cannot write: " + std::strerror(errno);
        return false;
      }
      if (meta.lfs) {
        hash.update(data, size);
        hashed += static_cast<int64_t>(size);
      }
      written += static_cast<int64_t>(size);
      received_ += static_cast<int64_t>(size);
      done_ += static_cast<int64_t>(size);
      report(meta.name, false);
      return true;
    };
    const std::function<void()> tick = [&] { report(meta.name, false); };

    const HttpResult result = client_.get(url, offset, sink, tick);
    // Flushed to the disk and closed (both checked) after every transfer, so a resumed download
    // never builds on bytes a full disk or quota only refused at fsync or close. errno is taken
    // at once: fclose may change it.
    int flush_errno = 0;
    if (std::fflush(file.get()) != 0) flush_errno = errno;
    if (flush_errno == 0) flush_errno = fsync_errno(::fileno(file.get()));
    if (std::fclose(file.release()) != 0 && flush_errno == 0) flush_errno = errno;

    if (cancel_.requested()) throw Cancelled();
    if (!write_error.empty()) {
      if (write_error.starts_with(partial.string())) throw disk_error(meta, write_error);
      discard(meta, partial, hashed);
      throw Error(ErrorKind::kNetwork, where() + ": " + meta.name + ": " + write_error);
    }
    if (flush_errno != 0) {
      throw disk_error(meta, partial.string() + ": cannot write: " + std::strerror(flush_errno));
    }

    switch (result.failure) {
      case TransportFailure::kNone:
        break;
      case TransportFailure::kBrokenOff:
        return "transfer broke off (" + result.transport_error + ")";
      case TransportFailure::kCannotConnect:
      case TransportFailure::kAborted:
      case TransportFailure::kOther:
        throw_transport(result, url, meta.name);
    }
    if (result.status == 416) {
      // Nothing left to send from `offset`: complete already, or the partial file is wrong.
      if (offset == meta.size) return "";
      discard(meta, partial, hashed);
      return "the server refused to resume at byte " + std::to_string(offset);
    }
    if (result.status >= 500 || result.status == 429) {
      return "HTTP " + std::to_string(result.status) + " from " +
             HttpClient::host_of(result.effective_url);
    }
    if (!result.ok()) throw_http(result, url, meta.name);
    if (written < meta.size) return "the connection closed early";
    return "";
  }

  // Deletes a partial file that cannot be completed, taking its bytes out of the progress.
  void discard(const FileMeta& meta, const fs::path& partial, int64_t& hashed) {
    done_ -= std::min(meta.size, file_size_or_zero(partial));
    remove_file(partial);
    hashed = -1;
  }

  static bool range_starts_at(const std::string& content_range, int64_t offset) {
    // "bytes <first>-<last>/<total>"
    const size_t space = content_range.find(' ');
    const size_t dash = content_range.find('-');
    if (space == std::string::npos || dash == std::string::npos || dash < space) return false;
    const auto first = parse_size(content_range.substr(space + 1, dash - space - 1));
    return first && *first == offset;
  }

  void report(const std::string& file, bool force) {
    if (!progress_ || !totals_known_) return;
    const auto now = Clock::now();
    if (!force && now - last_report_ < kProgressInterval) return;
    last_report_ = now;
    progress_(ProgressEvent{.stage = "download", .done = done_, .total = total_, .detail = file});
  }

  void sleep_cancellable(std::chrono::milliseconds delay) {
    const auto until = Clock::now() + delay;
    while (Clock::now() < until) {
      cancel_.throw_if_cancelled();
      std::this_thread::sleep_for(
          std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(50)));
    }
    cancel_.throw_if_cancelled();
  }

  [[noreturn]] void throw_transport(const HttpResult& result, const std::string& url,
                                    const std::string& name) const {
    if (result.failure == TransportFailure::kAborted && cancel_.requested()) throw Cancelled();
    const std::string host = HttpClient::host_of(url);
    if (result.failure == TransportFailure::kCannotConnect) {
      throw Error(ErrorKind::kNetwork,
                  where() + ": cannot reach " + host + " (" + result.transport_error +
                      "): check the network connection; set HF_HUB_OFFLINE=1 to use only the "
                      "local Hugging Face cache, or HF_ENDPOINT to use a mirror");
    }
    throw Error(ErrorKind::kNetwork, where() + ": " + name + ": request to " + host +
                                         " failed: " + result.transport_error);
  }

  [[noreturn]] void throw_http(const HttpResult& result, const std::string& url,
                               const std::string& name) const {
    const std::string status = std::to_string(result.status);
    const std::string code = result.header("x-error-code");
    std::string server_says = result.header("x-error-message");
    if (!server_says.empty()) server_says = " (server: " + server_says + ")";
    const std::string repo_page = options_.endpoint + "/" + spec_.repo_id;

    if (result.status == 401 || result.status == 403) {
      std::string hint;
      if (options_.token.empty()) {
        hint =
            "no token was sent: set HF_TOKEN (or run `huggingface-cli login`) to a token with "
            "read access; the repo may be private or gated, or may not exist";
      } else {
        hint =
            "the token (HF_TOKEN or the saved login) was refused or lacks access to this "
            "repo; the repo may be private or gated, or may not exist";
      }
      if (code == "GatedRepo" || result.status == 403) {
        hint += "; for a gated repo, accept its conditions on " + repo_page +
                " with the account the token belongs to";
      }
      throw Error(ErrorKind::kNetwork, where() + ": " + name + ": HTTP " + status + " from " + url +
                                           ": " + hint + server_says);
    }
    if (result.status == 404) {
      std::string what = "no such repo or file";
      if (code == "RepoNotFound") what = "no such repo (or it is private: set HF_TOKEN)";
      if (code == "RevisionNotFound") what = "no such revision \"" + spec_.revision + "\"";
      if (code == "EntryNotFound") what = "no such file in the repo";
      throw Error(ErrorKind::kNotFound, where() + ": " + what + ": " + name + " (HTTP 404 from " +
                                            url + ")" + server_says);
    }
    throw Error(ErrorKind::kNetwork,
                where() + ": " + name + ": HTTP " + status + " from " + url + server_says);
  }

  const RepoSpec& spec_;
  const HubOptions& options_;
  const ProgressCallback& progress_;
  CancelToken cancel_;
  HfCache cache_;
  HttpClient client_;
  std::string commit_;
  int64_t total_ = 0;
  int64_t done_ = 0;
  int64_t received_ = 0;
  bool totals_known_ = false;
  Clock::time_point last_report_{};
};

}  // namespace

bool downloads_supported() {
  return true;
}

DownloadResult download_snapshot(const RepoSpec& spec, const HubOptions& options,
                                 const ProgressCallback& progress, const CancelToken& cancel) {
  if (!is_valid_repo_id(spec.repo_id) || !is_valid_revision(spec.revision)) {
    throw Error(ErrorKind::kInvalidArgument, "not a valid Hugging Face repo id and revision: \"" +
                                                 spec.repo_id + "@" + spec.revision + "\"");
  }
  if (options.offline) {
    throw Error(ErrorKind::kInvalidArgument,
                spec.repo_id + ": download requested while offline (" + options.offline_why + ")");
  }
  SnapshotDownloader downloader(spec, options, progress, cancel);
  return downloader.run();
}

}  // namespace clipmind::models::hub
