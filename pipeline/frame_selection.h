// Frame selection: which frames of a video the VLM sees, at which pooled grid, and the token
// plan that goes with them (compress/budget/token_plan.h).
//
// Methods (config select.method, CLI --select):
//   uniform    N frames at t_k = k*D/N, every one at the full grid G x G (SelectionInputs::
//              full_grid: the model's pooled grid at its input size, 14 for LLaVA-OV at 384 px).
//              Without merging, N is lowered when N*(G^2 + separator) would exceed the budget.
//   anylength  TimeMarker's AnyLength as the planner reads it: fps by duration, N capped, and
//              (without merging) one grid side g for all frames so the budget holds.
//   scene      scene-aware: low-resolution frames at up to 1 fps (at most
//              select.scene_max_probe_frames) give colour-histogram scene cuts; the N frames are
//              spread over the scenes (compress/select/scene_sampler.h).
//   f2c        F2C key clips: 1 fps candidates scored against the question with the SigLIP dual
//              encoder (the relevance model). Without merging, clips get F2C's adaptive grids.
//              With a merge method every frame must share one grid, so F2C picks N key frames
//              at the full grid (s_max = 1; our choice: the question still decides where to
//              look, the merge decides how much to keep).
//   auto       f2c when a relevance model is configured, else scene.
// f2c without a relevance model says so once (Logger::once) and uses scene.
//
// Decoding and models are reached through callbacks (SelectionInputs), so this module is
// testable without either. Throws clipmind::Error(kInvalidArgument) for impossible requests and
// whatever the callbacks throw.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "compress/budget/token_plan.h"
#include "pipeline/config.h"
#include "pipeline/log.h"

namespace clipmind::pipeline {

struct PlannedFrame {
  double time = 0.0;
  int64_t grid = 14;
};

// A run of selected frames shown as one "clip" on a timeline (F2C clips; for the other methods
// every frame is its own clip).
struct SelectedClip {
  double t_begin = 0.0;
  double t_end = 0.0;
  int64_t frames = 0;
  int64_t grid = 14;
  double relevance = 0.0;  // F2C: the anchor's relevance (cosine); else 0
};

struct FramePlan {
  std::string method;  // the selection that ran (after fallbacks)
  std::vector<PlannedFrame> frames;
  std::vector<SelectedClip> clips;
  std::vector<std::string> notes;  // clamps and fallbacks, for the user
  compress::TokenPlan plan;        // the planner's numbers (frames, cap, FLOPs estimate)
  int64_t merge_cap = 0;           // visual tokens the merge stage may keep
  int64_t scene_cuts = -1;         // scene: cuts found; else -1
  int64_t candidates = 0;          // f2c: candidates scored
};

struct RelevanceScores {
  std::vector<double> scores;  // cosine of each candidate with the question
  at::Tensor embeddings;       // [M, E] image embeddings of the candidates
};

struct SelectionInputs {
  double duration_s = 0.0;
  int64_t frame_count = 0;  // frames in the video when known (0 = unknown)
  // Model facts.
  int64_t context_length = 32768;
  compress::LlmDims llm = compress::LlmDims::qwen2_0_5b();
  int64_t full_grid = 14;  // G: pooled grid side at the vision input size; no frame exceeds it
  int64_t separator_tokens = 7;  // c_sep, measured with the tokenizer (0 when separators off)
  int64_t prompt_tokens = 64;    // template + header + question
  // Low-resolution RGB frames [T, H, W, 3] uint8, one per given time (scene detection; a time
  // no frame could be decoded for repeats the nearest decoded frame).
  std::function<at::Tensor(const std::vector<double>& times)> low_res_frames;
  // Optional memo of scene cuts (the token cache): `key` names the probe times and threshold;
  // the caller adds the video's identity.
  std::function<std::optional<std::vector<int64_t>>(const std::string& key)> load_scene_cuts;
  std::function<void(const std::string& key, const std::vector<int64_t>& cuts)> store_scene_cuts;
  // Relevance of candidate frames to the question; empty when no relevance model is set.
  std::function<RelevanceScores(const std::vector<double>& times)> relevance;
};

// "uniform" | "anylength" | "scene" | "f2c" after resolving "auto" and the f2c fallback.
std::string resolve_selection(const PipelineConfig& config, bool have_relevance, const Logger& log);

FramePlan plan_frames(const PipelineConfig& config, const SelectionInputs& inputs,
                      const Logger& log);

}  // namespace clipmind::pipeline
