#include "pipeline/content_hash.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <openssl/evp.h>

#include "clipmind/error.h"

namespace clipmind::pipeline {

namespace {

constexpr uint64_t kWholeFileLimit = 8ull << 20;
constexpr uint64_t kEdge = 1ull << 20;
constexpr uint64_t kBlock = 64ull << 10;
constexpr int kBlocks = 64;
constexpr uint64_t kFullChunk = 4ull << 20;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
struct DigestFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
      throw Error(ErrorKind::kInternal, "SHA-256 is not available from OpenSSL");
    }
  }
  void update(const void* data, size_t size) {
    if (size > 0) EVP_DigestUpdate(ctx_.get(), data, size);
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &length);
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
      out += kDigits[digest[i] >> 4];
      out += kDigits[digest[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, DigestFree> ctx_;
};

[[noreturn]] void io_error(const std::filesystem::path& path, const char* what) {
  const int err = errno;
  throw Error(ErrorKind::kIo, path.string() + ": " + what + ": " + std::strerror(err));
}

}  // namespace

ContentHashMode parse_content_hash_mode(std::string_view text) {
  if (text == "sampled") return ContentHashMode::kSampled;
  if (text == "full") return ContentHashMode::kFull;
  throw Error(ErrorKind::kInvalidArgument,
              "unknown content hash mode '" + std::string(text) + "' (sampled or full)");
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 sha;
  sha.update(bytes.data(), bytes.size());
  return sha.hex();
}

ContentHash content_hash(const std::filesystem::path& path, ContentHashMode mode,
                         const CancelToken& cancel) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    throw Error(ErrorKind::kNotFound, path.string() + ": no such file");
  }
  if (!std::filesystem::is_regular_file(status)) {
    throw Error(ErrorKind::kInvalidArgument, path.string() + ": not a regular file");
  }
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) io_error(path, "cannot open");
  if (std::fseek(file.get(), 0, SEEK_END) != 0) io_error(path, "cannot seek");
  const long end = std::ftell(file.get());
  if (end < 0) io_error(path, "cannot seek");
  const auto size = static_cast<uint64_t>(end);

  ContentHash result;
  result.size = size;
  Sha256 sha;
  const bool sampled = mode == ContentHashMode::kSampled;
  const char* tag = sampled ? "clipmind-content-sampled-v1" : "clipmind-content-full-v1";
  sha.update(tag, std::strlen(tag) + 1);
  unsigned char size_le[8];
  for (int i = 0; i < 8; ++i)
    size_le[i] = static_cast<unsigned char>(size >> (8 * i));
  sha.update(size_le, sizeof size_le);

  std::vector<unsigned char> buffer;
  auto read_range = [&](uint64_t offset, uint64_t length) {
    cancel.throw_if_cancelled();
    buffer.resize(length);
    if (std::fseek(file.get(), static_cast<long>(offset), SEEK_SET) != 0) {
      io_error(path, "cannot seek");
    }
    const size_t got = std::fread(buffer.data(), 1, length, file.get());
    if (got != length) {
      // The file shrank while we read it (still being written): hash what is there would give a
      // key for bytes that no longer exist, so fail instead.
      if (std::ferror(file.get())) io_error(path, "cannot read");
      throw Error(ErrorKind::kIo, path.string() + ": file changed while it was being hashed");
    }
    sha.update(buffer.data(), got);
    result.bytes_read += got;
  };

  if (!sampled || size <= kWholeFileLimit) {
    for (uint64_t offset = 0; offset < size; offset += kFullChunk) {
      read_range(offset, std::min(kFullChunk, size - offset));
    }
  } else {
    read_range(0, kEdge);
    // Blocks evenly spaced over the middle [kEdge, size - kEdge - kBlock].
    const uint64_t first = kEdge;
    const uint64_t last = size - kEdge - kBlock;
    for (int i = 0; i < kBlocks; ++i) {
      const uint64_t offset = first + (last - first) * static_cast<uint64_t>(i) / (kBlocks - 1);
      read_range(offset, kBlock);
    }
    read_range(size - kEdge, kEdge);
  }
  result.hex = std::string(sampled ? "s1-" : "f1-") + sha.hex().substr(0, 32);
  return result;
}

}  // namespace clipmind::pipeline
