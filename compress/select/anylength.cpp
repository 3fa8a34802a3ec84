#include "compress/select/anylength.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "clipmind/error.h"
#include "compress/select/uniform.h"

namespace clipmind::compress {

int64_t grid_side_for(double tokens, int64_t max_grid) {
  if (!(tokens >= 1.0)) return 0;
  auto g = static_cast<int64_t>(std::sqrt(tokens));
  // Correct floating error in sqrt so that g*g <= tokens < (g+1)^2 exactly.
  while (g > 0 && static_cast<double>(g * g) > tokens)
    --g;
  while (static_cast<double>((g + 1) * (g + 1)) <= tokens)
    ++g;
  return std::min(g, max_grid);
}

AnyLengthPlan anylength_plan(double duration_seconds, const AnyLengthOptions& options) {
  if (!std::isfinite(duration_seconds) || duration_seconds <= 0.0) {
    throw Error(ErrorKind::kInvalidArgument, "AnyLength: video duration must be positive, got " +
                                                 std::to_string(duration_seconds));
  }
  if (options.max_frames < 1 || options.separator_tokens < 0 || options.full_grid < 1 ||
      !(options.fps_short > 0.0) || !(options.fps_long > 0.0)) {
    throw Error(ErrorKind::kInvalidArgument, "AnyLength: bad options");
  }
  const int64_t budget = options.budget_tokens;
  const int64_t c_sep = options.separator_tokens;
  if (budget < 1 + c_sep) {
    throw Error(ErrorKind::kInvalidArgument,
                "AnyLength: a budget of " + std::to_string(budget) +
                    " tokens cannot hold one frame and its separator (" +
                    std::to_string(1 + c_sep) + " tokens)");
  }
  AnyLengthPlan plan;
  plan.fps = duration_seconds < options.short_video_s ? options.fps_short : options.fps_long;
  const double wanted = std::ceil(duration_seconds * plan.fps);
  int64_t frames = std::min<int64_t>(
      options.max_frames, std::max<int64_t>(1, static_cast<int64_t>(std::min(wanted, 1e12))));
  auto grid_for = [&](int64_t n) {
    return grid_side_for(
        static_cast<double>(budget) / static_cast<double>(n) - static_cast<double>(c_sep),
        options.full_grid);
  };
  int64_t grid = grid_for(frames);
  if (grid < 2) {
    frames = std::max<int64_t>(1, std::min(frames, budget / (4 + c_sep)));
    grid = grid_for(frames);
  }
  plan.frames = frames;
  plan.grid = grid;
  plan.effective_fps = static_cast<double>(frames) / duration_seconds;
  plan.step_s = duration_seconds / static_cast<double>(frames);
  plan.tokens_per_frame = grid * grid;
  plan.total_tokens = frames * (grid * grid + c_sep);
  plan.times = uniform_times(duration_seconds, frames);
  return plan;
}

}  // namespace clipmind::compress
