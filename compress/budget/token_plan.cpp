#include "compress/budget/token_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "clipmind/error.h"
#include "compress/select/anylength.h"
#include "compress/select/f2c.h"
#include "compress/select/uniform.h"

namespace clipmind::compress {
namespace {

constexpr int64_t kDefaultBudget = 6272;      // 32 frames x 196 tokens
constexpr double kDefaultRetainRatio = 0.10;  // HoliTom / DivPrune video default

// Out of line: GCC 12 at -O3 warns falsely (array-bounds) on std::string temporaries built from
// long literals inside plan_tokens.
[[gnu::noinline]] void add_note(TokenPlan& plan, std::string text) {
  plan.notes.push_back(std::move(text));
}

[[noreturn]] void bad(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, "token plan: " + message);
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

void check(const PlanRequest& r) {
  if (!std::isfinite(r.duration_s) || r.duration_s <= 0.0) bad("video duration must be positive");
  // Far beyond any real recording (115 days); larger values only come from typos or damaged
  // headers and would print times no one can read.
  if (r.duration_s > kMaxPlanDurationS) {
    char text[96];
    std::snprintf(text, sizeof text, "video duration %.4g s is longer than the %.0f s (115 days)",
                  r.duration_s, kMaxPlanDurationS);
    bad(std::string(text) + " the planner accepts");
  }
  if (r.context_length < 1) bad("context length must be positive");
  if (r.budget_tokens && r.retain_ratio) bad("give a token budget or a retain ratio, not both");
  if (r.budget_tokens && *r.budget_tokens < 0) bad("token budget must be >= 0");
  // 0 would keep no visual tokens at all: the model would answer without seeing the video.
  if (r.retain_ratio && !(*r.retain_ratio > 0.0 && *r.retain_ratio <= 1.0)) {
    bad("retain ratio must be in (0, 1]");
  }
  if (r.max_frames < 0 || r.prompt_tokens < 0 || r.answer_tokens < 0 || r.separator_tokens < 0 ||
      r.tome_window_frames < 0) {
    bad("counts must be >= 0");
  }
  if (!(r.inner_ratio >= 0.0 && r.inner_ratio <= 1.0)) bad("inner ratio must be in [0, 1]");
  if (r.full_grid < 1) bad("the full grid side must be >= 1");
  if (r.llm.hidden < 1 || r.llm.ffn < 1 || r.llm.layers < 1) bad("bad LLM dimensions");
}

}  // namespace

const char* to_string(MergeMethod method) {
  switch (method) {
    case MergeMethod::kNone:
      return "none";
    case MergeMethod::kHolitom:
      return "holitom";
    case MergeMethod::kTome:
      return "tome";
    case MergeMethod::kDivprune:
      return "divprune";
  }
  return "?";
}

const char* to_string(FrameSelection selection) {
  switch (selection) {
    case FrameSelection::kUniform:
      return "uniform";
    case FrameSelection::kSceneAware:
      return "scene";
    case FrameSelection::kKeyClips:
      return "f2c";
  }
  return "?";
}

const char* to_string(InnerMethod method) {
  switch (method) {
    case InnerMethod::kNone:
      return "none";
    case InnerMethod::kHolitomInner:
      return "holitom";
    case InnerMethod::kFastV:
      return "fastv";
  }
  return "?";
}

MergeMethod parse_merge_method(const std::string& text) {
  for (const MergeMethod m :
       {MergeMethod::kNone, MergeMethod::kHolitom, MergeMethod::kTome, MergeMethod::kDivprune}) {
    if (text == to_string(m)) return m;
  }
  bad("unknown merge method '" + text + "' (none, holitom, tome, divprune)");
}

FrameSelection parse_frame_selection(const std::string& text) {
  for (const FrameSelection s :
       {FrameSelection::kUniform, FrameSelection::kSceneAware, FrameSelection::kKeyClips}) {
    if (text == to_string(s)) return s;
  }
  bad("unknown frame selection '" + text + "' (uniform, scene, f2c)");
}

InnerMethod parse_inner_method(const std::string& text) {
  for (const InnerMethod m :
       {InnerMethod::kNone, InnerMethod::kHolitomInner, InnerMethod::kFastV}) {
    if (text == to_string(m)) return m;
  }
  bad("unknown inner-LLM method '" + text + "' (none, holitom, fastv)");
}

int64_t pooled_grid_at_input(int64_t input_size, int64_t patch_size, int64_t image_size,
                             const std::string& setting) {
  const int64_t size = input_size == 0 ? image_size : input_size;
  const int64_t least = 2 * patch_size;
  const int64_t most = 2 * image_size;
  if (size < least || size > most) {
    throw Error(ErrorKind::kInvalidArgument,
                setting + " " + std::to_string(input_size) +
                    " is out of range: the vision tower takes " + std::to_string(least) + " to " +
                    std::to_string(most) + " pixels (at least 2 patches of " +
                    std::to_string(patch_size) + ", at most twice its own size of " +
                    std::to_string(image_size) + "), or 0 for its own size");
  }
  return (size / patch_size + 1) / 2;
}

TokenPlan plan_tokens(const PlanRequest& request) {
  check(request);
  TokenPlan plan;
  plan.request = request;
  const double duration = request.duration_s;
  const int64_t c_sep = request.separator_tokens;
  const int64_t full_grid = request.full_grid;
  const int64_t full_tokens = full_grid * full_grid;
  const int64_t available =
      request.context_length - request.prompt_tokens - request.answer_tokens - plan.newline_tokens;
  if (available < 1 + c_sep) {
    // Name the bigger of the two, so a long question and a huge --max-new-tokens read apart.
    const bool question = request.prompt_tokens >= request.answer_tokens;
    bad(std::string(question ? "the question is too long" : "the answer reserve is too large") +
        ": the prompt's text (template and question) takes " +
        std::to_string(request.prompt_tokens) + " tokens and the answer reserve " +
        std::to_string(request.answer_tokens) + ", which leaves no room for the video in the " +
        "model's context of " + std::to_string(request.context_length) + " tokens; " +
        (question ? "shorten the question" : "lower --max-new-tokens"));
  }

  plan.fps = duration < 8.0 ? 2.0 : 1.0;
  plan.method = request.method;
  plan.selection = request.selection;
  if (plan.selection == FrameSelection::kKeyClips && !request.have_relevance) {
    plan.selection = FrameSelection::kSceneAware;
    add_note(
        plan,
        "F2C needs query relevance from the SigLIP text/vision encoder, which is not available: "
        "falling back to scene-aware + uniform selection");
  }
  if (plan.selection == FrameSelection::kKeyClips && plan.method != MergeMethod::kNone) {
    plan.selection = FrameSelection::kSceneAware;
    add_note(
        plan,
        "F2C varies the resolution per clip, which a merge method cannot take: using scene-aware "
        "selection");
  }
  const bool merging = plan.method != MergeMethod::kNone;
  const int64_t max_frames = request.max_frames > 0 ? request.max_frames : (merging ? 32 : 128);
  const auto wanted = static_cast<int64_t>(std::min(std::ceil(duration * plan.fps), 1e12));
  const int64_t sampled = std::min(max_frames, std::max<int64_t>(1, wanted));

  int64_t budget = request.budget_tokens.value_or(kDefaultBudget);
  if (!merging && request.retain_ratio) {
    budget = static_cast<int64_t>(
        std::floor(*request.retain_ratio * static_cast<double>(sampled * full_tokens) + 1e-9));
  }
  if (budget > available) {
    add_note(plan, "budget of " + std::to_string(budget) + " visual tokens lowered to " +
                       std::to_string(available) + " to fit the " +
                       std::to_string(request.context_length) + "-token context");
    budget = available;
  }

  int64_t baseline_frames = sampled;
  if (!merging && plan.selection == FrameSelection::kKeyClips) {
    const std::vector<double> candidates = f2c_candidate_times(duration);
    plan.f2c_candidates = static_cast<int64_t>(candidates.size());
    plan.f2c_budget_frames = std::max<int64_t>(1, budget / (full_tokens + 4 * c_sep));
    plan.frames = plan.f2c_candidates;
    plan.grid = full_grid;
    if (plan.f2c_candidates <= plan.f2c_budget_frames) {
      for (const double t : candidates)
        plan.planned.push_back({t, full_grid});
      plan.max_segments = plan.f2c_candidates;
      plan.merge_cap = plan.f2c_candidates * full_tokens;
    } else {
      plan.times_final = false;
      plan.max_segments = std::min(plan.f2c_candidates, 4 * plan.f2c_budget_frames);
      plan.merge_cap = plan.f2c_budget_frames * full_tokens;
    }
    plan.tokens_before_merge = plan.merge_cap;
    baseline_frames = std::min(plan.f2c_budget_frames, plan.f2c_candidates);
  } else if (!merging) {
    AnyLengthOptions options;
    options.budget_tokens = budget;
    options.max_frames = max_frames;
    options.separator_tokens = c_sep;
    options.full_grid = full_grid;
    const AnyLengthPlan any = anylength_plan(duration, options);
    plan.frames = any.frames;
    plan.grid = any.grid;
    for (const double t : any.times)
      plan.planned.push_back({t, any.grid});
    plan.times_final = plan.selection == FrameSelection::kUniform;
    plan.tokens_before_merge = any.frames * any.grid * any.grid;
    plan.merge_cap = plan.tokens_before_merge;
    plan.max_segments = any.frames;
    baseline_frames = any.frames;
  } else {
    plan.frames = sampled;
    plan.grid = full_grid;
    for (const double t : uniform_times(duration, sampled))
      plan.planned.push_back({t, full_grid});
    plan.times_final = plan.selection == FrameSelection::kUniform;
    plan.tokens_before_merge = sampled * full_tokens;
    if (plan.method == MergeMethod::kTome && request.tome_window_frames > 0) {
      plan.max_segments = (sampled + request.tome_window_frames - 1) / request.tome_window_frames;
    } else if (plan.method == MergeMethod::kTome) {
      plan.max_segments = 1;
    } else {
      plan.max_segments = sampled;  // HoliTom: at most one segment per frame; DivPrune: per frame
    }
    const int64_t separators = plan.max_segments * c_sep;
    double ratio = kDefaultRetainRatio;
    if (request.retain_ratio) {
      ratio = *request.retain_ratio;
    } else if (request.budget_tokens) {
      ratio = std::clamp(
          static_cast<double>(budget - separators) / static_cast<double>(plan.tokens_before_merge),
          0.0, 1.0);
    }
    int64_t cap = static_cast<int64_t>(
        std::floor(ratio * static_cast<double>(plan.tokens_before_merge) + 1e-9));
    if (cap + separators > available) {
      cap = std::max<int64_t>(0, available - separators);
      ratio = static_cast<double>(cap) / static_cast<double>(plan.tokens_before_merge);
      add_note(plan, "retain ratio lowered to " + fixed(ratio, 4) + " to fit the context");
    }
    plan.retain_ratio = ratio;
    plan.merge_cap = cap;
  }
  if (!merging) {
    plan.retain_ratio = 1.0;
  }

  plan.separator_tokens = plan.max_segments * c_sep;
  plan.prompt_tokens = request.prompt_tokens;
  plan.visual_tokens = plan.merge_cap + plan.separator_tokens + plan.newline_tokens;
  plan.prefill_tokens = plan.prompt_tokens + plan.visual_tokens;

  plan.inner = request.inner;
  plan.tokens_after_inner = plan.prefill_tokens;
  if (plan.inner != InnerMethod::kNone) {
    int64_t layer = request.inner_layer;
    if (layer == 0) {
      // HoliTom's released K = 18 of 28 layers, scaled to this model; FastV's paper K = 2.
      layer = plan.inner == InnerMethod::kFastV
                  ? 2
                  : static_cast<int64_t>(
                        round_half_even(18.0 * static_cast<double>(request.llm.layers) / 28.0));
    }
    if (layer < 1 || layer >= request.llm.layers) {
      bad("inner layer K must be in 1.." + std::to_string(request.llm.layers - 1));
    }
    plan.inner_layer = layer;
    plan.inner_ratio = request.inner_ratio;
    const int64_t visual = plan.merge_cap + plan.newline_tokens;
    const auto kept = static_cast<int64_t>(
        round_half_even(static_cast<double>(visual) * (1.0 - request.inner_ratio)));
    plan.tokens_after_inner = plan.prefill_tokens - (visual - kept);
    plan.prefill_flops =
        prefill_flops_reduced(plan.prefill_tokens, plan.tokens_after_inner, layer, request.llm);
  } else {
    plan.prefill_flops = prefill_flops(plan.prefill_tokens, request.llm);
  }
  plan.baseline_tokens = plan.prompt_tokens + baseline_frames * full_tokens + plan.newline_tokens;
  plan.baseline_flops = prefill_flops(plan.baseline_tokens, request.llm);
  plan.flops_ratio = plan.prefill_flops / plan.baseline_flops;
  return plan;
}

}  // namespace clipmind::compress
