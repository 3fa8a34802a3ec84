// An in-memory vector index over normalised embeddings keyed by segment id: HNSW search
// (hnswlib, inner-product space) and exact brute-force search over the same stored vectors,
// so both always see the same set. Persisted with save()/load() as hnswlib's file format.
//
// Owns its hnswlib graph (hidden behind a pimpl, hnswlib stays out of this header). Not safe
// to mutate while another thread searches; stores serialise their calls.
// Throws clipmind::Error: kInvalidInput for a damaged or mismatching file, kIo for writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "index/store.h"

namespace clipmind::index {

struct Neighbor {
  int64_t id = 0;
  float similarity = 0.0f;  // inner product of normalised vectors = cosine similarity
};

class AnnIndex {
 public:
  AnnIndex(int dim, size_t capacity, const AnnParams& params);
  ~AnnIndex();
  AnnIndex(const AnnIndex&) = delete;
  AnnIndex& operator=(const AnnIndex&) = delete;

  // Loads a file written by save(); checks that it holds `dim`-dimensional vectors.
  static std::unique_ptr<AnnIndex> load(const std::filesystem::path& file, int dim,
                                        const AnnParams& params);

  // Writes to a temporary file and renames it over `file`.
  void save(const std::filesystem::path& file) const;

  // Adds (or replaces) vectors; `vectors` holds ids.size() rows of dim() floats, already
  // normalised. Uses params.threads threads when there are many.
  void add(std::span<const int64_t> ids, std::span<const float> vectors);
  // Marks an id deleted; unknown or already deleted ids are ignored. Returns whether it was live.
  bool remove(int64_t id);

  std::vector<Neighbor> search(std::span<const float> query, size_t k, size_t ef) const;
  std::vector<Neighbor> exact_search(std::span<const float> query, size_t k) const;

  int dim() const { return dim_; }
  size_t live_count() const;
  size_t deleted_count() const;
  bool contains(int64_t id) const;

 private:
  struct Impl;
  AnnIndex(int dim, std::unique_ptr<Impl> impl, const AnnParams& params);
  void reserve(size_t total);

  int dim_;
  AnnParams params_;
  std::unique_ptr<Impl> impl_;
};

// Scales `v` to unit length. Throws kInvalidArgument for a zero or non-finite vector.
void normalize_in_place(std::span<float> v);

}  // namespace clipmind::index
