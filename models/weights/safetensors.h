// Reads and writes the safetensors format (https://github.com/huggingface/safetensors).
//
// SafetensorsFile memory-maps one file and validates its header up front: the header is
// untrusted input, so an absurd header length, malformed JSON, non-UTF-8 names, unknown dtypes,
// offsets outside the data region, overlapping tensors, or a byte size that does not match
// dtype x shape all throw clipmind::Error (kInvalidInput) naming the file and the tensor; no
// later access can read outside the mapping. The object owns the mapping; tensors returned by
// load() are independent copies (converted to the requested dtype and device), so they stay
// valid after the file is closed.
//
// write_safetensors() writes a file Hugging Face and llama.cpp read (header padded with spaces
// to a multiple of 8, `__metadata__` map), atomically (temporary file + rename).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace clipmind::models {

// The element types of the format. Loading converts the float types (F64/F32/F16/BF16) to
// any requested float dtype; integer and bool tensors load as their own type.
enum class StDtype { kF64, kF32, kF16, kBF16, kF8E4M3, kF8E5M2, kI64, kI32, kI16, kI8, kU8, kBool };

std::string_view st_dtype_name(StDtype dtype);  // "F32", "BF16", ...
size_t st_dtype_size(StDtype dtype);

struct StTensorInfo {
  std::string name;
  StDtype dtype = StDtype::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data region (after the header)
  uint64_t end = 0;

  int64_t numel() const;
};

// "name [2, 64] F32" style text for error messages.
std::string describe_shape(std::span<const int64_t> shape);

class SafetensorsFile {
 public:
  // Maps the file and validates the header; throws on any problem.
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;

  const std::filesystem::path& path() const;
  // All tensors, sorted by name.
  const std::vector<StTensorInfo>& tensors() const;
  // nullptr when absent.
  const StTensorInfo* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const;

  // The raw little-endian bytes of one tensor (inside the mapping; valid while *this lives).
  std::span<const std::byte> bytes(const StTensorInfo& info) const;

  // A new tensor with the stored values, converted to `dtype` (float tensors only; pass
  // at::ScalarType::Undefined to keep the stored type) and placed on `device`.
  at::Tensor load(std::string_view name, at::ScalarType dtype = at::kFloat,
                  at::Device device = at::kCPU) const;
  at::Tensor load(const StTensorInfo& info, at::ScalarType dtype = at::kFloat,
                  at::Device device = at::kCPU) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses and validates a header against a data region of `data_size` bytes. Exposed for tests
// and fuzzing; SafetensorsFile calls it. `file` names the source in error messages.
struct StHeader {
  std::vector<StTensorInfo> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
};
StHeader parse_safetensors_header(std::string_view json, uint64_t data_size,
                                  const std::string& file);

// Writes `tensors` (any device; float16/bfloat16/float32/float64/int/bool) in the given order.
// Names must be unique and non-empty. Throws kIo on write failure, leaving no partial file.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace clipmind::models
