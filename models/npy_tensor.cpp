#include "models/npy_tensor.h"

#include <ATen/ATen.h>

#include <cstring>

#include "clipmind/error.h"

namespace clipmind::models {
namespace {

at::ScalarType scalar_type_of(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kFloat32:
      return at::kFloat;
    case NpyDtype::kFloat64:
      return at::kDouble;
    case NpyDtype::kFloat16:
      return at::kHalf;
    case NpyDtype::kInt8:
      return at::kChar;
    case NpyDtype::kUInt8:
      return at::kByte;
    case NpyDtype::kInt32:
      return at::kInt;
    case NpyDtype::kInt64:
      return at::kLong;
    case NpyDtype::kBool:
      return at::kBool;
  }
  return at::kFloat;
}

NpyDtype npy_dtype_of(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return NpyDtype::kFloat32;
    case at::kDouble:
      return NpyDtype::kFloat64;
    case at::kHalf:
      return NpyDtype::kFloat16;
    case at::kChar:
      return NpyDtype::kInt8;
    case at::kByte:
      return NpyDtype::kUInt8;
    case at::kInt:
      return NpyDtype::kInt32;
    case at::kLong:
      return NpyDtype::kInt64;
    case at::kBool:
      return NpyDtype::kBool;
    default:
      throw Error(ErrorKind::kUnsupported,
                  std::string("cannot store tensors of type ") + at::toString(type) + " as .npy");
  }
}

}  // namespace

at::Tensor npy_to_tensor(const NpyArray& array) {
  at::Tensor tensor = at::empty(array.shape, at::TensorOptions().dtype(scalar_type_of(array.dtype)));
  if (!array.data.empty()) std::memcpy(tensor.data_ptr(), array.data.data(), array.data.size());
  return tensor;
}

NpyArray tensor_to_npy(const at::Tensor& tensor) {
  const at::Tensor cpu = tensor.to(at::kCPU).contiguous();
  NpyArray array;
  array.dtype = npy_dtype_of(cpu.scalar_type());
  array.shape.assign(cpu.sizes().begin(), cpu.sizes().end());
  const auto* raw = static_cast<const std::byte*>(cpu.data_ptr());
  array.data.assign(raw, raw + cpu.nbytes());
  return array;
}

}  // namespace clipmind::models
