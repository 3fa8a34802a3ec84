// Conversion between NumPy arrays (npy.h) and at::Tensor.
#pragma once

#include <ATen/core/Tensor.h>

#include "models/npy.h"

namespace clipmind::models {

// Copies the array into a new CPU tensor of the matching dtype and shape.
at::Tensor npy_to_tensor(const NpyArray& array);

// Copies a tensor (any device, made contiguous) into an array of the matching dtype.
NpyArray tensor_to_npy(const at::Tensor& tensor);

}  // namespace clipmind::models
