// Streaming SHA-256 (OpenSSL EVP), used to verify downloaded LFS files against their ETag.
// Built only with CLIPMIND_WITH_CURL (downloads are its only user). Throws clipmind::Error
// (kInternal) if OpenSSL fails, kIo when a file cannot be read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace clipmind::models::hub {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t size);
  // Lower-case hex digest; the object starts over afterwards.
  std::string hex_digest();
  // Starts over, discarding what was fed.
  void reset();

 private:
  struct Free {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, Free> ctx_;
};

// Feeds the first `size` bytes of `file` into `hash` (all of it when size < 0).
void sha256_update_from_file(Sha256& hash, const std::filesystem::path& file, int64_t size = -1);

}  // namespace clipmind::models::hub
