#include "models/non_finite.h"

#include <ATen/ATen.h>

namespace clipmind::models {

void require_finite(const at::Tensor& output, const std::string& what, const std::string& why) {
  if (!output.defined() || output.numel() == 0) return;
  if (at::isfinite(output).all().item<bool>()) return;
  throw NonFiniteOutput(what + " holds NaN or infinite values: " + why);
}

}  // namespace clipmind::models
