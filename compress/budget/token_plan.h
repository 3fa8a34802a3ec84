// The token budget planner: one knob (a visual token budget or a retain ratio) turns into every
// number the stages use, so the pipeline reads them from one TokenPlan:
//   selection  how many frames, at which times (uniform) or by which rule (scene-aware, F2C key
//              clips), each frame's pooled grid side;
//   merging    the method, its retain ratio and the token cap it is held to (TokenBudget);
//   separators one per frame or merged segment, c_sep tokens each;
//   inner LLM  optional HoliTom inner merge or FastV at layer K;
//   cost       expected prefill tokens and paper-compatible prefill FLOPs against the unmerged
//              baseline (the same frames at G^2 tokens each, no separators, no reduction).
//
// Rules (docs/compress.md has the reasons):
//   frames  N = min(F_max, max(1, ceil(D * fps))), fps = 2 below 8 s else 1 (AnyLength);
//           F_max defaults to 32 when merging (HoliTom's evaluated LLaVA-OV setting) and 128
//           without merging (AnyLength).
//   G = request.full_grid, the model's pooled grid (14x14 = 196 tokens for LLaVA-OneVision at
//   its own 384 px; e.g. 8 at encode.input_size 224).
//   no merging: AnyLength picks the grid g <= G so N * (g^2 + c_sep) fits the budget; F2C gets
//           K = floor(budget / (G^2 + 4 c_sep)) full-frame equivalents (room for the up-to-4K
//           frames F2C may emit with s_max = 2, and their separators).
//   merging: frames stay at GxG; R = the ratio given, else (budget - separators) / (N * G^2),
//           else the method's default 0.10; cap = floor(R * N * G^2).
//   Everything is clamped so prompt + visual + separators + newline + answer reserve fits the
//   model's context; a note says when a request was clamped or a mode fell back.
// Pure; throws clipmind::Error(kInvalidArgument) for impossible requests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compress/budget/prefill_flops.h"
#include "compress/merge/merged_segment.h"

namespace clipmind::compress {

enum class MergeMethod { kNone, kHolitom, kTome, kDivprune };
enum class FrameSelection { kUniform, kSceneAware, kKeyClips };
enum class InnerMethod { kNone, kHolitomInner, kFastV };

const char* to_string(MergeMethod method);
const char* to_string(FrameSelection selection);
const char* to_string(InnerMethod method);
// Parse "none|holitom|tome|divprune", "uniform|scene|f2c", "none|holitom|fastv";
// throw kInvalidArgument otherwise.
MergeMethod parse_merge_method(const std::string& text);
FrameSelection parse_frame_selection(const std::string& text);
InnerMethod parse_inner_method(const std::string& text);

// The longest video the planner accepts, in seconds (115 days).
inline constexpr double kMaxPlanDurationS = 1e7;

struct PlanRequest {
  double duration_s = 0.0;
  int64_t context_length = 32768;        // the LLM's max positions
  std::optional<int64_t> budget_tokens;  // visual tokens incl. separators; default 6272
  std::optional<double> retain_ratio;    // or: share of the baseline's visual tokens to keep
  MergeMethod method = MergeMethod::kHolitom;
  FrameSelection selection = FrameSelection::kUniform;
  bool have_relevance = false;   // F2C needs query relevance; else scene-aware
  int64_t max_frames = 0;        // F_max; 0 = default (32 merging, 128 not)
  int64_t prompt_tokens = 64;    // template + question (estimate)
  int64_t answer_tokens = 512;   // reserved for generation
  int64_t separator_tokens = 7;  // c_sep; 0 = no separators
  // G: the model's pooled grid side at its vision input size (14 for LLaVA-OneVision at 384 px;
  // encode.input_size changes it). Every frame is at most G x G; nothing assumes 14.
  int64_t full_grid = 14;
  int64_t tome_window_frames = 4;  // ToMe's segment length, for the separator count
  InnerMethod inner = InnerMethod::kNone;
  int64_t inner_layer = 0;   // K; 0 = default (HoliTom 18 of 28 layers scaled, FastV 2)
  double inner_ratio = 0.5;  // r (HoliTom, merged away) or R (FastV, dropped)
  LlmDims llm = LlmDims::qwen2_0_5b();
};

struct PlannedFrame {
  double time = 0.0;
  int64_t grid = 14;  // request.full_grid or less
};

struct TokenPlan {
  PlanRequest request;
  std::vector<std::string> notes;  // clamps and fallbacks, for the user

  // Selection.
  FrameSelection selection = FrameSelection::kUniform;  // after fallbacks
  double fps = 0.0;
  int64_t frames = 0;                 // N (F2C: candidates considered)
  std::vector<PlannedFrame> planned;  // uniform times, or provisional ones (see times_final)
  bool times_final = true;            // false: scene-aware / F2C choose times at run time
  int64_t grid = 14;                  // per-frame grid side (F2C: the full grid G; clips vary)
  int64_t f2c_budget_frames = 0;      // K for F2C
  int64_t f2c_candidates = 0;

  // Merging.
  MergeMethod method = MergeMethod::kNone;
  int64_t tokens_before_merge = 0;  // N * g^2
  double retain_ratio = 1.0;        // R for the merge stage
  int64_t merge_cap = 0;            // the most visual tokens after merging (TokenBudget::tokens)
  TokenBudget merge_budget() const { return TokenBudget::tokens(merge_cap); }

  // Separators and prompt.
  int64_t max_segments = 0;  // one separator each
  int64_t separator_tokens = 0;
  int64_t newline_tokens = 1;
  int64_t prompt_tokens = 0;
  int64_t visual_tokens = 0;   // expected at most: merge_cap + separators + newline
  int64_t prefill_tokens = 0;  // prompt + visual_tokens

  // Inner LLM.
  InnerMethod inner = InnerMethod::kNone;
  int64_t inner_layer = 0;
  double inner_ratio = 0.0;
  int64_t tokens_after_inner = 0;  // prefill tokens from layer K on

  // Cost.
  int64_t baseline_tokens = 0;  // prompt + N * 196 + newline
  double prefill_flops = 0.0;
  double baseline_flops = 0.0;
  double flops_ratio = 0.0;  // prefill_flops / baseline_flops
};

// G for a vision tower of `patch_size` pixels a patch and `image_size` pixels natively run at
// `input_size` pixels (0: its own size): floor(size / patch) patches a side, pooled by
// LLaVA-OneVision to ceil(patches / 2). Sizes below two patches or above twice the native size
// (4x its tokens, ~16x its attention memory, and no detail gained) throw kInvalidArgument
// naming `setting` ("encode.input_size", "--input-size") with the allowed range.
int64_t pooled_grid_at_input(int64_t input_size, int64_t patch_size, int64_t image_size,
                             const std::string& setting);

TokenPlan plan_tokens(const PlanRequest& request);

}  // namespace clipmind::compress
