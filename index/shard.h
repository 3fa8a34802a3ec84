// `--shard i/n`: splits a list of files between n independent workers (array jobs) without a
// database queue. A path belongs to shard `fmix64(fnv1a64(path)) mod n`, so every worker, on any
// machine, agrees without talking to the others, and every path lands in exactly one shard.
// Paths are hashed byte for byte: give every worker the same spelling (absolute paths).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace clipmind::index {

struct Shard {
  uint32_t index = 0;  // 0-based
  uint32_t count = 1;
};

// Parses "i/n" with 0 <= i < n (e.g. "0/4" ... "3/4"). Throws Error(kInvalidArgument).
Shard parse_shard(std::string_view text);

// 64-bit FNV-1a: stable across machines, compilers and runs (std::hash is not).
uint64_t stable_path_hash(std::string_view path);

bool in_shard(std::string_view path, const Shard& shard);

// The paths of `paths` that belong to `shard`, in their original order.
std::vector<std::string> select_shard(const std::vector<std::string>& paths, const Shard& shard);

}  // namespace clipmind::index
