// A fake Hugging Face hub for download tests, served by TestHttpServer on 127.0.0.1.
//
// It answers /<org>/<name>/resolve/<rev>/<file> the way huggingface.co does: small files with
// 200, ETag "<git blob sha1>" and X-Repo-Commit; LFS files with a 302 to <server>/cdn/<sha256>
// carrying X-Linked-Etag "<sha256>", X-Linked-Size and X-Repo-Commit (and, like the Hub, an
// unrelated ETag of the pointer file, so clients must prefer X-Linked-Etag); 404 with
// X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound; 401 (GatedRepo) when a token
// is required and missing or wrong. Hashes are computed here with OpenSSL directly, not with
// the code under test. Knobs make the next transfer of a file break off, stall, or carry
// corrupted bytes. Thread-safe: the server thread calls handle() while tests set knobs.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "tests/models/support/test_http_server.h"

namespace clipmind::test {

std::string sha256_hex(const std::string& data);
std::string git_blob_sha1_hex(const std::string& data);  // sha1("blob <size>\0" + data)

class FakeHub {
 public:
  FakeHub(std::string repo_id, std::string commit);

  void add_file(const std::string& name, std::string content, bool lfs);
  void add_ref(const std::string& revision);  // another branch/tag naming the same commit
  void require_token(std::string token);

  // The next GET of `file`'s content sends only `bytes` body bytes, then closes (or stalls).
  void cut_next_get(const std::string& file, size_t bytes);
  void stall_next_get(const std::string& file, size_t bytes);
  // The next `count` GETs of `file`'s content answer `status` (a 503 outage, say).
  void fail_next_gets(const std::string& file, int status, int count);
  // Requests for `old_repo_id` get the Hub's relative 307 redirect to this repo (a rename).
  void add_alias(std::string old_repo_id);
  // Serve `file` with one byte changed (same size), still announcing the true sha256.
  void corrupt(const std::string& file);
  // Answer Range requests with the whole file (200), as some proxies do.
  void ignore_ranges(bool ignore);

  // Where `file`'s bytes are served from: the /cdn/ path for LFS files, else resolve/main.
  std::string content_path(const std::string& file) const;
  std::string etag_of(const std::string& file) const;  // sha256 (LFS) or git sha1

  // Base URL LFS redirects point to ("http://127.0.0.1:<port>"): the hub's own server, or a
  // second server standing in for the CDN on another port.
  void set_cdn_url(std::string url);

  HttpReply handle(const HttpRequest& request);

 private:
  struct File {
    std::string content;
    bool lfs = false;
    std::string sha256;
    std::string git_sha1;
  };
  HttpReply serve_content(const File& file, const std::string& name);

  std::string repo_id_;
  std::string commit_;
  mutable std::mutex mutex_;
  std::map<std::string, File> files_;
  std::map<std::string, std::string> refs_;
  std::string token_;
  std::string cdn_url_;
  std::map<std::string, size_t> cut_;
  std::map<std::string, size_t> stall_;
  std::map<std::string, bool> corrupt_;
  std::map<std::string, std::pair<int, int>> fail_;
  std::string alias_;
  bool ignore_ranges_ = false;
};

}  // namespace clipmind::test
