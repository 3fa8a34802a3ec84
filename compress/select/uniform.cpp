#include "compress/select/uniform.h"

#include <cmath>
#include <string>

#include "clipmind/error.h"

namespace clipmind::compress {

std::vector<double> uniform_times(double duration_seconds, int64_t count) {
  if (!std::isfinite(duration_seconds) || duration_seconds < 0.0) {
    throw Error(ErrorKind::kInvalidArgument,
                "uniform sampling: bad duration " + std::to_string(duration_seconds));
  }
  if (count < 0) throw Error(ErrorKind::kInvalidArgument, "uniform sampling: negative count");
  std::vector<double> times;
  times.reserve(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) {
    times.push_back(static_cast<double>(k) * duration_seconds / static_cast<double>(count));
  }
  return times;
}

}  // namespace clipmind::compress
