// Scene-aware frame selection from cheap low-resolution frames, and the query-free fallback
// (captioning, indexing): scene-aware + uniform.
//
// The caller decodes small frames (e.g. 64x36 at 1 fps; decode/ owns decoding) and passes them
// as one uint8 tensor [T, H, W, 3] (RGB) with their times. A scene cut is where consecutive
// frames differ by more than a threshold, by colour histogram (default) or by mean grey-level
// difference. Frames are then spread over scenes: every scene gets at least one (when there are
// at least as many frames as scenes), the rest in proportion to scene length, evenly spaced
// inside each scene (centre-aligned, so no sample sits on a cut). With one scene this is
// uniform sampling. Pure; any device for the frames; throws clipmind::Error(kInvalidArgument).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <ATen/core/Tensor.h>

namespace clipmind::compress {

enum class SceneMetric {
  kHistogram,  // half the L1 distance of per-channel colour histograms, averaged over RGB
  kPixelDiff,  // mean absolute grey-level difference / 255
};

struct SceneDetectOptions {
  SceneMetric metric = SceneMetric::kHistogram;
  int64_t bins = 16;  // histogram bins per channel
  // A cut where the change score is >= this (scores are in [0, 1]). 0.4 suits kHistogram; use
  // about 0.1 for kPixelDiff (two colours of similar brightness differ little in grey).
  double threshold = 0.4;
  int64_t min_scene_frames = 1;  // a cut closer than this to the previous cut is ignored
};

// Change score between frame i and i+1 for i = 0..T-2, in [0, 1].
std::vector<double> frame_change_scores(const at::Tensor& frames,
                                        const SceneDetectOptions& options = {});

// Indices i (1..T-1) of the frames that start a new scene, ascending.
std::vector<int64_t> detect_scene_cuts(const at::Tensor& frames,
                                       const SceneDetectOptions& options = {});

struct Scene {
  double t_begin = 0.0;  // the first frame's time (0 for the first scene)
  double t_end = 0.0;    // the next scene's first frame time (the duration for the last)
};

// Scenes from cut indices over frames at `times` (ascending) in a video of `duration` seconds.
std::vector<Scene> scenes_from_cuts(std::span<const int64_t> cuts, std::span<const double> times,
                                    double duration_seconds);

// `count` frame times spread over the scenes as described above, ascending. With fewer frames
// than scenes, the longest scenes (earlier first on ties) get one frame each at their centre.
std::vector<double> scene_aware_times(std::span<const Scene> scenes, int64_t count);

// Query-free selection: scene-aware when scenes are known, uniform (t_k = k*D/N) when not.
std::vector<double> query_free_times(double duration_seconds, int64_t count,
                                     std::span<const Scene> scenes = {});

}  // namespace clipmind::compress
