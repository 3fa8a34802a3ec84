#include "pipeline/encode_stage.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <optional>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "clipmind/counted.h"
#include "clipmind/error.h"
#include "decode/frame_sampler.h"
#include "models/llm/runtime.h"
#include "models/vision/video_encoder.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/errors.h"
#include "pipeline/video_prep.h"

namespace clipmind::pipeline {

namespace {

decode::SampleMode sample_mode(const std::string& mode) {
  if (mode == "fast") return decode::SampleMode::kFast;
  if (mode == "keyframe") return decode::SampleMode::kKeyframes;
  return decode::SampleMode::kAccurate;
}

std::string time_ms(double t) {
  return std::to_string(std::llround(t * 1000.0));
}

CacheArray to_array(const std::string& name, const at::Tensor& tensor) {
  const at::Tensor cpu = tensor.to(at::kCPU).contiguous();
  CacheArray a;
  a.name = name;
  a.dtype = models::dtype_name(cpu.scalar_type());
  a.shape = cpu.sizes().vec();
  a.bytes.assign(static_cast<const char*>(cpu.data_ptr()), cpu.nbytes());
  return a;
}

at::Tensor from_array(const CacheArray& a, at::Device device) {
  const at::ScalarType type = models::parse_dtype(a.dtype);
  at::Tensor t = at::empty(a.shape, at::TensorOptions().dtype(type));
  std::memcpy(t.data_ptr(), a.bytes.data(), a.bytes.size());
  return t.to(device);
}

std::optional<EncodedFrame> from_cache(TokenCache& cache, const std::string& key,
                                       const PlannedFrame& planned, int64_t hidden,
                                       at::Device device, at::ScalarType dtype, const Logger& log) {
  std::optional<CacheEntry> entry = cache.get(key);
  if (!entry) return std::nullopt;
  const CacheArray* tokens = entry->find("tokens");
  const CacheArray* attention = entry->find("attention");
  const auto meta = nlohmann::json::parse(entry->meta, nullptr, false);
  // The key holds the model and dtype, so only a tampered or colliding entry fails these; like a
  // damaged file (token_cache.h) it is a miss, never the job's failure.
  const bool attention_ok =
      !attention || (attention->dtype == "float32" && attention->shape.size() == 1 &&
                     attention->shape[0] == planned.grid * planned.grid);
  if (!tokens || tokens->shape.size() != 2 || tokens->shape[0] != planned.grid * planned.grid ||
      tokens->shape[1] != hidden || tokens->dtype != models::dtype_name(dtype) || !attention_ok ||
      !meta.is_object() || !meta.contains("time") || !meta["time"].is_number()) {
    log.warning("cache", "an entry has an unexpected layout; recomputing it");
    return std::nullopt;
  }
  EncodedFrame f;
  f.requested_time = planned.time;
  f.time = meta["time"].get<double>();
  f.grid = planned.grid;
  f.tokens = from_array(*tokens, device);
  if (attention) f.attention = from_array(*attention, device);
  f.from_cache = true;
  return f;
}

struct Decoded {
  size_t index = 0;  // into the miss list
  decode::Frame frame;
};

}  // namespace

double picture_psnr_db(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size() || a.empty()) {
    throw Error(ErrorKind::kInvalidArgument, "picture_psnr_db: pictures of " +
                                                 std::to_string(a.size()) + " and " +
                                                 std::to_string(b.size()) + " bytes");
  }
  uint64_t sse = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    const int d = static_cast<int>(a[k]) - static_cast<int>(b[k]);
    sse += static_cast<uint64_t>(d * d);
  }
  if (sse == 0) return std::numeric_limits<double>::infinity();
  const double mse = static_cast<double>(sse) / static_cast<double>(a.size());
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

bool same_picture(std::span<const uint8_t> a, std::span<const uint8_t> b, double threshold_db) {
  if (!(threshold_db > 0.0) || a.size() != b.size() || a.empty()) return false;
  // PSNR >= t  <=>  SSE <= n * 255^2 / 10^(t/10); stop as soon as the budget is spent (moving
  // pictures exceed it within the first rows). An infinite threshold leaves a budget of 0:
  // only identical pictures match.
  const double budget =
      static_cast<double>(a.size()) * 255.0 * 255.0 / std::pow(10.0, threshold_db / 10.0);
  const uint64_t max_sse =
      budget >= 1.8e19 ? std::numeric_limits<uint64_t>::max() : static_cast<uint64_t>(budget);
  uint64_t sse = 0;
  constexpr size_t kChunk = 4096;
  for (size_t begin = 0; begin < a.size(); begin += kChunk) {
    const size_t end = std::min(a.size(), begin + kChunk);
    for (size_t k = begin; k < end; ++k) {
      const int d = static_cast<int>(a[k]) - static_cast<int>(b[k]);
      sse += static_cast<uint64_t>(d * d);
    }
    if (sse > max_sse) return false;
  }
  return true;
}

std::string token_cache_hits_text(int64_t from_cache, int64_t planned) {
  return std::to_string(from_cache) + " of " + counted(planned, "frame") +
         " came from the token cache";
}

std::string frame_cache_key(const EncodeRequest& request, const PlannedFrame& frame,
                            int64_t input_size, const std::string& dtype) {
  // Version 2: times count from the file's start, not the video stream's (docs/decode.md).
  return make_cache_key({{"kind", "vlm-frame-tokens"},
                         {"version", "2"},
                         {"video", request.content_hash},
                         {"model", request.model_id},
                         {"time_ms", time_ms(frame.time)},
                         {"grid", std::to_string(frame.grid)},
                         {"decode", request.decode_mode},
                         {"input", std::to_string(input_size)},
                         {"dtype", dtype}});
}

namespace {

std::vector<EncodedFrame> encode_labelled(const EncodeRequest& request,
                                          const models::LlavaVisionEncoder& encoder,
                                          TokenCache* cache, ProgressTracker& progress,
                                          const CancelToken& cancel, const Logger& log,
                                          EncodeStats* stats_out) {
  const auto start = std::chrono::steady_clock::now();
  const std::string file = request.video.string();
  EncodeStats stats;
  stats.planned = static_cast<int64_t>(request.frames.size());
  const int64_t input_size =
      request.input_size > 0 ? request.input_size : encoder.preprocess_config().height;
  const std::string dtype = models::dtype_name(encoder.runtime().dtype);
  const at::Device device = encoder.runtime().device;
  const at::ScalarType tower_dtype = encoder.runtime().dtype;
  const int64_t hidden = encoder.llm_hidden();

  // Requests sorted by time (the sampler wants ascending times); results come back in time
  // order.
  std::vector<size_t> order(request.frames.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return request.frames[a].time < request.frames[b].time;
  });

  std::vector<std::optional<EncodedFrame>> results(request.frames.size());
  std::vector<size_t> misses;  // indices into request.frames, ascending time
  std::vector<std::string> keys(request.frames.size());
  for (const size_t i : order) {
    cancel.throw_if_cancelled();
    keys[i] = in_stage("cache", file, [&] {
      return frame_cache_key(request, request.frames[i], input_size, dtype);
    });
    if (cache) {
      results[i] = in_stage("cache", file, [&] {
        return from_cache(*cache, keys[i], request.frames[i], hidden, device, tower_dtype, log);
      });
      if (results[i]) {
        ++stats.from_cache;
        continue;
      }
    }
    misses.push_back(i);
  }
  if (stats.from_cache > 0 && request.report_cache_hits) {
    log.info("cache", token_cache_hits_text(stats.from_cache, stats.planned));
  }

  if (!misses.empty()) {
    std::vector<double> times;
    for (const size_t i : misses)
      times.push_back(request.frames[i].time);
    auto decode_stage = progress.begin("decode", static_cast<int64_t>(misses.size()), "frames");
    auto encode_stage = progress.begin("encode", static_cast<int64_t>(misses.size()), "frames");
    double decode_busy = 0.0;
    std::vector<std::string> warnings;

    decode::SamplerOptions options;
    options.width = static_cast<int>(request.input_size > 0 ? request.input_size
                                                            : encoder.preprocess_config().width);
    options.height = static_cast<int>(input_size);
    options.resize = decode::Resize::kExact;
    options.mode = sample_mode(request.decode_mode);
    options.threads = request.decode_threads;
    options.cancel = cancel;
    options.index_cache = request.index_cache;

    auto store = [&](size_t i, EncodedFrame&& f) {
      if (cache) {
        in_stage("cache", file, [&] {
          CacheEntry entry;
          entry.meta = nlohmann::json{{"time", f.time}}.dump();
          entry.arrays.push_back(to_array("tokens", f.tokens));
          if (f.attention.defined()) entry.arrays.push_back(to_array("attention", f.attention));
          cache->put(keys[i], entry);
        });
      }
      results[i] = std::move(f);
    };

    // Reuse: the frame that last went through the tower (its picture is kept, the batch may
    // already be gone), and reused frames waiting for their source's micro-batch.
    struct Source {
      size_t index = 0;  // into request.frames
      int64_t grid = 0;
      std::vector<uint8_t> rgb;
    };
    struct Reused {
      size_t index = 0;   // into request.frames
      size_t source = 0;  // into request.frames
      double time = 0.0;  // the reused frame's own decoded time
    };
    std::optional<Source> source;
    std::vector<Reused> waiting;
    auto resolve_reused = [&] {
      size_t kept = 0;
      for (const Reused& r : waiting) {
        if (!results[r.source]) {
          waiting[kept++] = r;
          continue;
        }
        const EncodedFrame& from = *results[r.source];
        EncodedFrame f = in_stage("encode", file, [&] {
          EncodedFrame copy;
          copy.requested_time = request.frames[r.index].time;
          copy.time = r.time;
          copy.grid = from.grid;
          copy.tokens = from.tokens.clone();
          if (from.attention.defined()) copy.attention = from.attention.clone();
          copy.reused = true;
          return copy;
        });
        store(r.index, std::move(f));
        encode_stage.advance();
      }
      waiting.resize(kept);
    };

    std::vector<Decoded> batch;
    auto flush = [&] {
      if (batch.empty()) return;
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<models::RgbImageView> views;
      std::vector<double> frame_times;
      std::vector<int64_t> grids;
      bool uniform = true;
      for (const Decoded& d : batch) {
        views.push_back({d.frame.rgb.data(), d.frame.height, d.frame.width, 0});
        frame_times.push_back(d.frame.time);
        grids.push_back(request.frames[misses[d.index]].grid);
        uniform = uniform && grids.back() == grids.front();
      }
      models::VideoEncodeOptions eo;
      eo.micro_batch = static_cast<int64_t>(batch.size());
      eo.attention = true;
      eo.input_size = request.input_size;
      eo.cancel = cancel;
      std::vector<EncodedFrame> made;
      if (uniform) {
        eo.grid = grids.front();
        const models::VisualTokens tokens =
            in_stage("encode", file, [&] { return encoder.encode(views, frame_times, eo); });
        for (size_t k = 0; k < batch.size(); ++k) {
          EncodedFrame f;
          f.tokens = tokens.tokens[static_cast<int64_t>(k)];
          if (tokens.attention.defined()) f.attention = tokens.attention[static_cast<int64_t>(k)];
          f.grid = tokens.grid;
          made.push_back(std::move(f));
        }
      } else {
        std::vector<models::FrameTokens> varying = in_stage(
            "encode", file, [&] { return encoder.encode_varying(views, frame_times, grids, eo); });
        for (models::FrameTokens& t : varying) {
          EncodedFrame f;
          f.tokens = t.tokens;
          f.attention = t.attention;
          f.grid = t.grid;
          made.push_back(std::move(f));
        }
      }
      for (size_t k = 0; k < batch.size(); ++k) {
        const size_t i = misses[batch[k].index];
        EncodedFrame& f = made[k];
        f.requested_time = request.frames[i].time;
        f.time = batch[k].frame.time;
        store(i, std::move(f));
      }
      stats.encoded += static_cast<int64_t>(batch.size());
      stats.encode_seconds += seconds_since(t0);
      encode_stage.advance(static_cast<int64_t>(batch.size()));
      batch.clear();
      resolve_reused();
    };

    size_t peak = 0;
    run_stages<Decoded>(
        static_cast<size_t>(std::max<int64_t>(1, request.queue_frames)), cancel,
        [&](BoundedQueue<Decoded>& queue) {
          in_stage("decode", file, [&] {
            options.on_warning = [&](const std::string& w) { warnings.push_back(w); };
            auto t0 = std::chrono::steady_clock::now();
            decode::FrameSampler sampler(request.video, times, options);
            while (true) {
              std::optional<decode::Sample> sample = sampler.next();
              if (!sample) break;
              decode_busy += seconds_since(t0);
              decode_stage.advance();
              if (!queue.push(Decoded{sample->request, std::move(sample->frame)})) return;
              peak = std::max(peak, queue.size());
              t0 = std::chrono::steady_clock::now();
            }
            decode_busy += seconds_since(t0);
            decode_stage.finish();
          });
        },
        [&](Decoded&& decoded) {
          const size_t i = misses[decoded.index];
          const int64_t grid = request.frames[i].grid;
          // Reuse stands in for the tower: its failures are the encode stage's.
          const bool reuse = in_stage("encode", file, [&] {
            if (source && source->grid == grid &&
                same_picture(source->rgb, decoded.frame.rgb, request.reuse_psnr_db)) {
              return true;
            }
            if (request.reuse_psnr_db > 0.0) source = Source{i, grid, decoded.frame.rgb};
            return false;
          });
          if (reuse) {
            waiting.push_back({i, source->index, decoded.frame.time});
            ++stats.reused;
            resolve_reused();
            return;
          }
          batch.push_back(std::move(decoded));
          if (static_cast<int64_t>(batch.size()) >= std::max<int64_t>(1, request.batch_frames)) {
            flush();
          }
        });
    flush();
    resolve_reused();
    if (stats.reused > 0) {
      // Debug level: a caption batch encodes window after window and would repeat this for
      // each; ask reports the count in --json (tokens.frames_reused).
      log.debug("encode", std::to_string(stats.reused) + " of " + std::to_string(misses.size()) +
                              " decoded frames showed the same picture as the frame before them "
                              "and reused its tokens");
    }
    encode_stage.finish();
    stats.decode_seconds = decode_busy;
    stats.peak_queue = static_cast<int64_t>(peak);
    for (const std::string& w : warnings)
      log.warning("decode", w);
    stats.warnings = std::move(warnings);
  }

  std::vector<EncodedFrame> out;
  out.reserve(results.size());
  for (const size_t i : order) {
    if (results[i]) {
      out.push_back(std::move(*results[i]));
    } else {
      ++stats.dropped;
    }
  }
  if (out.empty()) {
    throw StageError(ErrorKind::kInvalidInput, "decode", file,
                     "no frame could be decoded at the selected times");
  }
  if (stats.dropped > 0) {
    log.warning("decode", request.video.string() + ": " + std::to_string(stats.dropped) +
                              " selected frames could not be decoded and were left out");
  }
  stats.wall_seconds = seconds_since(start);
  if (stats_out) *stats_out = std::move(stats);
  return out;
}

}  // namespace

std::vector<EncodedFrame> encode_frames(const EncodeRequest& request,
                                        const models::LlavaVisionEncoder& encoder,
                                        TokenCache* cache, ProgressTracker& progress,
                                        const CancelToken& cancel, const Logger& log,
                                        EncodeStats* stats_out) {
  // The parts label their own failures; what is left (a thread that cannot start, the queue's
  // memory) belongs to the decode + encode stage as a whole, reported as "encode".
  return in_stage("encode", request.video.string(), [&] {
    return encode_labelled(request, encoder, cache, progress, cancel, log, stats_out);
  });
}

}  // namespace clipmind::pipeline
