#include "pipeline/index_job.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include <ATen/ATen.h>

#include "clipmind/counted.h"
#include "decode/frame_sampler.h"
#include "decode/video_info.h"
#include "index/file_hash.h"
#include "index/job_queue.h"
#include "models/siglip/dual_encoder.h"
#include "pipeline/caption_job.h"
#include "pipeline/content_hash.h"
#include "pipeline/errors.h"
#include "pipeline/model_id.h"
#include "pipeline/segment_analysis.h"
#include "pipeline/session_internal.h"

namespace clipmind::pipeline {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const models::SiglipDualEncoder& load_encoder(SessionState& s, const JobCallbacks& callbacks,
                                              const CancelToken& cancel) {
  if (!s.models.has_relevance()) {
    throw StageError(ErrorKind::kInvalidArgument, "load model", "",
                     "the index needs a SigLIP dual encoder for segment embeddings",
                     "Set relevance_model in the config or pass --relevance-model (a "
                     "google/siglip-* folder or repo id); search must use the same model.");
  }
  s.set_threads();
  ProgressTracker progress(callbacks.on_progress, {"load model"});
  s.models.load_relevance(progress, cancel);
  return *s.models.relevance();
}

// A v1 id (clipmind-model-id-v1: folder path, file times) has no "m2-" prefix.
bool legacy_id(const std::string& id) {
  return !id.starts_with("m2-");
}

// The index's model for people: its recorded name, when any, and a short id.
std::string stored_model_text(const index::StoreInfo& info) {
  std::string out =
      info.model_name.empty() ? "a model whose name the index does not record" : info.model_name;
  out += " (id " + short_model_id(info.model_id) + ")";
  if (legacy_id(info.model_id)) out += " recorded by an older clipmind";
  return out;
}

StageError another_model_error(const SessionState& s, const std::string& stage,
                               const std::string& where, const index::StoreInfo& info) {
  std::string hint = "Index into a new database (another --db) to use " +
                     s.models.relevance_name() +
                     ", or set relevance_model (--relevance-model) to the model this index was "
                     "built with" +
                     (info.model_name.empty() ? "" : " (" + info.model_name + ")") + ".";
  if (legacy_id(info.model_id)) {
    hint +=
        " An older clipmind identified a model by its folder's path and file times: if this is "
        "the same model, run `clipmind index` once with the model at the folder the index was "
        "built from; that upgrades the index to ids that survive copies and moves.";
  }
  return StageError(ErrorKind::kInvalidArgument, stage, where,
                    "this index was built with another embedding model, " +
                        stored_model_text(info) + ", not the configured relevance model " +
                        s.models.relevance_name() + " (id " +
                        short_model_id(s.models.relevance_id()) + ")",
                    hint);
}

// Calls `tick` on a thread of its own at once and then every `every`, until destroyed (a tick
// under way finishes first). Declare it after what `tick` uses, so it stops before that goes.
class PeriodicThread {
 public:
  PeriodicThread(std::chrono::milliseconds every, std::function<void()> tick)
      : every_(every), tick_(std::move(tick)) {
    thread_ = std::thread([this] { run(); });
  }
  ~PeriodicThread() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!done_) {
      lock.unlock();
      tick_();
      lock.lock();
      if (done_) break;
      wake_.wait_for(lock, every_);
    }
  }

  std::chrono::milliseconds every_;
  std::function<void()> tick_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

// Cancels `inner` when `outer` is cancelled or stop() is called (a worker's job-level failure
// stops the others). Polls: CancelToken has no notifications.
class LinkedCancel {
 public:
  explicit LinkedCancel(CancelToken outer)
      : outer_(std::move(outer)), poll_(std::chrono::milliseconds(20), [this] {
          if (outer_.requested()) inner_.request();
        }) {}

  const CancelToken& token() const { return inner_; }
  void stop() { inner_.request(); }

 private:
  CancelToken outer_;
  CancelToken inner_;
  PeriodicThread poll_;
};

// Keeps the claims of this process alive while workers index long videos (PostgreSQL queue).
class Heartbeats {
 public:
  Heartbeats(const std::string& uri, const std::string& worker, std::chrono::milliseconds every)
      : queue_(uri, worker), beat_(every, [this] { beat(); }) {}

  void add(const std::string& path) {
    std::lock_guard lock(mutex_);
    paths_.insert(path);
  }
  void remove(const std::string& path) {
    std::lock_guard lock(mutex_);
    paths_.erase(path);
  }

 private:
  void beat() {
    std::set<std::string> paths;
    {
      std::lock_guard lock(mutex_);
      paths = paths_;
    }
    for (const std::string& p : paths) {
      try {
        queue_.heartbeat(p);  // a lost claim shows at finish(); the commit is idempotent
      } catch (const std::exception&) {
        // A dropped connection: the claim may go stale and be redone elsewhere, harmlessly.
      }
    }
  }

  index::JobQueue queue_;
  std::mutex mutex_;
  std::set<std::string> paths_;
  PeriodicThread beat_;  // last: stops before the members it uses go
};

struct JobState {
  JobState(const IndexRequest& request_, index::Store& store_, std::string model_id_,
           std::string worker_, const JobCallbacks& callbacks_, LinkedCancel& cancel_,
           ProgressTracker::Stage& files_, std::vector<std::string> paths_)
      : request(request_),
        store(store_),
        model_id(std::move(model_id_)),
        worker(std::move(worker_)),
        callbacks(callbacks_),
        cancel(cancel_),
        files(files_),
        paths(std::move(paths_)) {}

  const IndexRequest& request;
  index::Store& store;
  std::string model_id;
  std::string worker;  // this process in the PostgreSQL queue
  const JobCallbacks& callbacks;
  LinkedCancel& cancel;
  ProgressTracker::Stage& files;
  std::vector<std::string> paths;  // SQLite: the shared work list
  std::atomic<size_t> next{0};
  Heartbeats* heartbeats = nullptr;

  std::mutex mutex;  // guards report and failure
  IndexReport report;
  std::exception_ptr failure;  // a job-level failure of any worker
};

const char* freshness_reason(index::Freshness f) {
  switch (f) {
    case index::Freshness::kNew:
      return "new";
    case index::Freshness::kUnchanged:
      return "unchanged";
    case index::Freshness::kChanged:
      return "changed";
    case index::Freshness::kIncomplete:
      return "incomplete";
    case index::Freshness::kFailedBefore:
      return "failed before";
    case index::Freshness::kOutdated:
      return "outdated times";
  }
  return "?";
}

// Whether the segments of `path`, written under index::kSegmentsVersion 1, would get other
// times today. Version 1 counted from the video stream's own start: times moved when the
// picture starts after the file's start (its sound first: 7-23 ms for Opus/AAC in Matroska and
// WebM, seconds for a late picture), and a Matroska segment starting late stretched the
// duration, so segments ran past the video's end. Any other file keeps its times, and is not
// worth the model time of indexing it again. Revisit this when kSegmentsVersion changes again.
bool segment_times_moved(SessionState& s, index::Store& store, const std::string& path) {
  static_assert(index::kSegmentsVersion == 2, "say which older times moved for the new version");
  decode::VideoInfo info;
  try {
    info = decode::probe(path, s.media_index.get());
  } catch (...) {
    return true;  // indexing it again records what is wrong with it
  }
  if (info.start_time > 0.0005) return true;
  const std::vector<index::SegmentRecord> segments = store.segments_of(path);
  return !segments.empty() && info.duration > 0.0 && segments.back().t_end > info.duration + 0.5;
}

// Runs one write of `path`'s rows. The store failing (a full disk, a lost connection) stays the
// job's failure, since every later video would meet it too, but its message names the video.
template <class F>
void store_write(const std::string& path, F&& write) {
  try {
    write();
  } catch (const Cancelled&) {
    throw;
  } catch (const Error& e) {
    throw Error(e.kind(), std::string(e.what()) + "; while storing " + path);
  }
}

// Indexes one video. Per-video failures are recorded (in the store and the result); job-level
// failures (the store, cancellation) propagate.
IndexFileResult index_one(Session& session, JobState& job, const std::string& path) {
  SessionState& s = session.state();
  const CancelToken& cancel = job.cancel.token();
  const auto start = Clock::now();
  IndexFileResult r;
  r.path = path;
  r.worker = job.worker;
  // This file failed on its own: recorded in its result, and the batch goes on.
  auto failed = [&](const UserError& e) {
    r.status = IndexStatus::kFailed;
    r.error_kind = e.kind;
    r.error = e.message;
    r.seconds = seconds_since(start);
    return r;
  };

  index::FileStamp stamp;
  try {
    stamp = index::stat_file(path);
  } catch (...) {
    return failed(describe_error(std::current_exception()));
  }
  const ContentHashMode mode = parse_content_hash_mode(s.config.cache.hash);
  auto hash = [&] {
    if (stamp.content_hash.empty()) stamp.content_hash = content_hash(path, mode, cancel).hex;
    return stamp.content_hash;
  };
  const index::Freshness fresh = job.store.freshness(path, stamp.size_bytes, stamp.mtime_ns, hash);
  r.reason = freshness_reason(fresh);
  if (fresh == index::Freshness::kOutdated && !job.request.force &&
      !segment_times_moved(s, job.store, path)) {
    store_write(path, [&] { job.store.mark_segments_current(path); });
    r.reason = freshness_reason(index::Freshness::kUnchanged);
    r.status = IndexStatus::kSkipped;
    r.seconds = seconds_since(start);
    return r;
  }
  if (!job.request.force && !index::needs_indexing(fresh, job.request.retry_failed)) {
    r.status = IndexStatus::kSkipped;
    r.seconds = seconds_since(start);
    return r;
  }
  try {
    hash();
  } catch (const Cancelled&) {
    throw;
  } catch (...) {
    return failed(describe_error(std::current_exception()));
  }
  store_write(path, [&] { job.store.begin_video(path, stamp, job.model_id); });
  SegmentAnalysis analysis;
  try {
    SegmentAnalysisOptions options;
    options.captions = job.request.captions;
    options.frames_per_segment = job.request.frames_per_segment;
    JobCallbacks inner;
    inner.on_progress = job.callbacks.on_progress;
    analysis = analyze_segments(session, path, options, inner, cancel);
  } catch (const Cancelled&) {
    throw;  // left in progress: the next run redoes it
  } catch (...) {
    if (cancel.requested()) throw Cancelled();
    const UserError e = describe_error(std::current_exception());
    store_write(path, [&] { job.store.fail_video(path, stamp, job.model_id, e.message); });
    s.log.warning("index", e.message);
    return failed(e);
  }
  store_write(path, [&] { job.store.commit_video(path, stamp, job.model_id, analysis.segments); });
  r.status = IndexStatus::kIndexed;
  r.segments = static_cast<int64_t>(analysis.segments.size());
  r.seconds = seconds_since(start);
  return r;
}

void record(JobState& job, IndexFileResult r) {
  std::lock_guard lock(job.mutex);
  IndexReport& rep = job.report;
  switch (r.status) {
    case IndexStatus::kIndexed:
      ++rep.indexed;
      rep.segments += r.segments;
      break;
    case IndexStatus::kSkipped:
      ++rep.skipped;
      break;
    case IndexStatus::kFailed:
      ++rep.failed;
      break;
    case IndexStatus::kCancelled:
      break;
  }
  rep.files.push_back(std::move(r));
}

void worker_loop(Session& session, JobState& job) {
  const bool pg = index::is_postgres_uri(job.request.db);
  std::unique_ptr<index::JobQueue> queue;
  if (pg) {
    index::JobQueueOptions qo;
    qo.stale_after = std::chrono::milliseconds(
        static_cast<int64_t>(std::max(1.0, job.request.stale_after_s) * 1000.0));
    queue = std::make_unique<index::JobQueue>(job.request.db, job.worker, qo);
  }
  while (!job.cancel.token().requested()) {
    std::string path;
    if (queue) {
      const auto claim = queue->claim();
      if (!claim) break;
      path = claim->path;
      job.heartbeats->add(path);
    } else {
      const size_t i = job.next.fetch_add(1);
      if (i >= job.paths.size()) break;
      path = job.paths[i];
    }
    IndexFileResult r;
    try {
      r = index_one(session, job, path);
    } catch (...) {
      if (queue) job.heartbeats->remove(path);
      throw;  // the claim goes stale and another worker redoes the video
    }
    if (queue) {
      const bool ok = r.status != IndexStatus::kFailed;
      queue->finish(path, ok, r.error);
      job.heartbeats->remove(path);
    }
    job.files.advance(1, fs::path(path).filename().string());
    record(job, std::move(r));
  }
}

int64_t hardware_threads() {
  return std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
}

}  // namespace

const char* to_string(IndexStatus status) {
  switch (status) {
    case IndexStatus::kIndexed:
      return "indexed";
    case IndexStatus::kSkipped:
      return "skipped";
    case IndexStatus::kFailed:
      return "failed";
    case IndexStatus::kCancelled:
      return "cancelled";
  }
  return "?";
}

int IndexReport::exit_code() const {
  if (cancelled) return 130;
  for (const IndexFileResult& f : files) {
    if (f.status == IndexStatus::kFailed) return clipmind::exit_code_for(f.error_kind);
  }
  return 0;
}

std::vector<std::string> index_paths(const std::vector<fs::path>& inputs) {
  std::vector<std::string> out;
  for (const fs::path& v : collect_videos(inputs)) {  // each file once (collect_videos)
    std::error_code ec;
    fs::path abs = fs::absolute(v, ec);
    if (ec) abs = v;
    out.push_back(abs.lexically_normal().string());
  }
  return out;
}

IndexReport run_index(Session& session, const IndexRequest& request, const JobCallbacks& callbacks,
                      const CancelToken& cancel) {
  const auto start = Clock::now();
  if (request.inputs.empty()) {
    throw Error(ErrorKind::kInvalidArgument, "index: no files or folders to index");
  }
  if (request.db.empty()) throw Error(ErrorKind::kInvalidArgument, "index: no database (--db)");
  if (request.jobs < 1 || request.jobs > 256) {
    throw Error(ErrorKind::kInvalidArgument,
                "index: --jobs must be between 1 and 256, got " + std::to_string(request.jobs));
  }
  const bool pg = index::is_postgres_uri(request.db);

  // The model first: a missing relevance model is one clear error, not one per video.
  SessionState& s = session.state();
  load_encoder(s, callbacks, cancel);
  const std::string model_id = s.models.relevance_id();

  std::vector<std::string> paths = index_paths(request.inputs);
  if (request.shard) paths = index::select_shard(paths, *request.shard);

  index::OpenOptions store_options = request.store_options;
  if (store_options.ann_cache_dir.empty()) {
    store_options.ann_cache_dir = index_open_options(s.config, true).ann_cache_dir;
  }
  std::unique_ptr<index::Store> store = index::open_store(request.db, store_options);
  const index::StoreInfo info = store->info();
  // An index made before content-based ids holds this model's v1 id: accepted, and rewritten
  // to the v2 id (metadata and video rows in one transaction) so that copies of the folder,
  // other caches and other machines match it from now on.
  const std::string legacy[] = {s.models.relevance_legacy_id()};
  if (!info.model_id.empty()) {
    if (!store->adopt_model(model_id, legacy, s.models.relevance_name())) {
      throw another_model_error(s, "index", info.location, info);
    }
    if (info.model_id != model_id) {
      s.log.info("index", info.location + ": upgraded the model id of " +
                              s.models.relevance_name() + " from " + info.model_id +
                              " (clipmind-model-id-v1) to " + model_id);
    }
  }

  ProgressTracker progress(callbacks.on_progress, {"index"});
  auto files = progress.begin("index", pg ? -1 : static_cast<int64_t>(paths.size()), "files");
  LinkedCancel linked(cancel);
  JobState job{request,   *store, model_id, index::default_worker_id(),
               callbacks, linked, files,    paths};
  job.report.db = info.location;

  std::unique_ptr<Heartbeats> heartbeats;
  if (pg) {
    index::JobQueue launcher(request.db, job.worker);
    launcher.enqueue(paths);
    const auto every = std::chrono::milliseconds(
        static_cast<int64_t>(std::clamp(request.stale_after_s / 3.0, 0.2, 60.0) * 1000.0));
    heartbeats = std::make_unique<Heartbeats>(request.db, job.worker, every);
    job.heartbeats = heartbeats.get();
  }

  // Workers 2..N get sessions of their own (a Session serves one thread); compute threads are
  // split so N workers do not oversubscribe the cores.
  const int jobs = request.jobs;
  std::vector<std::unique_ptr<Session>> extra;
  if (jobs > 1) {
    PipelineConfig per = s.config;
    const int64_t total = s.config.threads > 0 ? s.config.threads : hardware_threads();
    per.threads = std::max<int64_t>(1, total / jobs);
    for (int w = 1; w < jobs; ++w)
      extra.push_back(std::make_unique<Session>(per, s.log));
  }
  auto run_worker = [&](Session& sess) {
    try {
      worker_loop(sess, job);
    } catch (const Cancelled&) {
      // reported below
    } catch (...) {
      std::lock_guard lock(job.mutex);
      if (!job.failure) job.failure = std::current_exception();
      linked.stop();
    }
  };
  std::vector<std::thread> threads;
  for (auto& e : extra) {
    Session* sess = e.get();
    threads.emplace_back([&run_worker, sess] { run_worker(*sess); });
  }
  run_worker(session);
  for (std::thread& t : threads)
    t.join();
  heartbeats.reset();
  if (job.failure) std::rethrow_exception(job.failure);
  // A new index got its model with its first video: record the model's name for messages.
  if (info.model_id.empty()) store->adopt_model(model_id, {}, s.models.relevance_name());

  IndexReport report = std::move(job.report);
  std::sort(report.files.begin(), report.files.end(),
            [](const IndexFileResult& a, const IndexFileResult& b) { return a.path < b.path; });
  report.cancelled = cancel.requested();
  if (!report.cancelled) {
    files.finish();
    if (request.prune) {
      std::vector<fs::path> roots;
      for (const fs::path& in : request.inputs) {
        std::error_code ec;
        fs::path abs = fs::absolute(in, ec);
        roots.push_back((ec ? in : abs).lexically_normal());
      }
      report.pruned = index::prune_missing(*store, roots);
    }
    store->sync_ann();
    report.ann_save_error = store->info().ann_save_error;
    if (!report.ann_save_error.empty()) {
      s.log.warning("index",
                    "the search index copy was not saved (the next search builds it "
                    "again): " +
                        report.ann_save_error);
    }
  }
  report.seconds = seconds_since(start);
  return report;
}

std::string format_index_summary(const IndexReport& report) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-9s %8s %8s  %s\n", "status", "segments", "seconds", "file");
  out += line;
  for (const IndexFileResult& f : report.files) {
    std::snprintf(line, sizeof line, "%-9s %8lld %8.1f  %s", to_string(f.status),
                  static_cast<long long>(f.segments), f.seconds, f.path.c_str());
    out += line;
    if (f.status == IndexStatus::kSkipped) out += " (" + f.reason + ")";
    if (f.status == IndexStatus::kIndexed &&
        f.reason == freshness_reason(index::Freshness::kOutdated)) {
      out += " (again: an older clipmind stored its times off)";
    }
    out += "\n";
    if (f.status == IndexStatus::kFailed) out += "          error: " + f.error + "\n";
  }
  for (const std::string& p : report.pruned)
    out += "pruned    " + p + "\n";
  std::snprintf(line, sizeof line,
                "%lld indexed (%s), %lld skipped, %lld failed, %zu pruned in %.1f s%s -> ",
                static_cast<long long>(report.indexed), counted(report.segments, "segment").c_str(),
                static_cast<long long>(report.skipped), static_cast<long long>(report.failed),
                report.pruned.size(), report.seconds, report.cancelled ? " (cancelled)" : "");
  out += line;
  out += report.db + "\n";
  return out;
}

// --- search ---------------------------------------------------------------------------------

namespace {

std::string seconds_text(double seconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f s", seconds);
  return buffer;
}

double parse_time(const std::string& text) {
  double total = 0.0;
  size_t parts = 0;
  size_t b = 0;
  while (true) {
    const size_t e = text.find(':', b);
    const std::string piece = text.substr(b, e == std::string::npos ? std::string::npos : e - b);
    size_t used = 0;
    double v = 0.0;
    try {
      v = std::stod(piece, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    // In m:ss and h:mm:ss every part after the first counts minutes or seconds: below 60.
    if (piece.empty() || used != piece.size() || !std::isfinite(v) || v < 0 ||
        (parts > 0 && v >= 60.0)) {
      throw Error(ErrorKind::kInvalidArgument,
                  "--like: bad time \"" + text + "\" (seconds, m:ss or h:mm:ss)");
    }
    total = total * 60.0 + v;
    if (++parts > 3) {
      throw Error(ErrorKind::kInvalidArgument, "--like: bad time \"" + text + "\"");
    }
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return total;
}

// The embedding of a moment of a video that is not in the index: frames around `seconds`
// (±1 s), embedded and averaged, as segment analysis does for a segment.
std::vector<float> embed_moment(SessionState& s, const std::string& video, double seconds,
                                const CancelToken& cancel) {
  const decode::VideoInfo info =
      in_stage("probe", video, [&] { return decode::probe(video, s.media_index.get()); });
  if (info.duration > 0 && seconds > info.duration) {
    throw StageError(ErrorKind::kInvalidArgument, "search", video,
                     "--like time " + seconds_text(seconds) + " is after the end of the video (" +
                         seconds_text(info.duration) + ")");
  }
  const models::SiglipDualEncoder& encoder = load_encoder(s, {}, cancel);
  std::vector<double> times;
  for (const double d : {-1.0, -0.5, 0.0, 0.5, 1.0})
    times.push_back(std::max(0.0, seconds + d));
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  decode::SamplerOptions so;
  so.width = static_cast<int>(encoder.config().vision.image_size);
  so.height = so.width;
  so.resize = decode::Resize::kExact;
  so.mode = decode::SampleMode::kAccurate;
  so.cancel = cancel;
  so.index_cache = s.media_index;
  std::vector<decode::Frame> frames = in_stage("decode", video, [&] {
    std::vector<decode::Frame> out;
    decode::FrameSampler sampler(video, times, so);
    while (auto sample = sampler.next())
      out.push_back(std::move(sample->frame));
    return out;
  });
  if (frames.empty()) {
    throw StageError(ErrorKind::kInvalidInput, "decode", video,
                     "no frame near " + std::to_string(seconds) + " s could be decoded");
  }
  const at::Tensor mean =
      in_stage("embed", video, [&] { return embed_frames(encoder, frames, cancel).mean(0); });
  const at::Tensor unit = (mean / mean.norm().clamp_min(1e-12)).contiguous();
  return std::vector<float>(unit.data_ptr<float>(), unit.data_ptr<float>() + unit.numel());
}

}  // namespace

std::pair<std::string, double> parse_like(const std::string& text) {
  const size_t at = text.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == text.size()) {
    throw Error(ErrorKind::kInvalidArgument,
                "--like: expected VIDEO@SECONDS (e.g. clip.mp4@12.5), got \"" + text + "\"");
  }
  return {text.substr(0, at), parse_time(text.substr(at + 1))};
}

void check_search_query(const std::string& text) {
  try {
    check_question(text, "query");
  } catch (const Error& e) {
    throw Error(e.kind(), "search: " + std::string(e.what()));
  }
}

SearchOutcome search_index(Session& session, index::Store& store, const SearchRequest& request,
                           const CancelToken& cancel) {
  SessionState& s = session.state();
  SearchOutcome out;
  if (request.k == 0) throw Error(ErrorKind::kInvalidArgument, "search: k must be at least 1");
  if (!request.like_video) check_search_query(request.text);
  index::SearchQuery q;
  q.k = request.k;
  q.mode = request.mode;
  const index::StoreInfo info = store.info();
  if (request.like_video) {
    std::string video = *request.like_video;
    std::error_code ec;
    const fs::path abs = fs::absolute(video, ec);
    if (!ec) video = abs.lexically_normal().string();
    std::optional<index::SegmentRecord> seg = store.segment_at(video, request.like_seconds);
    if (!seg && video != *request.like_video)
      seg = store.segment_at(*request.like_video, request.like_seconds);
    if (seg) {
      // The nearest segment answers any time; a time past the indexed video is a mistake.
      double end = 0;
      for (const index::SegmentRecord& r : store.segments_of(seg->video_path))
        end = std::max(end, r.t_end);
      if (request.like_seconds > end + 0.5) {
        throw StageError(ErrorKind::kInvalidArgument, "search", seg->video_path,
                         "--like time " + seconds_text(request.like_seconds) +
                             " is after the end of the indexed video (" + seconds_text(end) + ")");
      }
      q.embedding = seg->embedding;
      q.exclude_segments = {seg->id};
      out.source = std::move(seg);
    } else {
      if (!fs::exists(video)) {
        throw StageError(ErrorKind::kNotFound, "search", video,
                         "the video is neither in the index nor on disk");
      }
      s.models.adopt_relevance_model(info.model_name);  // when none is configured
      q.embedding = embed_moment(s, video, request.like_seconds, cancel);
      out.notes.push_back("the video is not in the index: embedded frames around " +
                          std::to_string(request.like_seconds) + " s");
    }
  } else {
    q.text = request.text;
    if (s.config.relevance_model.empty() && info.segment_count > 0 &&
        s.models.adopt_relevance_model(info.model_name)) {
      // Searching with the model the index was built with needs no --relevance-model: a person
      // who indexed with one expects search to compare pictures, not captions only.
      try {
        load_encoder(s, {}, cancel);
        if (info.model_id != s.models.relevance_id() &&
            info.model_id != s.models.relevance_legacy_id()) {
          throw Error(ErrorKind::kInvalidInput, "it now holds another model");
        }
        q.embedding = embed_query(session, request.text);
        out.notes.push_back("text-to-image similarity with the model this index was built with, " +
                            info.model_name);
      } catch (const Cancelled&) {
        throw;
      } catch (const Error& e) {
        s.models.drop_adopted_relevance_model();
        q.embedding.clear();
        out.captions_only = true;
        out.notes.push_back("captions only: the model this index was built with (" +
                            info.model_name + ") cannot be used here: " + e.what() +
                            "; choose a relevance model to compare pictures");
      }
    } else if (s.config.relevance_model.empty()) {
      out.captions_only = true;
      out.notes.push_back(
          "captions only: no relevance model is set and the index names none, so pictures are "
          "not compared");
    } else {
      load_encoder(s, {}, cancel);
      // A v1 id of this very folder is the same model (`index` upgrades it; search reads only).
      if (!info.model_id.empty() && info.model_id != s.models.relevance_id() &&
          info.model_id != s.models.relevance_legacy_id()) {
        throw another_model_error(s, "search", info.location, info);
      }
      q.embedding = embed_query(session, request.text);
    }
  }
  cancel.throw_if_cancelled();
  if (info.segment_count == 0) return out;
  for (const index::SearchHit& h : store.search(q)) {
    SearchResult r;
    r.segment_id = h.segment_id;
    r.video_path = h.video_path;
    r.t_begin = h.t_begin;
    r.t_end = h.t_end;
    r.score = h.score;
    r.similarity = h.similarity;
    r.caption = h.caption;
    if (request.thumbnails && h.has_thumbnail) r.thumbnail_jpeg = store.thumbnail(h.segment_id);
    out.results.push_back(std::move(r));
  }
  return out;
}

index::OpenOptions index_open_options(const PipelineConfig& config, bool create) {
  index::OpenOptions options;
  options.create = create;
  // Opened for searching only: never write the database or create files beside it (it may
  // belong to someone else or sit in a read-only folder); the ANN copy goes to our cache.
  options.read_only = !create;
  if (config.cache.enabled) {
    options.ann_cache_dir = resolve_cache_dir(config.cache) / "index-ann";
    options.ann_cache_max_bytes =
        static_cast<uint64_t>(std::max(0.0, config.cache.ann_max_gb) * 1024.0 * 1024.0 * 1024.0);
  }
  return options;
}

std::vector<SearchResult> search_index(const PipelineConfig& config, const std::string& db,
                                       const std::string& query, size_t k, bool thumbnails) {
  std::unique_ptr<index::Store> store = index::open_store(db, index_open_options(config, false));
  Session session(config);
  SearchRequest request;
  request.text = query;
  request.k = k;
  request.thumbnails = thumbnails;
  return search_index(session, *store, request).results;
}

}  // namespace clipmind::pipeline
