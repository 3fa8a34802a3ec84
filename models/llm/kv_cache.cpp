#include "models/llm/kv_cache.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "clipmind/error.h"

namespace clipmind::models {

int64_t KvCache::layer_size(int layer) const {
  return layers_.at(static_cast<size_t>(layer)).size;
}

const std::vector<int64_t>& KvCache::layer_positions(int layer) const {
  return layers_.at(static_cast<size_t>(layer)).positions;
}

void KvCache::truncate(int64_t length) {
  if (length < 0 || length > length_) {
    throw Error(ErrorKind::kInvalidArgument, "KV cache: cannot truncate to " +
                                                 std::to_string(length) + " (it holds " +
                                                 std::to_string(length_) + " positions)");
  }
  for (auto& layer : layers_) {
    const auto end = std::lower_bound(layer.positions.begin(), layer.positions.end(), length);
    layer.positions.erase(end, layer.positions.end());
    layer.size = static_cast<int64_t>(layer.positions.size());
  }
  length_ = length;
}

void KvCache::init(int num_layers, int64_t kv_heads, int64_t head_dim, at::TensorOptions options) {
  layers_.assign(static_cast<size_t>(num_layers), Layer{});
  kv_heads_ = kv_heads;
  head_dim_ = head_dim;
  options_ = options;
  length_ = 0;
}

void KvCache::ensure_capacity(Layer& layer, int64_t needed) {
  const int64_t capacity = layer.k.defined() ? layer.k.size(1) : 0;
  if (needed <= capacity) return;
  // Grow geometrically so token-by-token decoding copies O(n) in total.
  int64_t grown = std::max<int64_t>({needed, capacity + capacity / 2, 256});
  grown = (grown + 255) / 256 * 256;
  at::Tensor k = at::empty({kv_heads_, grown, head_dim_}, options_);
  at::Tensor v = at::empty({kv_heads_, grown, head_dim_}, options_);
  if (layer.size > 0) {
    k.narrow(1, 0, layer.size).copy_(layer.k.narrow(1, 0, layer.size));
    v.narrow(1, 0, layer.size).copy_(layer.v.narrow(1, 0, layer.size));
  }
  layer.k = std::move(k);
  layer.v = std::move(v);
}

void KvCache::reserve(int64_t entries) {
  for (auto& layer : layers_)
    ensure_capacity(layer, entries);
}

int64_t KvCache::allocated_bytes() const {
  int64_t total = 0;
  for (const auto& layer : layers_) {
    if (layer.k.defined()) total += static_cast<int64_t>(layer.k.nbytes() + layer.v.nbytes());
  }
  return total;
}

void KvCache::append(int index, const at::Tensor& k, const at::Tensor& v,
                     const std::vector<int64_t>& positions) {
  Layer& layer = layers_.at(static_cast<size_t>(index));
  const int64_t n = k.size(1);
  ensure_capacity(layer, layer.size + n);
  layer.k.narrow(1, layer.size, n).copy_(k);
  layer.v.narrow(1, layer.size, n).copy_(v);
  layer.size += n;
  layer.positions.insert(layer.positions.end(), positions.begin(), positions.end());
}

}  // namespace clipmind::models
