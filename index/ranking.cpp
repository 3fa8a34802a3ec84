#include "index/ranking.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "clipmind/error.h"

namespace clipmind::index {

std::vector<std::string> query_words(std::string_view text) {
  std::vector<std::string> words;
  std::unordered_set<std::string> seen;
  std::string word;
  auto flush = [&] {
    if (!word.empty() && seen.insert(word).second) words.push_back(word);
    word.clear();
  };
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || u >= 0x80) {
      word += c;
    } else if (u >= 'A' && u <= 'Z') {
      word += static_cast<char>(u - 'A' + 'a');
    } else {
      flush();
    }
  }
  flush();
  return words;
}

std::vector<RankedItem> fuse_rrf(const std::vector<Neighbor>& vector_list,
                                 const std::vector<int64_t>& text_list, const FusionParams& params,
                                 size_t k) {
  std::unordered_map<int64_t, RankedItem> items;
  for (size_t i = 0; i < vector_list.size(); ++i) {
    auto& item = items[vector_list[i].id];
    if (item.vector_rank) continue;
    item.id = vector_list[i].id;
    item.vector_rank = i + 1;
    item.similarity = vector_list[i].similarity;
    item.score += params.vector_weight / (params.rrf_k + static_cast<double>(i + 1));
  }
  for (size_t i = 0; i < text_list.size(); ++i) {
    auto& item = items[text_list[i]];
    if (item.text_rank) continue;
    item.id = text_list[i];
    item.text_rank = i + 1;
    item.score += params.text_weight / (params.rrf_k + static_cast<double>(i + 1));
  }
  std::vector<RankedItem> out;
  out.reserve(items.size());
  for (auto& [id, item] : items)
    out.push_back(item);
  std::sort(out.begin(), out.end(), [](const RankedItem& a, const RankedItem& b) {
    if (a.score != b.score) return a.score > b.score;
    const double sa = a.similarity.value_or(-2.0), sb = b.similarity.value_or(-2.0);
    if (sa != sb) return sa > sb;
    return a.id < b.id;
  });
  if (out.size() > k) out.resize(k);
  return out;
}

VectorSource ann_source(const AnnIndex& ann) {
  VectorSource s;
  s.dim = ann.dim();
  s.live = ann.live_count();
  s.search = [&ann](std::span<const float> q, size_t depth, bool exact, size_t ef) {
    return exact ? ann.exact_search(q, depth) : ann.search(q, depth, ef);
  };
  return s;
}

std::vector<RankedItem> rank_segments(
    const SearchQuery& query, const VectorSource* ann, size_t exact_search_below,
    const std::function<std::vector<int64_t>(const std::vector<std::string>&, size_t)>&
        text_search) {
  if (query.k == 0) return {};
  const size_t candidates = query.candidates ? query.candidates : std::max<size_t>(5 * query.k, 50);
  const std::unordered_set<int64_t> excluded(query.exclude_segments.begin(),
                                             query.exclude_segments.end());
  const size_t depth = candidates + excluded.size();

  std::vector<Neighbor> vector_list;
  if (!query.embedding.empty() && ann) {
    if (query.embedding.size() != static_cast<size_t>(ann->dim)) {
      throw Error(ErrorKind::kInvalidArgument,
                  "query embedding has " + std::to_string(query.embedding.size()) +
                      " dims but the index holds " + std::to_string(ann->dim) +
                      "-dim embeddings (was it made with another model?)");
    }
    std::vector<float> q = query.embedding;
    normalize_in_place(q);
    const bool exact = query.mode == SearchMode::kExact ||
                       (query.mode == SearchMode::kAuto && ann->live < exact_search_below);
    const size_t ef = query.ef_search ? query.ef_search : std::max<size_t>(2 * depth, 64);
    vector_list = ann->search(q, depth, exact, ef);
    std::erase_if(vector_list, [&](const Neighbor& n) { return excluded.contains(n.id); });
    if (vector_list.size() > candidates) vector_list.resize(candidates);
  }
  std::vector<int64_t> text_list;
  const auto words = query_words(query.text);
  if (!words.empty()) {
    text_list = text_search(words, depth);
    std::erase_if(text_list, [&](int64_t id) { return excluded.contains(id); });
    if (text_list.size() > candidates) text_list.resize(candidates);
  }
  return fuse_rrf(vector_list, text_list, query.fusion, query.k);
}

}  // namespace clipmind::index
