// Key/value cache of one decoder sequence (batch size 1).
//
// Each layer stores the rotated keys and the values of the positions it has seen, in order,
// with their position ids. Normally every layer holds every position; after an inner-LLM
// reduction (compress/merge/layer_reducer.h) the layers from K on hold only the kept positions,
// at their original position ids, while length() still counts the whole prompt, so decoding
// continues at the unreduced length. truncate() forgets everything at or after a position in
// every layer: a chat keeps a video prefix and drops later turns that way.
//
// A cache belongs to one Decoder (Decoder::new_cache()) and lives on its device. Not
// thread-safe; one sequence at a time.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace clipmind::models {

class Decoder;

class KvCache {
 public:
  KvCache() = default;

  // Position id the next token gets: the full (unreduced) length of what was fed.
  int64_t length() const { return length_; }
  // Entries stored in one layer (fewer than length() in reduced layers).
  int64_t layer_size(int layer) const;
  int num_layers() const { return static_cast<int>(layers_.size()); }
  // Position ids stored in one layer, ascending.
  const std::vector<int64_t>& layer_positions(int layer) const;

  // Drops every entry whose position is >= `length` and makes `length` the next position.
  // Throws kInvalidArgument when length is negative or beyond length().
  void truncate(int64_t length);
  void clear() { truncate(0); }

  // Reserves room for `entries` per layer so a long prefill does not reallocate.
  void reserve(int64_t entries);
  // Bytes allocated for keys and values.
  int64_t allocated_bytes() const;

 private:
  friend class Decoder;
  struct Layer {
    at::Tensor k;  // [kv_heads, capacity, head_dim]
    at::Tensor v;
    int64_t size = 0;
    std::vector<int64_t> positions;
  };
  void init(int num_layers, int64_t kv_heads, int64_t head_dim, at::TensorOptions options);
  void ensure_capacity(Layer& layer, int64_t needed);
  // Appends [kv_heads, n, head_dim] keys/values at the given positions.
  void append(int layer, const at::Tensor& k, const at::Tensor& v,
              const std::vector<int64_t>& positions);

  std::vector<Layer> layers_;
  int64_t kv_heads_ = 0;
  int64_t head_dim_ = 0;
  at::TensorOptions options_;
  int64_t length_ = 0;
};

}  // namespace clipmind::models
