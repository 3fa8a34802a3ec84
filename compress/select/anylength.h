// AnyLength (TimeMarker), our implementable reading in docs/design/methods.md "(b) AnyLength":
// frame rate and frame count from the video duration, and one pooled grid side g for every frame
// so that frames * (g^2 + separator tokens) fits the visual token budget.
//
//   fps = D < 8 s ? 2 : 1;  N = min(F_max, max(1, ceil(D * fps)));  t_k = k * D / N
//   g   = min(14, floor(sqrt(B / N - c_sep)));  if g < 2: N = floor(B / (4 + c_sep)), recompute
//
// Pure; throws clipmind::Error(kInvalidArgument) for a non-positive duration or a budget too
// small for one frame of one token plus its separator.
#pragma once

#include <cstdint>
#include <vector>

namespace clipmind::compress {

struct AnyLengthOptions {
  int64_t budget_tokens = 6272;  // B: visual tokens including separators (32 x 196)
  int64_t max_frames = 128;      // F_max
  double short_video_s = 8.0;    // below this, fps_short
  double fps_short = 2.0;        // from a third-party summary (unverified)
  double fps_long = 1.0;
  int64_t separator_tokens = 7;  // c_sep: measure with the tokenizer
  int64_t full_grid = 14;        // 14x14 = 196 tokens at full resolution (LLaVA-OneVision)
};

struct AnyLengthPlan {
  double fps = 0.0;            // nominal sampling rate chosen by duration
  double effective_fps = 0.0;  // frames / duration
  int64_t frames = 0;          // N
  double step_s = 0.0;         // D / N
  int64_t grid = 0;            // g: every frame is pooled to g x g
  int64_t tokens_per_frame = 0;
  int64_t total_tokens = 0;   // N * (g^2 + c_sep) <= budget
  std::vector<double> times;  // t_k = k * D / N
};

AnyLengthPlan anylength_plan(double duration_seconds, const AnyLengthOptions& options = {});

// Largest g <= max_grid with g * g <= tokens (0 if tokens < 1); exact integer arithmetic.
int64_t grid_side_for(double tokens, int64_t max_grid);

}  // namespace clipmind::compress
