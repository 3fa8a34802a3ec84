#include "pipeline/segment_analysis.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <ATen/ATen.h>

#include "compress/select/scene_sampler.h"
#include "compress/select/uniform.h"
#include "decode/frame_sampler.h"
#include "decode/image_writer.h"
#include "models/siglip/dual_encoder.h"
#include "pipeline/caption_spans.h"
#include "pipeline/errors.h"
#include "pipeline/session_internal.h"

namespace clipmind::pipeline {

namespace {

const models::SiglipDualEncoder& relevance_model(SessionState& s, ProgressTracker& progress,
                                                 const CancelToken& cancel) {
  if (!s.models.has_relevance()) {
    throw StageError(ErrorKind::kInvalidArgument, "load model", "",
                     "indexing needs a SigLIP dual encoder for segment embeddings",
                     "Set relevance_model in the config or pass --relevance-model (a "
                     "google/siglip-* folder or repo id).");
  }
  s.models.load_relevance(progress, cancel);
  return *s.models.relevance();
}

}  // namespace

SegmentAnalysis analyze_segments(Session& session, const std::filesystem::path& video,
                                 const SegmentAnalysisOptions& options,
                                 const JobCallbacks& callbacks, const CancelToken& cancel) {
  SessionState& s = session.state();
  s.set_threads();
  ProgressTracker progress(callbacks.on_progress,
                           {"probe", "load model", "scenes", "embed", "thumbnails", "captions"});
  StageClock clock;
  const std::string file = video.string();
  const ProbedVideo probed =
      probe_video(video, s.config, false, progress, cancel, clock, s.log, s.media_index.get());
  const models::SiglipDualEncoder& encoder = relevance_model(s, progress, cancel);
  const double duration = probed.info.duration;

  // Scenes -> spans.
  std::vector<CaptionSpan> spans;
  {
    auto stage = progress.begin("scenes", 1, "steps", file);
    const auto count =
        std::clamp<int64_t>(static_cast<int64_t>(std::ceil(duration)), 2,
                            std::max<int64_t>(2, s.config.select.scene_max_probe_frames));
    const std::vector<double> times = compress::uniform_times(duration, count);
    const at::Tensor frames = in_stage(
        "scenes", file, [&] { return low_res_frames(video, times, cancel, s.log, s.media_index); });
    compress::SceneDetectOptions detect;
    detect.threshold = s.config.select.scene_threshold;
    const auto cuts = compress::detect_scene_cuts(frames, detect);
    for (const compress::Scene& scene : compress::scenes_from_cuts(cuts, times, duration)) {
      spans.push_back({scene.t_begin, scene.t_end});
    }
    spans = regularize_spans(std::move(spans), s.config.caption.min_segment_s,
                             s.config.caption.max_segment_s);
    stage.advance();
    stage.finish();
  }

  // Frames of every segment in one pass, embedded in micro-batches, averaged per segment.
  const int64_t per = std::max<int64_t>(1, options.frames_per_segment);
  std::vector<double> times;
  for (const CaptionSpan& span : spans) {
    for (int64_t k = 0; k < per; ++k) {
      times.push_back(span.t_begin + (static_cast<double>(k) + 0.5) * (span.t_end - span.t_begin) /
                                         static_cast<double>(per));
    }
  }
  std::vector<at::Tensor> sums(spans.size());
  std::vector<int64_t> counts(spans.size(), 0);
  {
    auto stage = progress.begin("embed", static_cast<int64_t>(times.size()), "frames", file);
    decode::SamplerOptions so;
    so.width = static_cast<int>(encoder.config().vision.image_size);
    so.height = so.width;
    so.resize = decode::Resize::kExact;
    so.mode = decode::SampleMode::kFast;
    so.fast_tolerance = 0.25;
    so.cancel = cancel;
    so.index_cache = s.media_index;
    so.on_warning = [&](const std::string& w) { s.log.debug("decode", w); };
    in_stage("embed", file, [&] {
      embed_sampled_frames(encoder, video, times, so, "embed",
                           [&](const at::Tensor& e, std::span<const size_t> requests) {
                             for (size_t k = 0; k < requests.size(); ++k) {
                               const size_t seg = requests[k] / static_cast<size_t>(per);
                               sums[seg] = sums[seg].defined()
                                               ? sums[seg] + e[static_cast<int64_t>(k)]
                                               : e[static_cast<int64_t>(k)].clone();
                               ++counts[seg];
                             }
                             stage.advance(static_cast<int64_t>(requests.size()));
                           });
    });
    stage.finish();
  }

  SegmentAnalysis out;
  out.video = probed.summary;
  out.embedding_model = s.models.relevance_id();
  std::vector<size_t> kept;  // spans that got at least one frame
  for (size_t i = 0; i < spans.size(); ++i) {
    if (counts[i] == 0) continue;
    index::Segment seg;
    seg.t_begin = spans[i].t_begin;
    seg.t_end = spans[i].t_end;
    const at::Tensor mean = sums[i] / static_cast<double>(counts[i]);
    const at::Tensor unit = (mean / mean.norm().clamp_min(1e-12)).contiguous();
    seg.embedding.assign(unit.data_ptr<float>(), unit.data_ptr<float>() + unit.numel());
    out.segments.push_back(std::move(seg));
    kept.push_back(i);
  }
  if (out.segments.empty()) {
    throw StageError(ErrorKind::kInvalidInput, "decode", file, "no frame could be decoded");
  }

  // Thumbnails at each segment's middle.
  {
    auto stage = progress.begin("thumbnails", static_cast<int64_t>(kept.size()), "images", file);
    std::vector<double> middles;
    for (const size_t i : kept)
      middles.push_back(0.5 * (spans[i].t_begin + spans[i].t_end));
    decode::SamplerOptions so;
    so.width = options.thumbnail_width;
    so.height = options.thumbnail_height;
    so.resize = decode::Resize::kFit;
    so.mode = decode::SampleMode::kFast;
    so.fast_tolerance = 0.5;
    so.cancel = cancel;
    so.index_cache = s.media_index;
    decode::ImageOptions jpeg;
    jpeg.jpeg_quality = options.jpeg_quality;
    // Reading the frames is the decode stage's; only making the JPEGs is this one's.
    for_each_sample(video, middles, so, [&](decode::Sample&& sample) {
      out.segments[sample.request].thumbnail_jpeg =
          in_stage("thumbnails", file, [&] { return decode::encode_image(sample.frame, jpeg); });
      stage.advance();
    });
    stage.finish();
  }

  if (options.captions) {
    std::vector<CaptionSpan> kept_spans;
    for (const size_t i : kept)
      kept_spans.push_back(spans[i]);
    ProbedVideo with_hash = probed;
    const std::vector<Caption> captions =
        caption_spans(s, with_hash, kept_spans, {}, progress, cancel);
    for (size_t i = 0; i < captions.size() && i < out.segments.size(); ++i) {
      out.segments[i].caption = captions[i].text;
    }
  }
  return out;
}

std::vector<float> embed_query(Session& session, const std::string& text) {
  SessionState& s = session.state();
  s.set_threads();
  ProgressTracker progress;
  const models::SiglipDualEncoder& encoder = relevance_model(s, progress, {});
  const std::vector<std::string> texts = {text};
  const at::Tensor e = encoder.embed_texts(texts).to(at::kCPU).to(at::kFloat)[0].contiguous();
  return std::vector<float>(e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
}

}  // namespace clipmind::pipeline
