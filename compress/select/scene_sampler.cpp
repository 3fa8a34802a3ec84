#include "compress/select/scene_sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "compress/merge/merge_common.h"
#include "compress/select/uniform.h"

namespace clipmind::compress {
namespace {

[[noreturn]] void bad(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, "scene detection: " + message);
}

}  // namespace

std::vector<double> frame_change_scores(const at::Tensor& frames,
                                        const SceneDetectOptions& options) {
  if (!frames.defined() || frames.dim() != 4 || frames.size(3) != 3) {
    bad("frames must be [T, H, W, 3] RGB");
  }
  if (frames.scalar_type() != at::kByte) bad("frames must be uint8");
  if (frames.size(1) < 1 || frames.size(2) < 1) bad("frames must not be empty");
  if (options.bins < 1 || options.bins > 256) bad("bins must be in 1..256");
  const int64_t count = frames.size(0);
  std::vector<double> scores;
  if (count < 2) return scores;
  const at::Tensor x = frames.to(at::kFloat);
  at::Tensor distance;
  if (options.metric == SceneMetric::kPixelDiff) {
    // ITU-R BT.601 luma.
    const at::Tensor grey =
        x.select(3, 0) * 0.299 + x.select(3, 1) * 0.587 + x.select(3, 2) * 0.114;
    distance = (grey.slice(0, 1) - grey.slice(0, 0, count - 1)).abs().mean({1, 2}) / 255.0;
  } else {
    // Per-channel histograms, normalised to sum 1: [T, bins] for each channel.
    const double pixels = static_cast<double>(frames.size(1) * frames.size(2));
    distance = at::zeros({count - 1}, x.options());
    for (int64_t c = 0; c < 3; ++c) {
      const at::Tensor bin =
          (frames.select(3, c).to(at::kLong) * options.bins).div(256, "floor").reshape({count, -1});
      const at::Tensor hist = at::zeros({count, options.bins}, x.options())
                                  .scatter_add_(1, bin, at::ones_like(bin, x.options())) /
                              pixels;
      distance += (hist.slice(0, 1) - hist.slice(0, 0, count - 1)).abs().sum(1) * 0.5;
    }
    distance = distance / 3.0;
  }
  const at::Tensor host = distance.to(at::kCPU).to(at::kDouble).contiguous();
  scores.assign(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
  return scores;
}

std::vector<int64_t> detect_scene_cuts(const at::Tensor& frames,
                                       const SceneDetectOptions& options) {
  const std::vector<double> scores = frame_change_scores(frames, options);
  std::vector<int64_t> cuts;
  int64_t last = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    const auto start = static_cast<int64_t>(i) + 1;
    if (scores[i] >= options.threshold && start - last >= options.min_scene_frames) {
      cuts.push_back(start);
      last = start;
    }
  }
  return cuts;
}

std::vector<Scene> scenes_from_cuts(std::span<const int64_t> cuts, std::span<const double> times,
                                    double duration_seconds) {
  if (!(duration_seconds > 0.0) || !std::isfinite(duration_seconds)) bad("bad duration");
  std::vector<Scene> scenes;
  double begin = 0.0;
  int64_t previous = 0;
  for (const int64_t cut : cuts) {
    if (cut <= previous || cut >= static_cast<int64_t>(times.size())) {
      bad("cuts must be ascending frame indices in 1..T-1");
    }
    const double t = std::clamp(times[static_cast<size_t>(cut)], begin, duration_seconds);
    scenes.push_back({begin, t});
    begin = t;
    previous = cut;
  }
  scenes.push_back({begin, duration_seconds});
  return scenes;
}

std::vector<double> scene_aware_times(std::span<const Scene> scenes, int64_t count) {
  if (count < 0) bad("negative frame count");
  std::vector<double> times;
  if (count == 0 || scenes.empty()) return times;
  const auto n_scenes = static_cast<int64_t>(scenes.size());
  std::vector<int64_t> per_scene(scenes.size(), 0);
  if (count < n_scenes) {
    std::vector<size_t> order(scenes.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return scenes[a].t_end - scenes[a].t_begin > scenes[b].t_end - scenes[b].t_begin;
    });
    for (int64_t i = 0; i < count; ++i)
      per_scene[order[static_cast<size_t>(i)]] = 1;
  } else {
    // One each, the rest in proportion to length (largest remainder on millisecond lengths;
    // a share is capped at the length in ms, so very short videos hand the rest round-robin).
    std::vector<int64_t> lengths;
    for (const Scene& scene : scenes) {
      lengths.push_back(std::max<int64_t>(1, std::llround((scene.t_end - scene.t_begin) * 1000.0)));
    }
    std::vector<int64_t> extra = detail::split_budget(count - n_scenes, lengths);
    int64_t assigned = std::accumulate(extra.begin(), extra.end(), int64_t{0});
    for (size_t i = 0; assigned < count - n_scenes; i = (i + 1) % extra.size()) {
      ++extra[i];
      ++assigned;
    }
    for (size_t i = 0; i < scenes.size(); ++i)
      per_scene[i] = 1 + extra[i];
  }
  for (size_t i = 0; i < scenes.size(); ++i) {
    const double length = scenes[i].t_end - scenes[i].t_begin;
    for (int64_t j = 0; j < per_scene[i]; ++j) {
      times.push_back(scenes[i].t_begin +
                      (static_cast<double>(j) + 0.5) * length / static_cast<double>(per_scene[i]));
    }
  }
  return times;
}

std::vector<double> query_free_times(double duration_seconds, int64_t count,
                                     std::span<const Scene> scenes) {
  if (scenes.size() <= 1) return uniform_times(duration_seconds, count);
  return scene_aware_times(scenes, count);
}

}  // namespace clipmind::compress
