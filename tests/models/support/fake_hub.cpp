#include "tests/models/support/fake_hub.h"

#include <stdexcept>

#include <openssl/evp.h>

namespace clipmind::test {
namespace {

std::string digest_hex(const EVP_MD* md, const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, md, nullptr) != 1) {
    throw std::runtime_error("EVP_Digest failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

std::string url_decode(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

HttpReply error_reply(int status, const std::string& code, const std::string& message) {
  HttpReply reply;
  reply.status = status;
  reply.headers = {{"X-Error-Code", code}, {"X-Error-Message", message}};
  reply.body = "{\"error\":\"" + message + "\"}";
  return reply;
}

}  // namespace

std::string sha256_hex(const std::string& data) {
  return digest_hex(EVP_sha256(), data);
}

std::string git_blob_sha1_hex(const std::string& data) {
  std::string object = "blob " + std::to_string(data.size());
  object.push_back('\0');
  return digest_hex(EVP_sha1(), object + data);
}

FakeHub::FakeHub(std::string repo_id, std::string commit)
    : repo_id_(std::move(repo_id)), commit_(std::move(commit)) {
  refs_["main"] = commit_;
}

void FakeHub::add_file(const std::string& name, std::string content, bool lfs) {
  std::lock_guard lock(mutex_);
  File file;
  file.content = std::move(content);
  file.lfs = lfs;
  file.sha256 = sha256_hex(file.content);
  file.git_sha1 = git_blob_sha1_hex(file.content);
  files_[name] = std::move(file);
}

void FakeHub::add_ref(const std::string& revision) {
  std::lock_guard lock(mutex_);
  refs_[revision] = commit_;
}

void FakeHub::require_token(std::string token) {
  std::lock_guard lock(mutex_);
  token_ = std::move(token);
}

void FakeHub::cut_next_get(const std::string& file, size_t bytes) {
  std::lock_guard lock(mutex_);
  cut_[file] = bytes;
}

void FakeHub::stall_next_get(const std::string& file, size_t bytes) {
  std::lock_guard lock(mutex_);
  stall_[file] = bytes;
}

void FakeHub::corrupt(const std::string& file) {
  std::lock_guard lock(mutex_);
  corrupt_[file] = true;
}

void FakeHub::fail_next_gets(const std::string& file, int status, int count) {
  std::lock_guard lock(mutex_);
  fail_[file] = {status, count};
}

void FakeHub::add_alias(std::string old_repo_id) {
  std::lock_guard lock(mutex_);
  alias_ = std::move(old_repo_id);
}

void FakeHub::ignore_ranges(bool ignore) {
  std::lock_guard lock(mutex_);
  ignore_ranges_ = ignore;
}

std::string FakeHub::content_path(const std::string& name) const {
  std::lock_guard lock(mutex_);
  const File& file = files_.at(name);
  return file.lfs ? "/cdn/" + file.sha256 : "/" + repo_id_ + "/resolve/" + commit_ + "/" + name;
}

std::string FakeHub::etag_of(const std::string& name) const {
  std::lock_guard lock(mutex_);
  const File& file = files_.at(name);
  return file.lfs ? file.sha256 : file.git_sha1;
}

HttpReply FakeHub::serve_content(const File& file, const std::string& name) {
  HttpReply reply;
  if (auto it = fail_.find(name); it != fail_.end() && it->second.second > 0) {
    --it->second.second;
    return error_reply(it->second.first, "", "temporarily unavailable");
  }
  reply.body = file.content;
  if (corrupt_.count(name) && !reply.body.empty()) reply.body[reply.body.size() / 2] ^= 0x5a;
  reply.ranges = !ignore_ranges_;
  if (auto it = cut_.find(name); it != cut_.end()) {
    reply.cut_after = it->second;
    cut_.erase(it);
  }
  if (auto it = stall_.find(name); it != stall_.end()) {
    reply.stall_after = it->second;
    stall_.erase(it);
  }
  return reply;
}

void FakeHub::set_cdn_url(std::string url) {
  std::lock_guard lock(mutex_);
  cdn_url_ = std::move(url);
}

HttpReply FakeHub::handle(const HttpRequest& request) {
  std::lock_guard lock(mutex_);
  const std::string path = request.target.substr(0, request.target.find('?'));

  if (path.starts_with("/cdn/")) {
    const std::string sha = path.substr(5);
    for (const auto& [name, file] : files_) {
      if (file.lfs && file.sha256 == sha) {
        HttpReply reply = request.method == "HEAD" ? HttpReply{} : serve_content(file, name);
        if (request.method == "HEAD") reply.body = file.content;
        reply.headers.emplace_back("ETag", "\"" + sha + "\"");
        return reply;
      }
    }
    return error_reply(404, "EntryNotFound", "no such object");
  }

  if (!alias_.empty() && path.starts_with("/" + alias_ + "/resolve/")) {
    HttpReply reply;
    reply.status = 307;
    reply.headers = {{"Location", "/" + repo_id_ + path.substr(alias_.size() + 1)}};
    return reply;
  }

  // /<org>/<name>/resolve/<rev>/<file...>
  const std::string prefix = "/" + repo_id_ + "/resolve/";
  if (!path.starts_with(prefix)) {
    return error_reply(404, "RepoNotFound", "Repository not found");
  }
  if (!token_.empty() && request.header("authorization") != "Bearer " + token_) {
    return error_reply(
        401, "GatedRepo",
        "Access to model " + repo_id_ + " is restricted. You must be authenticated.");
  }
  const std::string rest = path.substr(prefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string::npos) return error_reply(404, "EntryNotFound", "no file");
  const std::string revision = url_decode(rest.substr(0, slash));
  const std::string name = url_decode(rest.substr(slash + 1));
  if (revision != commit_ && !refs_.count(revision)) {
    return error_reply(404, "RevisionNotFound", "Invalid rev id: " + revision);
  }
  const auto it = files_.find(name);
  if (it == files_.end()) {
    HttpReply reply = error_reply(404, "EntryNotFound", "Entry not found");
    reply.headers.emplace_back("X-Repo-Commit", commit_);
    return reply;
  }
  const File& file = it->second;
  if (file.lfs) {
    HttpReply reply;
    reply.status = 302;
    reply.headers = {{"Location", cdn_url_ + "/cdn/" + file.sha256},
                     {"X-Linked-Etag", "\"" + file.sha256 + "\""},
                     {"X-Linked-Size", std::to_string(file.content.size())},
                     {"X-Repo-Commit", commit_},
                     {"ETag", "W/\"" + git_blob_sha1_hex("pointer of " + name) + "\""}};
    return reply;
  }
  HttpReply reply = request.method == "HEAD" ? HttpReply{} : serve_content(file, name);
  if (request.method == "HEAD") reply.body = file.content;
  reply.headers.emplace_back("ETag", "\"" + file.git_sha1 + "\"");
  reply.headers.emplace_back("X-Repo-Commit", commit_);
  return reply;
}

}  // namespace clipmind::test
