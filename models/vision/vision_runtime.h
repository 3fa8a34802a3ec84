// Where and in which precision a vision model runs: every vision/SigLIP/VLM entry point takes
// one. CPU float32 by default; bf16 on CPUs that support it; CUDA with a CUDA build of LibTorch.
#pragma once

#include <ATen/core/Tensor.h>

namespace clipmind::models {

struct VisionRuntime {
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
};

}  // namespace clipmind::models
