#include "pipeline/frame_selection.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "clipmind/counted.h"
#include "clipmind/error.h"
#include "compress/select/f2c.h"
#include "compress/select/scene_sampler.h"
#include "compress/select/uniform.h"

namespace clipmind::pipeline {

namespace {

compress::PlanRequest make_request(const PipelineConfig& config, const SelectionInputs& in,
                                   const std::string& method, bool have_relevance) {
  compress::PlanRequest r;
  r.duration_s = in.duration_s;
  r.context_length = in.context_length;
  r.budget_tokens = config.budget.tokens;
  r.retain_ratio = config.budget.ratio;
  r.method = compress::parse_merge_method(config.merge.method);
  const bool merging = r.method != compress::MergeMethod::kNone;
  r.selection = method == "f2c" && !merging ? compress::FrameSelection::kKeyClips
                                            : compress::FrameSelection::kUniform;
  r.have_relevance = have_relevance;
  r.max_frames = config.select.max_frames;
  r.prompt_tokens = in.prompt_tokens;
  r.answer_tokens = config.generate.max_new_tokens;
  r.separator_tokens = config.separators ? in.separator_tokens : 0;
  // The model's pooled grid at the configured input size: every method's frames are at most
  // this (a constant 14 broke --method none at encode.input_size < 384).
  r.full_grid = in.full_grid;
  r.tome_window_frames = config.merge.tome_window_frames;
  r.inner = compress::parse_inner_method(inner_method(config, in.llm.layers));
  r.inner_layer = config.inner.layer;
  r.inner_ratio = config.inner.ratio;
  r.llm = in.llm;
  return r;
}

std::vector<double> probe_times(double duration, int64_t max_frames) {
  const auto count = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(duration)), 2,
                                         std::max<int64_t>(2, max_frames));
  return compress::uniform_times(duration, count);
}

void one_clip_per_frame(FramePlan& out) {
  for (const PlannedFrame& f : out.frames)
    out.clips.push_back({f.time, f.time, 1, f.grid, 0.0});
}

}  // namespace

std::string resolve_selection(const PipelineConfig& config, bool have_relevance,
                              const Logger& log) {
  std::string method = config.select.method;
  if (method == "auto") return have_relevance ? "f2c" : "scene";
  if (method == "f2c" && !have_relevance) {
    log.once("select:f2c-needs-relevance", LogLevel::kWarning, "select",
             "F2C key-clip selection needs a relevance model (the SigLIP dual encoder; set "
             "relevance_model or --relevance-model): using scene-aware selection");
    return "scene";
  }
  return method;
}

FramePlan plan_frames(const PipelineConfig& config, const SelectionInputs& in, const Logger& log) {
  if (!(in.duration_s > 0.0) || !std::isfinite(in.duration_s)) {
    throw Error(ErrorKind::kInvalidInput, "the video has no usable duration");
  }
  const bool have_relevance = static_cast<bool>(in.relevance);
  FramePlan out;
  out.method = resolve_selection(config, have_relevance, log);
  out.plan = compress::plan_tokens(make_request(config, in, out.method, have_relevance));
  out.notes = out.plan.notes;
  const bool merging = out.plan.method != compress::MergeMethod::kNone;
  out.merge_cap = out.plan.merge_cap;

  int64_t n = out.plan.frames;
  if (in.frame_count > 0 && n > in.frame_count && out.method != "f2c") {
    // More samples than the video has frames would only repeat frames.
    n = in.frame_count;
    out.notes.push_back("the video has only " + counted(in.frame_count, "frame") + ": sampling " +
                        std::to_string(n));
  }
  const int64_t c_sep = config.separators ? in.separator_tokens : 0;

  if (out.method == "uniform" || out.method == "anylength") {
    int64_t grid = out.method == "uniform" ? in.full_grid : out.plan.grid;
    if (out.method == "uniform" && !merging) {
      const int64_t budget = config.budget.tokens.value_or(out.plan.merge_cap + n * c_sep);
      const int64_t full_tokens = in.full_grid * in.full_grid;
      const int64_t fit = std::max<int64_t>(1, budget / (full_tokens + c_sep));
      if (fit < n) {
        out.notes.push_back("uniform: " + counted(fit, "full-resolution frame") + " fit the " +
                            std::to_string(budget) + "-token budget (asked for " +
                            std::to_string(n) + ")");
        n = fit;
      }
    }
    if (out.method == "anylength" && static_cast<int64_t>(out.plan.planned.size()) == n) {
      for (const auto& p : out.plan.planned)
        out.frames.push_back({p.time, p.grid});
    } else {
      for (const double t : compress::uniform_times(in.duration_s, n))
        out.frames.push_back({t, grid});
    }
    if (!merging) out.merge_cap = 0;
    one_clip_per_frame(out);
    return out;
  }

  if (out.method == "scene") {
    if (!in.low_res_frames) {
      throw Error(ErrorKind::kInternal, "scene selection needs low-resolution frames");
    }
    const std::vector<double> times =
        probe_times(in.duration_s, config.select.scene_max_probe_frames);
    std::string key = "scene-cuts-v2 threshold=" + std::to_string(config.select.scene_threshold) +
                      " n=" + std::to_string(times.size()) +
                      " d=" + std::to_string(std::llround(in.duration_s * 1000.0));
    std::optional<std::vector<int64_t>> memo;
    if (in.load_scene_cuts) memo = in.load_scene_cuts(key);
    std::vector<int64_t> cuts;
    if (memo) {
      cuts = std::move(*memo);
    } else {
      const at::Tensor frames = in.low_res_frames(times);
      compress::SceneDetectOptions options;
      options.threshold = config.select.scene_threshold;
      cuts = compress::detect_scene_cuts(frames, options);
      if (in.store_scene_cuts) in.store_scene_cuts(key, cuts);
    }
    out.scene_cuts = static_cast<int64_t>(cuts.size());
    const auto scenes = compress::scenes_from_cuts(cuts, times, in.duration_s);
    const int64_t grid = merging ? in.full_grid : out.plan.grid;
    for (const double t : compress::scene_aware_times(scenes, n))
      out.frames.push_back({t, grid});
    if (!merging) out.merge_cap = 0;
    one_clip_per_frame(out);
    return out;
  }

  // f2c
  const std::vector<double> candidates =
      compress::f2c_candidate_times(in.duration_s, config.select.max_candidates);
  const RelevanceScores relevance = in.relevance(candidates);
  if (relevance.scores.size() != candidates.size()) {
    throw Error(ErrorKind::kInternal, "relevance: one score per candidate expected");
  }
  out.candidates = static_cast<int64_t>(candidates.size());
  compress::F2COptions options;
  options.lambda_r = config.select.f2c_lambda_r;
  options.lambda_l = config.select.f2c_lambda_l;
  options.full_grid = in.full_grid;
  options.max_candidates = config.select.max_candidates;
  if (merging) {
    options.budget_frames = std::max<int64_t>(1, n);
    options.s_max = 1.0;
  } else {
    options.budget_frames = std::max<int64_t>(1, out.plan.f2c_budget_frames);
    options.s_max = config.select.f2c_s_max;
  }
  const compress::F2CSelection selection =
      compress::f2c_select(candidates, relevance.scores, relevance.embeddings, options);
  for (const compress::F2CFrame& f : selection.frames) {
    out.frames.push_back({f.time, merging ? in.full_grid : f.grid});
  }
  if (selection.all_candidates) {
    one_clip_per_frame(out);
  } else {
    for (const compress::F2CClip& c : selection.clips) {
      const double begin = candidates[static_cast<size_t>(c.first)];
      const double end = candidates[static_cast<size_t>(c.first + c.length - 1)];
      out.clips.push_back({begin, end, c.length, merging ? in.full_grid : c.grid,
                           relevance.scores[static_cast<size_t>(c.anchor)]});
    }
  }
  if (!merging) {
    out.merge_cap = 0;
    // The l* histogram decides whether lambda_r collapses F2C into key frames (methods.md).
    int64_t singles = 0;
    for (const auto& c : selection.clips)
      singles += c.length == 1 ? 1 : 0;
    if (!selection.clips.empty()) {
      log.debug("select", "F2C: " + counted(static_cast<int64_t>(selection.clips.size()), "clip") +
                              ", " + std::to_string(singles) + " of length 1");
    }
  }
  return out;
}

}  // namespace clipmind::pipeline
