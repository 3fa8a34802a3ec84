// Reads and writes NumPy .npy files (format versions 1.0-3.0, C order, little-endian).
//
// Used for test fixtures, `clipmind llm-eval` / `merge-eval` inputs and outputs, and for
// exchanging tensors with other tools. The file is untrusted: a malformed header, an
// unsupported dtype or a size that does not match the shape throws clipmind::Error naming
// the file. Torch-free; see npy_tensor.h for conversion to and from at::Tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace clipmind::models {

enum class NpyDtype { kFloat32, kFloat64, kFloat16, kInt8, kUInt8, kInt32, kInt64, kBool };

// Size in bytes of one element, and the NumPy descr ("<f4", "|u1", ...).
size_t npy_dtype_size(NpyDtype dtype);
std::string npy_dtype_descr(NpyDtype dtype);

struct NpyArray {
  NpyDtype dtype = NpyDtype::kFloat32;
  std::vector<int64_t> shape;
  std::vector<std::byte> data;  // C order, little-endian

  int64_t numel() const;

  // Typed view of the data; throws if T does not match dtype.
  template <typename T>
  std::span<const T> values() const;
};

NpyArray read_npy(const std::filesystem::path& path);
NpyArray parse_npy(std::span<const std::byte> bytes, const std::string& name_for_errors);

// Writes atomically (temporary file + rename).
void write_npy(const std::filesystem::path& path, const NpyArray& array);
std::vector<std::byte> serialize_npy(const NpyArray& array);

// Builds an array from typed values; throws if the shape does not match the count.
template <typename T>
NpyArray make_npy(std::vector<int64_t> shape, std::span<const T> values);

}  // namespace clipmind::models
