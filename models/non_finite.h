// Damaged weights (NaN or infinity from a bad download, or float16 overflowing in a model made
// for bfloat16) pass every shape and dtype check at load and show only in a forward pass: every
// token, logit or embedding after them is NaN, and an answer, a frame choice or a search built
// on them is noise with no error. The forward passes that feed the user (the vision tower, the
// language model's logits at prefill and at each generated token, the SigLIP dual encoder)
// refuse such output with NonFiniteOutput, which front ends turn into a "download it again or
// choose another model" hint for the stage that ran the model.
#pragma once

#include <string>

#include "clipmind/error.h"

namespace at {
class Tensor;
}

namespace clipmind::models {

class NonFiniteOutput : public Error {
 public:
  explicit NonFiniteOutput(const std::string& message) : Error(ErrorKind::kInvalidInput, message) {}
};

// One reduction on the tensor's own device (nothing copied to the CPU but one bool), cheap next
// to the forward pass that made it. Throws NonFiniteOutput "<what> holds NaN or infinite values:
// <why>" when any element is NaN or +-infinity.
void require_finite(const at::Tensor& output, const std::string& what, const std::string& why);

}  // namespace clipmind::models
