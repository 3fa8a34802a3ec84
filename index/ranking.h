// Query handling shared by every store: splitting a text query into caption search words,
// reciprocal rank fusion of the vector and caption lists, and the search procedure itself
// (vector list from the ANN index or exact search, text list from the store's full-text index).
//
// Pure functions over ids and scores; throws clipmind::Error(kInvalidArgument) for a query
// embedding of the wrong dimension.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "index/ann_index.h"
#include "index/store.h"

namespace clipmind::index {

// Words of a free-text query for caption matching: runs of letters/digits (any non-ASCII byte
// counts as a letter), lower-cased ASCII, duplicates removed, in first-seen order. Operators
// and punctuation never reach the full-text engine, so no query can be a syntax error.
std::vector<std::string> query_words(std::string_view text);

struct RankedItem {
  int64_t id = 0;
  double score = 0.0;
  std::optional<double> similarity;
  std::optional<size_t> vector_rank;
  std::optional<size_t> text_rank;
};

// Reciprocal rank fusion of a vector list (best first) and a text list (best first); returns the
// best `k`, by fused score, then similarity, then id.
std::vector<RankedItem> fuse_rrf(const std::vector<Neighbor>& vector_list,
                                 const std::vector<int64_t>& text_list, const FusionParams& params,
                                 size_t k);

// Where the vector list comes from: the in-memory index (ann_source) or a server (pgvector).
struct VectorSource {
  int dim = 0;
  size_t live = 0;  // segments searchable; decides exact vs ANN under SearchMode::kAuto
  // (normalised query, depth, exact?, ef) -> best `depth` neighbours, best first.
  std::function<std::vector<Neighbor>(std::span<const float>, size_t, bool, size_t)> search;
};

VectorSource ann_source(const AnnIndex& ann);

// Runs a query: normalises its embedding, takes `candidates` from `vectors` (exact search when
// the mode or the size says so; null when the store holds no embeddings) and from
// `text_search(words, limit)`, drops excluded ids, fuses.
std::vector<RankedItem> rank_segments(
    const SearchQuery& query, const VectorSource* vectors, size_t exact_search_below,
    const std::function<std::vector<int64_t>(const std::vector<std::string>&, size_t)>&
        text_search);

}  // namespace clipmind::index
