#include "pipeline/video_prep.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

#include <ATen/ATen.h>

#include "clipmind/counted.h"
#include "clipmind/error.h"
#include "compress/budget/prefill_flops.h"
#include "compress/separators/time_separators.h"
#include "decode/frame_sampler.h"
#include "models/llm/decoder.h"
#include "models/llm/runtime.h"
#include "models/siglip/dual_encoder.h"
#include "models/tokenizer/bpe_tokenizer.h"
#include "models/vlm/llava_onevision.h"
#include "pipeline/content_hash.h"
#include "pipeline/errors.h"

namespace clipmind::pipeline {

namespace {

std::string times_digest(const std::vector<double>& times) {
  std::string text;
  for (const double t : times)
    text += std::to_string(std::llround(t * 1000.0)) + ",";
  return sha256_hex(text).substr(0, 16);
}

}  // namespace

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void StageClock::add(const std::string& stage, double seconds) {
  for (StageTiming& s : stages_) {
    if (s.stage == stage) {
      s.seconds += seconds;
      return;
    }
  }
  stages_.push_back({stage, seconds});
}

void StageClock::add_since(const std::string& stage, std::chrono::steady_clock::time_point t) {
  add(stage, seconds_since(t));
}

double StageClock::elapsed() const {
  return seconds_since(start_);
}

std::vector<StageTiming> StageClock::finish() const {
  std::vector<StageTiming> out = stages_;
  out.push_back({"total", elapsed()});
  return out;
}

void check_video_path(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status) && decode::looks_like_url(file)) {
    throw StageError(ErrorKind::kNotFound, "probe", file,
                     "is a URL; clipmind reads local video files only",
                     "Download the video first (for example: curl -LO URL, or yt-dlp URL) and "
                     "pass the file.");
  }
  if (std::filesystem::is_directory(status)) {
    throw StageError(ErrorKind::kInvalidInput, "probe", file, "is a folder, not a video file",
                     "Pass one video file. To caption or index every video in a folder: "
                     "clipmind caption FOLDER --out DIR, or clipmind index FOLDER --db INDEX.");
  }
}

ProbedVideo probe_video(const std::filesystem::path& path, const PipelineConfig& config, bool hash,
                        ProgressTracker& progress, const CancelToken& cancel, StageClock& clock,
                        const Logger& log, decode::MediaIndexCache* index_cache) {
  ProbedVideo out;
  const std::string file = path.string();
  {
    const auto t = std::chrono::steady_clock::now();
    auto stage = progress.begin("probe", 1, "files", file);
    check_video_path(path);
    out.info = in_stage("probe", file, [&] { return decode::probe(path, index_cache); });
    if (!(out.info.duration > 0.0)) {
      throw StageError(ErrorKind::kInvalidInput, "probe", file,
                       "the video has no duration (an empty or damaged stream)");
    }
    stage.advance();
    stage.finish();
    clock.add_since("probe", t);
  }
  if (out.info.interlaced()) {
    log.debug("decode", file + ": interlaced video (" +
                            decode::describe_field_order(out.info.field_order) +
                            "): frames are deinterlaced (estdif) before scaling");
  }
  out.summary.path = path;
  out.summary.duration_s = out.info.duration;
  out.summary.header_duration_s = out.info.header_duration;
  if (out.info.header_duration > 0) {
    char text[160];
    std::snprintf(text, sizeof text,
                  ": the file is cut short: its header promises %.1f s of video but the data "
                  "ends at %.1f s; only that part is used",
                  out.info.header_duration, out.info.duration);
    log.warning("probe", file + text);
  }
  out.summary.width = out.info.display_width;
  out.summary.height = out.info.display_height;
  out.summary.fps = out.info.frame_rate();
  out.summary.frame_count = out.info.frame_count;
  out.summary.codec = out.info.codec;
  if (hash) {
    const auto t = std::chrono::steady_clock::now();
    auto stage = progress.begin("hash", 1, "files", file);
    const ContentHash h = in_stage("hash", file, [&] {
      return content_hash(path, parse_content_hash_mode(config.cache.hash), cancel);
    });
    out.summary.content_hash = h.hex;
    stage.advance();
    stage.finish();
    clock.add_since("hash", t);
  }
  return out;
}

void for_each_sample(const std::filesystem::path& path, const std::vector<double>& times,
                     const decode::SamplerOptions& options,
                     const std::function<void(decode::Sample&&)>& take) {
  const std::string file = path.string();
  std::optional<decode::FrameSampler> sampler;
  in_stage("decode", file, [&] { sampler.emplace(path, times, options); });
  while (true) {
    std::optional<decode::Sample> sample =
        in_stage("decode", file, [&] { return sampler->next(); });
    if (!sample) break;
    take(std::move(*sample));
  }
}

void log_index_notice(const Logger& log, const decode::IndexNotice& notice) {
  char text[200];
  const std::string keyframes = counted(static_cast<int64_t>(notice.keyframes), "keyframe");
  if (notice.read) {
    std::snprintf(text, sizeof text,
                  ": read all its packets once to index it (%s, %.2f s); later probes "
                  "and samplers of this file reuse the index",
                  keyframes.c_str(), notice.seconds);
  } else {
    std::snprintf(text, sizeof text,
                  ": reused its packet index (%s) instead of reading the file again",
                  keyframes.c_str());
  }
  log.debug("decode", notice.file.string() + text);
}

at::Tensor low_res_frames(const std::filesystem::path& path, const std::vector<double>& times,
                          const CancelToken& cancel, const Logger& log,
                          const std::shared_ptr<decode::MediaIndexCache>& index_cache, int width,
                          int height) {
  decode::SamplerOptions options;
  options.width = width;
  options.height = height;
  options.resize = decode::Resize::kExact;
  // Scene cuts tolerate a frame or two of offset; keyframe-near seeks are much cheaper.
  options.mode = decode::SampleMode::kFast;
  options.fast_tolerance = times.size() > 1 ? 0.5 * (times[1] - times[0]) : 0.5;
  options.cancel = cancel;
  options.index_cache = index_cache;
  options.on_warning = [&](const std::string& w) { log.debug("decode", w); };
  at::Tensor out = at::zeros({static_cast<int64_t>(times.size()), height, width, 3}, at::kByte);
  std::vector<bool> have(times.size(), false);
  const std::string file = path.string();
  for_each_sample(path, times, options, [&](decode::Sample&& sample) {
    const decode::Frame& f = sample.frame;
    if (f.width != width || f.height != height) return;
    std::memcpy(out[static_cast<int64_t>(sample.request)].data_ptr(), f.rgb.data(), f.rgb.size());
    have[sample.request] = true;
  });
  // Fill gaps from the nearest decoded neighbour (earlier first).
  int64_t last = -1;
  for (size_t i = 0; i < times.size(); ++i) {
    if (have[i]) {
      last = static_cast<int64_t>(i);
    } else if (last >= 0) {
      out[static_cast<int64_t>(i)].copy_(out[last]);
    }
  }
  if (last < 0) {
    throw StageError(ErrorKind::kInvalidInput, "decode", file, "no frame could be decoded");
  }
  for (size_t i = 0; i < times.size() && !have[i]; ++i) {
    out[static_cast<int64_t>(i)].copy_(out[last]);  // leading gap: the first decoded one
  }
  return out;
}

at::Tensor embed_frames(const models::SiglipDualEncoder& encoder,
                        std::span<const decode::Frame> frames, const CancelToken& cancel) {
  std::vector<models::RgbImageView> views;
  for (const decode::Frame& f : frames)
    views.push_back({f.rgb.data(), f.height, f.width, 0});
  models::ImageEmbedOptions options;
  options.cancel = cancel;
  return encoder.embed_images(views, options).to(at::kCPU).to(at::kFloat);
}

void embed_sampled_frames(const models::SiglipDualEncoder& encoder,
                          const std::filesystem::path& path, const std::vector<double>& times,
                          const decode::SamplerOptions& options, const std::string& embed_stage,
                          const EmbeddedBatch& take) {
  constexpr size_t kBatch = 8;
  const std::string file = path.string();
  std::vector<decode::Frame> batch;
  std::vector<size_t> requests;
  auto flush = [&] {
    if (batch.empty()) return;
    const at::Tensor embeddings =
        in_stage(embed_stage, file, [&] { return embed_frames(encoder, batch, options.cancel); });
    take(embeddings, requests);
    batch.clear();
    requests.clear();
  };
  for_each_sample(path, times, options, [&](decode::Sample&& sample) {
    batch.push_back(std::move(sample.frame));
    requests.push_back(sample.request);
    if (batch.size() >= kBatch) flush();
  });
  flush();
}

RelevanceScores question_relevance(const models::SiglipDualEncoder& encoder,
                                   const std::string& relevance_id,
                                   const std::filesystem::path& path,
                                   const std::string& content_hash, const std::string& question,
                                   const std::vector<double>& times, TokenCache* cache,
                                   ProgressTracker& progress, const CancelToken& cancel,
                                   const Logger& log,
                                   const std::shared_ptr<decode::MediaIndexCache>& index_cache) {
  RelevanceScores out;
  // Version 2: times count from the file's start, not the video stream's.
  const std::string key = make_cache_key({{"kind", "relevance-image-embeddings"},
                                          {"version", "2"},
                                          {"video", content_hash},
                                          {"model", relevance_id},
                                          {"dtype", models::dtype_name(encoder.runtime().dtype)},
                                          {"times", times_digest(times)},
                                          {"count", std::to_string(times.size())}});
  if (cache && !content_hash.empty()) {
    if (auto entry = cache->get(key)) {
      const CacheArray* e = entry->find("embeddings");
      if (e && e->dtype == "float32" && e->shape.size() == 2 &&
          e->shape[0] == static_cast<int64_t>(times.size())) {
        out.embeddings = at::empty(e->shape, at::kFloat);
        std::memcpy(out.embeddings.data_ptr(), e->bytes.data(), e->bytes.size());
      }
    }
  }
  if (!out.embeddings.defined()) {
    const int64_t size = encoder.config().vision.image_size;
    auto stage = progress.begin("relevance", static_cast<int64_t>(times.size()), "frames");
    decode::SamplerOptions options;
    options.width = static_cast<int>(size);
    options.height = static_cast<int>(size);
    options.resize = decode::Resize::kExact;
    options.mode = decode::SampleMode::kFast;
    options.fast_tolerance = 0.5;
    options.cancel = cancel;
    options.index_cache = index_cache;
    options.on_warning = [&](const std::string& w) { log.debug("decode", w); };
    std::vector<at::Tensor> rows(times.size());
    embed_sampled_frames(encoder, path, times, options, "relevance",
                         [&](const at::Tensor& e, std::span<const size_t> requests) {
                           for (size_t k = 0; k < requests.size(); ++k)
                             rows[requests[k]] = e[static_cast<int64_t>(k)];
                           stage.advance(static_cast<int64_t>(requests.size()));
                         });
    stage.finish();
    // A candidate no frame was decoded for takes its neighbour's embedding.
    int64_t last = -1;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].defined()) last = static_cast<int64_t>(i);
    }
    if (last < 0) {
      throw StageError(ErrorKind::kInvalidInput, "decode", path.string(),
                       "no frame could be decoded");
    }
    at::Tensor previous = rows[static_cast<size_t>(last)];
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].defined()) {
        previous = rows[i];
        break;
      }
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!rows[i].defined()) rows[i] = previous;
      previous = rows[i];
    }
    out.embeddings = at::stack(rows).contiguous();
    if (cache && !content_hash.empty()) {
      CacheEntry entry;
      entry.meta = "{}";
      CacheArray a{"embeddings", "float32", out.embeddings.sizes().vec(), {}};
      a.bytes.assign(static_cast<const char*>(out.embeddings.data_ptr()), out.embeddings.nbytes());
      entry.arrays.push_back(std::move(a));
      cache->put(key, entry);
    }
  }
  const std::vector<std::string> texts = {question};
  // Labelled like the image side: a failure here is the relevance model's, not the planner's.
  const at::Tensor text = in_stage("relevance", path.string(), [&] {
    return encoder.embed_texts(texts, cancel).to(at::kCPU).to(at::kFloat)[0];
  });
  const at::Tensor scores = at::mv(out.embeddings, text).to(at::kDouble).contiguous();
  out.scores.assign(scores.data_ptr<double>(), scores.data_ptr<double>() + scores.numel());
  return out;
}

VideoParts video_parts(const compress::MergeResult& merged, double duration_s, bool separators,
                       const models::Tokenizer& tokenizer, int64_t video) {
  VideoParts out;
  bool spans = false;
  for (const auto& s : merged.segments) {
    spans = spans || compress::span_separator_text(s.t_begin, s.t_end) !=
                         compress::separator_text(s.t_begin);
  }
  if (separators) {
    const std::string header = compress::separator_header(duration_s, spans) + "\n";
    out.header_tokens = static_cast<int64_t>(tokenizer.encode(header, false).size());
    out.parts.push_back(models::PromptPart::make_raw(header));
  }
  for (const compress::MergedSegment& s : merged.segments) {
    if (!s.tokens.defined() || s.tokens.size(0) == 0) continue;
    SegmentSpan span;
    span.t_begin = s.t_begin;
    span.t_end = s.t_end;
    span.frames = s.frame_end - s.frame_begin + 1;
    span.tokens = s.tokens.size(0);
    if (separators) {
      span.separator = compress::separator_for(s);
      out.separator_tokens += static_cast<int64_t>(tokenizer.encode(span.separator, false).size());
      out.parts.push_back(models::PromptPart::make_raw(span.separator));
    }
    models::VisualBlock block;
    block.tokens = s.tokens;
    block.t_begin = s.t_begin;
    block.t_end = s.t_end;
    block.video = video;
    out.parts.push_back(models::PromptPart::make_visual(std::move(block)));
    out.segments.push_back(std::move(span));
  }
  return out;
}

int64_t separator_cost(double duration_s, const models::Tokenizer& tokenizer) {
  return static_cast<int64_t>(
      tokenizer.encode(compress::span_separator_text(duration_s * 0.9, duration_s), false).size());
}

std::pair<models::PromptInput, models::PromptInput> split_prompt(const models::PromptInput& input,
                                                                 int64_t at) {
  models::PromptInput head;
  models::PromptInput tail;
  int64_t position = 0;
  for (const models::PromptInput::Part& part : input.parts()) {
    const int64_t n =
        part.embeddings.defined() ? part.embeddings.size(0) : static_cast<int64_t>(part.ids.size());
    const int64_t cut = std::clamp<int64_t>(at - position, 0, n);
    if (part.embeddings.defined()) {
      if (cut > 0) head.add_embeddings(part.embeddings.slice(0, 0, cut));
      if (cut < n) tail.add_embeddings(part.embeddings.slice(0, cut, n));
    } else {
      const std::span<const int64_t> ids(part.ids);
      if (cut > 0) head.add_tokens(ids.subspan(0, static_cast<size_t>(cut)));
      if (cut < n) tail.add_tokens(ids.subspan(static_cast<size_t>(cut)));
    }
    position += n;
  }
  return {std::move(head), std::move(tail)};
}

compress::LlmDims llm_dims(const models::LlavaOnevision& vlm) {
  const models::DecoderConfig& c = vlm.decoder().config();
  return {c.model_type(), c.hidden_size, c.intermediate_size, c.num_layers};
}

}  // namespace clipmind::pipeline
