// Pipeline settings: one struct with a default for everything, read from a JSON config file and
// overridden by command-line flags (defaults < file < flags). Every key, its default and its
// meaning are documented in docs/pipeline.md ("Configuration"), and a test checks that the
// documented defaults are exactly default_config_json().
//
// Keys are nested objects in the file ("merge": {"method": "tome"}) and dotted paths in
// overrides ("merge.method" = "tome"). Unknown keys, wrong types and out-of-range values throw
// clipmind::Error(kInvalidInput) naming the file and the key (kInvalidArgument for overrides),
// so a typo never silently falls back to a default.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace clipmind::pipeline {

struct SelectConfig {
  std::string method = "auto";   // auto|f2c|anylength|scene|uniform (auto: f2c with a relevance
                                 // model, else scene)
  int64_t max_frames = 0;        // frames given to the VLM; 0 = planner default (32 when
                                 // merging, 128 without)
  int64_t max_candidates = 512;  // cap on F2C's 1 fps candidates
  double f2c_lambda_r = 0.5;
  double f2c_lambda_l = 0.05;
  double f2c_s_max = 2.0;
  double scene_threshold = 0.4;
  int64_t scene_max_probe_frames = 1024;  // low-resolution frames decoded for scene cuts
};

// Neither set (the default): the planner's defaults, i.e. keep 10% of the frames' tokens when
// merging (HoliTom's released R) and 6272 visual tokens (32 x 196) without merging.
struct BudgetConfig {
  std::optional<int64_t> tokens;  // visual tokens incl. separators
  std::optional<double> ratio;    // or: share of the unmerged frames' tokens to keep
};

struct MergeConfig {
  std::string method = "holitom";  // holitom|tome|divprune|none
  // HoliTom's τ; unset = the pairing of HoliTom's released scripts (holitom_tau()).
  std::optional<double> tau;
  double beta = 0.6;
  int64_t k_max = 7;
  int64_t max_window = 1024;
  int64_t tome_window_frames = 4;
  int64_t divprune_window_frames = 0;
};

struct InnerConfig {
  // auto = holitom when merge.method is holitom (full HoliTom, as in its headline numbers),
  // else none. Only one-shot questions use it: a chat keeps the video prefix in the KV cache.
  std::string method = "auto";  // auto|none|holitom|fastv
  int64_t layer = 0;            // K; 0 = default for the method and model
  double ratio = 0.5;
};

struct DecodeConfig {
  std::string mode = "accurate";  // accurate|fast|keyframe
  int64_t queue_frames = 8;       // decoded frames waiting for the encoder, at most
};

struct EncodeConfig {
  int64_t batch_frames = 4;  // frames per vision-tower forward
  // Square input resolution of the vision tower in pixels (the tower sees floor(size / patch)
  // patches per side); 0 = the model's own (384 for SigLIP-so400m). Smaller is faster (tower
  // cost ~ patches^2) and gives fewer tokens per frame; see docs/pipeline.md "Input resolution".
  int64_t input_size = 0;
  // Frame reuse: a decoded frame whose tower input matches the previous encoded frame's at this
  // PSNR (dB) or more reuses its tokens instead of running the tower; identical pictures always
  // match; 0 = off. See docs/pipeline.md "Frame reuse".
  double reuse_psnr_db = 50.0;
};

struct GenerateConfig {
  int64_t max_new_tokens = 512;
  double temperature = 0.0;  // 0 = greedy
  int64_t top_k = 0;
  double top_p = 1.0;
  uint64_t seed = 0;
  std::string template_name = "hf_hub";  // hf_hub|llava_qwen (JSON key "template")
  std::string system_prompt;             // "" = the template's default
};

struct CacheConfig {
  bool enabled = true;
  std::string dir;               // "" = $XDG_CACHE_HOME/clipmind (or ~/.cache/clipmind)
  double max_gb = 4.0;           // oldest entries are evicted above this
  double ann_max_gb = 8.0;       // index-ann/: other databases' ANN copies evicted above this
  std::string hash = "sampled";  // sampled|full (see content_hash.h)
};

struct CaptionConfig {
  std::string segment = "auto";    // auto (HoliTom segments) or a window length in seconds
  double min_segment_s = 2.0;      // auto: shorter segments join their neighbour
  double max_segment_s = 60.0;     // auto: longer segments are split
  int64_t frames_per_segment = 8;  // frames shown to the model per caption
  double sample_fps = 0.5;         // auto: frames sampled over the video for segmentation
  int64_t max_frames = 256;        // auto: at most this many (lower fps for long videos)
  std::string prompt = "Describe what happens in this part of the video in one sentence.";
  int64_t max_new_tokens = 48;
  std::string format = "srt";  // srt|vtt|jsonl
  bool overwrite = false;      // false: skip outputs that are already complete
};

struct ChatConfig {
  bool history = true;  // follow-ups see earlier turns (else only the video and the question)
};

struct PipelineConfig {
  std::string model = "llava-hf/llava-onevision-qwen2-0.5b-ov-hf";
  std::string relevance_model;  // SigLIP dual encoder for F2C; "" = none
  std::string device = "cpu";   // cpu|cuda|cuda:N
  // auto|float32|bfloat16|float16. auto: bfloat16 on CUDA and on CPUs with native bfloat16
  // (models::choose_dtype), float32 elsewhere.
  std::string dtype = "auto";
  int64_t threads = 0;     // 0 = all cores
  bool offline = false;    // never download models
  bool separators = true;  // TimeMarker separators before frames / segments
  std::string log_level = "info";
  SelectConfig select;
  BudgetConfig budget;
  MergeConfig merge;
  InnerConfig inner;
  DecodeConfig decode;
  EncodeConfig encode;
  GenerateConfig generate;
  CacheConfig cache;
  CaptionConfig caption;
  ChatConfig chat;
};

// The defaults as JSON (the documented config file).
nlohmann::json default_config_json();
nlohmann::json to_json(const PipelineConfig& config);
// Strict conversion; `source` names the file (or "--set") in error messages.
PipelineConfig config_from_json(const nlohmann::json& json, const std::string& source);
// Checks ranges and enumerations; throws kInvalidArgument naming the key.
void validate(const PipelineConfig& config);

// One override: a dotted key and a value. The value is JSON when it parses as JSON
// ("0.7", "true", "null", "[1]"), else a string ("tome").
struct ConfigOverride {
  std::string key;
  std::string value;
};

// Where settings come from, in increasing priority.
struct ConfigSources {
  std::optional<std::filesystem::path> file;  // --config; else $CLIPMIND_CONFIG; else the
                                              // user file when it exists
  bool use_user_file = true;                  // look for the user's config.json at all
  std::vector<ConfigOverride> overrides;      // flags, in order
};

// The user's config file: $XDG_CONFIG_HOME/clipmind/config.json or
// ~/.config/clipmind/config.json (it need not exist).
std::filesystem::path user_config_path();

// Builds the effective configuration and says where it came from.
struct LoadedConfig {
  PipelineConfig config;
  std::optional<std::filesystem::path> file;  // the file that was read, if any
};
LoadedConfig load_config(const ConfigSources& sources);

// Applies overrides to a JSON document (used by load_config; exposed for tests).
void apply_overrides(nlohmann::json& json, const std::vector<ConfigOverride>& overrides);

// HoliTom's τ for a merge that keeps `keep_ratio` of the frames' tokens: merge.tau when set,
// else the pairing of HoliTom's released scripts (methods.md "HoliTom" (e)): τ = 0.65 with
// R = 0.10 and 0.80 with R = 0.15-0.25. Ratios below 0.125 (nearer 0.10) take 0.65.
double holitom_tau(const MergeConfig& merge, double keep_ratio);
inline constexpr double kHolitomTau = 0.80;          // HoliTom's R = 0.15-0.25 scripts
inline constexpr double kHolitomTauLowRatio = 0.65;  // its R = 0.10 script

// The inner-LLM reduction a one-shot question uses: inner.method with "auto" resolved (holitom
// when merging with HoliTom and the LLM has a layer to merge after, else none).
std::string inner_method(const PipelineConfig& config, int64_t llm_layers);

// The cache folder the config names, resolving "" to the user cache directory.
std::filesystem::path resolve_cache_dir(const CacheConfig& cache);

}  // namespace clipmind::pipeline
