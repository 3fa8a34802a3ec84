#include "index/ann_cache.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <system_error>

#include "clipmind/atomic_file.h"
#include "clipmind/error.h"

namespace clipmind::index {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifestMagic = "clipmind-ann-manifest 1";

// A fast 64-bit checksum of a file's bytes (four independent multiply-rotate lanes over 8-byte
// words, like xxHash's inner loop): it catches damage, not attackers. Reads at disk speed, so
// checking a file costs about as much as loading it again. nullopt when unreadable.
std::optional<std::pair<uint64_t, uint64_t>> file_checksum(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL, kP2 = 0xC2B2AE3D27D4EB4FULL;
  uint64_t lane[4] = {kP1, kP2, kP1 ^ kP2, kP1 + kP2};
  const auto round = [](uint64_t acc, uint64_t word) {
    acc += word * kP2;
    acc = (acc << 31) | (acc >> 33);
    return acc * kP1;
  };
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  for (;;) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = static_cast<size_t>(in.gcount());
    if (got == 0) break;
    size_t i = 0;
    for (; i + 32 <= got; i += 32) {
      for (int l = 0; l < 4; ++l) {
        uint64_t w = 0;
        std::memcpy(&w, buf.data() + i + 8 * l, 8);
        lane[l] = round(lane[l], w);
      }
    }
    for (; i < got; ++i)  // only at the very end: every read but the last fills the buffer
      lane[i % 4] = round(lane[i % 4], static_cast<unsigned char>(buf[i]) + 1);
    total += got;
    if (got < buf.size()) break;
  }
  if (in.bad()) return std::nullopt;
  uint64_t h = total * kP1;
  for (uint64_t l : lane)
    h = round(h ^ l, l);
  return std::make_pair(total, h);
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

AnnCache::AnnCache(fs::path prefix, AnnParams params, std::vector<fs::path> read_prefixes)
    : prefix_(std::move(prefix)), read_prefixes_(std::move(read_prefixes)), params_(params) {}

void AnnCache::reset() {
  index_.reset();
  uuid_.clear();
  model_id_.clear();
  generation_ = 0;
  persisted_generation_ = 0;
  pending_ = 0;
}

fs::path AnnCache::file_for(const std::string& uuid, uint64_t generation) const {
  fs::path file = prefix_;
  file += ".ann-" + uuid + "-" + std::to_string(generation) + ".hnsw";
  return file;
}

fs::path AnnCache::manifest_for(const fs::path& file) {
  fs::path m = file;
  m += ".meta";
  return m;
}

void AnnCache::write_manifest(const fs::path& file) const {
  const auto sum = file_checksum(file);
  if (!sum) throw Error(ErrorKind::kIo, file.string() + ": cannot read back the ANN index");
  std::ostringstream out;
  out << kManifestMagic << "\nidentity " << uuid_ << "\ngeneration " << generation_ << "\ndim "
      << index_->dim() << "\nmodel " << model_id_ << "\nbytes " << sum->first << "\nchecksum "
      << hex64(sum->second) << "\n";
  AtomicFile manifest(manifest_for(file));
  manifest.write(out.str());
  manifest.commit();
}

std::string AnnCache::check_manifest(const fs::path& file, uint64_t generation,
                                     const AnnSourceState& state) const {
  std::ifstream in(manifest_for(file));
  if (!in) return "no manifest beside it (written by an older clipmind, or interrupted)";
  std::string magic;
  std::getline(in, magic);
  if (magic != kManifestMagic) return "its manifest is not a clipmind ANN manifest";
  std::map<std::string, std::string> fields;
  for (std::string line; std::getline(in, line);) {
    const auto space = line.find(' ');
    fields[line.substr(0, space)] = space == std::string::npos ? "" : line.substr(space + 1);
  }
  if (fields["identity"] != state.db_uuid) {
    return "it belongs to another database (" + fields["identity"] + ")";
  }
  if (fields["generation"] != std::to_string(generation))
    return "its manifest's generation differs";
  if (fields["dim"] != std::to_string(state.dim)) {
    return "it holds " + fields["dim"] + "-dim vectors, the database " + std::to_string(state.dim) +
           "-dim";
  }
  if (fields["model"] != state.model_id) {
    return "it holds vectors of model '" + fields["model"] + "', the database of '" +
           state.model_id + "'";
  }
  const auto sum = file_checksum(file);
  if (!sum) return "it cannot be read";
  if (std::to_string(sum->first) != fields["bytes"]) {
    return "it has " + std::to_string(sum->first) + " bytes, its manifest says " + fields["bytes"] +
           " (truncated?)";
  }
  if (hex64(sum->second) != fields["checksum"]) return "its checksum does not match (damaged)";
  return {};
}

std::vector<std::pair<uint64_t, fs::path>> AnnCache::files(const std::string& uuid) const {
  std::vector<std::pair<uint64_t, fs::path>> out;
  const auto scan = [&](const fs::path& prefix) {
    if (prefix.empty()) return;
    const fs::path dir = prefix.has_parent_path() ? prefix.parent_path() : fs::path(".");
    const std::string head = prefix.filename().string() + ".ann-" + uuid + "-";
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.size() <= head.size() + 5 || name.compare(0, head.size(), head) != 0 ||
          !name.ends_with(".hnsw")) {
        continue;
      }
      const std::string_view digits(name.data() + head.size(), name.size() - head.size() - 5);
      uint64_t generation = 0;
      const auto [end, err] =
          std::from_chars(digits.data(), digits.data() + digits.size(), generation);
      if (err != std::errc() || end != digits.data() + digits.size()) continue;
      out.emplace_back(generation, it->path());
    }
  };
  scan(prefix_);
  for (const auto& prefix : read_prefixes_)
    scan(prefix);
  // Newest first; at equal generations our own copy (scanned first) stays ahead.
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
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
  vectors_streamed_ += delta.added_ids.size();
}

AnnIndex* AnnCache::sync(const AnnSourceState& state, const FetchFn& fetch) {
  if (state.dim <= 0) {
    index_.reset();
    last_path_ = "empty";
    return nullptr;
  }
  const bool same_db =
      index_ && uuid_ == state.db_uuid && index_->dim() == state.dim && model_id_ == state.model_id;
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
      std::string why = check_manifest(file, generation, state);
      if (why.empty()) {
        try {
          index_ = AnnIndex::load(file, state.dim, params_);
        } catch (const Error& e) {
          why = e.what();
        }
      }
      if (!why.empty()) {
        // Damaged or foreign: never searched; an older file or a rebuild will do.
        note_ = file.string() + " not used: " + why;
        continue;
      }
      persisted_generation_ = generation;
      vectors_from_file_ += index_->live_count();
      last_file_ = file;
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
  model_id_ = state.model_id;
  generation_ = state.generation;
  return index_.get();
}

void AnnCache::describe(StoreInfo& info) const {
  info.ann_sync = last_path_;
  info.ann_file = last_file_;
  info.ann_vectors_from_file = vectors_from_file_;
  info.ann_vectors_streamed = vectors_streamed_;
  info.ann_note = note_;
}

uint64_t AnnCache::persist(bool force) {
  if (prefix_.empty() || !index_) return 0;
  const bool on_disk =
      persisted_generation_ == generation_ && fs::exists(file_for(uuid_, generation_));
  if (on_disk) return generation_;
  const size_t threshold = std::max<size_t>(1000, index_->live_count() / 100);
  if (!force && persisted_generation_ != 0 && pending_ < threshold) return persisted_generation_;
  const fs::path file = file_for(uuid_, generation_);
  if (prefix_.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(prefix_.parent_path(), ec);
    if (ec) {
      throw Error(ErrorKind::kIo,
                  prefix_.parent_path().string() +
                      ": cannot create the folder for the ANN copy: " + ec.message());
    }
  }
  index_->save(file);
  try {
    write_manifest(file);
  } catch (...) {
    // A file without its manifest is never loaded: it would only hold space (a full disk is
    // the likely reason the manifest failed).
    std::error_code ignored;
    fs::remove(file, ignored);
    throw;
  }
  persisted_generation_ = generation_;
  last_file_ = file;
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
    fs::remove(manifest_for(entry.path()), ignored);
  }
  return generation_;
}

uint64_t trim_ann_cache_dir(const fs::path& root, uint64_t max_bytes, const fs::path& keep) {
  if (max_bytes == 0) return 0;
  struct Folder {
    fs::path path;
    uint64_t bytes = 0;
    fs::file_time_type used;
  };
  std::vector<Folder> folders;
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::error_code entry_ec;
    const std::string name = it->path().filename().string();
    if (!it->is_directory(entry_ec) || !(name.starts_with("pg-") || name.starts_with("sqlite-")))
      continue;
    Folder folder{it->path(), 0, fs::last_write_time(it->path(), entry_ec)};
    if (entry_ec) continue;
    for (auto f = fs::recursive_directory_iterator(folder.path, entry_ec);
         !entry_ec && f != fs::recursive_directory_iterator(); f.increment(entry_ec)) {
      std::error_code size_ec;
      if (f->is_regular_file(size_ec)) {
        const uint64_t size = f->file_size(size_ec);
        if (!size_ec) folder.bytes += size;
      }
    }
    total += folder.bytes;
    folders.push_back(std::move(folder));
  }
  if (total <= max_bytes) return 0;
  std::sort(folders.begin(), folders.end(),
            [](const Folder& a, const Folder& b) { return a.used < b.used; });
  // `keep` may be spelt differently ("a/./b/", a link): the same folder either way.
  const auto normal = [](const fs::path& p) {
    fs::path n = p.lexically_normal();
    return n.has_filename() ? n : n.parent_path();
  };
  const auto is_kept = [&](const fs::path& folder) {
    std::error_code same_ec;
    return normal(folder) == normal(keep) || fs::equivalent(folder, keep, same_ec);
  };
  uint64_t removed = 0;
  for (const Folder& folder : folders) {
    if (total <= max_bytes) break;
    if (is_kept(folder.path)) continue;
    std::error_code remove_ec;
    fs::remove_all(folder.path, remove_ec);
    if (remove_ec) continue;
    total -= folder.bytes;
    removed += folder.bytes;
  }
  return removed;
}

}  // namespace clipmind::index
