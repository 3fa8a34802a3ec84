// `clipmind merge-eval` (outer-LLM token merging on .npy inputs, for tests, debugging and
// comparing with other implementations) and `clipmind plan` (the token budget plan for a video).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>

#include "app/clipmind/commands.h"
#include "app/clipmind/json_escape.h"
#include "clipmind/counted.h"
#include "clipmind/error.h"
#include "compress/budget/token_plan.h"
#include "compress/merge/divprune.h"
#include "compress/merge/holitom.h"
#include "compress/merge/tome.h"
#include "compress/separators/time_separators.h"
#if defined(CLIPMIND_HAVE_FFMPEG)
#include "decode/video_info.h"
#endif
#include "models/npy.h"
#include "models/npy_tensor.h"

namespace clipmind::cli {
namespace {

namespace fs = std::filesystem;
using compress::MergeResult;
using compress::TokenKind;

struct MergeEvalOptions {
  std::string tokens_path;
  std::string attn_path;
  std::optional<double> ratio;
  std::optional<int64_t> budget;
  double tau = 0.8;
  double beta = 0.6;
  bool no_beta = false;
  int64_t knn = 7;
  int64_t max_window = 1024;
  std::string layout = "one_token";
  std::string method = "holitom";
  std::string newline = "sentinel";
  std::string newline_file;
  std::optional<uint64_t> noise_seed;
  int64_t window_frames = -1;
  std::string out_path;
  std::string index_out_path;
};

[[noreturn]] void invalid(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, "merge-eval: " + message);
}

at::Tensor read_float_tensor(const std::string& path, const char* what) {
  const models::NpyArray array = models::read_npy(path);
  if (array.dtype != models::NpyDtype::kFloat32 && array.dtype != models::NpyDtype::kFloat64 &&
      array.dtype != models::NpyDtype::kFloat16) {
    throw Error(ErrorKind::kInvalidInput, path + ": " + what +
                                              " must be float32, float64 or float16, got " +
                                              models::npy_dtype_descr(array.dtype));
  }
  at::Tensor tensor = models::npy_to_tensor(array).to(at::kFloat);
  if (!at::isfinite(tensor).all().item<bool>()) {
    throw Error(ErrorKind::kInvalidInput, path + ": " + what + " contains NaN or infinity");
  }
  return tensor;
}

std::string shape_text(const at::Tensor& t) {
  std::string text = "[";
  for (int64_t i = 0; i < t.dim(); ++i)
    text += (i ? ", " : "") + std::to_string(t.size(i));
  return text + "]";
}

void run_merge_eval(const MergeEvalOptions& o) {
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  if (o.layout != "one_token" && o.layout != "grid") invalid("--layout must be one_token or grid");
  if (o.method != "holitom" && o.method != "tome" && o.method != "divprune") {
    invalid("--method must be holitom, tome or divprune");
  }
  if (o.newline != "sentinel" && o.newline != "zeros" && o.newline != "omit") {
    invalid("--newline must be sentinel, zeros or omit");
  }
  if (!o.ratio && !o.budget) invalid("give --ratio or --budget");
  if (o.ratio && !(std::isfinite(*o.ratio) && *o.ratio >= 0.0)) invalid("--ratio must be >= 0");
  if (o.method != "holitom" && o.ratio && *o.ratio > 1.0) invalid("--ratio must be <= 1");
  if (!std::isfinite(o.tau)) invalid("--tau must be a number");
  if (!std::isfinite(o.beta)) invalid("--beta must be a number");
  if (o.knn < 1) invalid("--knn must be >= 1");
  if (o.max_window < 1) invalid("--max-window must be >= 1");
  if (o.budget && *o.budget < 0) invalid("--budget must be >= 0");

  const at::Tensor tokens = read_float_tensor(o.tokens_path, "tokens");
  if (tokens.dim() != 3 || tokens.size(0) < 1 || tokens.size(1) < 1 || tokens.size(2) < 1) {
    throw Error(
        ErrorKind::kInvalidInput,
        o.tokens_path + ": tokens must be [T, N, D] with T, N, D >= 1, got " + shape_text(tokens));
  }
  const int64_t frames = tokens.size(0);
  const int64_t positions = tokens.size(1);
  const int64_t dim = tokens.size(2);
  at::Tensor attn;
  if (o.method == "holitom") {
    if (o.attn_path.empty()) invalid("--attn is required for holitom");
    attn = read_float_tensor(o.attn_path, "attention");
    if (attn.dim() == 3 && attn.size(2) == 1) attn = attn.squeeze(2);
    if (attn.dim() != 2 || attn.size(0) != frames || attn.size(1) != positions) {
      throw Error(ErrorKind::kInvalidInput, o.attn_path + ": attention must be [T, N] = [" +
                                                std::to_string(frames) + ", " +
                                                std::to_string(positions) + "] to match " +
                                                o.tokens_path + ", got " + shape_text(attn));
    }
  }
  const bool grid = o.layout == "grid";
  if (grid) {
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(positions))));
    if (side * side != positions) {
      throw Error(ErrorKind::kInvalidInput,
                  o.tokens_path +
                      ": the grid layout needs a square number of tokens per frame, got N = " +
                      std::to_string(positions));
    }
    if (o.method != "holitom") invalid("--layout grid is only defined for holitom");
  }
  at::Tensor newline;
  if (!o.newline_file.empty()) {
    newline = read_float_tensor(o.newline_file, "newline").reshape({-1});
    if (newline.numel() != dim) {
      throw Error(ErrorKind::kInvalidInput,
                  o.newline_file + ": newline must have D = " + std::to_string(dim) + " values");
    }
  } else if (o.newline == "zeros") {
    newline = at::zeros({dim}, at::kFloat);
  } else {
    // The merge-golden fixture's sentinel, so grid outputs compare row for row.
    newline = at::arange(dim, at::kFloat) + 1000;
  }

  MergeResult result;
  if (o.method == "holitom") {
    compress::HolitomOptions options;
    options.retain_ratio = o.ratio.value_or(0.0);
    options.tau = o.tau;
    options.beta = o.no_beta ? std::nullopt : std::optional<double>(o.beta);
    options.k_max = o.knn;
    options.max_window = o.max_window;
    options.layout = grid ? compress::NewlineLayout::kGrid : compress::NewlineLayout::kOneToken;
    options.density_noise_seed = o.noise_seed;
    if (o.budget) {
      result = compress::holitom_merge_within(
          tokens, attn, {}, compress::TokenBudget::tokens(*o.budget), options, newline);
    } else {
      result = compress::holitom_merge(tokens, attn, {}, options, newline);
    }
  } else {
    const compress::TokenBudget budget = o.budget ? compress::TokenBudget::tokens(*o.budget)
                                                  : compress::TokenBudget::ratio(*o.ratio);
    if (o.method == "tome") {
      compress::TomeOptions options;
      if (o.window_frames >= 0) options.window_frames = o.window_frames;
      result = compress::tome_merge(tokens, {}, budget, options);
    } else {
      compress::DivPruneOptions options;
      if (o.window_frames >= 0) options.window_frames = o.window_frames;
      result = compress::divprune_merge(tokens, {}, budget, options);
    }
  }

  at::Tensor out = result.concatenated_tokens().to(at::kFloat).contiguous();
  std::vector<compress::TokenOrigin> origins = result.concatenated_origins();
  if (grid && o.newline == "omit" && o.newline_file.empty()) {
    std::vector<int64_t> keep;
    std::vector<compress::TokenOrigin> kept;
    for (size_t i = 0; i < origins.size(); ++i) {
      if (origins[i].kind != TokenKind::kNewline) {
        keep.push_back(static_cast<int64_t>(i));
        kept.push_back(origins[i]);
      }
    }
    out = out.index_select(0, at::tensor(keep, at::kLong)).contiguous();
    origins = std::move(kept);
  }
  if (out.size(0) == 0) out = at::zeros({0, dim}, at::kFloat);

  models::write_npy(o.out_path, models::tensor_to_npy(out));
  if (!o.index_out_path.empty()) {
    std::vector<int32_t> rows;
    for (const compress::TokenOrigin& origin : origins) {
      rows.insert(rows.end(), {static_cast<int32_t>(origin.kind), origin.frame_begin,
                               origin.frame_end, origin.pos});
    }
    try {
      models::write_npy(o.index_out_path,
                        models::make_npy<int32_t>({static_cast<int64_t>(origins.size()), 4},
                                                  std::span<const int32_t>(rows)));
    } catch (...) {
      std::error_code ignored;
      fs::remove(o.out_path, ignored);  // no half-written result
      throw;
    }
  }
  std::printf("%s: %lld tokens -> %lld (%s, retain ratio %.6g)\n", o.method.c_str(),
              static_cast<long long>(result.input_tokens),
              static_cast<long long>(result.token_count()),
              counted(static_cast<int64_t>(result.segments.size()), "segment").c_str(),
              result.retain_ratio);
}

struct PlanOptions {
  std::string video;
  std::optional<double> duration;
  std::string question;
  std::optional<int64_t> budget;
  std::optional<double> ratio;
  std::string method = "holitom";
  std::string selection = "uniform";
  std::string inner = "none";
  std::string model = "0.5b";
  int64_t context = 32768;
  int64_t max_frames = 0;
  int64_t prompt_tokens = 64;
  int64_t answer_tokens = 512;
  int64_t separator_tokens = 7;
  int64_t input_size = 384;
  bool json = false;
};

void print_plan(const compress::TokenPlan& p, const PlanOptions& o) {
  const char* llm = p.request.llm.name.c_str();
  if (o.json) {
    std::printf("{\n  \"duration_s\": %.3f,\n  \"model\": \"%s\",\n", p.request.duration_s, llm);
    std::printf("  \"selection\": \"%s\",\n  \"method\": \"%s\",\n",
                compress::to_string(p.selection), compress::to_string(p.method));
    std::printf("  \"fps\": %g,\n  \"frames\": %lld,\n  \"grid\": %lld,\n  \"times_final\": %s,\n",
                p.fps, static_cast<long long>(p.frames), static_cast<long long>(p.grid),
                p.times_final ? "true" : "false");
    std::printf("  \"planned_frames\": [");
    for (size_t i = 0; i < p.planned.size(); ++i) {
      std::printf("%s{\"time\": %.3f, \"grid\": %lld, \"separator\": \"%s\"}", i ? ", " : "",
                  p.planned[i].time, static_cast<long long>(p.planned[i].grid),
                  compress::separator_text(p.planned[i].time).c_str());
    }
    std::printf("],\n");
    if (p.selection == compress::FrameSelection::kKeyClips) {
      std::printf("  \"f2c_candidates\": %lld,\n  \"f2c_budget_frames\": %lld,\n",
                  static_cast<long long>(p.f2c_candidates),
                  static_cast<long long>(p.f2c_budget_frames));
    }
    std::printf(
        "  \"tokens_before_merge\": %lld,\n  \"retain_ratio\": %.6g,\n  \"merge_cap\": %lld,\n",
        static_cast<long long>(p.tokens_before_merge), p.retain_ratio,
        static_cast<long long>(p.merge_cap));
    std::printf(
        "  \"max_segments\": %lld,\n  \"separator_tokens\": %lld,\n  \"prompt_tokens\": %lld,\n",
        static_cast<long long>(p.max_segments), static_cast<long long>(p.separator_tokens),
        static_cast<long long>(p.prompt_tokens));
    std::printf("  \"visual_tokens\": %lld,\n  \"prefill_tokens\": %lld,\n",
                static_cast<long long>(p.visual_tokens), static_cast<long long>(p.prefill_tokens));
    std::printf("  \"inner\": \"%s\",\n  \"inner_layer\": %lld,\n  \"tokens_after_inner\": %lld,\n",
                compress::to_string(p.inner), static_cast<long long>(p.inner_layer),
                static_cast<long long>(p.tokens_after_inner));
    std::printf(
        "  \"baseline_tokens\": %lld,\n  \"prefill_flops\": %.0f,\n  \"baseline_flops\": %.0f,\n",
        static_cast<long long>(p.baseline_tokens), p.prefill_flops, p.baseline_flops);
    std::printf("  \"flops_ratio\": %.6f,\n  \"header\": \"%s\",\n  \"notes\": [", p.flops_ratio,
                json_escape(compress::separator_header(p.request.duration_s,
                                                       p.method != compress::MergeMethod::kNone))
                    .c_str());
    for (size_t i = 0; i < p.notes.size(); ++i) {
      std::printf("%s\"%s\"", i ? ", " : "", json_escape(p.notes[i]).c_str());
    }
    std::printf("]\n}\n");
    return;
  }
  std::printf("video: %.1f s, model %s, context %lld tokens\n", p.request.duration_s, llm,
              static_cast<long long>(p.request.context_length));
  for (const std::string& note : p.notes)
    std::printf("note: %s\n", note.c_str());
  std::printf("selection: %s, %s at %g fps, grid %lldx%lld%s\n", compress::to_string(p.selection),
              counted(p.frames, "frame").c_str(), p.fps, static_cast<long long>(p.grid),
              static_cast<long long>(p.grid),
              p.times_final ? "" : " (times chosen at run time; uniform ones shown)");
  if (p.selection == compress::FrameSelection::kKeyClips) {
    std::printf("  F2C: %lld candidates at 1 fps, K = %lld full-frame equivalents\n",
                static_cast<long long>(p.f2c_candidates),
                static_cast<long long>(p.f2c_budget_frames));
  }
  std::string times;
  for (size_t i = 0; i < p.planned.size(); ++i) {
    if (i == 12 && p.planned.size() > 14) {
      times += " ... " + compress::separator_text(p.planned.back().time);
      break;
    }
    times += (i ? " " : "") + compress::separator_text(p.planned[i].time);
  }
  if (!times.empty()) std::printf("  frames: %s\n", times.c_str());
  std::printf("merging: %s, %lld -> at most %lld visual tokens (retain ratio %.4g)\n",
              compress::to_string(p.method), static_cast<long long>(p.tokens_before_merge),
              static_cast<long long>(p.merge_cap), p.retain_ratio);
  std::printf("segments: at most %lld, one separator each (%lld tokens)\n",
              static_cast<long long>(p.max_segments), static_cast<long long>(p.separator_tokens));
  std::printf("prefill: %lld prompt + %lld visual = %lld tokens\n",
              static_cast<long long>(p.prompt_tokens), static_cast<long long>(p.visual_tokens),
              static_cast<long long>(p.prefill_tokens));
  if (p.inner != compress::InnerMethod::kNone) {
    std::printf("inner LLM: %s at layer %lld (ratio %.3g): %lld tokens from layer %lld on\n",
                compress::to_string(p.inner), static_cast<long long>(p.inner_layer), p.inner_ratio,
                static_cast<long long>(p.tokens_after_inner),
                static_cast<long long>(p.inner_layer));
  }
  std::printf("prefill FLOPs: %.4g vs %.4g unmerged (%lld tokens): %.2f%%\n", p.prefill_flops,
              p.baseline_flops, static_cast<long long>(p.baseline_tokens), 100.0 * p.flops_ratio);
}

void run_plan(const PlanOptions& o) {
  compress::PlanRequest request;
  if (o.duration) {
    request.duration_s = *o.duration;
  } else if (!o.video.empty()) {
#if defined(CLIPMIND_HAVE_FFMPEG)
    // Only the container and stream headers are read (decode::probe), no frames.
    const decode::VideoInfo info = decode::probe(o.video);
    if (!(info.duration > 0.0)) {
      throw Error(ErrorKind::kInvalidInput,
                  o.video +
                      ": the video has no duration (an empty or damaged stream); pass "
                      "--duration SECONDS");
    }
    request.duration_s = info.duration;
#else
    throw Error(
        ErrorKind::kUnsupported,
        o.video + ": this build has no FFmpeg to read the duration; pass --duration SECONDS");
#endif
  } else {
    throw Error(ErrorKind::kInvalidArgument, "plan: give a VIDEO or --duration SECONDS");
  }
  request.context_length = o.context;
  request.budget_tokens = o.budget;
  request.retain_ratio = o.ratio;
  request.method = compress::parse_merge_method(o.method);
  request.selection = compress::parse_frame_selection(o.selection);
  request.inner = compress::parse_inner_method(o.inner);
  request.max_frames = o.max_frames;
  request.prompt_tokens = o.prompt_tokens;
  request.answer_tokens = o.answer_tokens;
  request.separator_tokens = o.separator_tokens;
  // LLaVA-OneVision's so400m tower: 14-pixel patches, 384 px natively (as encode.input_size).
  request.full_grid = compress::pooled_grid_at_input(o.input_size, 14, 384, "plan: --input-size");
  if (o.model == "0.5b") {
    request.llm = compress::LlmDims::qwen2_0_5b();
  } else if (o.model == "7b") {
    request.llm = compress::LlmDims::qwen2_7b();
  } else {
    throw Error(ErrorKind::kInvalidArgument, "plan: --model must be 0.5b or 7b");
  }
  // Query relevance needs the SigLIP dual encoder, which plan does not load.
  request.have_relevance = false;
  if (!o.question.empty() && request.selection != compress::FrameSelection::kKeyClips) {
    request.selection = compress::FrameSelection::kKeyClips;
  }
  compress::TokenPlan plan = compress::plan_tokens(request);
  if (!o.question.empty()) {
    plan.notes.insert(plan.notes.begin(),
                      "--question given, but relevance needs the SigLIP text/vision encoder, "
                      "which plan does not load");
  }
  print_plan(plan, o);
}

}  // namespace

void add_compress_commands(CLI::App& app) {
  auto merge = std::make_shared<MergeEvalOptions>();
  CLI::App* me = app.add_subcommand(
      "merge-eval",
      "Run HoliTom's outer merge (or ToMe / DivPrune) on pooled tokens [T,N,D] and attention [T,N] "
      "from .npy files; write the merged tokens [M,D] (float32, the authors' order, no trailing "
      "newline) and optionally the (kind, frame_begin, frame_end, pos) index rows");
  me->add_option("--tokens", merge->tokens_path, "pooled visual tokens [T,N,D] (.npy)")->required();
  me->add_option("--attn", merge->attn_path, "pooled vision attention [T,N] (.npy)");
  me->add_option("--ratio", merge->ratio, "retain ratio R (HoliTom's RETAIN_RATIO)");
  me->add_option("--budget", merge->budget,
                 "token budget instead of --ratio (never exceeded; HoliTom picks R to fit)");
  me->add_option("--tau", merge->tau, "similarity threshold (default 0.8)");
  me->add_option("--beta", merge->beta, "centre weight of the static merge (default 0.6)");
  me->add_flag("--no-beta", merge->no_beta, "plain mean of each cluster (the authors' NO_BETA)");
  me->add_option("--knn", merge->knn, "kNN size cap of DPC-KNN (default 7)");
  me->add_option("--max-window", merge->max_window, "longest segment in frames (default 1024)");
  me->add_option("--layout", merge->layout, "one_token (LLaVA-OV, default) or grid (LLaVA-Video)");
  me->add_option("--method", merge->method, "holitom (default), tome or divprune");
  me->add_option("--newline", merge->newline,
                 "grid newline rows: sentinel (1000 + arange(D), as the merge-golden fixture; "
                 "default), zeros, or omit");
  me->add_option("--newline-file", merge->newline_file, "grid newline vector [D] (.npy)");
  me->add_option("--noise-seed", merge->noise_seed,
                 "add the authors' 1e-6 density noise from this seed (off by default)");
  me->add_option("--window-frames", merge->window_frames, "ToMe / DivPrune window in frames");
  me->add_option("--out", merge->out_path, "merged tokens [M,D] (.npy)")->required();
  me->add_option("--index-out", merge->index_out_path, "index rows [M,4] int32 (.npy)");
  me->callback([merge] { run_merge_eval(*merge); });

  auto plan = std::make_shared<PlanOptions>();
  CLI::App* pl = app.add_subcommand(
      "plan",
      "Print the token budget plan for a video: frames and times, resolutions, merge ratio, "
      "token counts per stage, and prefill FLOPs against the unmerged baseline");
  pl->add_option("video", plan->video, "video file (its duration is probed)");
  pl->add_option("--duration", plan->duration, "video duration in seconds (instead of probing)");
  pl->add_option("--question", plan->question, "the question (asks for F2C key clips)");
  pl->add_option("--budget", plan->budget, "visual tokens incl. separators (default 6272)");
  pl->add_option("--ratio", plan->ratio, "retain ratio instead of --budget");
  pl->add_option("--method", plan->method, "holitom (default), tome, divprune or none");
  pl->add_option("--selection", plan->selection, "uniform (default), scene or f2c");
  pl->add_option("--inner", plan->inner, "inner-LLM reducer: none (default), holitom or fastv");
  pl->add_option("--model", plan->model, "0.5b (default) or 7b, for FLOPs");
  pl->add_option("--context", plan->context, "LLM context length (default 32768)");
  pl->add_option("--max-frames", plan->max_frames, "frame cap (default 32 merging, 128 not)");
  pl->add_option("--prompt-tokens", plan->prompt_tokens, "prompt estimate (default 64)");
  pl->add_option("--answer-tokens", plan->answer_tokens, "answer reserve (default 512)");
  pl->add_option("--separator-tokens", plan->separator_tokens, "tokens per separator (default 7)");
  pl->add_option("--input-size", plan->input_size,
                 "vision tower input in pixels, as encode.input_size (default 384)");
  pl->add_flag("--json", plan->json, "print JSON");
  pl->callback([plan] { run_plan(*plan); });
}

}  // namespace clipmind::cli
