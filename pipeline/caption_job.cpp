#include "pipeline/caption_job.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipmind/counted.h"
#include "compress/merge/holitom.h"
#include "compress/select/uniform.h"
#include "decode/video_files.h"
#include "models/vlm/llava_onevision.h"
#include "pipeline/caption_spans.h"
#include "pipeline/errors.h"
#include "pipeline/merge_stage.h"
#include "pipeline/session_internal.h"

namespace clipmind::pipeline {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The caption: the first non-empty line of the answer, trimmed.
std::string caption_text(const std::string& answer) {
  size_t b = 0;
  while (b < answer.size()) {
    size_t e = answer.find('\n', b);
    if (e == std::string::npos) e = answer.size();
    const std::string line = answer.substr(b, e - b);
    const size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos) {
      const size_t last = line.find_last_not_of(" \t\r");
      return line.substr(first, last - first + 1);
    }
    b = e + 1;
  }
  return "";
}

EncodeRequest encode_request(const SessionState& s, const ProbedVideo& probed,
                             std::vector<PlannedFrame> frames) {
  EncodeRequest r;
  r.video = probed.summary.path;
  r.content_hash = probed.summary.content_hash;
  r.model_id = s.models.vlm_id();
  r.frames = std::move(frames);
  r.decode_mode = s.config.decode.mode;
  r.queue_frames = s.config.decode.queue_frames;
  r.batch_frames = s.config.encode.batch_frames;
  r.input_size = s.config.encode.input_size;
  r.reuse_psnr_db = s.config.encode.reuse_psnr_db;
  r.index_cache = s.media_index;
  return r;
}

MergeSettings merge_settings(const PipelineConfig& c, int64_t input_tokens) {
  int64_t cap = 0;
  if (c.budget.tokens) {
    cap = std::min(*c.budget.tokens, input_tokens);
  } else {
    cap = static_cast<int64_t>(
        std::floor(c.budget.ratio.value_or(0.10) * static_cast<double>(input_tokens) + 1e-9));
  }
  return to_merge_settings(c.merge, std::max<int64_t>(1, cap), input_tokens);
}

// Up to n of `frames` spread evenly (by index).
std::vector<EncodedFrame> spread(const std::vector<EncodedFrame>& frames, int64_t n) {
  const auto m = static_cast<int64_t>(frames.size());
  if (m <= n) return frames;
  std::vector<EncodedFrame> out;
  for (int64_t k = 0; k < n; ++k)
    out.push_back(frames[static_cast<size_t>((2 * k + 1) * m / (2 * n))]);
  return out;
}

// Writes one byte into `dir` and removes it, so that a folder we cannot write in (permissions,
// a full disk) fails before the work. Throws kIo naming `target` (the folder, or the output
// about to be made there) and the system's reason.
void check_writable(const fs::path& dir, const fs::path& target) {
  const fs::path probe = dir / (".clipmind-write-test-" + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0) {
    if (::write(fd, "x", 1) != 1) err = errno;
    if (::close(fd) != 0 && err == 0) err = errno;
    std::error_code ignored;
    fs::remove(probe, ignored);
  }
  if (err != 0) {
    throw Error(ErrorKind::kIo,
                target.string() + ": cannot write in the output folder: " + std::strerror(err));
  }
}

struct CaptionedVideo {
  std::vector<Caption> captions;
  std::string content_hash;  // of the video captioned, for its source record
  double duration = 0.0;
  double header_duration = 0.0;  // > 0: the file is cut short (VideoSummary)
};

CaptionedVideo caption_video(SessionState& s, const fs::path& path, const std::string& segment,
                             ProgressTracker& progress, const CancelToken& cancel) {
  StageClock clock;
  // Always hashed: the token cache keys on it and the output's source record stores it.
  const ProbedVideo probed = probe_video(path, s.config, /*hash=*/true, progress, cancel, clock,
                                         s.log, s.media_index.get());
  s.models.load(progress, cancel);
  const models::LlavaOnevision& vlm = s.models.vlm();
  const double duration = probed.info.duration;
  const int64_t grid = full_pooled_grid(s.config, vlm);
  const int64_t per_span = s.config.caption.frames_per_segment;
  const std::string file = path.string();

  // Spans and the frames each shows.
  std::vector<CaptionSpan> spans;
  std::vector<std::vector<EncodedFrame>> span_frames;
  if (segment == "auto") {
    const auto count =
        std::clamp<int64_t>(static_cast<int64_t>(std::ceil(duration * s.config.caption.sample_fps)),
                            1, s.config.caption.max_frames);
    std::vector<PlannedFrame> planned;
    for (const double t : compress::uniform_times(duration, count))
      planned.push_back({t, grid});
    const std::vector<EncodedFrame> frames = encode_frames(
        encode_request(s, probed, planned), vlm.vision(), s.cache.get(), progress, cancel, s.log);
    std::vector<double> times;
    std::vector<at::Tensor> tokens;
    for (const EncodedFrame& f : frames) {
      times.push_back(f.time);
      tokens.push_back(f.tokens.to(at::kFloat));
    }
    std::vector<std::pair<int64_t, int64_t>> segments = {
        {0, static_cast<int64_t>(frames.size()) - 1}};
    if (frames.size() > 1) {
      // Caption spans want HoliTom's finer segmentation whatever the merge keeps.
      segments = in_stage("merge", file, [&] {
        return compress::holitom_segment(at::stack(tokens),
                                         s.config.merge.tau.value_or(kHolitomTau),
                                         s.config.merge.max_window)
            .segments;
      });
    }
    spans = spans_from_segments(times, segments, duration, s.config.caption.min_segment_s,
                                s.config.caption.max_segment_s);
    for (const CaptionSpan& span : spans) {
      std::vector<EncodedFrame> inside;
      for (const EncodedFrame& f : frames) {
        if (f.time >= span.t_begin && f.time < span.t_end) inside.push_back(f);
      }
      if (inside.empty()) {
        const double middle = 0.5 * (span.t_begin + span.t_end);
        inside.push_back(
            *std::min_element(frames.begin(), frames.end(), [&](const auto& a, const auto& b) {
              return std::abs(a.time - middle) < std::abs(b.time - middle);
            }));
      }
      span_frames.push_back(spread(inside, per_span));
    }
  } else {
    spans = fixed_windows(duration, std::stod(segment));
    span_frames.resize(spans.size());  // encoded window by window below: memory stays bounded
  }

  return {caption_spans(s, probed, spans, std::move(span_frames), progress, cancel),
          probed.summary.content_hash, duration, probed.summary.header_duration_s};
}

}  // namespace

std::vector<Caption> caption_spans(SessionState& s, const ProbedVideo& probed,
                                   const std::vector<CaptionSpan>& spans,
                                   std::vector<std::vector<EncodedFrame>> span_frames,
                                   ProgressTracker& progress, const CancelToken& cancel) {
  s.models.load(progress, cancel);
  const models::LlavaOnevision& vlm = s.models.vlm();
  const double duration = probed.info.duration;
  const int64_t grid = full_pooled_grid(s.config, vlm);
  const int64_t per_span = s.config.caption.frames_per_segment;
  const std::string file = probed.summary.path.string();
  span_frames.resize(spans.size());
  auto stage = progress.begin("captions", static_cast<int64_t>(spans.size()), "segments", file);
  std::vector<Caption> captions;
  int64_t planned_frames = 0, cached_frames = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    cancel.throw_if_cancelled();
    std::vector<EncodedFrame> frames = std::move(span_frames[i]);
    if (frames.empty()) {
      std::vector<PlannedFrame> planned;
      const double length = spans[i].t_end - spans[i].t_begin;
      for (int64_t k = 0; k < per_span; ++k) {
        planned.push_back({spans[i].t_begin + (static_cast<double>(k) + 0.5) * length /
                                                  static_cast<double>(per_span),
                           grid});
      }
      EncodeRequest request = encode_request(s, probed, planned);
      request.report_cache_hits = false;  // once for the video, below
      EncodeStats stats;
      frames = encode_frames(request, vlm.vision(), s.cache.get(), progress, cancel, s.log, &stats);
      planned_frames += stats.planned;
      cached_frames += stats.from_cache;
    }
    const int64_t input = static_cast<int64_t>(frames.size()) * grid * grid;
    const compress::MergeResult merged = in_stage(
        "merge", file, [&] { return merge_frames(frames, merge_settings(s.config, input)); });
    VideoParts parts = video_parts(merged, duration, s.config.separators, vlm.tokenizer());
    std::vector<models::VlmMessage> messages;
    if (!s.config.generate.system_prompt.empty()) {
      messages.push_back(
          {"system", {models::PromptPart::make_text(s.config.generate.system_prompt)}});
    }
    parts.parts.push_back(models::PromptPart::make_text(s.config.caption.prompt));
    messages.push_back({"user", std::move(parts.parts)});
    const models::AssembledPrompt prompt = vlm.assemble(messages);
    models::GenerationOptions options;
    options.max_new_tokens = s.config.caption.max_new_tokens;
    options.cancel = cancel;
    options.stop_strings = {"\n"};
    const models::GenerationResult generated =
        in_stage("generate", file, [&] { return vlm.generate(prompt, options); });
    captions.push_back({spans[i].t_begin, spans[i].t_end, caption_text(generated.text)});
    stage.advance();
  }
  stage.finish();
  if (cached_frames > 0) {
    s.log.info("cache", file + ": " + token_cache_hits_text(cached_frames, planned_frames));
  }
  if (s.cache) s.cache->trim();
  return captions;
}

const char* to_string(CaptionStatus status) {
  switch (status) {
    case CaptionStatus::kDone:
      return "done";
    case CaptionStatus::kPartial:
      return "partial";
    case CaptionStatus::kSkipped:
      return "skipped";
    case CaptionStatus::kFailed:
      return "failed";
    case CaptionStatus::kCancelled:
      return "cancelled";
  }
  return "?";
}

int CaptionReport::exit_code() const {
  if (cancelled) return exit_code_for(ErrorKind::kCancelled);
  for (const CaptionFileResult& f : files) {
    if (f.status == CaptionStatus::kFailed) return exit_code_for(f.error_kind);
  }
  return partial > 0 ? exit_code_for(ErrorKind::kInvalidInput) : 0;
}

bool is_video_file(const fs::path& path) {
  return decode::has_video_extension(path);
}

std::vector<fs::path> collect_videos(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> out;
  // A file is the same file when its device and inode match; a path that cannot be stat'ed
  // (missing) is the same when its absolute, normalised spelling matches.
  std::set<std::pair<dev_t, ino_t>> seen_files;
  std::set<std::string> seen_missing;
  const auto add = [&](const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      if (!seen_files.emplace(st.st_dev, st.st_ino).second) return;
    } else {
      std::error_code ec;
      const fs::path abs = fs::absolute(path, ec);
      if (!seen_missing.insert((ec ? path : abs).lexically_normal().string()).second) return;
    }
    out.push_back(path);
  };
  for (const fs::path& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(
               input, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && is_video_file(it->path())) found.push_back(it->path());
      }
      std::sort(found.begin(), found.end());
      for (const fs::path& f : found)
        add(f);
    } else {
      add(input);
    }
  }
  return out;
}

CaptionReport run_captions(Session& session, const CaptionRequest& request,
                           const JobCallbacks& callbacks, const CancelToken& cancel) {
  SessionState& s = session.state();
  s.set_threads();
  const CaptionFormat format =
      parse_caption_format(request.format.empty() ? s.config.caption.format : request.format);
  const std::string segment = request.segment.empty() ? s.config.caption.segment : request.segment;
  if (segment != "auto") {
    PipelineConfig check = s.config;
    check.caption.segment = segment;
    validate(check);
  }
  const bool overwrite = request.overwrite.value_or(s.config.caption.overwrite);
  if (request.out_dir.empty()) {
    throw Error(ErrorKind::kInvalidArgument, "caption: no output folder (--out DIR)");
  }
  std::error_code ec;
  fs::create_directories(request.out_dir, ec);
  if (ec || !fs::is_directory(request.out_dir)) {
    throw Error(ErrorKind::kIo, request.out_dir.string() + ": cannot create the output folder" +
                                    (ec ? ": " + ec.message() : std::string()));
  }

  // Fail before hours of work rather than at the first write.
  check_writable(request.out_dir, request.out_dir);

  const std::vector<fs::path> videos = collect_videos(request.inputs);
  const std::vector<fs::path> outputs = caption_output_paths(request.out_dir, videos, format);

  ProgressTracker progress(callbacks.on_progress, {"caption"});
  auto files = progress.begin("caption", static_cast<int64_t>(videos.size()), "files");
  CaptionReport report;
  for (size_t v = 0; v < videos.size(); ++v) {
    const fs::path& video = videos[v];
    CaptionFileResult r;
    r.video = video;
    r.output = outputs[v];
    const auto start = Clock::now();
    if (cancel.requested()) {
      report.cancelled = true;
      break;
    }
    if (!overwrite && caption_output_complete(r.output, video, format)) {
      r.status = CaptionStatus::kSkipped;
      ++report.skipped;
      s.log.info("caption", video.string() + ": " + r.output.string() + " is complete; skipped");
    } else {
      try {
        // A file under the output's name that no clipmind run recorded (the user's own
        // subtitles, say) is never replaced without --overwrite: nothing of theirs is lost.
        if (!overwrite && fs::exists(fs::symlink_status(r.output, ec)) &&
            !fs::exists(caption_source_record_path(r.output), ec)) {
          throw Error(ErrorKind::kInvalidArgument,
                      r.output.string() +
                          ": already exists and was not written by clipmind (no source record "
                          "in " +
                          caption_source_record_path(r.output).parent_path().string() +
                          "); not replaced: move it away, choose another --out, or pass "
                          "--overwrite");
        }
        check_video_path(video);
        if (!fs::exists(video, ec)) {
          throw StageError(ErrorKind::kNotFound, "probe", video.string(), "no such file");
        }
        // A disk that filled up during the batch fails the video before its model time, not
        // after; when space comes back, the next video is written again.
        check_writable(request.out_dir, r.output);
        CaptionedVideo captioned = caption_video(s, video, segment, progress, cancel);
        r.items = std::move(captioned.captions);
        // Captions first, record second: after a crash in between, a record from an earlier
        // video no longer matches, so the output is redone rather than trusted.
        write_captions(r.output, r.items, format);
        try {
          record_caption_source(r.output, video, captioned.content_hash);
        } catch (const Error& e) {
          // The captions are complete; without a fresh record a re-run judges them by date, or
          // (an older record left behind) captions the video again: never keeps wrong ones.
          s.log.warning("caption", std::string(e.what()) + "; " + r.output.string() +
                                       " is complete, but a re-run may caption the video again");
        }
        r.captions = static_cast<int64_t>(r.items.size());
        if (captioned.header_duration > 0) {
          char note[160];
          std::snprintf(note, sizeof note,
                        "the file is cut short: captions cover 0-%.1f s of the %.1f s its "
                        "header promises",
                        captioned.duration, captioned.header_duration);
          r.note = note;
          r.status = CaptionStatus::kPartial;
          ++report.partial;
        } else {
          r.status = CaptionStatus::kDone;
          ++report.done;
        }
      } catch (const Cancelled&) {
        r.status = CaptionStatus::kCancelled;
        report.cancelled = true;
      } catch (...) {
        const UserError e = describe_error(std::current_exception());
        r.status = CaptionStatus::kFailed;
        r.error = e.message;
        r.error_kind = e.kind;
        ++report.failed;
        s.log.error("caption", e.message);
      }
    }
    r.seconds = seconds_since(start);
    report.files.push_back(std::move(r));
    files.advance(1, video.string());
    if (report.cancelled) break;
  }
  if (!report.cancelled) files.finish();
  return report;
}

std::string format_caption_summary(const CaptionReport& report) {
  std::string out = "status     captions  seconds  file\n";
  char line[64];
  for (const CaptionFileResult& f : report.files) {
    std::snprintf(line, sizeof line, "%-9s  %8lld  %7.1f  ", to_string(f.status),
                  static_cast<long long>(f.captions), f.seconds);
    out += line;
    out += f.video.string();
    if (f.status == CaptionStatus::kDone || f.status == CaptionStatus::kPartial ||
        f.status == CaptionStatus::kSkipped) {
      out += " -> " + f.output.string();
    }
    if (f.status == CaptionStatus::kFailed) out += "\n           " + f.error;
    if (f.status == CaptionStatus::kPartial) out += "\n           " + f.note;
    out += "\n";
  }
  out += counted(static_cast<int64_t>(report.files.size()), "file") + ": " +
         std::to_string(report.done) + " captioned, " +
         (report.partial ? std::to_string(report.partial) + " partial, " : "") +
         std::to_string(report.skipped) + " skipped, " + std::to_string(report.failed) + " failed" +
         (report.cancelled ? ", cancelled" : "") + "\n";
  return out;
}

}  // namespace clipmind::pipeline
