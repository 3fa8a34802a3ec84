// The on-disk cache of encoded visual tokens, so a second question about the same video (or a
// re-run of a caption batch) skips decoding and encoding.
//
// An entry is a set of named arrays (raw little-endian bytes with a dtype and a shape) plus a
// JSON metadata string, stored under a key string. The encode stage builds keys from the video's
// content hash (content_hash.h), the model id and every setting that changes the tokens (see
// make_cache_key and docs/pipeline.md "Token cache"); this class only stores bytes.
//
// Files: <dir>/tokens/<2 hex>/<40 hex of SHA-256(key)>.cmt, each
//   "CMTOKEN1" | u64 header length | header JSON {key, meta, arrays: [{name, dtype, shape,
//   offset, bytes}]} | array bytes | 32-byte SHA-256 of everything before it.
// Writes go through AtomicFile (temp file + rename), so readers never see half an entry; they are
// not fsynced (the checksum catches what a crash or a disk that fails only at writeback leaves;
// a failed close() is a write error). A file
// that is truncated, fails its checksum, has a different key inside or cannot be parsed counts
// as a miss: it is removed and a warning is logged; it never fails the job. Write errors (full
// disk, read-only folder) are logged and ignored for the same reason. Hits refresh the file's
// modification time; trim() evicts least recently used entries above max_bytes and removes
// temporary files left by crashed writers. Safe to use from several threads and processes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/log.h"

namespace clipmind::pipeline {

struct CacheArray {
  std::string name;
  std::string dtype;  // "float32", "float16", "bfloat16", "int64", "uint8", ...
  std::vector<int64_t> shape;
  std::string bytes;  // raw data, row-major

  int64_t elements() const;
};

struct CacheEntry {
  std::string meta;  // JSON text owned by the writer of the entry
  std::vector<CacheArray> arrays;

  const CacheArray* find(const std::string& name) const;
  uint64_t payload_bytes() const;
};

// A canonical key from named parts (sorted by name, so the order of insertion never matters):
// {"model": "...", "video": "s1-..."} -> "model=...\nvideo=s1-...\n". Values must not contain
// a newline (kInvalidArgument).
std::string make_cache_key(const std::map<std::string, std::string>& parts);

class TokenCache {
 public:
  struct Stats {
    int64_t hits = 0;
    int64_t misses = 0;
    int64_t damaged = 0;  // files found broken and removed
    int64_t writes = 0;
    int64_t write_errors = 0;
    uint64_t bytes_read = 0;
    uint64_t bytes_written = 0;
  };

  // dir: the cache root (resolve_cache_dir()); max_bytes: trim() target (0 = no limit).
  TokenCache(std::filesystem::path dir, uint64_t max_bytes, Logger log = {});
  ~TokenCache();
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  std::optional<CacheEntry> get(const std::string& key);
  bool contains(const std::string& key) const;
  // Stores the entry; returns false (after logging) when it could not be written.
  bool put(const std::string& key, const CacheEntry& entry);
  // Removes least recently used entries until the total is at most max_bytes, and temporary
  // files older than an hour. Returns the bytes removed.
  uint64_t trim();

  std::filesystem::path path_for(const std::string& key) const;
  const std::filesystem::path& dir() const { return dir_; }
  Stats stats() const;

 private:
  struct Impl;
  std::filesystem::path dir_;
  uint64_t max_bytes_;
  Logger log_;
  std::unique_ptr<Impl> impl_;
  void remove_damaged(const std::filesystem::path& file, const std::string& why);
};

// Serialises an entry to the file format above (exposed for tests) and parses one back; parsing
// throws clipmind::Error(kInvalidInput) saying what is wrong.
std::string encode_cache_file(const std::string& key, const CacheEntry& entry);
CacheEntry decode_cache_file(const std::string& bytes, const std::string& expected_key);

}  // namespace clipmind::pipeline
