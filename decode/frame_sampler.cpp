#include "decode/frame_sampler.h"

extern "C" {
#include <libavutil/hwcontext.h>
}

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <sstream>
#include <thread>

#include "clipmind/error.h"
#include "decode/internal/ffmpeg_log.h"
#include "decode/internal/ffmpeg_ptr.h"
#include "decode/internal/file_scan.h"
#include "decode/internal/frame_converter.h"
#include "decode/internal/media_file.h"
#include "decode/internal/video_decoder.h"
#include "decode/sampling_plan.h"

namespace clipmind::decode {
namespace {

using internal::FramePtr;
using internal::make_frame;
using internal::VideoDecoder;
using Pick = NearestFrameMatcher::Pick;

// Converted frames one task may hold before its worker waits for the consumer.
constexpr size_t kFramesPerTask = 4;

// Thrown inside a worker to unwind it when the sampler stops early.
struct StopRequested {};

std::string format_seconds(double t) {
  std::ostringstream out;
  out.precision(3);
  out << std::fixed << t;
  return out.str();
}

void validate(const std::vector<double>& times, const SamplerOptions& o,
              const std::filesystem::path& path) {
  for (size_t i = 0; i < times.size(); ++i) {
    if (!std::isfinite(times[i])) {
      throw Error(ErrorKind::kInvalidArgument,
                  path.string() + ": requested time #" + std::to_string(i) + " is not a number");
    }
    if (i > 0 && times[i] < times[i - 1]) {
      throw Error(ErrorKind::kInvalidArgument, path.string() +
                                                   ": requested times must be ascending (" +
                                                   format_seconds(times[i]) + " s comes after " +
                                                   format_seconds(times[i - 1]) + " s)");
    }
  }
  constexpr int kMaxSide = 16384;
  if (o.width < 0 || o.height < 0 || o.width > kMaxSide || o.height > kMaxSide) {
    throw Error(ErrorKind::kInvalidArgument, "output size " + std::to_string(o.width) + "x" +
                                                 std::to_string(o.height) +
                                                 " is out of range (0..16384 per side)");
  }
  if (o.resize == Resize::kFit && (o.width <= 0 || o.height <= 0)) {
    throw Error(ErrorKind::kInvalidArgument, "fitting needs both a width and a height");
  }
  if (!(o.fast_tolerance >= 0.0)) {
    throw Error(ErrorKind::kInvalidArgument, "the fast-mode tolerance must be >= 0 seconds");
  }
  if (o.threads < 0) throw Error(ErrorKind::kInvalidArgument, "threads must be >= 0");
}

}  // namespace

class FrameSampler::Impl {
 public:
  Impl(const std::filesystem::path& path, std::vector<double> times, SamplerOptions options);
  ~Impl() { stop_workers(); }

  std::optional<Sample> next();

  const VideoInfo& info() const { return info_; }
  Strategy strategy() const { return plan_.strategy; }
  int decoders() const { return plan_.decoders; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  SamplerStats stats() const;

 private:
  struct Slot {
    std::deque<Sample> queue;
    bool finished = false;
    std::exception_ptr error;
  };

  // What one worker thread owns.
  struct Worker {
    std::unique_ptr<VideoDecoder> decoder;
    std::unique_ptr<internal::FrameConverter> converter;
    FramePtr previous = make_frame();
    FramePtr current = make_frame();
    int64_t previous_serial = -1;
    int64_t current_serial = -1;
    int64_t serial = 0;
    // `previous` is the last frame the decoder returned and the decoder continues after it:
    // a following task that does not seek may still pick it.
    bool continues = false;
    double previous_time = 0.0;
    int64_t cached_serial = -1;  // the last converted frame, for repeated requests
    Frame cached;
    int64_t counted_packets = 0;
    int64_t counted_frames = 0;
    int64_t counted_seeks = 0;
  };

  Slot& slot(size_t task) { return ring_[task % ring_.size()]; }
  void start_workers();
  void stop_workers();
  void worker_main();
  void run_task(Worker& w, size_t task_index);
  void run_decode(Worker& w, size_t task_index, size_t begin, size_t end, double tolerance);
  void run_keyframe(Worker& w, size_t task_index, const PlanTask& task);
  void run_scan(Worker& w, size_t task_index, const PlanTask& task);
  void ensure_decoder(Worker& w);
  bool should_seek(const VideoDecoder& d, double t) const;
  void emit(Worker& w, size_t task_index, size_t request, const AVFrame* frame, int64_t serial,
            double time);
  void check_running() const;
  void account(Worker& w);
  void deliver_warnings();
  void finish_warnings();

  std::filesystem::path path_;
  std::vector<double> times_;
  SamplerOptions options_;
  internal::WarningSink sink_;
  VideoInfo info_;
  internal::StreamFacts facts_;
  std::vector<double> keyframes_;
  SamplingPlan plan_;
  internal::BufferRefPtr hw_device_;
  AVHWDeviceType hw_type_ = AV_HWDEVICE_TYPE_NONE;
  double jump_gap_ = 0.5;  // seconds of frames worth a seek instead of decoding through

  mutable std::mutex mutex_;
  std::condition_variable consumer_cv_;
  std::condition_variable producer_cv_;
  std::vector<Slot> ring_;
  size_t head_ = 0;
  size_t next_task_ = 0;
  std::atomic<bool> stop_{false};
  bool started_ = false;
  bool finished_ = false;
  std::vector<std::thread> threads_;
  int64_t buffered_ = 0;
  int64_t max_buffered_ = 0;
  std::atomic<int64_t> packets_{0};
  std::atomic<int64_t> decoded_{0};
  std::atomic<int64_t> converted_{0};
  std::atomic<int64_t> seeks_{0};
  std::atomic<int64_t> deinterlaced_{0};
  std::atomic<bool> ended_early_{false};

  std::vector<std::string> warnings_;
  bool have_last_time_ = false;
  double last_time_ = 0.0;
};

FrameSampler::Impl::Impl(const std::filesystem::path& path, std::vector<double> times,
                         SamplerOptions options)
    : path_(path), times_(std::move(times)), options_(std::move(options)), sink_(path.string()) {
  validate(times_, options_, path_);
  internal::install_log_router();
  internal::ScopedLogTarget route(&sink_);
  {
    internal::MediaFile master(path_, sink_, true);
    facts_ = master.facts();
    // Every packet is read at most once here (the duration of a file that states none, and
    // the keyframes of one without an index), and not at all when the cache has the file.
    internal::FileScan scan(master, facts_, options_.index_cache.get(), options_.cancel);
    info_ = internal::describe(master, scan);
    // Accurate sampling is exact with any subset of the keyframes (fewer only means decoding
    // more); the keyframe modes need all of them.
    std::vector<internal::KeyframePosition> positions;
    keyframes_ = internal::read_keyframe_times(
        master, facts_, options_.mode != SampleMode::kAccurate, scan, options_.cancel, &positions);
    if (facts_.seek_by_position) facts_.keyframe_positions = std::move(positions);
  }
  if (info_.frame_rate() > 0) jump_gap_ = std::max(0.25, 16.0 / info_.frame_rate());
  if (info_.header_duration > 0 && !times_.empty() && times_.back() > info_.duration) {
    // Said once here, from the container's index, instead of when decoding runs dry.
    ended_early_ = true;
    sink_.warn("the file is cut short (truncated): its header promises " +
               format_seconds(info_.header_duration) + " s but the data ends at " +
               format_seconds(info_.duration) + " s; later times get the last decoded frame");
  }

  const int threads = options_.threads > 0
                          ? options_.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  PlanInput input;
  input.times = times_;
  input.keyframes = keyframes_;
  input.mode = options_.mode;
  input.tolerance = options_.fast_tolerance;
  input.strategy = options_.strategy;
  input.threads = threads;
  plan_ = plan_sampling(input);

  if (options_.hwaccel != HwAccel::kNone) {
    std::vector<const char*> names;
    if (options_.hwaccel == HwAccel::kCuda || options_.hwaccel == HwAccel::kAuto)
      names.push_back("cuda");
    if (options_.hwaccel == HwAccel::kVaapi || options_.hwaccel == HwAccel::kAuto)
      names.push_back("vaapi");
    std::string reasons;
    internal::WarningSink probe_log(path_.string());
    internal::ScopedLogTarget quiet(&probe_log);  // device probing errors are expected here
    for (const char* name : names) {
      const AVHWDeviceType type = av_hwdevice_find_type_by_name(name);
      std::string reason;
      if (type == AV_HWDEVICE_TYPE_NONE) {
        reason = "not built into FFmpeg";
      } else {
        AVBufferRef* device = nullptr;
        const int ret = av_hwdevice_ctx_create(&device, type, nullptr, nullptr, 0);
        if (ret >= 0) {
          hw_device_.reset(device);
          hw_type_ = type;
          break;
        }
        reason = internal::av_error_text(ret);
        const std::string detail = probe_log.last_ffmpeg_error();
        if (!detail.empty()) reason += ": " + detail;
      }
      if (!reasons.empty()) reasons += "; ";
      reasons += std::string(name) + ": " + reason;
    }
    if (!hw_device_) {
      sink_.warn("hardware decoding is not available (" + reasons + "); decoding in software");
    }
  }

  const size_t window = std::max<size_t>(2, 2 * static_cast<size_t>(plan_.decoders));
  ring_.resize(std::min(window, std::max<size_t>(plan_.tasks.size(), 1)));
  deliver_warnings();
}

SamplerStats FrameSampler::Impl::stats() const {
  SamplerStats s;
  s.packets_read = packets_.load();
  s.frames_decoded = decoded_.load();
  s.frames_converted = converted_.load();
  s.seeks = seeks_.load();
  s.frames_deinterlaced = deinterlaced_.load();
  {
    std::lock_guard lock(mutex_);
    s.max_buffered_frames = max_buffered_;
  }
  s.buffer_limit = static_cast<int64_t>(ring_.size() * kFramesPerTask);
  return s;
}

void FrameSampler::Impl::start_workers() {
  started_ = true;
  const int count = std::min<int>(plan_.decoders, static_cast<int>(plan_.tasks.size()));
  for (int i = 0; i < count; ++i)
    threads_.emplace_back([this] { worker_main(); });
}

void FrameSampler::Impl::stop_workers() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  producer_cv_.notify_all();
  consumer_cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void FrameSampler::Impl::check_running() const {
  if (stop_) throw StopRequested{};
  if (options_.cancel.requested()) throw Cancelled();
}

void FrameSampler::Impl::worker_main() {
  internal::ScopedLogTarget route(&sink_);
  Worker w;
  while (true) {
    size_t index;
    {
      std::unique_lock lock(mutex_);
      producer_cv_.wait(lock, [&] {
        return stop_ || next_task_ >= plan_.tasks.size() || next_task_ < head_ + ring_.size();
      });
      if (stop_ || next_task_ >= plan_.tasks.size()) break;
      index = next_task_++;
    }
    std::exception_ptr error;
    try {
      run_task(w, index);
    } catch (const StopRequested&) {
      break;
    } catch (...) {
      error = std::current_exception();
    }
    account(w);
    {
      std::lock_guard lock(mutex_);
      slot(index).finished = true;
      slot(index).error = error;
    }
    consumer_cv_.notify_all();
  }
  account(w);
}

void FrameSampler::Impl::account(Worker& w) {
  if (!w.decoder) return;
  const internal::DecoderCounters& c = w.decoder->counters();
  packets_ += c.packets_read - w.counted_packets;
  decoded_ += c.frames_decoded - w.counted_frames;
  seeks_ += c.seeks - w.counted_seeks;
  w.counted_packets = c.packets_read;
  w.counted_frames = c.frames_decoded;
  w.counted_seeks = c.seeks;
}

void FrameSampler::Impl::ensure_decoder(Worker& w) {
  if (w.decoder) return;
  w.decoder =
      std::make_unique<VideoDecoder>(path_, facts_, sink_, plan_.codec_threads, hw_device_.get(),
                                     hw_type_, options_.skip_unneeded_frames);
  w.converter = std::make_unique<internal::FrameConverter>(
      options_.width, options_.height, options_.resize == Resize::kFit, info_.rotation,
      info_.sample_aspect_ratio, options_.deinterlace);
}

bool FrameSampler::Impl::should_seek(const VideoDecoder& d, double t) const {
  if (d.needs_seek()) return true;
  const long k = keyframe_before(keyframes_, t);
  if (d.fresh()) {
    // At the start of the file: seek only past at least one more keyframe and a real gap.
    return k > 0 && keyframes_[k] > keyframes_[0] + jump_gap_;
  }
  const double position = d.position();
  if (d.at_end()) return true;
  if (!std::isfinite(position)) return false;  // just sought for this range
  if (position > t) return true;               // past it: go back
  return k >= 0 && keyframes_[k] > position + jump_gap_;
}

void FrameSampler::Impl::emit(Worker& w, size_t task_index, size_t request, const AVFrame* frame,
                              int64_t serial, double time) {
  Sample sample;
  sample.request = request;
  sample.requested_time = times_[request];
  if (!options_.convert) {
    sample.frame.time = time;
#if LIBAVUTIL_VERSION_MAJOR >= 59 || \
    (LIBAVUTIL_VERSION_MAJOR == 58 && LIBAVUTIL_VERSION_MINOR >= 29)
    sample.frame.keyframe = (frame->flags & AV_FRAME_FLAG_KEY) != 0;
#else
    sample.frame.keyframe = frame->key_frame != 0;
#endif
  } else if (serial == w.cached_serial) {
    sample.frame = w.cached;
  } else {
    const int64_t before = w.converter->deinterlaced();
    sample.frame = w.converter->convert(frame, time);
    ++converted_;
    deinterlaced_ += w.converter->deinterlaced() - before;
    if (!w.converter->deinterlace_failure().empty()) {
      sink_.warn_once("deinterlace", "an interlaced frame could not be deinterlaced (" +
                                         w.converter->deinterlace_failure() +
                                         "); interlaced frames are used as decoded");
    }
    w.cached = sample.frame;
    w.cached_serial = serial;
  }
  std::unique_lock lock(mutex_);
  Slot& s = slot(task_index);
  producer_cv_.wait(lock, [&] {
    return stop_ || options_.cancel.requested() || s.queue.size() < kFramesPerTask;
  });
  if (stop_) throw StopRequested{};
  if (options_.cancel.requested()) throw Cancelled();
  s.queue.push_back(std::move(sample));
  ++buffered_;
  max_buffered_ = std::max(max_buffered_, buffered_);
  lock.unlock();
  consumer_cv_.notify_all();
}

void FrameSampler::Impl::run_task(Worker& w, size_t task_index) {
  const PlanTask& task = plan_.tasks[task_index];
  ensure_decoder(w);
  switch (task.kind) {
    case PlanTask::Kind::kDecode:
      run_decode(w, task_index, task.begin, task.end,
                 options_.mode == SampleMode::kFast ? options_.fast_tolerance : 0.0);
      break;
    case PlanTask::Kind::kKeyframe:
      run_keyframe(w, task_index, task);
      break;
    case PlanTask::Kind::kScan:
      run_scan(w, task_index, task);
      break;
  }
}

void FrameSampler::Impl::run_decode(Worker& w, size_t task_index, size_t begin, size_t end,
                                    double tolerance) {
  VideoDecoder& d = *w.decoder;
  std::span<const double> targets(times_.data() + begin, end - begin);
  NearestFrameMatcher matcher(targets, tolerance);
  double& previous_time = w.previous_time;
  double current_time = 0.0;
  if (w.continues) {
    matcher.set_previous(previous_time);
  } else {
    w.previous_serial = -1;
  }
  auto emit_pick = [&](size_t i, Pick pick) {
    if (pick == Pick::kPrevious) {
      emit(w, task_index, begin + i, w.previous.get(), w.previous_serial, previous_time);
    } else {
      emit(w, task_index, begin + i, w.current.get(), w.current_serial, current_time);
    }
  };
  // Seek at most once per request: keyframe times from an index can be estimates, and a
  // second seek for the same request would land on the same keyframe again.
  size_t sought_for = static_cast<size_t>(-1);
  while (!matcher.done()) {
    check_running();
    const double t = matcher.next_time() - tolerance;
    if (matcher.next() != sought_for && should_seek(d, t)) {
      sought_for = matcher.next();
      d.seek_before(t);
      matcher.reset_previous();
      w.previous_serial = -1;
      w.continues = false;
    }
    av_frame_unref(w.current.get());
    if (!d.next_frame(w.current.get(), matcher.skip_limit())) break;
    w.current_serial = ++w.serial;
    current_time = d.position();
    matcher.offer(current_time, emit_pick);
    std::swap(w.previous, w.current);
    w.previous_serial = w.current_serial;
    previous_time = current_time;
    w.continues = true;
  }
  if (!matcher.done()) {
    if (w.previous_serial >= 0 && info_.duration > 0 &&
        previous_time < info_.duration - std::max(1.0, 3.0 * facts_.frame_duration) &&
        matcher.next_time() > previous_time && !ended_early_.exchange(true)) {
      sink_.warn("decoding stopped at " + format_seconds(previous_time) +
                 " s although the file says it lasts " + format_seconds(info_.duration) +
                 " s (truncated or damaged); later times get the last decoded frame");
    }
    matcher.finish(
        [&](size_t i, Pick) {
          emit(w, task_index, begin + i, w.previous.get(), w.previous_serial, previous_time);
        },
        [&](size_t i) {
          sink_.warn("no frame could be decoded for " + format_seconds(targets[i]) +
                     " s; that time is left out");
        });
  }
}

void FrameSampler::Impl::run_keyframe(Worker& w, size_t task_index, const PlanTask& task) {
  VideoDecoder& d = *w.decoder;
  check_running();
  w.continues = false;  // the keyframe decode drains the decoder
  // Aim half a frame past the keyframe so index rounding cannot select the one before.
  d.seek_before(task.keyframe + 0.5 * facts_.frame_duration);
  av_frame_unref(w.current.get());
  const bool got = d.decode_one_keyframe(w.current.get());
  const double tolerance = options_.mode == SampleMode::kFast
                               ? options_.fast_tolerance
                               : std::numeric_limits<double>::infinity();
  const int64_t serial = ++w.serial;
  const double time = got ? d.position() : 0.0;
  size_t i = task.begin;
  while (i < task.end) {
    if (got && std::fabs(time - times_[i]) <= tolerance) {
      emit(w, task_index, i, w.current.get(), serial, time);
      ++i;
      continue;
    }
    // The keyframe turned out farther than the tolerance (or undecodable): decode this run
    // of requests from the keyframe before them instead.
    size_t j = i + 1;
    while (j < task.end && !(got && std::fabs(time - times_[j]) <= tolerance))
      ++j;
    if (!got)
      sink_.warn_once("keyframe-failed", "a keyframe could not be decoded; decoding around it");
    FramePtr keep = std::move(w.current);
    w.current = make_frame();
    run_decode(w, task_index, i, j,
               options_.mode == SampleMode::kFast ? options_.fast_tolerance : 0.0);
    w.current = std::move(keep);
    i = j;
  }
}

void FrameSampler::Impl::run_scan(Worker& w, size_t task_index, const PlanTask& task) {
  VideoDecoder& d = *w.decoder;
  if (!keyframes_.empty() && keyframes_.size() > 1 &&
      task.keyframe > keyframes_.front() + jump_gap_) {
    d.seek_before(task.keyframe);
  } else if (!d.fresh()) {
    d.restart();
  }
  w.continues = false;
  d.set_keyframes_only(true);
  try {
    run_decode(w, task_index, task.begin, task.end, 0.0);
  } catch (...) {
    d.set_keyframes_only(false);
    throw;
  }
  d.set_keyframes_only(false);
}

void FrameSampler::Impl::deliver_warnings() {
  for (std::string& warning : sink_.take()) {
    if (options_.on_warning) options_.on_warning(warning);
    warnings_.push_back(std::move(warning));
  }
}

void FrameSampler::Impl::finish_warnings() {
  const int64_t errors = sink_.ffmpeg_error_count();
  sink_.finish();
  if (errors > 0) {
    sink_.warn(std::to_string(errors) +
               " decoding error(s): the file has damaged data; frames near the damage may be "
               "missing or wrong");
  }
  deliver_warnings();
}

std::optional<Sample> FrameSampler::Impl::next() {
  if (finished_) return std::nullopt;
  if (!started_) start_workers();
  while (true) {
    if (options_.cancel.requested()) {
      stop_workers();
      deliver_warnings();
      throw Cancelled();
    }
    std::optional<Sample> got;
    std::exception_ptr error;
    bool done = false;
    {
      std::unique_lock lock(mutex_);
      if (head_ >= plan_.tasks.size()) {
        done = true;
      } else {
        Slot& s = slot(head_);
        if (!s.queue.empty()) {
          got = std::move(s.queue.front());
          s.queue.pop_front();
          --buffered_;
        } else if (s.finished) {
          error = s.error;
          s = Slot{};
          ++head_;
        } else {
          consumer_cv_.wait_for(lock, std::chrono::milliseconds(100));
          continue;
        }
      }
    }
    producer_cv_.notify_all();
    deliver_warnings();
    if (error) {
      stop_workers();
      deliver_warnings();
      std::rethrow_exception(error);
    }
    if (done) {
      stop_workers();
      finish_warnings();
      finished_ = true;
      return std::nullopt;
    }
    if (!got) continue;
    if (options_.skip_duplicates && have_last_time_ && got->frame.time == last_time_) continue;
    have_last_time_ = true;
    last_time_ = got->frame.time;
    if (options_.progress) {
      options_.progress({"decode", static_cast<int64_t>(got->request + 1),
                         static_cast<int64_t>(times_.size()), path_.string()});
    }
    return got;
  }
}

FrameSampler::FrameSampler(const std::filesystem::path& path, std::vector<double> times,
                           SamplerOptions options)
    : impl_(std::make_unique<Impl>(path, std::move(times), std::move(options))) {}
FrameSampler::~FrameSampler() = default;
FrameSampler::FrameSampler(FrameSampler&&) noexcept = default;
FrameSampler& FrameSampler::operator=(FrameSampler&&) noexcept = default;

std::optional<Sample> FrameSampler::next() {
  return impl_->next();
}
const VideoInfo& FrameSampler::info() const {
  return impl_->info();
}
Strategy FrameSampler::strategy() const {
  return impl_->strategy();
}
int FrameSampler::decoders() const {
  return impl_->decoders();
}
const std::vector<std::string>& FrameSampler::warnings() const {
  return impl_->warnings();
}
SamplerStats FrameSampler::stats() const {
  return impl_->stats();
}

std::vector<std::string> sample_frames(const std::filesystem::path& path, std::vector<double> times,
                                       SamplerOptions options,
                                       const std::function<void(Sample&&)>& on_sample) {
  FrameSampler sampler(path, std::move(times), std::move(options));
  while (std::optional<Sample> sample = sampler.next())
    on_sample(std::move(*sample));
  return sampler.warnings();
}

std::vector<std::string> hwaccel_types() {
  std::vector<std::string> names;
  for (AVHWDeviceType t = av_hwdevice_iterate_types(AV_HWDEVICE_TYPE_NONE);
       t != AV_HWDEVICE_TYPE_NONE; t = av_hwdevice_iterate_types(t)) {
    names.emplace_back(av_hwdevice_get_type_name(t));
  }
  return names;
}

}  // namespace clipmind::decode
