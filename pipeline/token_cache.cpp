#include "pipeline/token_cache.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "clipmind/atomic_file.h"
#include "clipmind/error.h"
#include "pipeline/content_hash.h"

namespace clipmind::pipeline {

using nlohmann::json;

namespace {

constexpr char kMagic[8] = {'C', 'M', 'T', 'O', 'K', 'E', 'N', '1'};
constexpr size_t kDigestHex = 64;
constexpr size_t kDigestBytes = 32;

int64_t dtype_size(const std::string& dtype) {
  if (dtype == "float32" || dtype == "int32") return 4;
  if (dtype == "float16" || dtype == "bfloat16" || dtype == "int16") return 2;
  if (dtype == "float64" || dtype == "int64") return 8;
  if (dtype == "uint8" || dtype == "int8" || dtype == "bool") return 1;
  return 0;
}

std::string digest_bytes(std::string_view data) {
  const std::string hex = sha256_hex(data);
  std::string out(kDigestBytes, '\0');
  for (size_t i = 0; i < kDigestBytes; ++i) {
    out[i] = static_cast<char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  }
  return out;
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get_u64(const std::string& in, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

[[noreturn]] void broken(const std::string& why) {
  throw Error(ErrorKind::kInvalidInput, "token cache entry: " + why);
}

}  // namespace

int64_t CacheArray::elements() const {
  int64_t n = 1;
  for (const int64_t d : shape)
    n *= d;
  return n;
}

const CacheArray* CacheEntry::find(const std::string& name) const {
  for (const CacheArray& a : arrays) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

uint64_t CacheEntry::payload_bytes() const {
  uint64_t n = 0;
  for (const CacheArray& a : arrays)
    n += a.bytes.size();
  return n;
}

std::string make_cache_key(const std::map<std::string, std::string>& parts) {
  std::string key;
  for (const auto& [name, value] : parts) {
    if (name.find_first_of("=\n") != std::string::npos || value.find('\n') != std::string::npos) {
      throw Error(ErrorKind::kInvalidArgument,
                  "cache key part '" + name + "' has a newline or '='");
    }
    key += name + "=" + value + "\n";
  }
  return key;
}

std::string encode_cache_file(const std::string& key, const CacheEntry& entry) {
  json header;
  header["key"] = key;
  header["meta"] = entry.meta;
  json arrays = json::array();
  uint64_t offset = 0;
  for (const CacheArray& a : entry.arrays) {
    const int64_t item = dtype_size(a.dtype);
    if (item == 0) {
      throw Error(ErrorKind::kInvalidArgument, "token cache: unknown dtype '" + a.dtype + "'");
    }
    if (static_cast<uint64_t>(a.elements() * item) != a.bytes.size()) {
      throw Error(ErrorKind::kInvalidArgument,
                  "token cache: array '" + a.name + "' has " + std::to_string(a.bytes.size()) +
                      " bytes, its shape needs " + std::to_string(a.elements() * item));
    }
    arrays.push_back({{"name", a.name},
                      {"dtype", a.dtype},
                      {"shape", a.shape},
                      {"offset", offset},
                      {"bytes", a.bytes.size()}});
    offset += a.bytes.size();
  }
  header["arrays"] = std::move(arrays);
  const std::string header_text = header.dump();
  std::string out(kMagic, sizeof kMagic);
  put_u64(out, header_text.size());
  out += header_text;
  out.reserve(out.size() + offset + kDigestBytes);
  for (const CacheArray& a : entry.arrays)
    out += a.bytes;
  out += digest_bytes(out);
  return out;
}

CacheEntry decode_cache_file(const std::string& bytes, const std::string& expected_key) {
  const size_t fixed = sizeof kMagic + 8;
  if (bytes.size() < fixed + kDigestBytes)
    broken("truncated (" + std::to_string(bytes.size()) + " bytes)");
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) broken("not a clipmind token file");
  const std::string_view body(bytes.data(), bytes.size() - kDigestBytes);
  if (digest_bytes(body) != bytes.substr(bytes.size() - kDigestBytes)) {
    broken("checksum mismatch (truncated or corrupted)");
  }
  const uint64_t header_size = get_u64(bytes, sizeof kMagic);
  if (header_size > body.size() - fixed) broken("header length out of range");
  json header;
  try {
    header = json::parse(body.substr(fixed, header_size));
  } catch (const json::exception& e) {
    broken(std::string("bad header: ") + e.what());
  }
  try {
    if (header.at("key").get<std::string>() != expected_key) broken("stored under another key");
    CacheEntry entry;
    entry.meta = header.at("meta").get<std::string>();
    const size_t payload = fixed + header_size;
    for (const json& a : header.at("arrays")) {
      CacheArray array;
      array.name = a.at("name").get<std::string>();
      array.dtype = a.at("dtype").get<std::string>();
      array.shape = a.at("shape").get<std::vector<int64_t>>();
      const auto offset = a.at("offset").get<uint64_t>();
      const auto size = a.at("bytes").get<uint64_t>();
      const int64_t item = dtype_size(array.dtype);
      if (item == 0) broken("unknown dtype '" + array.dtype + "'");
      for (const int64_t d : array.shape) {
        if (d < 0) broken("negative dimension in '" + array.name + "'");
      }
      if (static_cast<uint64_t>(array.elements() * item) != size ||
          payload + offset + size > body.size()) {
        broken("array '" + array.name + "' does not fit the file");
      }
      array.bytes.assign(body.substr(payload + offset, size));
      entry.arrays.push_back(std::move(array));
    }
    return entry;
  } catch (const json::exception& e) {
    broken(std::string("bad header: ") + e.what());
  }
}

struct TokenCache::Impl {
  mutable std::mutex mutex;
  Stats stats;
  bool warned_write = false;  // one warning per cache: an unwritable folder fails every frame
};

TokenCache::TokenCache(std::filesystem::path dir, uint64_t max_bytes, Logger log)
    : dir_(std::move(dir)),
      max_bytes_(max_bytes),
      log_(std::move(log)),
      impl_(std::make_unique<Impl>()) {}

TokenCache::~TokenCache() = default;

std::filesystem::path TokenCache::path_for(const std::string& key) const {
  const std::string hash = sha256_hex(key).substr(0, 40);
  return dir_ / "tokens" / hash.substr(0, 2) / (hash + ".cmt");
}

TokenCache::Stats TokenCache::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

bool TokenCache::contains(const std::string& key) const {
  std::error_code ec;
  return std::filesystem::is_regular_file(path_for(key), ec);
}

void TokenCache::remove_damaged(const std::filesystem::path& file, const std::string& why) {
  std::error_code ec;
  std::filesystem::remove(file, ec);
  {
    std::lock_guard lock(impl_->mutex);
    ++impl_->stats.damaged;
    ++impl_->stats.misses;
  }
  log_.warning("cache", file.string() + ": " + why + "; removed, the tokens will be recomputed");
}

std::optional<CacheEntry> TokenCache::get(const std::string& key) {
  const std::filesystem::path file = path_for(key);
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::lock_guard lock(impl_->mutex);
    ++impl_->stats.misses;
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::string bytes = text.str();
  try {
    CacheEntry entry = decode_cache_file(bytes, key);
    std::error_code ec;
    std::filesystem::last_write_time(file, std::filesystem::file_time_type::clock::now(), ec);
    std::lock_guard lock(impl_->mutex);
    ++impl_->stats.hits;
    impl_->stats.bytes_read += bytes.size();
    return entry;
  } catch (const Error& e) {
    remove_damaged(file, e.what());
    return std::nullopt;
  }
}

bool TokenCache::put(const std::string& key, const CacheEntry& entry) {
  const std::filesystem::path file = path_for(key);
  try {
    const std::string bytes = encode_cache_file(key, entry);
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) {
      throw Error(ErrorKind::kIo, file.parent_path().string() + ": cannot create: " + ec.message());
    }
    // No fsync (clipmind/atomic_file.h, Durability::kReaderVerifies): every entry ends in a
    // SHA-256 of itself, so one a crash leaves short or empty is a miss, recomputed; an fsync
    // per encoded frame cost a small caption run a fifth of its time. close() is still checked.
    write_file_atomically(file, bytes, Durability::kReaderVerifies);
    std::lock_guard lock(impl_->mutex);
    ++impl_->stats.writes;
    impl_->stats.bytes_written += bytes.size();
    return true;
  } catch (const Error& e) {
    bool first = false;
    {
      std::lock_guard lock(impl_->mutex);
      ++impl_->stats.write_errors;
      first = !impl_->warned_write;
      impl_->warned_write = true;
    }
    const std::string message = std::string("cannot store encoded tokens (") + e.what() + ")";
    if (first) {
      log_.warning("cache", message +
                                "; continuing without the cache (further failures are logged "
                                "with --verbose only)");
    } else {
      log_.debug("cache", message);
    }
    return false;
  }
}

uint64_t TokenCache::trim() {
  namespace fs = std::filesystem;
  struct Item {
    fs::path path;
    uint64_t size;
    fs::file_time_type time;
  };
  std::vector<Item> items;
  uint64_t total = 0;
  uint64_t removed = 0;
  const auto now = fs::file_time_type::clock::now();
  std::error_code ec;
  const fs::path root = dir_ / "tokens";
  if (!fs::is_directory(root, ec)) return 0;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const fs::path& p = it->path();
    const uint64_t size = it->file_size(ec);
    const auto time = it->last_write_time(ec);
    if (ec) {
      ec.clear();
      continue;
    }
    if (p.filename().string().find(".part-") != std::string::npos) {
      if (now - time > std::chrono::hours(1) && fs::remove(p, ec)) removed += size;
      continue;
    }
    if (p.extension() != ".cmt") continue;
    items.push_back({p, size, time});
    total += size;
  }
  if (max_bytes_ == 0 || total <= max_bytes_) return removed;
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return a.time < b.time; });
  for (const Item& item : items) {
    if (total <= max_bytes_) break;
    if (fs::remove(item.path, ec)) {
      total -= item.size;
      removed += item.size;
    }
  }
  if (removed > 0) {
    log_.debug("cache", "evicted " + std::to_string(removed) + " bytes of old entries");
  }
  return removed;
}

}  // namespace clipmind::pipeline
