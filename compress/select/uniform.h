// Uniform frame times: t_k = k * D / N for k = 0..N-1 (start-aligned, as AnyLength samples).
// Pure; throws clipmind::Error(kInvalidArgument) for a negative count or a non-finite or
// negative duration.
#pragma once

#include <cstdint>
#include <vector>

namespace clipmind::compress {

std::vector<double> uniform_times(double duration_seconds, int64_t count);

}  // namespace clipmind::compress
