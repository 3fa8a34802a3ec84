#include "models/hub/sha256.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include <openssl/evp.h>

#include "clipmind/error.h"

namespace clipmind::models::hub {

void Sha256::Free::operator()(evp_md_ctx_st* ctx) const {
  EVP_MD_CTX_free(ctx);
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_) throw Error(ErrorKind::kInternal, "sha256: EVP_MD_CTX_new failed");
  reset();
}

Sha256::~Sha256() = default;

void Sha256::reset() {
  if (EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorKind::kInternal, "sha256: EVP_DigestInit_ex failed");
  }
}

void Sha256::update(const void* data, size_t size) {
  if (size > 0 && EVP_DigestUpdate(ctx_.get(), data, size) != 1) {
    throw Error(ErrorKind::kInternal, "sha256: EVP_DigestUpdate failed");
  }
}

std::string Sha256::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), digest, &length) != 1) {
    throw Error(ErrorKind::kInternal, "sha256: EVP_DigestFinal_ex failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  reset();
  return hex;
}

void sha256_update_from_file(Sha256& hash, const std::filesystem::path& file, int64_t size) {
  std::FILE* in = std::fopen(file.c_str(), "rb");
  if (!in) {
    throw Error(ErrorKind::kIo,
                file.string() + ": cannot open for reading: " + std::strerror(errno));
  }
  std::vector<char> buffer(1 << 20);
  int64_t left = size;
  while (size < 0 || left > 0) {
    const size_t want =
        size < 0 ? buffer.size() : static_cast<size_t>(std::min<int64_t>(left, buffer.size()));
    const size_t got = std::fread(buffer.data(), 1, want, in);
    if (got == 0) break;
    hash.update(buffer.data(), got);
    left -= static_cast<int64_t>(got);
  }
  const bool failed = std::ferror(in) != 0 || (size >= 0 && left > 0);
  std::fclose(in);
  if (failed)
    throw Error(ErrorKind::kIo, file.string() + ": read failed or file shorter than expected");
}

}  // namespace clipmind::models::hub
