#include "index/shard.h"

#include <charconv>

#include "clipmind/error.h"

namespace clipmind::index {

Shard parse_shard(std::string_view text) {
  const auto bad = [&] {
    return Error(ErrorKind::kInvalidArgument,
                 "bad shard '" + std::string(text) +
                     "': expected i/n with 0 <= i < n, e.g. 0/4 (shards are numbered from 0)");
  };
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) throw bad();
  Shard s;
  const auto parse = [&](std::string_view part, uint32_t& out) {
    const auto [end, err] = std::from_chars(part.data(), part.data() + part.size(), out);
    if (part.empty() || err != std::errc() || end != part.data() + part.size()) throw bad();
  };
  parse(text.substr(0, slash), s.index);
  parse(text.substr(slash + 1), s.count);
  if (s.count == 0 || s.index >= s.count) throw bad();
  return s;
}

uint64_t stable_path_hash(std::string_view path) {
  uint64_t h = 14695981039346656037ull;
  for (char c : path) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

bool in_shard(std::string_view path, const Shard& shard) {
  // FNV's low bits are poorly mixed for paths that differ in one digit; murmur3's finaliser
  // spreads them so shards come out even.
  uint64_t h = stable_path_hash(path);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h % shard.count == shard.index;
}

std::vector<std::string> select_shard(const std::vector<std::string>& paths, const Shard& shard) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    if (in_shard(p, shard)) out.push_back(p);
  }
  return out;
}

}  // namespace clipmind::index
