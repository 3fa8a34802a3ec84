// The merge stage: encoded frames -> segments of merged visual tokens, with the method the
// config names (holitom | tome | divprune | none), held to the planned token cap.
//
// EncodedFrame is how the pipeline carries one frame's visual tokens between stages (and in the
// token cache): its time, its pooled grid side, tokens [g*g, D] and HoliTom's per-token vision
// attention [g*g]. HoliTom, ToMe and DivPrune need every frame at the same grid; "none" takes
// any mix (F2C's adaptive resolution) and emits one segment per frame with all its tokens.
// Throws clipmind::Error(kInvalidArgument) for a method that cannot take the frames.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "compress/merge/merged_segment.h"
#include "pipeline/config.h"

namespace clipmind::pipeline {

struct EncodedFrame {
  double requested_time = 0.0;  // the time selection asked for
  double time = 0.0;            // the decoded frame's own presentation time
  int64_t grid = 0;             // g: tokens are g*g
  at::Tensor tokens;            // [g*g, D]
  at::Tensor attention;         // [g*g] float32 (undefined when the encoder gave none)
  bool from_cache = false;
  bool reused =
      false;  // tokens copied from an earlier frame with the same picture (encode_stage.h)
};

struct MergeSettings {
  std::string method = "holitom";  // holitom | tome | divprune | none
  int64_t cap = 0;                 // at most this many visual tokens (<= 0: no cap)
  double tau = 0.8;
  double beta = 0.6;
  int64_t k_max = 7;
  int64_t max_window = 1024;
  int64_t tome_window_frames = 4;
  int64_t divprune_window_frames = 0;
};

// The config's merge section with the planned token cap for frames holding `input_tokens`
// tokens in all (τ from holitom_tau() at the keep ratio cap / input_tokens).
MergeSettings to_merge_settings(const MergeConfig& merge, int64_t cap, int64_t input_tokens);

compress::MergeResult merge_frames(const std::vector<EncodedFrame>& frames,
                                   const MergeSettings& settings);

}  // namespace clipmind::pipeline
