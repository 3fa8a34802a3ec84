#include "index/ann_cache.h"

#include <algorithm>
#include <charconv>
#include <system_error>

#include "clipmind/error.h"

namespace clipmind::index {

namespace fs = std::filesystem;

AnnCache::AnnCache(fs::path prefix, AnnParams params)
    : prefix_(std::move(prefix)), params_(params) {}

fs::path AnnCache::file_for(const std::string& uuid, uint64_t generation) const {
  fs::path file = prefix_;
  file += ".ann-" + uuid + "-" + std::to_string(generation) + ".hnsw";
  return file;
}

std::vector<std::pair<uint64_t, fs::path>> AnnCache::files(const std::string& uuid) const {
  std::vector<std::pair<uint64_t, fs::path>> out;
  if (prefix_.empty()) return out;
  const fs::path dir = prefix_.has_parent_path() ? prefix_.parent_path() : fs::path(".");
  const std::string head = prefix_.filename().string() + ".ann-" + uuid + "-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= head.size() + 5 || name.compare(0, head.size(), head) != 0 ||
        !name.ends_with(".hnsw")) {
      continue;
    }
    const std::string_view digits(name.data() + head.size(), name.size() - head.size() - 5);
    uint64_t generation = 0;
    const auto [end, err] =
        std::from_chars(digits.data(), digits.data() + digits.size(), generation);
    if (err != std::errc() || end != digits.data() + digits.size()) continue;
    out.emplace_back(generation, entry.path());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

void AnnCache::apply(const AnnDelta& delta, int dim) {
  for (int64_t id : delta.removed_ids)
    index_->remove(id);
  if (!delta.added_ids.empty()) {
    if (delta.added_vectors.size() != delta.added_ids.size() * static_cast<size_t>(dim)) {
      throw Error(ErrorKind::kInternal, "ANN sync: delta vectors do not match their ids");
    }
    index_->add(delta.added_ids, delta.added_vectors);
  }
  pending_ += delta.added_ids.size() + delta.removed_ids.size();
}

AnnIndex* AnnCache::sync(const AnnSourceState& state, const FetchFn& fetch) {
  if (state.dim <= 0) {
    index_.reset();
    last_path_ = "empty";
    return nullptr;
  }
  const bool same_db = index_ && uuid_ == state.db_uuid && index_->dim() == state.dim;
  if (same_db && generation_ == state.generation) {
    last_path_ = "current";
    return index_.get();
  }
  if (same_db && generation_ < state.generation && generation_ >= state.tombstones_after) {
    AnnDelta delta;
    fetch(generation_, false, delta);
    apply(delta, state.dim);
    last_path_ = "memory+delta";
  } else {
    index_.reset();
    pending_ = 0;
    persisted_generation_ = 0;
    for (const auto& [generation, file] : files(state.db_uuid)) {
      if (generation > state.generation || generation < state.tombstones_after) continue;
      try {
        index_ = AnnIndex::load(file, state.dim, params_);
      } catch (const Error&) {
        continue;  // damaged or foreign: an older file or a rebuild will do
      }
      persisted_generation_ = generation;
      last_path_ = "file";
      if (generation < state.generation) {
        AnnDelta delta;
        fetch(generation, false, delta);
        apply(delta, state.dim);
        last_path_ = "file+delta";
      }
      break;
    }
  }
  // Deleted HNSW nodes still cost search time; past a quarter of the index, start over.
  if (index_ && index_->deleted_count() > std::max<size_t>(1000, index_->live_count() / 4)) {
    index_.reset();
  }
  if (!index_) {
    index_ = std::make_unique<AnnIndex>(state.dim, static_cast<size_t>(state.live_segments) + 16,
                                        params_);
    AnnDelta delta;
    fetch(0, true, delta);
    apply(delta, state.dim);
    persisted_generation_ = 0;
    last_path_ = "rebuild";
  }
  uuid_ = state.db_uuid;
  generation_ = state.generation;
  return index_.get();
}

uint64_t AnnCache::persist(bool force) {
  if (prefix_.empty() || !index_) return 0;
  const bool on_disk =
      persisted_generation_ == generation_ && fs::exists(file_for(uuid_, generation_));
  if (on_disk) return generation_;
  const size_t threshold = std::max<size_t>(1000, index_->live_count() / 100);
  if (!force && persisted_generation_ != 0 && pending_ < threshold) return persisted_generation_;
  index_->save(file_for(uuid_, generation_));
  persisted_generation_ = generation_;
  pending_ = 0;
  // Older generations of this database and files of earlier databases at this path go.
  const fs::path dir = prefix_.has_parent_path() ? prefix_.parent_path() : fs::path(".");
  const std::string head = prefix_.filename().string() + ".ann-";
  const std::string keep_head = head + uuid_ + "-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(head) || !name.ends_with(".hnsw")) continue;
    if (name.starts_with(keep_head)) {
      uint64_t generation = 0;
      const char* begin = name.data() + keep_head.size();
      const char* end = name.data() + name.size() - 5;
      const auto [ptr, err] = std::from_chars(begin, end, generation);
      if (err != std::errc() || ptr != end || generation >= generation_) continue;
    }
    std::error_code ignored;
    fs::remove(entry.path(), ignored);
  }
  return generation_;
}

}  // namespace clipmind::index
